"""Hash: the equality lookup on a text column with no length limit.

A B-tree entry holds the key itself, and one over about 2.7 kB fails the INSERT or UPDATE that
writes it ("index row size … exceeds btree version 4 maximum 2704"): a B-tree on a
``TextField`` holding serialised arguments or a document is an index that breaks the app's own
writes the day one long value comes. A hash index stores a 4-byte hash of any value and serves
``=`` as well; it cannot return rows in order, serve a range, a prefix or an ``IN`` list, hold
INCLUDE columns or be unique: an equality key on such a column becomes one, on that column
alone, and the query's other conditions are checked on the few rows it finds.

>>> from idxadvisor.types.advice import IndexCandidate
>>> from idxadvisor.types.access import AccessPattern, Op, Predicate
>>> from idxadvisor.types.schema import Column, IndexElement, Table
>>> t = Table("task", (Column("params", "params", "text"),))
>>> p = AccessPattern("q1", "task", "select",
...                   predicates=(Predicate("params", Op.EQ, "params = $1"),))
>>> c = IndexCandidate("task", (IndexElement("params"),), equality_prefix=1)
>>> long_text_lookup(c, p, t).method
'hash'
"""

from __future__ import annotations

from dataclasses import replace

from idxadvisor.advisor.methods import BTREE, HASH
from idxadvisor.types.access import AccessPattern, Op
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import Table


def long_text_lookup(
    candidate: IndexCandidate, pattern: AccessPattern, table: Table | None
) -> IndexCandidate:
    """``candidate`` as a hash index on its long text column when that is an equality key:
    the other conditions are then checked on the few rows the hash lookup finds."""
    if candidate.method != BTREE or candidate.unique or table is None:
        return candidate
    for element in candidate.elements[: candidate.equality_prefix]:
        if element.expression or element.opclass or element.column is None:
            continue
        column = table.column(element.column)
        if column is None or not column.long_text:
            continue
        ops = {p.op for p in pattern.predicates if p.column == element.column and not p.expression}
        if ops != {Op.EQ}:
            continue  # a hash index seeks on = alone (no IN list, no range, no order)
        others = [e.key for e in candidate.elements if e is not element]
        rest = (
            f" The query's other keys ({', '.join(others)}) apply to the rows it finds."
            if others
            else ""
        )
        return replace(
            candidate,
            elements=(element,),
            equality_prefix=1,
            method=HASH,
            include=(),
            index_only=(),
            reasons=(
                f"Equality on {element.column}: a hash index, as {element.column} is "
                f"{column.db_type} with no length limit — a B-tree entry over about 2.7 kB "
                "makes the INSERT or UPDATE writing it fail, while a hash index stores a 4-byte "
                f"hash of any value and serves = as well.{rest}",
            ),
        )
    return candidate
