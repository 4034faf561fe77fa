"""``generate``: recommendations → one concurrent-index migration per app, plus the matching
``Meta.indexes`` / ``Meta.constraints`` edits of the models, so ``makemigrations`` sees no change.

Two steps, so the CLI stays thin and ``--dry-run`` shares all the work::

    plan = plan_migrations(advice.recommendations, advice.redundant, queries=workload.by_id())
    result = write_plan(plan, dry_run=False)   # every file, or none

Needs Django set up for the project (:func:`idxadvisor.project.load_project`); never connects
to a database. Every migration is rendered by Django's ``MigrationWriter``, is non-atomic, builds
each index with ``AddIndexConcurrently`` (a unique one with ``CREATE UNIQUE INDEX CONCURRENTLY``
then ``ADD CONSTRAINT … USING INDEX``), and first drops whatever an interrupted run of itself left
behind (an INVALID index), so running it again after a failure rebuilds instead of failing.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import tempfile
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst

from idxadvisor import __version__
from idxadvisor.errors import UsageError
from idxadvisor.files import installed_code, write_refusal
from idxadvisor.generate.model_edit import (
    NeededImport,
    UnsafeEdit,
    add_to_meta,
    remove_from_meta,
)
from idxadvisor.generate.operations import (
    GUARDS_SOURCE,
    REBUILD,
    REFUSE_DUPLICATES,
    GuardCall,
    GuardCallSerializer,
    UnsupportedIndexSource,
    evaluate_index_source,
)
from idxadvisor.types.advice import Recommendation, Redundancy
from idxadvisor.types.workload import Query

_MAX_SLUG = 40  # Django's auto names stay short; ours follow "NNNN_idxadvisor_<slug>"


class GenerateError(UsageError):
    """``generate`` cannot go on (conflicting migrations, a file in the way…); nothing written."""


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file to write: ``before`` is None for a new file (never overwrite one)."""

    path: Path
    before: str | None
    after: str

    def diff(self, root: Path | None = None) -> str:
        shown = _display(self.path, root)
        return "".join(
            difflib.unified_diff(
                (self.before or "").splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{shown}" if self.before is not None else "/dev/null",
                tofile=f"b/{shown}",
            )
        )


@dataclass(frozen=True, slots=True)
class PlannedMigration:
    app_label: str
    name: str  # "0002_idxadvisor_webhookdelivery_status"
    file: FileChange
    operations: tuple[str, ...]  # one line per index added or dropped, for the summary


@dataclass(frozen=True, slots=True)
class Skip:
    """An index left out, and what the user can do about it (exact code when it helps)."""

    name: str
    reason: str
    add_by_hand: str = ""


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    migrations: tuple[PlannedMigration, ...] = ()
    model_edits: tuple[FileChange, ...] = ()
    skipped: tuple[Skip, ...] = ()
    notes: tuple[str, ...] = ()
    root: Path | None = None  # for showing paths relative to the project

    @property
    def files(self) -> tuple[FileChange, ...]:
        return tuple(m.file for m in self.migrations) + self.model_edits

    @property
    def empty(self) -> bool:
        return not self.migrations


@dataclass(frozen=True, slots=True)
class WriteResult:
    written: tuple[Path, ...] = ()
    dry_run: bool = False
    preview: str = ""  # dry run: the migrations and a unified diff of the models


# --- planning ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _AppWork:
    """What one app's migration collects while planning (mutable, private)."""

    app_label: str
    operations: list[Any] = field(default_factory=list)
    comments: list[list[str]] = field(default_factory=list)  # per operation, may be empty
    summary: list[str] = field(default_factory=list)
    slug_parts: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)


def plan_migrations(
    recommendations: Sequence[Recommendation],
    redundancies: Sequence[Redundancy] = (),
    *,
    queries: Mapping[str, Query] | None = None,
    apps_filter: Iterable[str] = (),
    only: Iterable[str] = (),
    drop_redundant: bool = False,
    root: Path | None = None,
) -> MigrationPlan:
    """Decide the migration of each app and the model edits; writes nothing.

    ``apps_filter`` and ``only`` (index names) narrow the recommendations; redundant indexes are
    dropped only with ``drop_redundant`` and only when Django owns them in ``Meta.indexes``.
    Raises :class:`GenerateError` when an app's migrations conflict or unknown names are given.
    """
    from django.apps import apps as django_apps
    from django.db.migrations.loader import MigrationLoader

    queries = queries or {}
    apps_wanted = set(apps_filter)
    only_wanted = set(only)
    for label in apps_wanted:
        try:
            django_apps.get_app_config(label)
        except LookupError as exc:
            raise GenerateError(f"--app {label}: no installed app with that label") from exc
    known = {r.name for r in recommendations}
    declared = {
        obj.name
        for model in django_apps.get_models()
        for obj in (*model._meta.indexes, *model._meta.constraints)
    }
    notes: list[str] = [
        f"--only {name}: already declared by a model; nothing to do"
        for name in sorted(only_wanted - known)
        if name in declared
    ]
    unknown = sorted(only_wanted - known - declared)
    if unknown:
        raise GenerateError(
            f"--only {', '.join(unknown)}: not among the recommendations "
            f"({', '.join(sorted(known)) or 'none'})"
        )

    loader = _load_migrations(MigrationLoader)
    conflicts = loader.detect_conflicts()
    state = loader.project_state()
    sources: dict[Path, str] = {}  # models files: current (edited) text
    originals: dict[Path, str] = {}
    work: dict[str, _AppWork] = {}
    skipped: list[Skip] = []
    generated: set[str] = set()

    def app_work(label: str) -> _AppWork:
        return work.setdefault(label, _AppWork(label))

    for rec in recommendations:
        if only_wanted and rec.name not in only_wanted:
            continue
        if apps_wanted and rec.app_label not in apps_wanted:
            continue
        if not rec.app_label or not rec.model or not rec.django:
            skipped.append(Skip(rec.name, f"no Django model owns table {rec.table}", rec.sql))
            continue
        try:
            model = django_apps.get_model(rec.app_label, rec.model)
        except LookupError:
            skipped.append(Skip(rec.name, f"model {rec.app_label}.{rec.model} is not installed"))
            continue
        if not model._meta.managed or model._meta.auto_created:
            why = ("is unmanaged (managed = False): Django's migrations do not create its table"
                   if not model._meta.managed else
                   "is the table Django creates for a many-to-many field: it has no Meta to edit")
            skipped.append(Skip(rec.name, f"{rec.app_label}.{rec.model} {why}; build the index "
                                          "where the table is managed", rec.sql))
            continue
        _refuse_conflicts(rec.app_label, conflicts)
        outcome = _plan_index(rec, model, state, sources, originals, queries, loader, root)
        if isinstance(outcome, Skip):
            skipped.append(outcome)
            continue
        if outcome is None:
            notes.append(f"{rec.name}: already declared and migrated; nothing to do")
            generated.add(rec.name)
            continue
        w = app_work(rec.app_label)
        if "pg_trgm" in rec.extensions and not any(
            type(op).__name__ == "TrigramExtension" for op in w.operations
        ):
            from django.contrib.postgres.operations import TrigramExtension

            # CREATE EXTENSION IF NOT EXISTS pg_trgm, before the first index that needs it.
            w.operations.insert(0, TrigramExtension())
            w.comments.insert(0, ["pg_trgm provides gin_trgm_ops for the trigram indexes."])
        for op, comment in outcome:
            w.operations.append(op)
            w.comments.append(comment)
        kind = "unique constraint" if rec.candidate.unique else "index"
        w.summary.append(f"add {kind} {rec.name} on {rec.model}({_keys(rec)})")
        w.slug_parts.append((rec.model.lower(), tuple(_slug_keys(rec)), "add"))
        generated.add(rec.name)

    if drop_redundant:
        for red in redundancies:
            outcome = _plan_drop(
                red, generated, known, django_apps, state, sources, originals, apps_wanted, root
            )
            if isinstance(outcome, Skip):
                skipped.append(outcome)
                continue
            if outcome is None:
                continue
            label, op, comment, model_name = outcome
            _refuse_conflicts(label, conflicts)
            w = app_work(label)
            w.operations.append(op)
            w.comments.append(comment)
            w.summary.append(f"drop redundant index {red.index.name} on {model_name}")
            w.slug_parts.append((model_name.lower(), (), "drop"))

    planned: list[PlannedMigration] = []
    for label, w in work.items():
        if not w.operations:
            continue
        planned.append(_render(w, loader))
        pending = _pending_changes(loader, label, generated)
        if pending:
            notes.append(
                f"app {label} has model changes without a migration ({pending}); "
                "`makemigrations --check` reports them until you run makemigrations"
            )
    edits = tuple(
        FileChange(path, originals[path], text)
        for path, text in sources.items()
        if text != originals[path]
    )
    return MigrationPlan(tuple(planned), edits, tuple(skipped), tuple(notes), root)


def _load_migrations(loader_class: Any) -> Any:
    """Django's view of every app's migrations on disk; a migrations package Django cannot load
    (a module that is not a migration, a syntax error, a missing dependency) is bad input."""
    from django.db.migrations.exceptions import BadMigrationError

    try:
        return loader_class(None, ignore_no_migrations=True)
    except BadMigrationError as exc:
        found = re.fullmatch(r"Migration (\S+) in app (\S+) has no Migration class", str(exc))
        if found is None:
            raise GenerateError(f"cannot load the migrations: {exc}") from exc
        name, label = found.groups()
        where = _migrations_dir(label)
        shown = str(where / f"{name}.py") if where is not None else f"{label}.migrations.{name}"
        raise GenerateError(
            f"{shown} is not a migration (it has no Migration class), so Django cannot load "
            f"the migrations of app {label!r} (migrate fails on it too): move it out of the "
            "migrations package or make it a migration; nothing was written"
        ) from exc
    except SyntaxError as exc:
        raise GenerateError(
            f"cannot load the migrations: {exc.filename}:{exc.lineno}: {exc.msg}"
        ) from exc
    except Exception as exc:
        # NodeNotFoundError (a dependency on a missing migration), an ImportError in a
        # migration module…: the project's migrations are broken, which the user must fix.
        raise GenerateError(
            f"cannot load the migrations: {type(exc).__name__}: {' '.join(str(exc).split())}"
        ) from exc


def _refuse_conflicts(app_label: str, conflicts: Mapping[str, list[str]]) -> None:
    if app_label in conflicts:
        names = ", ".join(sorted(conflicts[app_label]))
        raise GenerateError(
            f"conflicting migrations in app {app_label!r} ({names}); run "
            "`python manage.py makemigrations --merge` first"
        )


def _keys(rec: Recommendation) -> str:
    return ", ".join(rec.fields or rec.expressions or rec.candidate.keys)


def _slug_keys(rec: Recommendation) -> list[str]:
    keys = [f.lstrip("-") for f in rec.fields] or [
        re.sub(r"[^a-z0-9]+", "_", e.lower()).strip("_") for e in rec.expressions
    ]
    return keys or list(rec.candidate.keys)


def _model_source(model: type, sources: dict[Path, str], originals: dict[Path, str]) -> Path:
    filename = inspect.getsourcefile(model)
    if filename is None:
        raise UnsafeEdit(f"the source file of {model.__name__} cannot be found")
    path = Path(filename).resolve()
    if path not in sources:
        text = path.read_text(encoding="utf-8")
        sources[path] = originals[path] = text
    return path


def _state_names(state: Any, model: type) -> set[str]:
    key = (model._meta.app_label, model._meta.model_name)
    model_state = state.models.get(key)
    if model_state is None:
        return set()
    options = model_state.options
    return {i.name for i in options.get("indexes", [])} | {
        c.name for c in options.get("constraints", [])
    }


def _plan_index(
    rec: Recommendation,
    model: type,
    state: Any,
    sources: dict[Path, str],
    originals: dict[Path, str],
    queries: Mapping[str, Query],
    loader: Any,
    root: Path | None,
) -> list[tuple[Any, list[str]]] | Skip | None:
    """The operations for one recommendation (None: already done), editing the model source."""
    from django.contrib.postgres.operations import AddIndexConcurrently
    from django.db import migrations
    from django.db.models import UniqueConstraint

    try:
        evaluated = evaluate_index_source(rec.django)  # checks the source, finds its imports
        index = _django_index(rec)
        unique = rec.candidate.unique or isinstance(index, UniqueConstraint)
        element = rec.django
        if unique and not isinstance(index, UniqueConstraint):
            # An Index source for a unique candidate: the model declares the constraint.
            element = _unique_source(rec.django)
            index = evaluate_index_source(element).value
    except UnsupportedIndexSource as exc:
        return Skip(rec.name, str(exc))
    if getattr(index, "name", None) != rec.name:
        return Skip(rec.name, f"the index source does not name it {rec.name!r}: {rec.django}")
    attribute = "constraints" if unique else "indexes"
    in_model = rec.name in {i.name for i in model._meta.indexes} | {
        c.name for c in model._meta.constraints
    }
    in_state = rec.name in _state_names(state, model)
    if in_state:
        if not in_model:
            return Skip(
                rec.name,
                f"a migration already adds {rec.name} but {rec.model}.Meta does not declare it",
            )
        return None
    hand = (
        f"add to {rec.model}.Meta.{attribute}: {element}; then make its migration with "
        f"`idxadvisor generate --only {rec.name}`"
    )
    refused = _outside(model, root)
    if refused is not None:
        return _boundary_skip(rec, model, attribute, element, refused, loader, root)
    if not in_model:
        try:
            path = _model_source(model, sources, originals)
            sources[path] = add_to_meta(
                sources[path],
                rec.model,  # type: ignore[arg-type]
                attribute,
                element,
                name=rec.name,
                imports=_imports_for(evaluated.imports),
            )
        except UnsafeEdit as exc:
            return Skip(rec.name, f"cannot edit {rec.model} safely: {exc}", hand)
        except OSError as exc:
            return Skip(rec.name, f"cannot read the source of {rec.model}: {exc}", hand)
    comment = _comment(rec, queries)
    model_name = model._meta.model_name
    guard = migrations.RunPython(
        GuardCall(REBUILD, (model._meta.db_table, rec.name)),
        migrations.RunPython.noop,
    )
    if not unique:
        return [(guard, comment), (AddIndexConcurrently(model_name=model_name, index=index), [])]
    return _unique_operations(rec, model, index, guard, comment)


def _outside(model: type, root: Path | None) -> tuple[str, str] | None:
    """(what, why) when the model's source or its app's migrations may not be written: outside
    the project, or installed code (site-packages); None when both are the project's own."""
    filename = inspect.getsourcefile(model)
    label = model._meta.app_label
    targets = [(f"{model.__name__}'s source {_display(Path(filename), root)}", Path(filename))
               if filename else None]
    migrations_dir = _migrations_dir(label)
    if migrations_dir is not None:
        targets.append((f"the migrations of app {label!r} ({_display(migrations_dir, root)})",
                        migrations_dir))
    for target in targets:
        if target is not None and (why := write_refusal(target[1], root)) is not None:
            return f"{target[0]}:", why
    return None


def _migrations_dir(label: str) -> Path | None:
    """The directory of the app's migrations package, found without importing or creating it
    (Django's ``MigrationWriter.basedir`` creates missing ``MIGRATION_MODULES`` packages)."""
    import importlib.util

    from django.apps import apps as django_apps
    from django.db.migrations.loader import MigrationLoader

    module_name, _ = MigrationLoader.migrations_module(label)
    if module_name is None:
        return None
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(django_apps.get_app_config(label).path) / "migrations"


def _boundary_skip(rec: Recommendation, model: type, attribute: str, element: str,
                   refused: tuple[str, str], loader: Any, root: Path | None) -> Skip:
    """Why the index is not written, and the honest way for the user to get it."""
    where, why = refused
    label = model._meta.app_label
    reason = (f"not written: {where} {why}; generate writes only the project's own files "
              f"({_display(root, None) if root is not None else 'the project'})")
    if installed_code(Path(inspect.getsourcefile(model) or ".")) is not None:
        leaves = loader.graph.leaf_nodes(label)
        after = f"({label!r}, {leaves[0][1]!r})" if leaves else f"({label!r}, '<latest>')"
        drop = f'DROP INDEX CONCURRENTLY IF EXISTS "{rec.name}";'
        hand = (
            f"{label}.{rec.model} is not your code, so its Meta.{attribute} cannot take "
            f"{element} (and a MIGRATION_MODULES override would not help: makemigrations "
            f"would undo an index the model does not declare). Build it from a migration of "
            f"one of your own apps, with atomic = False and dependencies = [{after}]: "
            f"migrations.RunSQL({rec.sql!r}, reverse_sql={drop!r})"
        )
    else:
        hand = (
            f"add to {rec.model}.Meta.{attribute} in that app: {element}; then run "
            f"`python manage.py makemigrations {label}` (or `idxadvisor generate` with that "
            "app's own project directory)"
        )
    return Skip(rec.name, reason, hand)


def _django_index(rec: Recommendation) -> Any:
    """The advisor's own Index object for the recommendation (one truth for the report, the
    migration and the model)."""
    from idxadvisor.advisor.django_index import django_index

    try:
        return django_index(rec)
    except Exception as exc:  # the source was checked above; anything here is its content
        raise UnsupportedIndexSource(f"cannot build {rec.django!r}: {exc}") from exc


def _imports_for(needed: Iterable[NeededImport]) -> tuple[NeededImport, ...]:
    """Imports the models file needs; ``models.X`` references use the file's own alias."""
    return tuple(n for n in needed if n.module != "django.db.models" or n.name != "models")


def _unique_source(index_source: str) -> str:
    """``models.Index(fields=['a', '-b'], …)`` → ``models.UniqueConstraint(fields=['a', 'b'], …)``
    (direction means nothing to uniqueness, and UniqueConstraint refuses it)."""
    expr = cst.parse_expression(index_source)
    if not isinstance(expr, cst.Call):
        raise UnsupportedIndexSource(f"not a call: {index_source!r}")

    class _Strip(cst.CSTTransformer):
        def leave_SimpleString(self, original, updated):  # type: ignore[no-untyped-def]
            text = updated.evaluated_value
            if isinstance(text, str) and text.startswith("-"):
                return updated.with_changes(value=updated.quote + text[1:] + updated.quote)
            return updated

    args = [
        a.with_changes(value=a.value.visit(_Strip()))
        if a.keyword is not None and a.keyword.value == "fields"
        else a
        for a in expr.args
    ]
    func = expr.func
    if isinstance(func, cst.Attribute):
        func = func.with_changes(attr=cst.Name("UniqueConstraint"))
    else:
        func = cst.Name("UniqueConstraint")
    return cst.Module(body=[]).code_for_node(expr.with_changes(func=func, args=args))


def _unique_operations(
    rec: Recommendation, model: type, constraint: Any, guard: Any, comment: list[str]
) -> list[tuple[Any, list[str]]] | Skip:
    """CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … USING INDEX (when Django would
    make it a constraint), behind a SeparateDatabaseAndState whose state adds the constraint."""
    from django.db import migrations, models

    from idxadvisor.project import compile_connection

    connection = compile_connection()  # PostgreSQL's SQL whatever the settings' engine
    if constraint.deferrable or getattr(constraint, "nulls_distinct", None) is not None:
        return Skip(rec.name, "a deferrable or NULLS NOT DISTINCT constraint is not generated")
    editor = connection.schema_editor(collect_sql=True, atomic=False)
    # The same keys as an Index, for Django's own CREATE INDEX SQL (then made UNIQUE).
    plain = models.Index(
        *constraint.expressions,
        fields=list(constraint.fields),
        name=constraint.name,
        condition=constraint.condition,
        include=constraint.include or None,
        opclasses=constraint.opclasses,
    )
    statement = plain.create_sql(model, editor, concurrently=True)
    create_sql = str(statement).replace("CREATE INDEX", "CREATE UNIQUE INDEX", 1)
    table_sql = editor.quote_name(model._meta.db_table)
    name_sql = editor.quote_name(rec.name)
    key_sql = str(statement.parts["columns"])
    condition = str(statement.parts.get("condition") or "")
    where_sql = re.sub(r"^\s*WHERE\s+", " AND ", condition) if condition.strip() else ""
    database_ops = [
        guard,
        migrations.RunPython(
            GuardCall(REFUSE_DUPLICATES, (model._meta.db_table, rec.name, key_sql, where_sql)),
            migrations.RunPython.noop,
        ),
        migrations.RunSQL(
            sql=create_sql + ";", reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name_sql};"
        ),
    ]
    # Django makes a plain UniqueConstraint an ALTER TABLE constraint and any other one a unique
    # index; the database must match, or RemoveConstraint would not find it later.
    if not (constraint.condition or constraint.include or constraint.expressions
            or constraint.opclasses):
        database_ops.append(
            migrations.RunSQL(
                sql=f"ALTER TABLE {table_sql} ADD CONSTRAINT {name_sql} UNIQUE USING INDEX "
                f"{name_sql};",
                reverse_sql=f"ALTER TABLE {table_sql} DROP CONSTRAINT IF EXISTS {name_sql};",
            )
        )
    op = migrations.SeparateDatabaseAndState(
        database_operations=database_ops,
        state_operations=[
            migrations.AddConstraint(model_name=model._meta.model_name, constraint=constraint)
        ],
    )
    return [(op, comment)]


def _plan_drop(
    red: Redundancy,
    generated: set[str],
    recommended: set[str],
    django_apps: Any,
    state: Any,
    sources: dict[Path, str],
    originals: dict[Path, str],
    apps_wanted: set[str],
    root: Path | None = None,
) -> tuple[str, Any, list[str], str] | Skip | None:
    from django.contrib.postgres.operations import RemoveIndexConcurrently

    idx = red.index
    if red.covered_by in recommended and red.covered_by not in generated:
        return Skip(idx.name, f"kept: {red.covered_by}, which makes it redundant, is not generated")
    if not idx.model:
        return Skip(idx.name, f"redundant ({red.reason}) but no model declares it; drop it by "
                    f"hand: DROP INDEX CONCURRENTLY {idx.name};")
    label, _, class_name = idx.model.partition(".")
    if apps_wanted and label not in apps_wanted:
        return None
    model = django_apps.get_model(label, class_name)
    if idx.origin != "Meta.indexes" or idx.name not in _state_names(state, model):
        return Skip(
            idx.name,
            f"redundant ({red.reason}) but it comes from {idx.origin}, not Meta.indexes: "
            "remove it from the model by hand",
        )
    refused = _outside(model, root)
    if refused is not None:
        where, why = refused
        return Skip(idx.name, f"redundant ({red.reason}) but not written: {where} {why}",
                    f"DROP INDEX CONCURRENTLY {idx.name}; once nothing needs it")
    try:
        path = _model_source(model, sources, originals)
        sources[path] = remove_from_meta(sources[path], class_name, "indexes", name=idx.name)
    except (UnsafeEdit, OSError) as exc:
        return Skip(idx.name, f"cannot edit {class_name} safely: {exc}",
                    f"remove {idx.name} from {class_name}.Meta.indexes")
    op = RemoveIndexConcurrently(model_name=model._meta.model_name, name=idx.name)
    comment = _wrap(f"redundant: {red.reason} (covered by {red.covered_by})")
    return label, op, comment, class_name


def _comment(rec: Recommendation, queries: Mapping[str, Query]) -> list[str]:
    served = []
    for qid in rec.serves:
        q = queries.get(qid)
        where = ", ".join(str(o) for o in q.origins) if q is not None and q.origins else ""
        served.append(f"{where} ({qid})" if where else qid)
    lines = _wrap("serves: " + "; ".join(served)) if served else []
    if rec.reason:
        lines += _wrap("why: " + rec.reason)
    return lines


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=88, subsequent_indent="  ") or [text]


# --- rendering --------------------------------------------------------------------------------


@contextmanager
def _guard_serializer():
    from django.db.migrations.writer import MigrationWriter

    MigrationWriter.register_serializer(GuardCall, GuardCallSerializer)
    try:
        yield
    finally:
        MigrationWriter.unregister_serializer(GuardCall)


def _render(w: _AppWork, loader: Any) -> PlannedMigration:
    from django.db import migrations
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.writer import MigrationWriter, OperationWriter

    leaves = loader.graph.leaf_nodes(w.app_label)
    if not leaves:
        raise GenerateError(
            f"app {w.app_label!r} has no migrations yet; run `python manage.py makemigrations "
            f"{w.app_label}` first"
        )
    leaf = leaves[0]
    # Django's makemigrations numbering: the latest migration's number plus one. A name taken on
    # disk by something the loader does not see as a migration (a package of that name, which
    # would also shadow our module) moves to the next free number: nothing is overwritten.
    number = (MigrationAutodetector.parse_number(leaf[1]) or 0) + 1
    slug = _slug(w.slug_parts)
    with _guard_serializer():
        while True:
            name = f"{number:04d}_idxadvisor_{slug}"
            migration = migrations.Migration(name, w.app_label)
            migration.dependencies = [leaf]
            migration.operations = list(w.operations)
            migration.atomic = False
            writer = MigrationWriter(migration)
            path = Path(writer.path).resolve()
            if not (os.path.lexists(path) or os.path.lexists(path.with_suffix(""))):
                break
            number += 1
        text = writer.as_string()
        rendered = [OperationWriter(op, indentation=2).serialize()[0] for op in w.operations]
    text = _annotate(text, rendered, w.comments)
    text = _finish(text)
    return PlannedMigration(w.app_label, name, FileChange(path, None, text), tuple(w.summary))


def _slug(parts: Sequence[tuple[str, tuple[str, ...], str]]) -> str:
    """What the migration does, Django-style: ``webhookdelivery_status_next_retry_at`` (one
    index), ``webhookdelivery_3_indexes`` (one model), ``alertrule_userprofile_and_more``."""
    models_in_order = list(dict.fromkeys(p[0] for p in parts))
    drops = sum(1 for p in parts if p[2] == "drop")
    adds = len(parts) - drops
    if len(parts) == 1:
        model, keys, kind = parts[0]
        slug = f"{model}_{'_'.join(keys)}" if kind == "add" else f"{model}_drop_redundant"
    elif len(models_in_order) == 1:
        if not drops:
            what = f"{adds}_indexes"
        elif not adds:
            what = f"drop_{drops}_redundant"
        else:
            what = f"add_{adds}_drop_{drops}"
        slug = f"{models_in_order[0]}_{what}"
    else:
        slug = "_".join(models_in_order)
        if len(slug) > _MAX_SLUG:
            kept: list[str] = []
            for m in models_in_order:
                if len("_".join([*kept, m])) + len("_and_more") > _MAX_SLUG:
                    break
                kept.append(m)
            slug = "_".join(kept or [models_in_order[0]]) + "_and_more"
    if len(slug) > _MAX_SLUG:
        cut = slug[:_MAX_SLUG]
        slug = cut.rsplit("_", 1)[0] if "_" in cut else cut
    return re.sub(r"[^a-z0-9_]+", "_", slug).strip("_")


def _annotate(text: str, rendered: Sequence[str], comments: Sequence[Sequence[str]]) -> str:
    """Insert each operation's comment lines above it (operations render in order)."""
    pos = text.index("    operations = [\n")
    out = [text[:pos]]
    rest = text[pos:]
    for op_text, lines in zip(rendered, comments, strict=True):
        at = rest.index(op_text)
        out.append(rest[:at])
        out.extend(f"        # {line}\n" for line in lines)
        out.append(op_text)
        rest = rest[at + len(op_text):]
    out.append(rest)
    return "".join(out)


_POSTGRES_OPS = re.compile(r"django\.contrib\.postgres\.operations\.(\w+)")
_NOOP = "django.db.migrations.operations.special.RunPython.noop"


def _finish(text: str) -> str:
    """Django's rendering, plus: ``atomic = False``, the guard functions the operations call,
    and the imports a person would write (``from django.contrib.postgres.operations import
    AddIndexConcurrently`` rather than dotted paths in every operation)."""
    header, sep, body = text.partition("\n\n\nclass Migration")
    postgres_ops = sorted(set(_POSTGRES_OPS.findall(body)))
    body = _POSTGRES_OPS.sub(r"\1", body).replace(_NOOP, "migrations.RunPython.noop")
    body = body.replace(
        "(migrations.Migration):\n", "(migrations.Migration):\n    atomic = False\n", 1
    )
    lines = []
    for line in header.splitlines():
        if line in ("import django.contrib.postgres.operations",
                    "import django.db.migrations.operations.special"):
            continue
        if line.startswith("from django.db import migrations") and postgres_ops:
            lines.append(
                f"from django.contrib.postgres.operations import {', '.join(postgres_ops)}"
            )
        lines.append(line)
        if line.startswith("# Generated by Django"):
            lines.append(
                f"# by idxadvisor {__version__}: concurrent index builds, so not atomic."
            )
    guards_used = [g for g in (REBUILD, REFUSE_DUPLICATES) if f"{g}(" in body]
    guards = _guard_functions(guards_used) if guards_used else ""
    return "\n".join(lines).rstrip("\n") + "\n" + guards + sep + body


def _guard_functions(used: Sequence[str]) -> str:
    """The source of the guard factories the migration calls (only those)."""
    chunks = re.split(r"\n(?=def )", GUARDS_SOURCE.strip("\n"))
    kept = [c.rstrip("\n") for c in chunks if any(c.startswith(f"def {g}(") for g in used)]
    return "\n\n" + "\n\n\n".join(kept)


def _pending_changes(loader: Any, app_label: str, ours: set[str]) -> str:
    """Model changes of the app that no migration records yet (makemigrations would write),
    but for the indexes and constraints named in ``ours``, which our migration adds."""
    from django.apps import apps as django_apps
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
    from django.db.migrations.state import ProjectState

    detector = MigrationAutodetector(
        loader.project_state(),
        ProjectState.from_apps(django_apps),
        NonInteractiveMigrationQuestioner(specified_apps={app_label}, dry_run=True),
    )
    changes = detector.changes(graph=loader.graph, trim_to_apps={app_label})
    ops = [
        op.describe()
        for m in changes.get(app_label, [])
        for op in m.operations
        if getattr(getattr(op, "index", None) or getattr(op, "constraint", None), "name", None)
        not in ours
    ]
    return "; ".join(ops[:3]) + ("…" if len(ops) > 3 else "")


# --- writing ----------------------------------------------------------------------------------


def write_plan(plan: MigrationPlan, dry_run: bool = False) -> WriteResult:
    """Write every file of the plan, or none: new files never replace an existing one, edited
    files must still hold what was read, and a failure midway restores what was there."""
    if dry_run:
        return WriteResult(dry_run=True, preview=preview(plan))
    files = plan.files
    for change in files:
        # The planner already leaves such files out; this is the last line of defence.
        refused = write_refusal(change.path, plan.root)
        if refused is not None:
            raise GenerateError(f"refusing to write {change.path}: {refused}")
    for change in files:
        current = _read_or_none(change.path)
        if change.before is None and current is not None:
            raise GenerateError(f"{change.path} already exists; not overwriting it")
        if change.before is not None and current != change.before:
            raise GenerateError(f"{change.path} changed while generating; run generate again")
    staged: list[tuple[FileChange, str]] = []
    done: list[FileChange] = []
    try:
        for change in files:
            staged.append((change, _stage(change)))
        for change, tmp in staged:
            if change.before is None:
                os.link(tmp, change.path)  # fails if the file appeared: never overwrite
                os.unlink(tmp)
            else:
                os.replace(tmp, change.path)
            done.append(change)
    except BaseException as exc:
        for change in reversed(done):
            if change.before is None:
                change.path.unlink(missing_ok=True)
            else:
                change.path.write_text(change.before, encoding="utf-8")
        for _, tmp in staged:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GenerateError(f"cannot write {exc.filename or 'a file'}: {exc.strerror}") from exc
        raise
    return WriteResult(written=tuple(c.path for c in files))


def _read_or_none(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _stage(change: FileChange) -> str:
    """The new content in a temp file next to the target (same filesystem: atomic rename)."""
    fd, tmp = tempfile.mkstemp(
        prefix=f".{change.path.name}.", suffix=".tmp", dir=change.path.parent
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(change.after)
            fh.flush()
            os.fsync(fh.fileno())
        if change.before is not None:
            os.chmod(tmp, change.path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def preview(plan: MigrationPlan) -> str:
    """What ``--dry-run`` prints: each migration in full, then the diff of the models."""
    parts = []
    for m in plan.migrations:
        parts.append(f"# {_display(m.file.path, plan.root)}\n{m.file.after}")
    for edit in plan.model_edits:
        parts.append(edit.diff(plan.root))
    return "\n".join(parts)


def _display(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)
