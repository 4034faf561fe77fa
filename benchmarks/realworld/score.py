"""Score an ``idxadvisor analyze --format json`` report against the maintainers' indexes.

Pure functions over plain data (the ground truth as dicts, the report as parsed JSON), so the
rules are unit-tested on small hand-made inputs (``tests/test_realworld_scoring.py``):

* a maintainers' index is *found* when a proposal on the same table has key columns that lead
  with theirs, in order (direction ignored); leading keys that the index's own WHERE pins to one
  value are dropped from theirs first (``status`` in ``(status, priority DESC, run_after) WHERE
  status = 'READY'``): inside that index such a key orders and seeks nothing, so a proposal need
  not repeat it. Only leading keys, and never all of them; a proposal's keys get the same by its
  own WHERE, so the maintainers' index still matches itself;
* a partial one (``condition``) is *found with its condition* only when the proposal's WHERE is
  compatible: the same set of ``AND`` terms, once quotes, case and ``= true`` are normalised;
* *proposals per found* is every proposal of the run over the found indexes;
* a proposal is *PK/unique-served* when its leading keys and the columns of an existing primary
  key or unique index (without WHERE) are one a prefix of the other: an equality there is
  already served. Not a partial one on no more than those columns: a rare filter walked in
  their order (``(id) WHERE processed IS NULL`` for ``processed IS NULL ORDER BY id LIMIT 1``)
  is exactly what the unique index does not serve (issue 11, defect 5).

>>> key_columns('CREATE INDEX CONCURRENTLY "i" ON "t" ("a", "b" DESC) WHERE "c";')
('a', 'b')
>>> sorted(normalise_condition('"success" = TRUE AND "group" IS NOT NULL'))
['group is not null', 'success']
>>> compared_keys(("status", "priority", "run_after"), "status = 'READY'")
('priority', 'run_after')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_ON = re.compile(r'\bON\s+(?:ONLY\s+)?"?[\w.]+"?\s*(?:USING\s+\w+\s*)?\(', re.IGNORECASE)
_COLUMN = re.compile(
    r'^"?(\w+)"?(?:\s+(?:ASC|DESC|NULLS\s+(?:FIRST|LAST)|\w+_ops))*$', re.IGNORECASE
)
_TRUE = re.compile(r"^(.+?)\s*=\s*true$")
_FALSE = re.compile(r"^(.+?)\s*=\s*false$")
# A normalised WHERE term that holds its column to a single value: ``c = 'v'``, ``c = 3``,
# ``c is null``, ``c`` (was ``c = true``), ``not c``; the column optionally table-qualified.
_PINNED = re.compile(
    r"^(?:not )?(?:\w+\.)?(\w+)(?: = (?:'(?:[^']|'')*'|-?\d+(?:\.\d+)?)| is null)?$"
)


def key_columns(sql: str) -> tuple[str, ...]:
    """The key parts of a ``CREATE INDEX`` statement: column names, expressions as ``expr:…``.

    >>> key_columns('CREATE INDEX "i" ON "t" USING gin ((UPPER("m")) gin_trgm_ops);')
    ('expr:(upper(m)) gin_trgm_ops',)
    """
    match = _ON.search(sql)
    if match is None:
        return ()
    parts: list[str] = []
    depth, start, i = 0, match.end(), match.end()
    while i < len(sql):
        ch = sql[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                parts.append(sql[start:i])
                break
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(sql[start:i])
            start = i + 1
        i += 1
    keys = []
    for part in (p.strip() for p in parts):
        column = _COLUMN.match(part)
        keys.append(column.group(1) if column else "expr:" + part.replace('"', "").lower())
    return tuple(keys)


def normalise_condition(sql: str | None) -> frozenset[str]:
    """The ``AND`` terms of a WHERE, without quotes or case; ``x = true`` is ``x``."""
    if not sql:
        return frozenset()
    text = re.sub(r"\s+", " ", sql.replace('"', "").strip().lower())
    terms = set()
    for term in re.split(r"\band\b", _unwrap(text)):
        term = _unwrap(term.strip())
        if (m := _TRUE.match(term)) is not None:
            term = m.group(1)
        elif (m := _FALSE.match(term)) is not None:
            term = f"not {m.group(1)}"
        if term:
            terms.add(term)
    return frozenset(terms)


def pinned_columns(sql: str | None) -> frozenset[str]:
    """Columns a WHERE's ``AND`` terms hold to one value each.

    >>> sorted(pinned_columns("status = 'READY' AND t.success AND n > 3 AND m IS NULL"))
    ['m', 'status', 'success']
    """
    return frozenset(
        m.group(1) for term in normalise_condition(sql) if (m := _PINNED.match(term)) is not None
    )


def compared_keys(keys: tuple[str, ...], condition: str | None) -> tuple[str, ...]:
    """The keys a proposal must lead with: ``keys`` without the leading ones ``condition``
    pins to one value (all of ``keys`` when every one is pinned: something must be matched)."""
    pinned = pinned_columns(condition)
    rest = keys
    while rest and rest[0] in pinned:
        rest = rest[1:]
    return rest or keys


def _unwrap(text: str) -> str:
    """``text`` without parentheses around all of it (``(a) = (b)`` keeps its own)."""
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text


@dataclass(frozen=True, slots=True)
class Match:
    """One maintainers' index and the proposals that rediscover it (leading with
    ``compared``: ``keys`` less the leading ones ``condition`` pins)."""

    table: str
    keys: tuple[str, ...]
    condition: str | None
    found_by: tuple[str, ...]
    condition_found_by: tuple[str, ...]
    compared: tuple[str, ...]

    @property
    def found(self) -> bool:
        return bool(self.found_by)


@dataclass(frozen=True, slots=True)
class Score:
    """A run's score; ``matches`` only covers the scored ground-truth indexes."""

    matches: tuple[Match, ...]
    proposals: int
    pk_unique_served: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)
    strong: int = 0  # proposals the report ranks "strong" (the rest: "also possible")

    @property
    def total(self) -> int:
        return len(self.matches)

    @property
    def found(self) -> int:
        return sum(m.found for m in self.matches)

    @property
    def partial_total(self) -> int:
        return sum(m.condition is not None for m in self.matches)

    @property
    def partial_found(self) -> int:
        return sum(m.condition is not None and bool(m.condition_found_by) for m in self.matches)

    @property
    def proposals_per_found(self) -> float | None:
        return round(self.proposals / self.found, 2) if self.found else None

    @property
    def strong_per_found(self) -> float | None:
        return round(self.strong / self.found, 2) if self.found else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "total": self.total,
            "partial_found": self.partial_found,
            "partial_total": self.partial_total,
            "proposals": self.proposals,
            "proposals_per_found": self.proposals_per_found,
            "strong": self.strong,
            "strong_per_found": self.strong_per_found,
            "pk_unique_served": len(self.pk_unique_served),
            "pk_unique_served_names": list(self.pk_unique_served),
            "matches": [
                {
                    "table": m.table,
                    "keys": list(m.keys),
                    "compared_keys": list(m.compared),
                    "condition": m.condition,
                    "found_by": list(m.found_by),
                    "condition_found_by": list(m.condition_found_by),
                }
                for m in self.matches
            ],
            **self.extra,
        }


def _leads(keys: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
    return len(prefix) > 0 and keys[: len(prefix)] == prefix


def pk_unique_served(report: dict[str, Any]) -> tuple[str, ...]:
    """Names of proposals an existing primary key or unique index already serves.

    >>> pk_unique_served({"recommendations": [
    ...     {"name": "p", "table": "t", "sql": 'CREATE INDEX "p" ON "t" ("a", "b");',
    ...      "condition": None}],
    ...     "existing": [{"table": "t", "columns": ["a"], "unique": True, "condition": None}]})
    ('p',)
    """
    unique: dict[str, list[tuple[str, ...]]] = {}
    for index in report.get("existing", []):
        if index.get("unique") and not index.get("condition") and index.get("columns"):
            unique.setdefault(index["table"], []).append(tuple(index["columns"]))
    served = []
    for rec in report.get("recommendations", []):
        keys = key_columns(rec["sql"])
        for columns in unique.get(rec["table"], []):
            if rec.get("condition") and len(keys) <= len(columns):
                continue  # a partial walk in the unique index's order (defect 5)
            if _leads(keys, columns) or _leads(columns, keys):
                served.append(rec["name"])
                break
    return tuple(served)


def score(ground_truth: list[dict[str, Any]], report: dict[str, Any]) -> Score:
    """Score ``report`` (analyze JSON) against the scored entries of ``ground_truth``.

    Each ground-truth entry has ``table``, ``keys`` (column names, in order), optional
    ``condition`` (SQL) and optional ``scored`` (default true). A proposal's
    ``compared_keys`` must lead with the entry's.
    """
    recs = [
        (r, compared_keys(key_columns(r["sql"]), r.get("condition")))
        for r in report.get("recommendations", [])
    ]
    matches = []
    for gt in ground_truth:
        if not gt.get("scored", True):
            continue
        keys = tuple(gt["keys"])
        condition = gt.get("condition") or None
        wanted = normalise_condition(condition)
        lead = compared_keys(keys, condition)
        found = [r["name"] for r, rk in recs if r["table"] == gt["table"] and _leads(rk, lead)]
        with_condition = [
            r["name"]
            for r, rk in recs
            if r["table"] == gt["table"]
            and _leads(rk, lead)
            and normalise_condition(r.get("condition")) == wanted
        ]
        matches.append(
            Match(gt["table"], keys, condition, tuple(found), tuple(with_condition), lead)
        )
    strong = sum(r.get("strength", "strong") == "strong" for r, _ in recs)
    return Score(tuple(matches), len(recs), pk_unique_served(report), strong=strong)
