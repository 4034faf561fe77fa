"""A candidate as the user will use it: a name, Django source, a real ``Index``, and SQL.

The Django source is the single truth: :func:`django_index` evaluates it, and when a model owns
the table the SQL comes from Django's own ``Index.create_sql(..., concurrently=True)``, so the
report, the migration and ``sqlmigrate`` agree to the character. Tables no model owns (SQL-only
workloads) get SQL rendered here.

>>> from idxadvisor.types.advice import IndexCandidate
>>> from idxadvisor.types.access import Op, Predicate
>>> from idxadvisor.types.schema import IndexElement
>>> c = IndexCandidate("t", (IndexElement("next_retry_at"),), condition=(
...     Predicate("status", Op.IN, "status IN ('pending', 'failed')",
...               constants=("'pending'", "'failed'")),))
>>> print(create_index_sql(c, "t_idx"))
CREATE INDEX CONCURRENTLY "t_idx" ON "t" ("next_retry_at") WHERE "status" IN ('pending', 'failed');
>>> print(django_form(c, "t_idx", None).source)
models.Index(fields=["next_retry_at"], name="t_idx", condition=Q(status__in=["pending", "failed"]))
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from idxadvisor.advisor.naming import index_name
from idxadvisor.types.access import Op, Predicate
from idxadvisor.types.advice import IndexCandidate, Recommendation
from idxadvisor.types.schema import IndexElement, Table

# Functions of a column that have a Django counterpart in django.db.models.functions.
_DJANGO_FUNCTIONS = {exp.Upper: "Upper", exp.Lower: "Lower"}


@dataclass(frozen=True, slots=True)
class DjangoForm:
    source: str  # models.Index(...) as it goes into Meta.indexes
    fields: tuple[str, ...]
    expressions: tuple[str, ...]
    imports: tuple[str, ...]  # import lines the source needs


def recommend(candidate: IndexCandidate, table: Table | None) -> Recommendation:
    name = index_name(candidate)
    form = django_form(candidate, name, table)
    sql = _django_sql(form, table) if form and not candidate.unique else None
    return Recommendation(
        candidate=candidate,
        name=name,
        sql=sql or create_index_sql(candidate, name),
        django=form.source if form else "",
        app_label=table.app_label if table else None,
        model=table.model_name if table else None,
        fields=form.fields if form else (),
        expressions=form.expressions if form else tuple(
            e.key for e in candidate.elements if e.expression
        ),
    )


def create_index_sql(
    candidate: IndexCandidate, name: str | None, *, concurrently: bool = True,
    condition: str | None = None,
) -> str:
    """``CREATE INDEX CONCURRENTLY`` for a candidate, PostgreSQL-ready.

    Unnamed and not concurrent for HypoPG, which also passes ``condition``: the predicate as
    PostgreSQL folds it, in place of the candidate's own.
    """
    keys = ", ".join(_key_sql(e) for e in candidate.elements)
    sql = "CREATE UNIQUE INDEX" if candidate.unique else "CREATE INDEX"
    if concurrently:
        sql += " CONCURRENTLY"
    if name:
        sql += f' "{name}"'
    using = f" USING {candidate.method}" if candidate.method != "btree" else ""
    sql += f" ON {_quote_table(candidate.table)}{using} ({keys})"
    if candidate.include:
        sql += " INCLUDE (" + ", ".join(f'"{c}"' for c in candidate.include) + ")"
    if condition is None and candidate.condition:
        condition = " AND ".join(_quoted(p.sql) for p in candidate.condition)
    if condition:
        sql += f" WHERE {condition}"
    return sql + ";"


def _key_sql(e: IndexElement) -> str:
    text = f"({_quoted(e.expression)})" if e.expression else f'"{e.column}"'
    if e.opclass:
        text += f" {e.opclass}"
    return text + (" DESC" if e.descending else "")


def _quoted(sql: str) -> str:
    return sqlglot.parse_one(sql, read="postgres").sql(dialect="postgres", identify=True)


def _quote_table(table: str) -> str:
    return ".".join(f'"{part}"' for part in table.split("."))


def django_form(candidate: IndexCandidate, name: str, table: Table | None) -> DjangoForm | None:
    """The ``models.Index(...)`` for a candidate, or None when Django cannot express it."""
    field = table.field_for if table else (lambda c: c)
    imports = ["from django.db import models"]
    args: list[str] = []
    fields: list[str] = []
    expressions: list[str] = []
    if any(e.expression for e in candidate.elements):
        for e in candidate.elements:
            expr = _django_expression(e, field)
            if expr is None:
                return None
            fn = expr.split("(", 1)[0]
            if fn in _DJANGO_FUNCTIONS.values():
                imports.append(f"from django.db.models.functions import {fn}")
            else:
                imports.append("from django.db.models import F")
            if e.opclass:
                expr = f'OpClass({expr}, name="{e.opclass}")'
                imports.append("from django.contrib.postgres.indexes import OpClass")
            args.append(expr)
            expressions.append(e.key)
    else:
        fields = [("-" if e.descending else "") + field(e.column or "") for e in candidate.elements]
        args.append("fields=[" + ", ".join(f'"{f}"' for f in fields) + "]")
        if any(e.opclass for e in candidate.elements):
            args.append("opclasses=[" + ", ".join(
                f'"{e.opclass or ""}"' for e in candidate.elements) + "]")
    args.append(f'name="{name}"')
    if candidate.condition:
        q = _q_source(candidate.condition, field)
        if q is None:
            return None
        args.append(f"condition={q}")
        imports.append("from django.db.models import Q")
    if candidate.include:
        args.append("include=[" + ", ".join(f'"{field(c)}"' for c in candidate.include) + "]")
    if candidate.unique:
        if candidate.method != "btree" or expressions:
            return None
        # Built concurrently, then attached as a constraint (see `idxadvisor generate`).
        cls = "models.UniqueConstraint"
        args[0] = args[0].replace("-", "")
    elif candidate.method == "brin":
        cls = "BrinIndex"
        imports.append("from django.contrib.postgres.indexes import BrinIndex")
    elif candidate.method == "gin":
        cls = "GinIndex"
        imports.append("from django.contrib.postgres.indexes import GinIndex")
    elif candidate.method == "btree":
        cls = "models.Index"
    else:
        return None
    return DjangoForm(
        source=f"{cls}({', '.join(args)})",
        fields=tuple(fields),
        expressions=tuple(expressions),
        imports=tuple(dict.fromkeys(imports)),
    )


def _django_expression(e: IndexElement, field) -> str | None:
    if not e.expression:
        text = f'F("{field(e.column)}")'
    else:
        tree = sqlglot.parse_one(e.expression, read="postgres")
        fn = _DJANGO_FUNCTIONS.get(type(tree))
        arg = tree.this
        while isinstance(arg, exp.Cast):
            arg = arg.this
        if fn is None or not isinstance(arg, exp.Column):
            return None
        text = f'{fn}("{field(arg.name)}")'
    return text + (".desc()" if e.descending else "")


def _q_source(condition: tuple[Predicate, ...], field) -> str | None:
    parts = []
    for p in sorted(condition, key=lambda p: p.column):
        name = field(p.column)
        if p.op is Op.IS_NULL:
            parts.append(f"{name}__isnull=True")
        elif p.op is Op.NOT_NULL:
            parts.append(f"{name}__isnull=False")
        elif p.op is Op.EQ and len(p.constants) == 1:
            parts.append(f"{name}={_python_literal(p.constants[0])}")
        elif p.op is Op.IN and p.constants:
            values = ", ".join(_python_literal(c) for c in p.constants)
            parts.append(f"{name}__in=[{values}]")
        else:
            return None
    return "Q(" + ", ".join(parts) + ")"


def _python_literal(sql_literal: str) -> str:
    node = sqlglot.parse_one(sql_literal, read="postgres")
    if isinstance(node, exp.Boolean):
        return "True" if node.this else "False"
    if isinstance(node, exp.Null):
        return "None"
    if isinstance(node, exp.Literal) and node.is_string:
        return '"' + node.this.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(node, exp.Literal):
        return node.this
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return "-" + node.this.this
    raise ValueError(f"no Python literal for {sql_literal}")


def django_index(rec: Recommendation):
    """The real ``models.Index`` (``BrinIndex``, ``UniqueConstraint``) of a recommendation."""
    return _evaluate(rec.django)


def _evaluate(source: str):
    from django.contrib.postgres.indexes import BrinIndex, GinIndex, OpClass
    from django.db import models
    from django.db.models import F, Q
    from django.db.models.functions import Lower, Upper

    namespace = {"models": models, "Q": Q, "F": F, "Upper": Upper, "Lower": Lower,
                 "BrinIndex": BrinIndex, "GinIndex": GinIndex, "OpClass": OpClass}
    # The source is generated above from literals only; evaluating it keeps one truth.
    return eval(source, namespace)


def _django_sql(form: DjangoForm, table: Table | None) -> str | None:
    """Django's own CREATE INDEX CONCURRENTLY for the index, when a model owns the table."""
    if table is None or table.model is None:
        return None
    from django.apps import apps

    from idxadvisor.project import compile_connection

    connection = compile_connection()  # PostgreSQL's SQL, and no server is ever asked
    model = apps.get_model(table.model)
    index = _evaluate(form.source)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        return str(index.create_sql(model, editor, concurrently=True)) + ";"
