"""The index one access pattern asks for: equality keys, then ORDER BY, then one range.

A B-tree seeks on an equality prefix, then reads one range; if the keys after the prefix are
the ORDER BY keys in the query's direction, rows come out sorted and a LIMIT stops the scan
early. Expression conditions (``UPPER(email::text) = UPPER($1)`` from ``iexact``) become
expression keys.

>>> from idxadvisor.types.access import AccessPattern, Op, OrderKey, Predicate
>>> p = AccessPattern("q1", "log", "select", predicates=(
...     Predicate("organisation", Op.EQ, "organisation = $1"),
...     Predicate("created_at", Op.RANGE, "created_at >= $2")),
...     order_by=(OrderKey("created_at", descending=True),), limit=50)
>>> c = composite(p, None)
>>> [(e.key, e.descending) for e in c.elements]
[('organisation', False), ('created_at', True)]
"""

from __future__ import annotations

from idxadvisor.advisor.rules.partial import split_constants
from idxadvisor.advisor.serving import lookup_joins
from idxadvisor.advisor.statistics import any_value_fraction, order_by_selectivity
from idxadvisor.sql.literals import count_parameters, has_parameter
from idxadvisor.types.access import AccessPattern, Op, OrderKey, Predicate
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import IndexElement, Table

EQUALITY_OPS = (Op.EQ, Op.IN)
RANGE_OPS = (Op.RANGE, Op.LIKE_PREFIX)
# Equality keys an index takes at most: past three, another key rarely narrows the rows the
# seek finds, and it widens every entry (simple-history's update_change_reason() filters on
# every field of the row: an eight-column key where its first already finds the few rows).
MAX_EQUALITY_KEYS = 3


def composite(pattern: AccessPattern, table: Table | None) -> IndexCandidate | None:
    """The B-tree candidate for one pattern, or None when nothing in it can use a B-tree."""
    if pattern.kind == "insert":
        return None
    split = split_constants(pattern, table)
    reasons = list(split.reasons)
    placed = {id(p) for p in (*split.condition, *split.ignored)}

    # An expression holding a parameter ("DATE_TRUNC($1, t)") is no index key as written.
    placed |= {id(p) for p in pattern.predicates if p.expression and has_parameter(p.expression)}
    equality = [p for p in pattern.predicates if p.op in EQUALITY_OPS and id(p) not in placed]
    equality = _by_selectivity(equality, table)
    ranges = [p for p in pattern.predicates if p.op in RANGE_OPS and id(p) not in placed]
    # A B-tree seeking several IN values returns each value's rows in turn, not in ORDER BY
    # order. With a LIMIT the order is what stops the scan early: the list is then checked on
    # the rows the index returns, not sought on. Without one, it is sought on and rows sorted.
    lists = [p for p in equality if p.op is Op.IN and _values_listed(p) != 1]
    order_first = bool(lists) and pattern.limit is not None
    if order_first:
        without = [_element(p, table) for p in equality if p not in lists]
        order_first = bool(_order_keys(pattern, table, without, ranges))
    if order_first:
        equality = [p for p in equality if p not in lists]
        reasons.append(
            f"{', '.join(p.sql for p in lists)} is checked on the rows the index returns: "
            "seeking several values would return each value's rows in turn, not in the "
            "ORDER BY order the LIMIT needs."
        )
    checked = equality[MAX_EQUALITY_KEYS:]
    equality = equality[:MAX_EQUALITY_KEYS]
    keys: list[IndexElement] = []
    seen: set[str] = set()

    def add(element: IndexElement) -> None:
        if element.key not in seen:
            seen.add(element.key)
            keys.append(element)

    for p in equality:
        add(_element(p, table))
    # A join column is a key only beside a filter of this table's own: a bare join is served by
    # the other side's index, or by the foreign-key index Django already builds.
    joins = lookup_joins(pattern) if pattern.predicates else ()
    for column in joins:
        if not _unique_column(table, column):
            add(IndexElement(column=column))
    equality_prefix = len(keys)
    if keys:
        reasons.append(
            f"Equality on {_names(keys)} first: the scan seeks straight to the matching rows."
        )
    if checked:
        reasons.append(
            f"{', '.join(p.sql for p in checked)} {'is' if len(checked) == 1 else 'are'} "
            f"checked on the rows the seek finds: past {MAX_EQUALITY_KEYS} equality keys "
            "another rarely narrows them, and each widens every entry."
        )

    order = _order_keys(pattern, table, keys, ranges)
    if lists and not order_first:
        order = ()  # sought on several values: rows are sorted after, whatever the keys
    if any(o.expression and has_parameter(o.expression) for o in order):
        order = ()  # ORDER BY DATE_TRUNC($1, t): no index holds that expression
    if order:
        before = len(keys)
        for o in order:
            add(IndexElement(column=o.column, expression=o.expression, descending=o.descending))
        if len(keys) > before:
            limit = f" and the LIMIT {pattern.limit} stops the scan early" if pattern.limit else ""
            reasons.append(
                f"Then the ORDER BY key{'s' if len(order) > 1 else ''} "
                f"{', '.join(_order_text(o) for o in order)}: rows come out sorted{limit}."
            )
    sorted_keys = len(keys) > equality_prefix  # ORDER BY keys came after the equalities
    for p in ranges:
        if p.key in seen:
            continue
        add(_element(p, table))
        if sorted_keys:
            # Behind an ORDER BY key the range bounds no seek: the walk in order reads each
            # entry of the equality prefix and checks the range there, without the table.
            reasons.append(
                f"Then {p.key}, checked in the index on each entry the ordered walk reads "
                "(behind the ORDER BY keys it bounds no seek)."
            )
        else:
            reasons.append(f"Then the range on {p.key}: one contiguous slice of the index.")
        break  # a B-tree seeks on one range only; more columns would only filter

    condition = split.condition
    if not keys and condition:
        # Nothing else to seek on: the constant columns themselves are the key, except a
        # boolean, which halves the rows at best: it stays the index WHERE of the others.
        flags = tuple(p for p in condition if _is_boolean(p, table))
        if len(flags) == len(condition):
            return None
        for p in condition:
            if p not in flags:
                add(IndexElement(column=p.column))
        condition = flags
        equality_prefix = len(keys)
        reasons = [f"Only constant filters ({_names(keys)}): they form the key."]
    if not keys:
        return None
    if any(p.expression for p in equality):
        reasons.append(
            "An expression index: PostgreSQL uses an index for a function of a column only "
            "when the index holds that same expression."
        )
    return IndexCandidate(
        table=pattern.table,
        elements=tuple(keys),
        condition=tuple(sorted(condition, key=lambda p: p.sql)),
        serves=(pattern.query_id,),
        reasons=tuple(reasons),
        condition_reasons=split.condition_reasons,
        equality_prefix=equality_prefix,
        # No filter of this table's own: its rows are all walked in order (an admin column
        # sort, or a join whose filter is on the other table, whose own index finds the few
        # rows to sort instead).
        sort_only=not pattern.predicates,
    )


def _values_listed(p: Predicate) -> int:
    """How many values an IN lists as written (``IN ($1)`` is an equality)."""
    return len(p.constants) if p.constants else count_parameters(p.sql)


def _is_boolean(p: Predicate, table: Table | None) -> bool:
    column = table.column(p.column) if table is not None and not p.expression else None
    return column is not None and column.boolean


def _element(p: Predicate, table: Table | None) -> IndexElement:
    opclass = _pattern_opclass(p, table) if p.op is Op.LIKE_PREFIX else None
    if p.expression:
        return IndexElement(column=p.column, expression=p.expression, opclass=opclass)
    return IndexElement(column=p.column, opclass=opclass)


def _pattern_opclass(p: Predicate, table: Table | None) -> str:
    """``LIKE 'abc%'`` seeks on a B-tree only with a pattern operator class (as Django's
    ``db_index`` builds for text columns), unless the collation is C — assumed not to be."""
    column = table.column(p.column) if table is not None and not p.expression else None
    db_type = column.db_type.lower() if column is not None else ""
    return "varchar_pattern_ops" if db_type.startswith("varchar") else "text_pattern_ops"


def _order_keys(
    pattern: AccessPattern,
    table: Table | None,
    keys: list[IndexElement],
    ranges: list[Predicate],
) -> tuple[OrderKey, ...]:
    """The ORDER BY keys worth putting in the index, or none."""
    order = pattern.order_by
    if not order:
        return ()
    pinned = {k.key for k in keys}
    order = tuple(o for o in order if o.key not in pinned)
    if not order:
        return ()
    pk = _primary_key(table)
    if (
        keys
        and pk
        and len(order) == 1
        and order[0].column == pk
        and not order[0].expression
        and not _many_rows_per_value(table, keys)
    ):
        # ".first()" orders by the primary key; after an equality lookup few rows remain.
        return ()
    first = table.column(order[0].column) if table is not None and not order[0].expression else None
    if not keys and first is not None and first.boolean:
        # Sorted by a flag, the ties are half the table: the sort is not saved, the LIMIT
        # does not stop the scan early.
        return ()
    range_first = bool(ranges) and ranges[0].key == order[0].key
    if pattern.limit is None and ranges and not range_first:
        return ()  # without a LIMIT the whole range is read anyway: seek on the range instead
    return order


# Rows one value of the equality keys may match (pg_stats) past which a sort of them is no
# longer cheap: the primary-key order then belongs in the index.
MANY_ROWS_PER_VALUE = 1_000


def _many_rows_per_value(table: Table | None, keys: list[IndexElement]) -> bool:
    """Whether statistics say one value of ``keys`` matches many rows (a content type of a
    tagged-item table, a tenant of a few): ``filter(content_type=ct).order_by("-id")[:10]``
    then sorts or walks all of them, and the primary key walked backwards filters the table.
    Without statistics, an equality lookup is taken to find few rows."""
    if table is None or table.rows is None:
        return False
    fraction = 1.0
    for key in keys:
        column = table.column(key.column) if key.column and not key.expression else None
        if column is None or column.stats is None:
            return False
        fraction *= any_value_fraction(column.stats, table.rows)
    return table.rows * fraction > MANY_ROWS_PER_VALUE


def _unique_column(table: Table | None, column: str) -> bool:
    """A join on the primary key or a unique column (a OneToOne key) is looked up through its
    unique index, one row per key: putting it before this table's own filter only widens the
    index."""
    if table is None:
        return column == _primary_key(table)
    found = table.column(column)
    return found is not None and found.unique


def _primary_key(table: Table | None) -> str | None:
    """The primary key column; with SQL alone and no schema, Django's default ``id``."""
    if table is None:
        return "id"
    return next((c.name for c in table.columns if c.primary_key), None)


def _by_selectivity(preds: list[Predicate], table: Table | None) -> list[Predicate]:
    """Most distinct first when pg_stats knows; otherwise the order the query wrote them."""
    if table is None:
        return preds
    order = order_by_selectivity(table, [p.column for p in preds])
    return sorted(preds, key=lambda p: order.index(p.column))


def _names(keys: list[IndexElement]) -> str:
    return ", ".join(k.key for k in keys)


def _order_text(o: OrderKey) -> str:
    return f"{o.key} {'DESC' if o.descending else 'ASC'}"
