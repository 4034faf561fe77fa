"""Across the workload: one index for several queries where one can serve them all.

A candidate whose keys are a leading prefix of another's (same method, and the same partial
predicate or the other has none) is served by the longer one: ``(organisation)`` folds into
``(organisation, created_at DESC)``.
Identical definitions fold into one that lists every query. Every fold keeps every promise:
after it, each query folded in earlier must still be served by the merged keys, or the fold is
refused; equality keys have no direction (a B-tree is read backwards too); the result does not
depend on the order candidates come in. Two partial indexes on the same keys whose WHEREs
together cover every row (``WHERE unread`` and ``WHERE NOT unread``) are one full index.

>>> from idxadvisor.types.advice import IndexCandidate
>>> from idxadvisor.types.schema import IndexElement
>>> a = IndexCandidate("log", (IndexElement("org"),), serves=("q1",))
>>> b = IndexCandidate("log", (IndexElement("org"), IndexElement("at", descending=True)),
...                    serves=("q2",))
>>> [m.serves for m in merge([a, b])]
[('q2', 'q1')]

Equality keys can be read in any order, so ``(org)`` also folds into ``(name, org)``, which
becomes ``(org, name)``:

>>> c = IndexCandidate("log", (IndexElement("name"), IndexElement("org")), serves=("q3",),
...                    equality_prefix=2)
>>> [e.key for e in merge([c, IndexCandidate("log", (IndexElement("org"),), serves=("q4",),
...                                          equality_prefix=1)])[0].elements]
['org', 'name']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from idxadvisor.advisor.methods import BRIN, BTREE, method
from idxadvisor.advisor.rules.covering import MAX_INCLUDE
from idxadvisor.advisor.serving import conjuncts, implied
from idxadvisor.errors import UnparsableSQL
from idxadvisor.sql.canonical import canonical, canonical_key
from idxadvisor.types.access import Op, Predicate
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import IndexElement


@dataclass(frozen=True, slots=True)
class _Promise:
    """What one original candidate asked for, which every fold must still give it."""

    elements: tuple[IndexElement, ...]
    equality_prefix: int
    condition: tuple  # Predicates of its partial WHERE


@dataclass(frozen=True, slots=True)
class _Group:
    candidate: IndexCandidate
    promises: tuple[_Promise, ...]


def merge(candidates: Sequence[IndexCandidate]) -> list[IndexCandidate]:
    # Folds never cross tables: merge each table's candidates on their own (a workload of many
    # tables then costs the sum of small problems, not one quadratic one).
    by_table: dict[str, list[IndexCandidate]] = {}
    for c in candidates:
        by_table.setdefault(c.table, []).append(c)
    merged: list[IndexCandidate] = []
    for table in sorted(by_table):
        merged.extend(_merge_table(by_table[table]))
    return merged


def _merge_table(candidates: Sequence[IndexCandidate]) -> list[IndexCandidate]:
    groups = [
        _Group(c, (_Promise(c.elements, c.equality_prefix, c.condition),)) for c in candidates
    ]
    # A fold can reorder an index's equality keys, which may let another fold in: repeat.
    # Plain folds first, to their end, then complements too: two halves are joined into one
    # full index only once each half has gathered every candidate of its own WHERE, or a
    # half left over would stay a second index on the same keys.
    for complements in (False, True):
        while True:
            merged = _merge_once(groups, complements=complements)
            if len(merged) == len(groups):
                break
            groups = merged
    return _brin_into_btree([g.candidate for g in groups])


def _brin_into_btree(candidates: list[IndexCandidate]) -> list[IndexCandidate]:
    """A BRIN index on a column that a proposed full B-tree leads with is a second index on
    the same column: the B-tree seeks the range as well, so it serves the BRIN's queries."""
    kept = list(candidates)
    for brin in [
        c for c in candidates if c.method == BRIN and len(c.elements) == 1 and not c.condition
    ]:
        column = brin.elements[0].key
        for i, other in enumerate(kept):
            if (
                other.method == BTREE
                and other.table == brin.table
                and not other.condition
                and other.elements
                and other.elements[0].key == column
            ):
                kept[i] = replace(
                    other,
                    serves=tuple(dict.fromkeys((*other.serves, *brin.serves))),
                    reasons=(
                        *other.reasons,
                        f"Also serves "
                        f"{', '.join(brin.serves)}: a range on {column}, which "
                        "this B-tree seeks on (a BRIN index beside it would "
                        "be a second index on the same column).",
                    ),
                    sort_only=other.sort_only and brin.sort_only,
                )
                kept.remove(brin)
                break
    return kept


def _order_key(c: IndexCandidate) -> tuple:
    # Longest first, then by definition: the same input in any order gives the same output.
    # Among equal keys, the one that seeks most first: it becomes the index the others fold
    # into, so the proposal's reasons open with its seek, not with a sort of the whole table.
    return (
        -len(c.elements),
        repr(c.definition()),
        -c.equality_prefix,
        c.sort_only,
        c.serves,
    )


def _merge_once(groups: Sequence[_Group], *, complements: bool) -> list[_Group]:
    kept: list[_Group] = []
    for group in sorted(groups, key=lambda g: _order_key(g.candidate)):
        for i, target in enumerate(kept):
            folded = _fold_groups(group, target, complements) or _fold_groups(
                target, group, complements
            )
            if folded is not None:
                kept[i] = folded
                break
        else:
            kept.append(group)
    return kept


def _fold_groups(small: _Group, big: _Group, complements: bool) -> _Group | None:
    promises = (*big.promises, *small.promises)
    joined = _complement(small.candidate, big.candidate) if complements else None
    if joined is not None:
        # Each half's queries accept the full index walked and filtered: their promises no
        # longer hold the joined terms, or the next fold would ask for them again.
        halves = {small.candidate.condition[0], big.candidate.condition[0]}
        promises = tuple(
            replace(p, condition=tuple(c for c in p.condition if c not in halves)) for p in promises
        )
    merged = joined or _fold(small.candidate, big.candidate)

    if merged is None:
        return None
    if not all(_keeps(p, merged) for p in promises):
        return None
    return _Group(merged, promises)


def _keeps(promise: _Promise, index: IndexCandidate) -> bool:
    """Whether ``index`` still serves what ``promise`` asked for: its WHERE implied by the
    promise's, its equality keys leading (in any order), then its other keys in order, read in
    one direction. A promise's WHERE of pinning equalities may instead be sought on."""
    kept = conjuncts(index.condition_sql)
    pinned = _pins_as_keys(promise.elements, promise.equality_prefix, promise.condition, kept)
    forms = [promise, *([_Promise(*pinned)] if pinned else [])]
    return any(_keeps_as_written(p, index) for p in forms)


def _keeps_as_written(promise: _Promise, index: IndexCandidate) -> bool:
    kept = conjuncts(index.condition_sql)
    if not all(implied(c, promise.condition) for c in kept):
        return False
    extra = [p for p in promise.condition if canonical_key(p.sql) not in kept]
    if extra and promise.equality_prefix == 0 and not _bounds_lead(extra, index):
        # Without a seek, an index without the promise's WHERE is walked end to end and
        # filtered (issue 11, defect 5): the partial index is needed.
        return False
    wanted, k = promise.elements, promise.equality_prefix
    if len(wanted) > len(index.elements):
        return False
    have = index.elements[: len(wanted)]
    if {e.key for e in wanted[:k]} != {e.key for e in have[:k]}:
        return False
    rest = list(zip(wanted[k:], have[k:], strict=True))
    if any(a.key != b.key or a.opclass != b.opclass for a, b in rest):
        return False
    return len({a.descending != b.descending for a, b in rest}) <= 1


def _pins_as_keys(
    elements: tuple[IndexElement, ...],
    equality_prefix: int,
    condition: tuple[Predicate, ...],
    kept: tuple[str, ...] = (),
) -> tuple[tuple[IndexElement, ...], int, tuple[Predicate, ...]] | None:
    """A partial WHERE's pinning constants on plain columns (``col IS NULL``, ``col = 'x'``, a
    boolean) as leading equality keys instead, except the conjuncts in ``kept`` (canonical),
    which stay the WHERE: an index that seeks on those columns first reaches exactly the rows
    the partial one holds, in the same order. None when some other conjunct would have to
    move."""
    moved = tuple(p for p in condition if canonical_key(p.sql) not in kept)
    if not moved or not all(
        p.op in (Op.EQ, Op.IS_NULL) and p.is_constant and not p.expression and p.column
        for p in moved
    ):
        return None
    have = {e.key for e in elements}
    lead = tuple(
        dict.fromkeys(IndexElement(column=p.column) for p in moved if p.column not in have)
    )
    rest = tuple(p for p in condition if p not in moved)
    return (*lead, *elements), len(lead) + equality_prefix, rest


def _complement(a: IndexCandidate, b: IndexCandidate) -> IndexCandidate | None:
    """One full index for two partial ones on the same keys whose WHEREs are each other's
    negation: together they index every row."""
    if (a.table, a.method, a.unique, a.keys) != (b.table, b.method, b.unique, b.keys):
        return None
    if len(a.condition) != 1 or len(b.condition) != 1:
        return None
    try:
        opposite = canonical(f"NOT ({a.condition[0].sql})") == canonical(b.condition[0].sql)
    except UnparsableSQL:
        return None
    if not opposite:
        return None
    include = tuple(dict.fromkeys((*a.include, *b.include)))
    if len(include) > MAX_INCLUDE:
        return None
    return replace(
        a,
        condition=(),
        include=include,
        serves=tuple(dict.fromkeys((*a.serves, *b.serves))),
        sort_only=a.sort_only and b.sort_only,
        index_only=tuple(dict.fromkeys((*a.index_only, *b.index_only))),
        condition_reasons=tuple(dict.fromkeys((*a.condition_reasons, *b.condition_reasons))),
        led_by=tuple(dict.fromkeys((*a.led_by, *b.led_by))),
        reasons=(
            *a.reasons,
            f"{a.condition[0].sql} and {b.condition[0].sql} together cover "
            "every row: one full index serves both instead of two partial "
            "ones.",
        ),
    )


def _fold(small: IndexCandidate, big: IndexCandidate) -> IndexCandidate | None:
    """``big`` made to serve ``small`` too (its equality keys maybe reordered), or None.

    A partial ``small`` whose WHERE only pins columns to constants is also served by a full
    ``big`` that seeks on those columns: ``(done DESC) WHERE name IS NULL`` folds into
    ``(name, done DESC)``."""
    folded = _fold_as_written(small, big)
    kept = conjuncts(big.condition_sql)
    pinned = _pins_as_keys(small.elements, small.equality_prefix, small.condition, kept)
    if folded is not None or pinned is None:
        return folded
    elements, prefix, rest = pinned
    as_keys = replace(small, elements=elements, equality_prefix=prefix, condition=rest)
    folded = _fold_as_written(as_keys, big)
    if folded is None:
        return None
    return replace(
        folded,
        reasons=(
            *folded.reasons,
            f"{' AND '.join(p.sql for p in small.condition if p not in rest)} is sought on "
            "as the leading key "
            f"{', '.join(e.key for e in elements[: prefix - small.equality_prefix])}, rather "
            "than kept in a second, partial index.",
        ),
    )


def _fold_as_written(small: IndexCandidate, big: IndexCandidate) -> IndexCandidate | None:
    if (small.table, small.method, small.unique) != (big.table, big.method, big.unique) or len(
        small.elements
    ) > len(big.elements):
        return None
    # An index serves a narrower partial one's queries (a full index, or one whose WHERE the
    # other's implies), the rest of the WHERE then applied as a filter after the seek; two
    # indexes on the same keys would cost every write twice. Without a seek, a full index is
    # walked end to end and filtered: then the partial one is needed.
    if not all(implied(c, small.condition) for c in conjuncts(big.condition_sql)):
        return None
    on_lead = _sought_on_lead(small, big)
    if small.condition_sql != big.condition_sql and small.equality_prefix == 0 and not on_lead:
        return None
    if small.include and small.condition_sql != big.condition_sql:
        # A partial index read index-only (an aggregate over the rare rows) would become a scan
        # of every row of the key range in the wider index: keep it on its own.
        return None
    small_include = small.include
    include = tuple(dict.fromkeys((*big.include, *small_include)))
    include = tuple(c for c in include if c not in big.keys)
    if len(include) > MAX_INCLUDE:
        return None
    elements = big.elements
    k = small.equality_prefix
    pairs = list(zip(small.elements, elements[: len(small.elements)], strict=True))
    direct = all(a.key == b.key for a, b in pairs) and (
        # A B-tree reads forwards or backwards: the keys after the equalities all in the same
        # direction, or all flipped. Equality keys have no direction.
        len({a.descending != b.descending for a, b in pairs[k:]}) <= 1
    )
    n = len(small.elements)
    if not direct and small.equality_prefix == n and set(small.keys) == set(big.keys[:n]):
        # Only equalities, on the columns big leads with in another order: a seek on all of
        # them finds the same rows in big, whatever the order (get(every=…, period=…) and the
        # Meta.ordering listing by (period, every) are one index).
        direct = True
    if not direct:
        # Equality keys may come in any order: put the smaller candidate's first.
        head = {e.key for e in elements[: big.equality_prefix]}
        if small.equality_prefix < n or n > big.equality_prefix or not set(small.keys) <= head:
            return None
        lead = [e for key in small.keys for e in elements if e.key == key]
        rest = [e for e in elements if e.key not in small.keys]
        elements = (*lead, *rest)
    serves = tuple(dict.fromkeys((*big.serves, *small.serves)))
    reasons = big.reasons
    led_by = (*big.led_by, *small.led_by)
    if small.elements != big.elements:
        led_by = (*led_by, *small.serves)
    if small.condition_sql != big.condition_sql:
        reasons = (
            *reasons,
            f"{small.condition_sql} is sought on the leading key {big.elements[0].key} "
            "itself, rather than kept in a second, partial index."
            if on_lead
            else f"{small.condition_sql} is then checked on the rows the seek "
            f"finds, rather than by a second, partial index on the same keys.",
        )
    return replace(
        big,
        elements=tuple(elements),
        include=include,
        serves=serves,
        reasons=reasons,
        sort_only=big.sort_only and small.sort_only,
        index_only=tuple(dict.fromkeys((*big.index_only, *small.index_only))),
        condition_reasons=tuple(dict.fromkeys((*big.condition_reasons, *small.condition_reasons))),
        led_by=tuple(dict.fromkeys(led_by)),
    )


def _sought_on_lead(small: IndexCandidate, big: IndexCandidate) -> bool:
    """Whether every term of ``small``'s WHERE that ``big``'s lacks bounds ``big``'s leading
    column (``next_run IS NOT NULL`` for ``(next_run)``): a B-tree seeks on those itself, so
    the full index starts at the partial one's first row and reads them in the same order."""
    kept = conjuncts(big.condition_sql)
    extra = [p for p in small.condition if canonical_key(p.sql) not in kept]
    return bool(extra) and _bounds_lead(extra, big)


def _bounds_lead(terms: Sequence[Predicate], index: IndexCandidate) -> bool:
    """Whether each of ``terms`` bounds ``index``'s leading column, so its seek finds them."""
    kind = method(index.method)
    if not kind.ordered or not index.elements or index.elements[0].expression:
        return False
    lead = index.elements[0].column
    return all(
        p.column == lead and not p.expression and p.is_constant and p.op in kind.seek_ops
        for p in terms
    )


def settled_folds(candidate: IndexCandidate) -> IndexCandidate:
    """The final index's reasons closed by one sentence naming every query folded in whose
    keys lead it (one per fold would repeat itself for a dozen admin variants).

    >>> from idxadvisor.types.schema import IndexElement
    >>> c = IndexCandidate("t", (IndexElement("a"),), led_by=("q2", "q3"), serves=("q1",))
    >>> settled_folds(c).reasons
    ('Also serves q2, q3: their keys lead this index.',)
    """
    led_by = list(dict.fromkeys(candidate.led_by))
    if not led_by:
        return candidate
    their = "its keys lead" if len(led_by) == 1 else "their keys lead"
    return replace(
        candidate,
        reasons=(*candidate.reasons, f"Also serves {', '.join(led_by)}: {their} this index."),
        led_by=(),
    )
