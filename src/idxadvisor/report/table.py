"""The analysis as a report for people: proposals grouped by model, each with its evidence."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from idxadvisor.report.json_report import nothing_to_analyse, unparsed_files
from idxadvisor.types.advice import Recommendation
from idxadvisor.types.analysis import Analysis
from idxadvisor.types.workload import Query

REPORT_TITLE = "idxadvisor report"


def render(analysis: Analysis, console: Console) -> None:
    advice = analysis.advice
    queries = analysis.workload.by_id()
    console.print(Text(REPORT_TITLE, style="bold"))
    console.print(_summary(analysis))
    for note in advice.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if advice.whatif_calls is not None:
        console.print(f"what-if: {advice.whatif_calls:,} EXPLAINs sent to HypoPG")

    # The strong proposals first, in full; the possible ones in a short list after them.
    by_table: dict[str, list[Recommendation]] = defaultdict(list)
    possible = [r for r in advice.recommendations if r.strength != "strong"]
    for rec in advice.recommendations:
        if rec.strength == "strong":
            by_table[rec.table].append(rec)
    for table, recs in by_table.items():
        model = recs[0].model
        title = f"{recs[0].app_label}.{model} ({table})" if model else table
        panels = [_recommendation(rec, queries, analysis) for rec in recs]
        console.print(Panel(Group(*panels), title=title, title_align="left"))
    if possible:
        also = Table(
            "index", "SQL", "why only possible", title="Also possible", title_justify="left"
        )
        for rec in possible:
            also.add_row(Text(rec.name), Text(rec.sql), Text(" ".join(rec.value)))
        console.print(also)

    skipped = analysis.skipped
    files = unparsed_files(skipped)
    statements = tuple(s for s in skipped if s.kind != "file")
    sections: list[tuple[str, tuple[str, ...], list[tuple[str, ...]]]] = [
        (
            "Already served by an existing index",
            ("query", "from", "index"),
            [(s.query_id, _where(queries.get(s.query_id)), s.index) for s in advice.served_queries],
        ),
        (
            "Existing indexes made redundant",
            ("index", "covered by", "why"),
            [(r.index.name, r.covered_by, r.reason) for r in advice.redundant],
        ),
        (
            "Considered and dropped",
            ("table", "keys", "why"),
            [(r.candidate.table, ", ".join(r.candidate.keys), r.reason) for r in advice.rejected],
        ),
        (
            f"Files that could not be parsed ({len(files)})",
            ("file", "reason"),
            [(str(s.origin) if s.origin else "", s.reason) for s in files],
        ),
        (
            f"Skipped ({len(statements)})",
            ("where", "reason"),
            [
                (str(s.origin) if s.origin else _shorten(s.sql or "", 60), s.reason)
                for s in statements
            ],
        ),
    ]
    for title, headers, rows in sections:
        if rows:
            section = Table(*headers, title=title, title_justify="left")
            # One row per distinct line: a candidate dropped for one reason by twenty of its
            # queries is one row, not twenty of the same.
            for row in dict.fromkeys(rows):
                # Text, not markup: a reason may quote "[" from the user's code or SQL.
                section.add_row(*(Text(cell) for cell in row))
            console.print(section)
    empty = nothing_to_analyse(analysis)
    if empty is not None:
        console.print(f"[yellow]{escape(empty[0].upper() + empty[1:])}.[/]")
    elif not advice.recommendations and advice.rejected:
        # Not "every query is served": some were not, and their candidates were dropped.
        dropped = {(r.candidate.table, r.candidate.keys, r.reason) for r in advice.rejected}
        console.print(
            f"[green]No new index proposed:[/] {_n(len(dropped), 'candidate')} "
            "considered and dropped, with the reasons above; the other analysed queries are "
            "served."
        )
    elif not advice.recommendations:
        console.print("[green]No new index proposed:[/] every analysed query is served.")
    if files and empty is None:
        console.print(
            f"[yellow]{_n(len(files), 'file')} could not be parsed:[/] "
            "their queries were not analysed."
        )


def _summary(analysis: Analysis) -> str:
    advice = analysis.advice
    analysed = len({p.query_id for p in analysis.patterns})
    served = len({s.query_id for s in advice.served_queries})
    files = len(unparsed_files(analysis.skipped))
    unparsed = f", {_n(files, 'file')} that could not be parsed" if files else ""
    # Skips are said apart: they come from every stage (a queryset the scan could not
    # compile, a statement, a file), so they are no share of the statements counted before.
    skipped = (
        f"; {len(analysis.skipped)} skipped{unparsed} (listed below)" if analysis.skipped else ""
    )
    return (
        f"{_n(analysis.statements, 'statement')} ({len(analysis.workload.queries)} distinct), "
        f"{analysed} analysed — {_n(len(advice.recommendations), 'index', 'indexes')} proposed, "
        f"{_n(served, 'query', 'queries')} already served{skipped}"
    )


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def _recommendation(rec: Recommendation, queries: dict[str, Query], analysis: Analysis) -> Group:
    head = Text(rec.name, style="bold cyan")
    body = Table.grid(padding=(0, 1))
    body.add_column(style="dim", no_wrap=True)
    body.add_column()
    body.add_row("index", rec.django or rec.sql)
    body.add_row("sql", rec.sql)
    served = []
    for qid in rec.serves:
        q = queries.get(qid)
        cost = analysis.advice.costs.get(qid)
        line = f"{qid} {_where(q)}"
        if q is not None and q.source == "capture":
            line += f" — {q.calls} call(s), {q.total_time_ms:.1f} ms"
        if cost is not None:
            line += f" — cost {cost.cost_before:,.0f} → {cost.cost_after:,.0f}"
            if cost.index_used and cost.index_used != rec.name:
                line += f" (planner picks {cost.index_used})"
            if not cost.reliable:
                line += f" ({cost.note})"
        served.append(line)
    body.add_row("serves", "\n".join(served))
    body.add_row("why", rec.reason)
    body.add_row(
        "cost",
        rec.cost
        + (
            f" Estimated size {rec.estimated_size_bytes:,} bytes (HypoPG)."
            if rec.estimated_size_bytes
            else ""
        ),
    )
    if rec.redundant:
        body.add_row("makes redundant", ", ".join(rec.redundant))
    return Group(head, body, Text(""))


def _where(q: Query | None) -> str:
    if q is None:
        return ""
    if not q.origins:
        return _shorten(q.sql, 60)
    first = str(q.origins[0])
    more = f" (+{q.origin_count - 1:,} more)" if q.origin_count > 1 else ""
    return first + more


def _shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def is_table_report(text: str) -> bool:
    """Whether a file's content is a report this module wrote (safe to overwrite)."""
    return text.startswith(REPORT_TITLE)


def to_text(analysis: Analysis) -> str:
    """The report as plain text, 120 columns wide, no colour (for ``--output``)."""
    import io

    console = Console(record=True, width=120, file=io.StringIO(), color_system=None)
    render(analysis, console)
    return console.export_text()


def show(analysis: Analysis) -> None:
    """The report on the terminal, coloured and as wide as it is."""
    render(analysis, Console())
