"""What the advisor produces: candidates, recommendations, redundancies, and the advice as a whole.

Each recommendation carries its evidence (the queries it serves, the reasons, the costs), so the
table report, the JSON, the migration comments and the check messages are all views of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from idxadvisor.types.access import Predicate
from idxadvisor.types.schema import ExistingIndex, IndexElement
from idxadvisor.types.workload import Skipped


@dataclass(frozen=True, slots=True)
class IndexCandidate:
    """An index that would serve some access patterns.

    ``condition`` holds the constant predicates of a partial index (AND-ed); they render both
    as SQL (``WHERE status IN ('pending', 'failed')``) and as a Django ``Q``.
    """

    table: str
    elements: tuple[IndexElement, ...]
    condition: tuple[Predicate, ...] = ()
    include: tuple[str, ...] = ()
    method: str = "btree"
    unique: bool = False
    serves: tuple[str, ...] = ()  # query ids
    reasons: tuple[str, ...] = ()
    # How many leading keys are pinned by equality: their order is free, which lets two
    # candidates share one index ("(org)" folds into "(name, org)" as "(org, name)").
    equality_prefix: int = 0
    # Its queries filter nothing of this table: they only sort all its rows (an admin column
    # sort, a join filtered on another table).
    sort_only: bool = False
    # (query id, every column it reads) for each query the INCLUDE was added for: the INCLUDE
    # list is settled once on the final index against these, and its reason is said then.
    index_only: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # (predicate SQL, why it is in the index WHERE): said once the final WHERE is known.
    condition_reasons: tuple[tuple[str, str], ...] = ()
    # Queries folded in whose keys lead this index's: said in one sentence at the end.
    led_by: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(e.key for e in self.elements)

    @property
    def condition_sql(self) -> str | None:
        if not self.condition:
            return None
        return " AND ".join(p.sql for p in sorted(self.condition, key=lambda p: p.sql))

    def definition(self) -> tuple:
        """What makes two candidates the same index (serves and reasons aside)."""
        return (
            self.table,
            self.elements,
            self.condition_sql,
            self.include,
            self.method,
            self.unique,
        )


@dataclass(frozen=True, slots=True)
class QueryCost:
    """Planner cost of one query without and with the recommended indexes (HypoPG)."""

    query_id: str
    cost_before: float
    cost_after: float
    index_used: str | None = None
    reliable: bool = True  # False when the what-if number cannot be trusted (expression stats)
    note: str = ""


@dataclass(frozen=True, slots=True)
class Recommendation:
    candidate: IndexCandidate
    name: str  # ≤ 30 characters, stable across runs
    sql: str  # complete CREATE INDEX CONCURRENTLY statement
    django: str  # models.Index(...) source, or "" when Django cannot express it
    app_label: str | None = None
    model: str | None = None  # class name
    fields: tuple[str, ...] = ()  # Django style, "-" prefix for DESC; empty for expressions
    expressions: tuple[str, ...] = ()  # SQL of expression keys
    redundant: tuple[str, ...] = ()  # names of existing indexes this one makes redundant
    estimated_size_bytes: int | None = None
    benefit: float | None = None  # weighted cost saved across the workload (what-if)
    cost: str = ""  # what the index costs: size, write overhead
    # "strong": worth building now; "possible": worth a look (commands only, a small table…)
    strength: str = "strong"
    value: tuple[str, ...] = ()  # why it is worth it: call sites, runs, request path, table

    @property
    def table(self) -> str:
        return self.candidate.table

    @property
    def serves(self) -> tuple[str, ...]:
        return self.candidate.serves

    @property
    def reason(self) -> str:
        return " ".join(self.candidate.reasons)

    @property
    def extensions(self) -> tuple[str, ...]:
        """PostgreSQL extensions the index needs (``CREATE EXTENSION`` before ``sql``)."""
        if any((e.opclass or "").startswith("gin_trgm") for e in self.candidate.elements):
            return ("pg_trgm",)
        return ()


@dataclass(frozen=True, slots=True)
class Redundancy:
    """An existing index that another index (existing or recommended) makes unnecessary."""

    index: ExistingIndex
    covered_by: str
    reason: str
    # Live statistics show nothing needs it that ``covered_by`` cannot do: safe to drop in the
    # migration that builds ``covered_by`` (``reason`` says why; else why it stays).
    removable: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """A candidate that was considered and dropped, with why (too small a table, no gain…)."""

    candidate: IndexCandidate
    reason: str


@dataclass(frozen=True, slots=True)
class Served:
    """One table access of a query that an existing index already serves."""

    query_id: str
    table: str
    index: str
    reason: str = ""  # why it serves, when that is not plain (a PostgreSQL 18 skip scan)


@dataclass(frozen=True, slots=True)
class Advice:
    recommendations: tuple[Recommendation, ...] = ()
    redundant: tuple[Redundancy, ...] = ()
    served: tuple[Served, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    costs: Mapping[str, QueryCost] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # run-wide remarks ("HypoPG not installed: heuristics only")
    whatif_calls: int | None = None  # EXPLAINs sent for what-if costs; None: not live

    @property
    def served_queries(self) -> tuple[Served, ...]:
        """The served accesses of the queries no proposal serves: those are "already served".

        A statement reads several tables; one read served by a primary key does not make
        the statement served while a proposal is made for another of its reads.
        """
        proposed = {q for r in self.recommendations for q in r.serves}
        return tuple(s for s in self.served if s.query_id not in proposed)
