"""A candidate as the user will use it: a name, a real Django ``Index``, its source, and SQL.

Django's direction: the candidate becomes a Django object (``models.Index``, ``BrinIndex``,
``GinIndex``, ``models.UniqueConstraint``, built with ``Q``, ``OpClass``, ``Upper``…); the
``Meta.indexes`` line is rendered from that object's ``deconstruct()`` and the migration by
Django's own serializer, so nothing is ever parsed back or evaluated. When a model owns the
table the SQL comes from Django's ``Index.create_sql(..., concurrently=True)``, so the report, the
migration and ``sqlmigrate`` agree to the character. Tables no model owns (SQL-only workloads)
get SQL rendered here.

>>> from idxadvisor.types.advice import IndexCandidate
>>> from idxadvisor.types.access import Op, Predicate
>>> from idxadvisor.types.schema import IndexElement
>>> c = IndexCandidate("t", (IndexElement("next_retry_at"),), condition=(
...     Predicate("status", Op.IN, "status IN ('pending', 'failed')",
...               constants=("'pending'", "'failed'")),))
>>> print(create_index_sql(c, "t_idx"))
CREATE INDEX CONCURRENTLY "t_idx" ON "t" ("next_retry_at") WHERE "status" IN ('pending', 'failed');
>>> form = django_form(c, "t_idx", None)
>>> print(form.source)
models.Index(fields=["next_retry_at"], name="t_idx", condition=Q(status__in=["pending", "failed"]))
>>> form.index.condition
<Q: (AND: ('status__in', ['pending', 'failed']))>
>>> e = IndexCandidate("t", (IndexElement(expression="UPPER(email)", descending=True),))
>>> print(index_source(build_index(e, "t_email_idx")).source)
models.Index(Upper("email").desc(), name="t_email_idx")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from idxadvisor.advisor.methods import BTREE, METHODS
from idxadvisor.advisor.naming import index_name
from idxadvisor.types.access import Op, Predicate
from idxadvisor.types.advice import IndexCandidate, Recommendation
from idxadvisor.types.schema import IndexElement, Table

FieldFor = Callable[[str], str]  # database column → Django field name

# Functions of a column that have a Django counterpart in django.db.models.functions.
_DJANGO_FUNCTIONS: dict[type[exp.Expr], str] = {exp.Upper: "Upper", exp.Lower: "Lower"}


@dataclass(frozen=True, slots=True)
class Import:
    """``from <module> import <name>``; ``models`` (``models.Index``) is ``django.db``'s."""

    module: str
    name: str

    @property
    def line(self) -> str:
        return f"from {self.module} import {self.name}"


@dataclass(frozen=True, slots=True)
class IndexSource:
    source: str  # models.Index(...) as it goes into Meta.indexes
    imports: tuple[Import, ...]  # what the source names, in order of first use


@dataclass(frozen=True, slots=True)
class DjangoForm:
    index: Any  # the Django object: Index, BrinIndex, GinIndex or UniqueConstraint
    source: str
    fields: tuple[str, ...]
    expressions: tuple[str, ...]
    imports: tuple[Import, ...]


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
        expressions=form.expressions
        if form
        else tuple(e.key for e in candidate.elements if e.expression),
    )


def create_index_sql(
    candidate: IndexCandidate,
    name: str | None,
    *,
    concurrently: bool = True,
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
    using = f" USING {candidate.method}" if candidate.method != BTREE else ""
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


def _settings_for_objects() -> None:
    """With SQL alone there is no Django project: index objects still need settings to exist
    (a ``UniqueConstraint`` reads its translated default message), so give them empty ones."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_I18N=False)


def django_form(candidate: IndexCandidate, name: str, table: Table | None) -> DjangoForm | None:
    """The Django object for a candidate and its ``Meta.indexes`` source, or None when Django
    cannot express it."""
    field = table.field_for if table else _same
    _settings_for_objects()
    index = build_index(candidate, name, field, _nullable(table))
    if index is None:
        return None
    rendered = index_source(index)
    expressions = any(e.expression for e in candidate.elements)
    return DjangoForm(
        index=index,
        source=rendered.source,
        fields=()
        if expressions
        else tuple(
            ("-" if e.descending else "") + field(e.column or "") for e in candidate.elements
        ),
        expressions=tuple(e.key for e in candidate.elements) if expressions else (),
        imports=rendered.imports,
    )


def _same(column: str) -> str:
    return column


def _nullable(table: Table | None) -> Callable[[str], bool]:
    """Whether a column of ``table`` may be NULL (unknown table or column: it may)."""
    return lambda column: table is None or (found := table.column(column)) is None or found.null


def build_index(
    candidate: IndexCandidate,
    name: str,
    field: FieldFor = _same,
    nullable: Callable[[str], bool] | None = None,
) -> Any | None:
    """The Django ``Index`` (``BrinIndex``, ``GinIndex``, ``UniqueConstraint``) of a candidate,
    built directly; None when Django cannot express it. ``field`` maps columns to field names;
    ``nullable`` tells which columns may be NULL (unknown: any may).

    >>> from idxadvisor.types.advice import IndexCandidate
    >>> from idxadvisor.types.schema import IndexElement
    >>> u = IndexCandidate("t", (IndexElement("org_id"), IndexElement("email", descending=True)),
    ...                    unique=True)
    >>> build_index(u, "t_uniq", {"org_id": "org"}.get).fields  # direction: not for uniqueness
    ('org', 'email')
    """
    field = _total(field)
    kwargs: dict[str, Any] = {"name": name}
    expressions: list[Any] = []
    if any(e.expression for e in candidate.elements):
        for e in candidate.elements:
            expr = _django_expression(e, field)
            if expr is None:
                return None
            expressions.append(expr)
    else:
        kwargs["fields"] = [
            ("-" if e.descending and not candidate.unique else "") + field(e.column or "")
            for e in candidate.elements
        ]
        if any(e.opclass for e in candidate.elements):
            kwargs["opclasses"] = [e.opclass or "" for e in candidate.elements]
    if candidate.condition:
        q = _q(candidate.condition, field, nullable or (lambda column: True))
        if q is None:
            return None
        kwargs["condition"] = q
    if candidate.include:
        kwargs["include"] = [field(c) for c in candidate.include]
    cls = _index_class(candidate, bool(expressions))
    if cls is None:
        return None
    return cls(*expressions, **kwargs)


def _total(field: Callable[[str], str | None]) -> FieldFor:
    """``field`` that falls back to the column itself (a dict's ``get``, say)."""
    return lambda column: field(column) or column


def _index_class(candidate: IndexCandidate, expressions: bool) -> type | None:
    import importlib

    from django.db import models

    if candidate.unique:
        # Built concurrently, then attached as a constraint (see `idxadvisor generate`).
        ok = candidate.method == BTREE and not expressions
        return models.UniqueConstraint if ok else None
    known = METHODS.get(candidate.method)
    if known is None:
        return None
    module = importlib.import_module(known.django_import or "django.db.models")
    return getattr(module, known.django_class, None)


def _django_expression(e: IndexElement, field: FieldFor) -> Any | None:
    from django.contrib.postgres.indexes import OpClass
    from django.db.models import F
    from django.db.models.functions import Lower, Upper

    if not e.expression:
        expr: Any = F(field(e.column or ""))
    else:
        tree = sqlglot.parse_one(e.expression, read="postgres")
        fn = {"Upper": Upper, "Lower": Lower}.get(_DJANGO_FUNCTIONS.get(type(tree), ""))
        arg = tree.this
        while isinstance(arg, exp.Cast):
            arg = arg.this
        if fn is None or not isinstance(arg, exp.Column):
            return None
        expr = fn(field(arg.name))
    if e.descending:
        expr = expr.desc()
    if e.opclass:
        expr = OpClass(expr, name=e.opclass)
    return expr


def _q(
    condition: tuple[Predicate, ...], field: FieldFor, nullable: Callable[[str], bool]
) -> Any | None:
    """The ``Q`` of a partial index's WHERE, or None when Django cannot write it as is.

    A negated constant is ``~Q(status="down")`` (``~Q(status__in=[…])``) on a NOT NULL column
    only: on a nullable one Django writes ``NOT (status = 'down' AND status IS NOT NULL)``,
    which also holds the NULL rows, another WHERE than the one proposed."""
    from django.db.models import Q

    lookups: dict[str, Any] = {}
    negated: list[Any] = []
    for p in sorted(condition, key=lambda p: p.column):
        name = field(p.column)
        try:
            if p.op is Op.IS_NULL:
                lookups[f"{name}__isnull"] = True
            elif p.op is Op.NOT_NULL:
                lookups[f"{name}__isnull"] = False
            elif p.op is Op.EQ and len(p.constants) == 1:
                lookups[name] = python_value(p.constants[0])
            elif p.op is Op.IN and p.constants:
                lookups[f"{name}__in"] = [python_value(c) for c in p.constants]
            elif p.op is Op.NEQ and p.constants and not p.expression and not nullable(p.column):
                values = [python_value(c) for c in p.constants]
                negated.append(
                    ~Q(**{name: values[0]}) if len(values) == 1 else ~Q(**{f"{name}__in": values})
                )
            else:
                return None
        except ValueError:
            return None
    # Keyword lookups, which Q sorts, then each negation: the models file's
    # ``Q(...) & ~Q(...)`` evaluates to the same children in the same order, so the migration's
    # index equals the model's (makemigrations sees none).
    q = Q(**lookups) if lookups else None
    for n in negated:
        q = n if q is None else q & n
    return q


def python_value(sql_literal: str) -> Any:
    """The Python value of a SQL literal (``'a'``, ``TRUE``, ``-3``, ``1.5``, ``NULL``).

    >>> python_value("'it''s'"), python_value("TRUE"), python_value("-3"), python_value("2.5")
    ("it's", True, -3, 2.5)
    """
    node = sqlglot.parse_one(sql_literal, read="postgres")
    negative = isinstance(node, exp.Neg)
    if negative:
        node = node.this
    if isinstance(node, exp.Boolean) and not negative:
        return bool(node.this)
    if isinstance(node, exp.Null) and not negative:
        return None
    if isinstance(node, exp.Literal) and node.is_string and not negative:
        return node.this
    if isinstance(node, exp.Literal):
        text = ("-" if negative else "") + node.this
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                pass
    raise ValueError(f"no Python literal for {sql_literal}")


# --- source from deconstruct() -------------------------------------------------------------

# Keyword order of the Meta.indexes line: keys first, then name, then what narrows the index.
_KWARG_ORDER = ("fields", "opclasses", "name", "condition", "include")
_POSTGRES_INDEXES = "django.contrib.postgres.indexes"


def index_source(obj: Any) -> IndexSource:
    """``obj`` (an Index, constraint or expression) as the source a person writes in
    ``Meta.indexes``, from its ``deconstruct()``: short names, double quotes, ``Q(a=1)``.

    >>> from django.db import models
    >>> from django.db.models import Q
    >>> found = index_source(models.Index(fields=["a"], name="n", condition=Q(b__isnull=True)))
    >>> found.source
    'models.Index(fields=["a"], name="n", condition=Q(b__isnull=True))'
    >>> [i.line for i in found.imports]
    ['from django.db import models', 'from django.db.models import Q']
    """
    imports: dict[Import, None] = {}
    return IndexSource(_render(obj, imports), tuple(imports))


def _render(value: Any, imports: dict[Import, None]) -> str:
    from django.db.models import Q
    from django.db.models.expressions import F, OrderBy

    if isinstance(value, str):
        return _py_string(value)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_render(v, imports) for v in value) + "]"
    if isinstance(value, tuple):
        items = [_render(v, imports) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, Q):
        return _render_q(value, imports)
    if isinstance(value, F):
        imports[Import("django.db.models", "F")] = None
        return f"F({_py_string(value.name)})"
    if isinstance(value, OrderBy) and not value.nulls_first and not value.nulls_last:
        return _render(value.expression, imports) + (".desc()" if value.descending else ".asc()")
    if hasattr(value, "deconstruct"):
        path, args, kwargs = value.deconstruct()
        name = _callee(path, imports)
        ordered = sorted(
            kwargs,
            key=lambda k: (_KWARG_ORDER.index(k) if k in _KWARG_ORDER else len(_KWARG_ORDER), k),
        )
        parts = [_render(a, imports) for a in args]
        # Index keeps include as a tuple; the Meta line says a list, as people write it.
        parts += [f"{k}={_render(_listed(kwargs[k]), imports)}" for k in ordered]
        return f"{name}({', '.join(parts)})"
    raise ValueError(f"cannot write {value!r} as source")


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _render_q(q: Any, imports: dict[Import, None]) -> str:
    imports[Import("django.db.models", "Q")] = None
    if _plain(q):
        return "Q(" + ", ".join(f"{k}={_render(v, imports)}" for k, v in q.children) + ")"
    if q.negated and q.connector == q.AND and _plain(q, negated=True):
        return "~" + _render_q(type(q)(*q.children), imports)
    # Q(a=1) & ~Q(b=2): its keyword children, then negations, as _q builds it.
    keywords = [c for c in q.children if isinstance(c, tuple)]
    rest = q.children[len(keywords) :]
    if (
        q.connector == q.AND
        and not q.negated
        and rest
        and all(not isinstance(c, tuple) and c.negated and _plain(c, negated=True) for c in rest)
        and (not keywords or _plain(type(q)(*keywords)))
    ):
        parts = ([_render_q(type(q)(*keywords), imports)] if keywords else []) + [
            _render_q(c, imports) for c in rest
        ]
        return " & ".join(parts)
    _, args, kwargs = q.deconstruct()
    parts = [_render(a, imports) for a in args]
    parts += [f"{k}={_render(v, imports)}" for k, v in sorted(kwargs.items())]
    return "Q(" + ", ".join(parts) + ")"


def _plain(q: Any, *, negated: bool = False) -> bool:
    """Whether ``q`` is ``Q(a=1, b=2)`` (``~Q(...)`` with ``negated``): AND-ed keyword lookups,
    each name once, written back as keywords."""
    return (
        q.connector == q.AND
        and bool(q.negated) == negated
        and all(isinstance(c, tuple) and c[0].isidentifier() for c in q.children)
        and len({c[0] for c in q.children}) == len(q.children)
    )


def _callee(path: str, imports: dict[Import, None]) -> str:
    """The name a models file uses for the class at ``path``, recording its import."""
    module, _, name = path.rpartition(".")
    if module in (
        "django.db.models",
        "django.db.models.indexes",
        "django.db.models.constraints",
    ) and name in ("Index", "UniqueConstraint"):
        imports[Import("django.db", "models")] = None
        return f"models.{name}"
    if module.startswith("django.db.models.functions"):
        imports[Import("django.db.models.functions", name)] = None
    elif module == _POSTGRES_INDEXES:
        imports[Import(_POSTGRES_INDEXES, name)] = None
    else:
        raise ValueError(f"no source form for {path}")
    return name


def _py_string(text: str) -> str:
    """A double-quoted literal, as black would write it (repr picks single quotes)."""
    if '"' in text and "'" not in text:
        return repr(text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _opclass_renders_as_postgres_expects() -> None:
    """``django.contrib.postgres`` registers ``OpClass`` as an index-expression wrapper when it
    is installed; without it Django writes ``(UPPER("x") gin_trgm_ops)``, which PostgreSQL
    rejects. The SQL shown is the index as it will be built, with the app installed (which
    ``generate`` asks for), so render it that way in this process."""
    from django.contrib.postgres.indexes import OpClass
    from django.db.models.indexes import IndexExpression

    if OpClass not in IndexExpression.wrapper_classes:
        # django-stubs types the tuple as expressions; Django holds expression classes there.
        IndexExpression.wrapper_classes = (*IndexExpression.wrapper_classes, OpClass)  # type: ignore[arg-type]


def _django_sql(form: DjangoForm, table: Table | None) -> str | None:
    """Django's own CREATE INDEX CONCURRENTLY for the index, when a model owns the table."""
    if table is None or table.model is None:
        return None
    from django.apps import apps

    from idxadvisor.project import compile_connection

    connection = compile_connection()  # PostgreSQL's SQL, and no server is ever asked
    model = apps.get_model(table.model)
    _opclass_renders_as_postgres_expects()
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        return str(form.index.create_sql(model, editor, concurrently=True)) + ";"
