"""``idxadvisor check`` as a user runs it: on a copy of the example project, in a subprocess."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE, run_cli

QUERIES = "monitoring/queries.py"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the example for the module's read-only runs."""
    import shutil

    dest = tmp_path_factory.mktemp("cli") / "alerting"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


@pytest.fixture(scope="module")
def text_run(project: Path):
    return run_cli("check", QUERIES, cwd=project)


def _at(function: str, text: str = ".objects") -> tuple[int, int]:
    """Line and column (1-based) of ``text`` in ``function`` of the example's queries.py."""
    lines = (EXAMPLE / QUERIES).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}("))
    i = next(i for i in range(start, len(lines)) if text in lines[i])
    # The reported column is where the queryset expression starts: the model name.
    col = lines[i].index(text)
    while col > 0 and (lines[i][col - 1].isalnum() or lines[i][col - 1] == "_"):
        col -= 1
    return i + 1, col + 1


def _line(output: str, prefix: str) -> str:
    found = [ln for ln in output.splitlines() if ln.startswith(prefix)]
    assert len(found) == 1, (prefix, output)
    return found[0]


def test_flags_the_examples_unindexed_querysets(text_run) -> None:
    assert text_run.returncode == 1, text_run.stderr
    line, col = _at("due_webhook_deliveries")
    due = _line(text_run.stdout, f"{QUERIES}:{line}:{col}: IDX001 ")
    assert due.startswith(
        f"{QUERIES}:{line}:{col}: IDX001 WebhookDelivery.objects.filter(...) filters on "
        "monitoring_webhookdelivery(status, next_retry_at) with no usable index; suggest "
        "models.Index("
    )
    assert "condition=Q(status__in=" in due  # the advisor's partial index
    line, col = _at("profile_by_email")
    assert "IDX003 UserProfile.objects.filter(...) compares UPPER(email)" in _line(
        text_run.stdout, f"{QUERIES}:{line}:{col}: IDX003 "
    )
    line, col = _at("logs_matching")
    assert "gin_trgm_ops" in _line(text_run.stdout, f"{QUERIES}:{line}:{col}: IDX004 ")
    # Served by Django's own indexes: the one-to-one's unique index, the primary key.
    for function in ("profile_for_user", "profile_by_pk"):
        assert f"{QUERIES}:{_at(function)[0]}:" not in text_run.stdout
    assert "problem(s) found" in text_run.stderr


def test_formats_agree(project: Path, text_run) -> None:
    lines = text_run.stdout.splitlines()
    as_json = run_cli("check", "--format", "json", QUERIES, cwd=project)
    assert as_json.returncode == 1
    findings = json.loads(as_json.stdout)["findings"]
    assert [
        f"{f['path']}:{f['line']}:{f['col']}: {f['code']} {f['message']}" for f in findings
    ] == lines
    github = run_cli("check", "--format", "github", QUERIES, cwd=project)
    assert github.returncode == 1
    assert len(github.stdout.splitlines()) == len(lines)
    assert github.stdout.startswith(f"::error file={QUERIES},line=31,col=9,title=IDX001 ")


def test_sarif_to_a_file(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "idxadvisor.sarif"
    result = run_cli("check", "--format", "sarif", "-o", str(out), QUERIES, cwd=project)
    assert result.returncode == 1 and result.stdout == ""
    log = json.loads(out.read_text())
    [run] = log["runs"]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {
        "IDX000",
        "IDX001",
        "IDX002",
        "IDX003",
        "IDX004",
    }
    first = run["results"][0]
    assert first["ruleId"] == "IDX001"
    line, col = _at("due_webhook_deliveries")
    assert first["locations"][0]["physicalLocation"]["region"] == {
        "startLine": line,
        "startColumn": col,
    }


def test_paths_are_relative_to_the_current_directory(project: Path) -> None:
    result = run_cli("check", "--project", "alerting", f"alerting/{QUERIES}", cwd=project.parent)
    assert result.returncode == 1, result.stderr
    line, col = _at("due_webhook_deliveries")
    assert result.stdout.startswith(f"alerting/{QUERIES}:{line}:{col}: IDX001 ")


def test_whole_project_when_no_files(project: Path, text_run) -> None:
    result = run_cli("check", cwd=project)
    assert result.returncode == 1
    assert result.stdout == text_run.stdout  # queries.py is where the example's querysets are


def test_clean_file_exits_0(project: Path) -> None:
    result = run_cli("check", "monitoring/models.py", cwd=project)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("check", "monitoring/nope.py"), "idxadvisor: error: no such file: monitoring/nope.py"),
        (("check", "--ignore", "IDX999", QUERIES), "idxadvisor: error: unknown check code IDX999"),
        (("check", "--settings", "no_such.settings", QUERIES), "idxadvisor: error: "),
        (("check", "--workload", "missing.jsonl", QUERIES), "idxadvisor: error: "),
    ],
)
def test_bad_input_exits_2_with_one_line(
    project: Path, args: tuple[str, ...], message: str
) -> None:
    result = run_cli(*args, cwd=project)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_inline_suppression_and_configuration(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "alerting"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    queries = root / QUERIES
    source = queries.read_text()
    # The due-deliveries expression ends on its `.order_by(...)` line; then the iexact lookup.
    lines = source.splitlines(keepends=True)
    due_line, _ = _at("due_webhook_deliveries")
    end = _at("due_webhook_deliveries", '.order_by("next_retry_at")[:limit]')[0]
    email_line, _ = _at("profile_by_email")
    lines[end - 1] = lines[end - 1].rstrip("\n") + "  # idxadvisor: ignore[IDX001]\n"
    lines[email_line - 1] = lines[email_line - 1].rstrip("\n") + "  # idxadvisor: ignore\n"
    queries.write_text("".join(lines))
    result = run_cli("check", QUERIES, cwd=root)
    assert result.returncode == 1
    assert f"{QUERIES}:{due_line}:" not in result.stdout
    assert f"{QUERIES}:{email_line}:" not in result.stdout
    rules_line, rules_col = _at("rules_due_for_evaluation")
    assert f"{QUERIES}:{rules_line}:{rules_col}: IDX001 " in result.stdout

    (root / "pyproject.toml").write_text(
        '[tool.idxadvisor]\nsettings = "alerting_project.settings"\nignore = ["IDX001", "IDX002"]\n'
    )
    result = run_cli("check", QUERIES, cwd=root)
    codes = {ln.split()[1] for ln in result.stdout.splitlines()}
    assert codes == {"IDX004"}  # IDX003 suppressed inline, IDX001/2 by configuration
    result = run_cli("check", "--ignore", "idx004", QUERIES, cwd=root)
    assert (result.returncode, result.stdout) == (0, "")

    (root / "pyproject.toml").write_text('[tool.idxadvisor]\nexclude = ["monitoring/q*.py"]\n')
    result = run_cli("check", QUERIES, cwd=root)
    assert (result.returncode, result.stdout) == (0, "")


def test_broken_settings_exit_2(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "alerting"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "alerting_project" / "settings.py").write_text("INSTALLED_APPS = [\n")
    result = run_cli("check", QUERIES, cwd=root)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


def test_workload_file(project: Path, tmp_path: Path) -> None:
    """A captured statement (issue 5) is checked at the code location it was captured from."""
    capture = tmp_path / "w.jsonl"
    records = [
        {"kind": "header", "format": "idxadvisor-capture", "version": 1, "created": "now"},
        {
            "kind": "statement",
            "process": "p",
            "calls": 40,
            "total_ms": 900.0,
            "constants": {},
            "origin": {"path": QUERIES, "line": 57, "function": "search_deliveries"},
            "sql": 'SELECT "monitoring_webhookdelivery"."id" FROM "monitoring_webhookdelivery" '
            'WHERE "monitoring_webhookdelivery"."response_code" = $1 '
            'ORDER BY "monitoring_webhookdelivery"."created_at" DESC LIMIT 20',
        },
    ]
    capture.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run_cli("check", "--format", "json", "--workload", str(capture), QUERIES, cwd=project)
    assert result.returncode == 1, result.stderr
    at_57 = [f for f in json.loads(result.stdout)["findings"] if f["line"] == 57]
    assert at_57, result.stdout
    assert all(f["path"] == QUERIES for f in at_57)
    assert any("response_code" in f["message"] for f in at_57), at_57


def test_list_and_explain() -> None:
    listed = run_cli("check", "--list-checks")
    assert listed.returncode == 0
    assert [ln.split()[0] for ln in listed.stdout.splitlines()] == [
        "IDX000",
        "IDX001",
        "IDX002",
        "IDX003",
        "IDX004",
    ]
    explained = run_cli("check", "--explain", "idx004")
    assert explained.returncode == 0 and "pg_trgm" in explained.stdout


BROKEN_FILES = {
    # name: (source, line, col (1-based, as Python reports it), the error as a regex)
    "syntax": (
        "from monitoring.models import AlertRule\n\ndef due(:\n"
        "    return AlertRule.objects.filter(is_active=True)\n",
        3,
        9,
        r"SyntaxError: invalid syntax",
    ),
    "indentation": (
        "from monitoring.models import AlertRule\n\ndef due():\n"
        "return AlertRule.objects.filter(is_active=True)\n",
        4,
        1,
        r"(Syntax|Indentation)Error: expected an indented block after "
        r"function definition on line 3",
    ),
    "unclosed": (
        "from monitoring.models import AlertRule\n\nQS = AlertRule.objects.filter(\n",
        3,
        30,
        r"SyntaxError: '\(' was never closed",
    ),
    "not utf-8": (
        b"from monitoring.models import AlertRule\nX = '\xff'\nQS = AlertRule.objects.all()\n",
        2,
        6,
        r"SyntaxError: .*can't decode byte 0xff.*",
    ),
    "null byte": (
        b"from monitoring.models import AlertRule\nX = 1\0\nQS = AlertRule.objects.all()\n",
        1,
        1,
        r"(SyntaxError|ValueError): .*null bytes.*",
    ),
}


@pytest.mark.parametrize("kind", BROKEN_FILES)
def test_a_file_that_does_not_parse_fails_the_check(example_copy: Path, kind: str) -> None:
    """IDX000 at the place of the error, exit 1, in every format; never a silent pass."""
    source, line, col, error = BROKEN_FILES[kind]
    broken = example_copy / "monitoring" / "broken.py"
    if isinstance(source, bytes):
        broken.write_bytes(source)
    else:
        broken.write_text(source)
    result = run_cli("check", "monitoring/broken.py", cwd=example_copy)
    assert result.returncode == 1, (result.stdout, result.stderr)
    [reported] = result.stdout.splitlines()
    prefix = f"monitoring/broken.py:{line}:{col}: IDX000 cannot parse this file: "
    assert re.fullmatch(re.escape(prefix) + error, reported), reported
    assert "Traceback" not in result.stderr
    as_json = run_cli(
        "check", "--format", "json", "monitoring/broken.py", QUERIES, cwd=example_copy
    )
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    [finding] = [f for f in report["findings"] if f["code"] == "IDX000"]
    assert (finding["path"], finding["line"], finding["check"]) == (
        "monitoring/broken.py",
        line,
        "unparsable-file",
    )
    assert any(f["path"] == QUERIES for f in report["findings"])  # the other file is checked
    assert [s["kind"] for s in report["skipped"] if s["path"] == "monitoring/broken.py"] == ["file"]
    sarif = json.loads(
        run_cli("check", "--format", "sarif", "monitoring/broken.py", cwd=example_copy).stdout
    )
    [res] = sarif["runs"][0]["results"]
    assert res["ruleId"] == "IDX000"


def test_explain_the_unparsable_file_check() -> None:
    explained = run_cli("check", "--explain", "IDX000")
    assert explained.returncode == 0
    assert explained.stdout.startswith("IDX000 — a file the checks could not read")


def test_files_without_querysets_pass_and_say_so(project: Path) -> None:
    result = run_cli("check", "monitoring/models.py", "monitoring/apps.py", cwd=project)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert result.stderr == "idxadvisor: no querysets found in 2 files\n"
    machine = run_cli("check", "--format", "json", "monitoring/models.py", cwd=project)
    assert machine.returncode == 0 and machine.stderr == ""
