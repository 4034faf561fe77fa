"""What an index costs: its size and what every write pays for it, in words.

>>> from idxadvisor.types.advice import IndexCandidate
>>> from idxadvisor.types.schema import IndexElement
>>> cost_note(IndexCandidate("log", (IndexElement("at"),), method="brin"), None)
'A few pages whatever the table size; negligible cost on writes.'
>>> cost_note(IndexCandidate("log", (IndexElement("org"),)), None)
'Every INSERT into log, and UPDATEs of its key columns, also write this index.'
"""

from __future__ import annotations

from collections.abc import Mapping

from idxadvisor.advisor.methods import BTREE, method
from idxadvisor.advisor.statistics import selectivity
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import Table


def cost_note(
    candidate: IndexCandidate,
    table: Table | None,
    updated: Mapping[str, float] | None = None,
    saved: Mapping[str, float] | None = None,
) -> str:
    """What the index costs, in words; with table statistics, an estimated size. ``updated``:
    how often the workload's UPDATEs set each column of the table; ``saved``: how often its
    whole-row saves write each other column, changed or not (see
    :func:`~idxadvisor.advisor.value.updated_columns`).

    >>> from idxadvisor.types.schema import IndexElement
    >>> c = IndexCandidate("job", (IndexElement("status"), IndexElement("at")))
    >>> "updates status (40 runs or call sites)" in cost_note(c, None, {"status": 40.0})
    True
    """
    fixed = method(candidate.method).cost
    if fixed:
        return fixed
    name = table.name if table else candidate.table
    text = f"Every INSERT into {name}, and UPDATEs of its key columns, also write this index."
    if candidate.condition:
        text += " Only rows matching its WHERE are indexed, so it stays small."
    indexed = [
        *(e.column for e in candidate.elements if e.column),
        *candidate.include,
        *(p.column for p in candidate.condition),
    ]
    hot = [c for c in dict.fromkeys(indexed) if (updated or {}).get(c)]
    if hot:
        runs = sum((updated or {})[c] for c in hot)
        times = "1 run or call site" if round(runs) == 1 else f"{runs:,.0f} runs or call sites"
        text += (
            f" The workload updates {', '.join(hot)} ({times}): "
            "each such UPDATE also writes this index and can no longer be a HOT update "
            "(heap-only, no index write)."
        )
    maybe = [c for c in dict.fromkeys(indexed) if c not in hot and (saved or {}).get(c)]
    if maybe:
        runs = max((saved or {})[c] for c in maybe)
        times = "1 run" if round(runs) == 1 else f"{runs:,.0f} runs"
        text += (
            f" The workload also saves whole rows ({times}; save() without update_fields), "
            f"writing {', '.join(maybe)} whether changed or not: an UPDATE that changes one "
            "of them writes this index too and is not HOT."
        )
    long = [
        e.key
        for e in candidate.elements
        if e.column
        and table is not None
        and (column := table.column(e.column)) is not None
        and column.long_text
    ]
    if long and candidate.method == BTREE:
        text += (
            f" {', '.join(long)} has no length limit: one value over about 2.7 kB makes the "
            "INSERT or UPDATE writing it fail with this index (index row size exceeds the "
            "B-tree maximum); fine only while its values stay short."
        )
    size = estimated_size(candidate, table)
    if size is not None:
        text = f"About {human_size(size)} (estimated from row counts). " + text
    return text


def estimated_size(candidate: IndexCandidate, table: Table | None) -> int | None:
    """A rough B-tree size: rows * (key widths + tuple overhead), with leaf-page slack."""
    if table is None or table.rows is None:
        return None
    widths = 0
    for key in (*[e.column for e in candidate.elements], *candidate.include):
        column = table.column(key or "")
        stats = column.stats if column else None
        widths += stats.avg_width if stats and stats.avg_width else 8
    fraction = 1.0
    for p in candidate.condition:
        column = table.column(p.column)
        if column is not None and column.stats is not None:
            fraction *= selectivity(column.stats, p, table.rows)
    rows = max(table.rows, 0) * fraction
    return int(rows * (widths + 16) / 0.9) + 8192


def human_size(n: int) -> str:
    """``n`` bytes for a reader.

    >>> human_size(512), human_size(3 * 1024 * 1024)
    ('512 bytes', '3.0 MB')
    """
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"
