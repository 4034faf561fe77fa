"""How ``idxadvisor check`` prints its findings: ``text``, ``json``, ``github``, ``sarif``.

* ``text``: ``path:line:col: CODE message``, one line each, like a linter.
* ``json``: the findings and the skipped querysets as objects.
* ``github``: workflow commands (``::error file=…,line=…``) that GitHub Actions shows as
  annotations on the pull request.
* ``sarif``: SARIF 2.1.0 for code scanning, with one rule per registered check.

>>> from idxadvisor.checks import Finding
>>> f = Finding("IDX001", "app/q.py", 3, 5, "X.objects.filter(...) filters on t(a)", "q1", "t",
...             ("a",), "models.Index(...)")
>>> print(render((f,), "text"))
app/q.py:3:5: IDX001 X.objects.filter(...) filters on t(a)
>>> print(render((f,), "github"))  # doctest: +NORMALIZE_WHITESPACE
::error file=app/q.py,line=3,col=5,title=IDX001 unindexed-filter::X.objects.filter(...)
filters on t(a)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from idxadvisor import __version__
from idxadvisor.checks import CHECKS, CheckResult, Finding
from idxadvisor.report import get
from idxadvisor.types.workload import Skipped

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/idxadvisor/"


def render(findings: Sequence[Finding], fmt: str, skipped: Sequence[Skipped] = ()) -> str:
    """The report in one of the ``check`` formats of :mod:`idxadvisor.report` (no trailing
    newline; empty text when clean)."""
    return get("check", fmt).render(CheckResult(tuple(findings), tuple(skipped))).rstrip("\n")


def text(result: CheckResult) -> str:
    return "\n".join(str(f) for f in result.findings)


def json_text(result: CheckResult) -> str:
    return json.dumps(_json(result.findings, result.skipped), indent=2)


def github(result: CheckResult) -> str:
    return "\n".join(_github(f) for f in result.findings)


def sarif_text(result: CheckResult) -> str:
    return json.dumps(sarif(result.findings), indent=2)


def _json(findings: Sequence[Finding], skipped: Sequence[Skipped]) -> dict:
    return {
        "version": 1,
        "findings": [
            {
                "code": f.code,
                "check": CHECKS[f.code].name,
                "path": f.path,
                "line": f.line,
                "col": f.col,
                "message": f.message,
                "query_id": f.query_id,
                "table": f.table,
                "columns": list(f.columns),
                "suggestion": f.suggestion,
                "sql": f.sql,
            }
            for f in findings
        ],
        "skipped": [
            {
                "reason": s.reason,
                "kind": s.kind,
                "path": s.origin.path if s.origin else None,
                "line": s.origin.line if s.origin else None,
            }
            for s in skipped
        ],
    }


def stderr_lines(result: CheckResult, fmt: str, verbose: bool = False) -> list[str]:
    """What ``check`` tells the user on stderr besides the report: skipped items, notes, counts.

    Notes and counts are for people, so only in ``text`` format (machine formats keep stderr
    quiet); ``verbose`` lists every skipped item in any format.

    >>> from idxadvisor.checks import CheckResult
    >>> stderr_lines(CheckResult(notes=("no querysets found in 2 files",)), "text")
    ['idxadvisor: no querysets found in 2 files']
    """
    lines: list[str] = []
    if result.skipped:
        if verbose:
            for s in result.skipped:
                where = f"{s.origin}: " if s.origin else ""
                lines.append(f"idxadvisor: skipped {where}{s.reason}")
        elif fmt == "text":
            files = sum(1 for s in result.skipped if s.kind == "file")
            queries = len(result.skipped) - files
            if queries:
                lines.append(
                    f"idxadvisor: {queries} queryset(s) could not be analysed (-v lists them)"
                )
            if files:
                lines.append(f"idxadvisor: {files} file(s) could not be parsed (IDX000)")
    if fmt == "text":
        lines.extend(f"idxadvisor: {note}" for note in result.notes)
        if result.baselined:
            lines.append(
                f"idxadvisor: {result.baselined} known problem(s) in the baseline not shown"
            )
        if result.findings:
            lines.append(f"idxadvisor: {len(result.findings)} problem(s) found")
    return lines


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(f: Finding) -> str:
    props = ",".join(
        (
            f"file={_escape_property(f.path)}",
            f"line={f.line}",
            f"col={f.col}",
            f"title={_escape_property(f'{f.code} {CHECKS[f.code].name}')}",
        )
    )
    return f"::error {props}::{_escape_data(f.message)}"


def sarif(findings: Sequence[Finding]) -> dict:
    """A SARIF 2.1.0 log with one run; rules come from the check registry."""
    codes = sorted(CHECKS)
    rules = [
        {
            "id": code,
            "name": _pascal(CHECKS[code].name),
            "shortDescription": {"text": CHECKS[code].summary},
            "fullDescription": {"text": _one_paragraph(CHECKS[code].docs)},
            "help": {"text": CHECKS[code].docs, "markdown": CHECKS[code].docs},
            **({"helpUri": CHECKS[code].docs_url} if CHECKS[code].docs_url else {}),
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["performance", "database", "postgresql"]},
        }
        for code in codes
    ]
    results = [
        {
            "ruleId": f.code,
            "ruleIndex": codes.index(f.code),
            "level": "error",
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": f.line, "startColumn": f.col},
                    }
                }
            ],
            "partialFingerprints": {
                "idxadvisorQuery/v1": f"{f.query_id}:{f.table}" if f.query_id else f"file:{f.path}"
            },
            "properties": {"suggestion": f.suggestion, "table": f.table, "sql": f.sql},
        }
        for f in findings
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "idxadvisor",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def _one_paragraph(docs: str) -> str:
    """The docs without their title line, joined into one paragraph."""
    lines = docs.splitlines()[1:] if "\n" in docs else [docs]
    return " ".join(line.strip() for line in lines if line.strip())


_TEXT_LINE = re.compile(r"^\S+:\d+:\d+: IDX\d{3} |^::error file=")


def is_check_report(text: str) -> bool:
    """Whether a file holds a report of ours (any format), so ``--output`` may replace it."""
    if not text.strip():
        return True
    try:
        data = json.loads(text)
    except ValueError:
        return all(_TEXT_LINE.match(line) for line in text.splitlines() if line.strip())
    if not isinstance(data, dict):
        return False
    if "findings" in data and data.get("version") == 1:
        return True
    runs = data.get("runs") or [{}]
    return runs[0].get("tool", {}).get("driver", {}).get("name") == "idxadvisor"
