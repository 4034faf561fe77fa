"""Partial indexes: which constant conditions go into the index ``WHERE`` instead of its key.

A constant condition on a column with few distinct values (a status with choices, a boolean,
``IS NULL``) is a poor key column: each value matches many rows and the key grows the index for
every row. As an index predicate it does better: the index holds only the matching rows, so it
is small, and ``status IN ('pending', 'failed') ORDER BY next_retry_at LIMIT 100`` is served by
``(next_retry_at) WHERE status IN (…)`` in index order — which ``(status, next_retry_at)`` cannot
do for two status values. With ``pg_stats`` the choice rests on the value's real frequency.

>>> from idxadvisor.types.access import AccessPattern, Op, Predicate
>>> p = AccessPattern("q1", "hook", "select", predicates=(
...     Predicate("status", Op.IN, "status IN ('pending', 'failed')",
...               constants=("'pending'", "'failed'")),))
>>> split = split_constants(p, None)
>>> [c.sql for c in split.condition], split.keys
(["status IN ('pending', 'failed')"], ())
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from idxadvisor.advisor.statistics import PARTIAL_MAX_FRACTION, selectivity
from idxadvisor.types.access import AccessPattern, Op, Predicate
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import Table

# A condition matching more than this share of rows is not worth indexing at all.
USELESS_MIN_FRACTION = 0.5
# A longer IN list is data handed over by the code (ids, a batch), not a fixed filter the code
# writes: it is a key condition, never an index WHERE.
MAX_PARTIAL_VALUES = 10
# Constant conditions that can be an index WHERE: equalities and their negations, nullness.
PARTIAL_OPS = (Op.EQ, Op.IN, Op.NEQ, Op.IS_NULL, Op.NOT_NULL)


@dataclass(frozen=True, slots=True)
class ConstantSplit:
    keys: tuple[Predicate, ...]  # constant conditions that stay key columns
    condition: tuple[Predicate, ...]  # constant conditions that become the index WHERE
    ignored: tuple[Predicate, ...]  # conditions too unselective to index
    reasons: tuple[str, ...]
    # (predicate SQL, why it goes in the index WHERE), said only if the final index keeps it.
    condition_reasons: tuple[tuple[str, str], ...] = ()


def split_constants(pattern: AccessPattern, table: Table | None) -> ConstantSplit:
    """Sort the pattern's constant conditions into key, partial predicate, or neither."""
    keys: list[Predicate] = []
    condition: list[Predicate] = []
    ignored: list[Predicate] = []
    reasons: list[str] = []
    condition_reasons: list[tuple[str, str]] = []
    for p in pattern.predicates:
        if not p.is_constant or p.expression or p.op not in PARTIAL_OPS:
            continue
        if len(p.constants) > MAX_PARTIAL_VALUES:
            continue  # a batch of values, not a condition the code fixes
        column = table.column(p.column) if table else None
        if p.op is Op.NOT_NULL and column is not None and not column.null:
            ignored.append(p)  # always true on a NOT NULL column: no condition at all
            continue
        if column is not None and column.stats is not None:
            fraction = selectivity(column.stats, p, table.rows if table else None)
            share = f"{fraction:.1%}" if fraction >= 0.001 else "under 0.1%"
            if fraction <= PARTIAL_MAX_FRACTION:
                condition.append(p)
                condition_reasons.append(
                    (
                        p.sql,
                        f"{p.sql} holds {share} of rows (pg_stats): it goes in the index WHERE, "
                        "so the index holds only those rows.",
                    )
                )
            elif fraction >= USELESS_MIN_FRACTION or p.op in (Op.NEQ, Op.NOT_NULL):
                ignored.append(p)
                reasons.append(
                    f"{p.sql} holds {share} of rows (pg_stats): too common to be worth indexing."
                )
            else:
                keys.append(p)
                reasons.append(f"{p.sql} holds {share} of rows (pg_stats): kept as a key column.")
            continue
        # With no schema (SQL alone), a literal in the query is most likely a code or a flag.
        low_cardinality = p.op in (Op.IN, Op.NEQ, Op.IS_NULL, Op.NOT_NULL) or (
            (column.choices or column.boolean) if column is not None else table is None
        )
        if low_cardinality:
            condition.append(p)
            # A negation or IS NOT NULL keeps all rows but some: no claim that they are few.
            share = (
                "how many rows it keeps is unknown without statistics (--database-url reads "
                "pg_stats)"
                if p.op in (Op.NEQ, Op.NOT_NULL)
                else "assumed to match a small share of rows"
            )
            condition_reasons.append(
                (
                    p.sql,
                    f"{p.sql} is a constant filter on {_kind(p, column)}: it goes in the "
                    f"index WHERE (a partial index), {share}.",
                )
            )
        else:
            keys.append(p)
    return ConstantSplit(
        tuple(keys), tuple(condition), tuple(ignored), tuple(reasons), tuple(condition_reasons)
    )


def settled_condition(candidate: IndexCandidate) -> IndexCandidate:
    """The final index's reasons, opening with why each term of its WHERE is there.

    Said once the WHERE is final: merging may drop a term (two complementary partial indexes
    become one full index) or seek on it as a key instead, and then the term's sentence would
    describe an index that is not proposed.

    >>> from idxadvisor.types.schema import IndexElement
    >>> c = IndexCandidate("t", (IndexElement("at"),), reasons=("Then the ORDER BY key at.",),
    ...     condition_reasons=(("done", "done goes in the index WHERE."),))
    >>> settled_condition(c).reasons
    ('Then the ORDER BY key at.',)
    >>> p = Predicate("done", Op.EQ, "done")
    >>> settled_condition(replace(c, condition=(p,))).reasons
    ('done goes in the index WHERE.', 'Then the ORDER BY key at.')
    """
    kept = {p.sql for p in candidate.condition}
    said = tuple(dict.fromkeys(why for sql, why in candidate.condition_reasons if sql in kept))
    return replace(candidate, reasons=(*said, *candidate.reasons), condition_reasons=())


def _kind(p: Predicate, column) -> str:
    if p.op in (Op.IS_NULL, Op.NOT_NULL):
        return f"the nullness of {p.column}"
    if column is not None and column.boolean:
        return "a boolean column"
    if p.op is Op.IN:
        return f"a list of values of {p.column}"
    if p.op is Op.NEQ:
        return f"all but some values of {p.column}"
    return f"{p.column}, a column with a few fixed choices"
