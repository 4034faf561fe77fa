"""``generate``: recommendations → one concurrent-index migration per app, plus the matching
``Meta.indexes`` / ``Meta.constraints`` edits of the models, so ``makemigrations`` sees no change.

Two steps, so the CLI stays thin and ``--dry-run`` shares all the work::

    plan = plan_migrations(advice.recommendations, advice.redundant, queries=workload.by_id())
    result = write_plan(plan, dry_run=False)   # every file, or none

Needs Django set up for the project (:func:`idxadvisor.project.load_project`); never connects
to a database. Each index is a Django object built from its candidate
(:func:`idxadvisor.advisor.django_index.build_index`): the migration is that object through
Django's ``MigrationWriter``, the model's ``Meta`` line is its ``deconstruct()``. Every migration
is non-atomic, builds each index with ``AddIndexConcurrently`` (a unique one:
:mod:`~idxadvisor.generate.unique`; one on a partitioned table:
:mod:`~idxadvisor.generate.partitioned`), and first drops whatever an interrupted run of itself
left behind (an INVALID index), so running it again after a failure rebuilds instead of failing.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idxadvisor.advisor.django_index import build_index, index_source
from idxadvisor.advisor.value import POSSIBLE
from idxadvisor.files import installed_code, write_refusal
from idxadvisor.generate.guards import REBUILD, GuardCall
from idxadvisor.generate.model_edit import (
    Inherited,
    MetaList,
    NeededImport,
    UnsafeEdit,
    add_to_meta,
    remove_from_meta,
)
from idxadvisor.generate.partitioned import partitioned_operations
from idxadvisor.generate.render import AppWork, render
from idxadvisor.generate.results import (
    FileChange,
    GenerateError,
    MigrationPlan,
    PlannedMigration,
    Skip,
    WriteResult,
    display,
)
from idxadvisor.generate.unique import unique_operations
from idxadvisor.generate.writer import preview, write_plan
from idxadvisor.schema.models import written_in_source
from idxadvisor.types.advice import Recommendation, Redundancy
from idxadvisor.types.workload import Query, sites

if TYPE_CHECKING:
    from django.db.models import Model

__all__ = [
    "FileChange",
    "GenerateError",
    "MigrationPlan",
    "PlannedMigration",
    "Skip",
    "WriteResult",
    "plan_migrations",
    "preview",
    "write_plan",
]

POSTGRES_APP = "django.contrib.postgres"

Operations = list[tuple[Any, list[str]]]  # (operation, comment lines above it)


@dataclass(slots=True)
class _Sources:
    """The models files being edited: their text as read and as edited so far."""

    current: dict[Path, str] = field(default_factory=dict)
    original: dict[Path, str] = field(default_factory=dict)

    def path_of(self, model: type[Model]) -> Path:
        filename = inspect.getsourcefile(model)
        if filename is None:
            raise UnsafeEdit(f"the source file of {model.__name__} cannot be found")
        path = Path(filename).resolve()
        if path not in self.current:
            text = path.read_text(encoding="utf-8")
            self.current[path] = self.original[path] = text
        return path

    def edit(self, model: type[Model], change: Callable[[str], str]) -> None:
        path = self.path_of(model)
        self.current[path] = change(self.current[path])

    def changes(self) -> tuple[FileChange, ...]:
        return tuple(
            FileChange(path, self.original[path], text)
            for path, text in self.current.items()
            if text != self.original[path]
        )


@dataclass(slots=True)
class _Planner:
    """One planning run: Django's migration state in, the apps' work and the skips out."""

    loader: Any
    queries: Mapping[str, Query]
    root: Path | None
    partitioned: frozenset[str]
    conflicts: Mapping[str, list[str]] = field(default_factory=dict)
    state: Any = None
    sources: _Sources = field(default_factory=_Sources)
    work: dict[str, AppWork] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generated: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.conflicts = self.loader.detect_conflicts()
        self.state = self.loader.project_state()

    def app(self, label: str) -> AppWork:
        _refuse_conflicts(label, self.conflicts)
        return self.work.setdefault(label, AppWork(label))


def plan_migrations(
    recommendations: Sequence[Recommendation],
    redundancies: Sequence[Redundancy] = (),
    *,
    queries: Mapping[str, Query] | None = None,
    apps_filter: Iterable[str] = (),
    only: Iterable[str] = (),
    drop_redundant: bool = False,
    include_possible: bool = False,
    root: Path | None = None,
    partitioned: Iterable[str] = (),
) -> MigrationPlan:
    """Decide the migration of each app and the model edits; writes nothing.

    Only the strong recommendations are written unless ``include_possible`` (or ``only`` names
    a possible one): a "possible" proposal has weak evidence, and a migration is a claim acted
    on in production. ``apps_filter`` and ``only`` (index names) narrow the recommendations;
    redundant indexes are dropped only with ``drop_redundant`` and only when Django owns them in
    ``Meta.indexes``.
    ``partitioned`` names the tables partitioned in the database (from the catalog or the
    user), whose indexes are built partition by partition. Raises :class:`GenerateError` when
    an app's migrations conflict or unknown names are given.
    """
    from django.db.migrations.loader import MigrationLoader

    apps_wanted = _check_apps(apps_filter)
    only_wanted = set(only)
    known = {r.name for r in recommendations}
    planner = _Planner(
        _load_migrations(MigrationLoader), queries or {}, root, frozenset(partitioned)
    )
    planner.notes.extend(_check_only(only_wanted, known))
    left_out: list[str] = []
    for rec in recommendations:
        if (only_wanted and rec.name not in only_wanted) or (
            apps_wanted and rec.app_label not in apps_wanted
        ):
            continue
        if rec.strength == POSSIBLE and not include_possible and rec.name not in only_wanted:
            left_out.append(rec.name)
            continue
        _plan_recommendation(planner, rec)
    if left_out:
        planner.notes.append(
            f"{len(left_out)} possible proposal{'s' if len(left_out) != 1 else ''} left out "
            f"({', '.join(left_out)}): weak evidence; --include-possible writes them too, "
            "--only NAME one of them"
        )
    if drop_redundant:
        for red in redundancies:
            _plan_redundant(planner, red, known, apps_wanted)
    planned = [_render_app(planner, w) for w in planner.work.values() if w.operations]
    return MigrationPlan(
        tuple(planned),
        planner.sources.changes(),
        tuple(planner.skipped),
        tuple(planner.notes),
        root,
    )


def _check_apps(apps_filter: Iterable[str]) -> set[str]:
    from django.apps import apps as django_apps

    wanted = set(apps_filter)
    for label in wanted:
        try:
            django_apps.get_app_config(label)
        except LookupError as exc:
            raise GenerateError(f"--app {label}: no installed app with that label") from exc
    return wanted


def _check_only(only_wanted: set[str], known: set[str]) -> list[str]:
    """Notes for ``--only`` names a model already declares; unknown names are refused."""
    from django.apps import apps as django_apps

    declared = {
        obj.name
        for model in django_apps.get_models()
        for obj in (*model._meta.indexes, *model._meta.constraints)
    }
    unknown = sorted(only_wanted - known - declared)
    if unknown:
        raise GenerateError(
            f"--only {', '.join(unknown)}: not among the recommendations "
            f"({', '.join(sorted(known)) or 'none'})"
        )
    return [
        f"--only {name}: already declared by a model; nothing to do"
        for name in sorted(only_wanted - known)
        if name in declared
    ]


def _plan_recommendation(planner: _Planner, rec: Recommendation) -> None:
    model = _model_for(rec)
    if isinstance(model, Skip):
        planner.skipped.append(model)
        return
    _refuse_conflicts(rec.app_label or "", planner.conflicts)
    outcome = _plan_index(planner, rec, model)
    if isinstance(outcome, Skip):
        planner.skipped.append(outcome)
        return
    planner.generated.add(rec.name)
    if outcome is None:
        planner.notes.append(f"{rec.name}: already declared and migrated; nothing to do")
        return
    work = planner.app(rec.app_label or "")
    if "pg_trgm" in rec.extensions and not work.has("TrigramExtension"):
        from django.contrib.postgres.operations import TrigramExtension

        # CREATE EXTENSION IF NOT EXISTS pg_trgm, before the first index that needs it.
        work.prepend(TrigramExtension(), ["pg_trgm provides gin_trgm_ops for the trigram indexes."])
    kind = "unique constraint" if rec.candidate.unique else "index"
    work.add(
        outcome,
        f"add {kind} {rec.name} on {rec.model}({_keys(rec)})",
        ((rec.model or "").lower(), tuple(_slug_keys(rec)), "add"),
    )


def _model_for(rec: Recommendation) -> type[Model] | Skip:
    """The model class whose table the index is on, or why there is none to migrate."""
    from django.apps import apps as django_apps

    if not rec.app_label or not rec.model:
        return Skip(rec.name, f"no Django model owns table {rec.table}", rec.sql)
    if not rec.django:
        return Skip(
            rec.name,
            f"Django cannot express this index on {rec.app_label}.{rec.model}; build it by hand",
            rec.sql,
        )
    try:
        model = django_apps.get_model(rec.app_label, rec.model)
    except LookupError:
        return Skip(rec.name, f"model {rec.app_label}.{rec.model} is not installed")
    if not model._meta.managed or model._meta.auto_created:
        why = (
            "is unmanaged (managed = False): Django's migrations do not create its table"
            if not model._meta.managed
            else "is the table Django creates for a many-to-many field: it has no Meta to edit"
        )
        return Skip(
            rec.name,
            f"{rec.app_label}.{rec.model} {why}; build the index where the table is managed",
            rec.sql,
        )
    return model


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


def _state_names(state: Any, model: type[Model]) -> set[str]:
    key = (model._meta.app_label, model._meta.model_name)
    model_state = state.models.get(key)
    if model_state is None:
        return set()
    options = model_state.options
    return {i.name for i in options.get("indexes", [])} | {
        c.name for c in options.get("constraints", [])
    }


def _field_for(model: type[Model]) -> Callable[[str], str]:
    """Database column → the model's field name (``organisation_id`` → ``organisation``)."""
    names = {f.column: f.name for f in model._meta.concrete_fields}
    return lambda column: names.get(column, column)


def _plan_index(
    planner: _Planner, rec: Recommendation, model: type[Model]
) -> Operations | Skip | None:
    """The operations for one recommendation (None: already done), editing the model source."""
    from django.contrib.postgres.operations import AddIndexConcurrently
    from django.db import migrations
    from django.db.models import UniqueConstraint

    nulls = {f.column: f.null for f in model._meta.concrete_fields}
    index = build_index(
        rec.candidate, rec.name, _field_for(model), lambda column: nulls.get(column, True)
    )
    if index is None:
        return Skip(rec.name, f"Django cannot express this index; build it by hand: {rec.sql}")
    unique = isinstance(index, UniqueConstraint)
    attribute: MetaList = "constraints" if unique else "indexes"
    rendered = index_source(index)
    element = rendered.source
    in_model = rec.name in {i.name for i in model._meta.indexes} | {
        c.name for c in model._meta.constraints
    }
    if rec.name in _state_names(planner.state, model):
        if not in_model:
            return Skip(
                rec.name,
                f"a migration already adds {rec.name} but {rec.model}.Meta does not declare it",
            )
        return None
    refused = _outside(model, planner.root)
    if refused is not None:
        return _boundary_skip(rec, model, attribute, element, refused, planner.loader, planner.root)
    missing = _missing_postgres_app(rec, rendered.imports)
    if missing is not None:
        return missing
    table = model._meta.db_table
    partitioned = table in planner.partitioned
    if partitioned and unique:
        return Skip(
            rec.name,
            f"{table} is partitioned: a unique index there must include the "
            "partition key, which idxadvisor does not decide; not generated",
        )
    if not in_model and not written_in_source(model):
        return Skip(
            rec.name,
            f"{rec.model} is not written in {_source_name(model, planner.root)}: its model is "
            "made at run time (e.g. by django-simple-history), so no Meta of it can declare "
            "the index; add it through what makes the model, or build it by hand",
            rec.sql,
        )
    if not in_model:
        hand = (
            f"add to {rec.model}.Meta.{attribute}: {element}; then make its migration with "
            f"`idxadvisor generate --only {rec.name}`"
        )
        imports = tuple(
            NeededImport(i.module, i.name)
            for i in rendered.imports
            if (i.module, i.name) != ("django.db", "models")
        )
        try:
            planner.sources.edit(
                model,
                lambda text: add_to_meta(
                    text,
                    rec.model or "",
                    attribute,
                    element,
                    name=rec.name,
                    imports=imports,
                    inherited=_inherited(model, attribute),
                ),
            )
        except UnsafeEdit as exc:
            return Skip(rec.name, f"cannot edit {rec.model} safely: {exc}", hand)
        except OSError as exc:
            return Skip(rec.name, f"cannot read the source of {rec.model}: {exc}", hand)
    comment = _comment(rec, planner.queries)
    if partitioned:
        return partitioned_operations(model, index, comment)
    guard = migrations.RunPython(GuardCall(REBUILD, (table, rec.name)), migrations.RunPython.noop)
    if not unique:
        model_name = model._meta.model_name
        assert model_name is not None  # None only before the class is built
        index_op = AddIndexConcurrently(model_name=model_name, index=index)
        return [(guard, comment), (index_op, [])]
    return unique_operations(rec, model, index, guard, comment)


def _inherited(model: type[Model], attribute: str) -> Inherited:
    """The Meta Django gives ``model`` when its source declares none: the first class in the
    MRO that keeps a ``Meta`` (Django keeps it on abstract models only)."""
    owner = next((b for b in model.__mro__[1:] if "Meta" in vars(b)), None)
    if owner is None:
        return Inherited(None, False)
    return Inherited(owner.__name__, bool(getattr(vars(owner)["Meta"], attribute, None)))


def _missing_postgres_app(rec: Recommendation, imports: Iterable[Any]) -> Skip | None:
    """GinIndex, BrinIndex, OpClass and the pg_trgm operation need ``django.contrib.postgres``
    installed: Django 6.0's checks refuse them otherwise (postgres.E005), and it is good
    practice on every version, so nothing is written that the project's checks would fail."""
    from django.apps import apps as django_apps
    from django.conf import settings

    needs = sorted({i.name for i in imports if i.module.startswith(POSTGRES_APP)})
    if "pg_trgm" in rec.extensions:
        needs.append("TrigramExtension")
    if not needs or django_apps.is_installed(POSTGRES_APP):
        return None
    where = getattr(settings, "SETTINGS_MODULE", None) or "your settings"
    return Skip(
        rec.name,
        f"it uses {', '.join(needs)}, which need {POSTGRES_APP!r} in INSTALLED_APPS "
        f"(Django 6.0's check postgres.E005 refuses them without it); not generated",
        f'add "{POSTGRES_APP}", to INSTALLED_APPS in {where}, then run generate again',
    )


def _source_name(model: type[Model], root: Path | None) -> str:
    filename = inspect.getsourcefile(model)
    return display(Path(filename), root) if filename else f"module {model.__module__}"


def _outside(model: type[Model], root: Path | None) -> tuple[str, str] | None:
    """(what, why) when the model's source or its app's migrations may not be written: outside
    the project, or installed code (site-packages); None when both are the project's own."""
    filename = inspect.getsourcefile(model)
    label = model._meta.app_label
    targets = [
        (f"{model.__name__}'s source {display(Path(filename), root)}", Path(filename))
        if filename
        else None
    ]
    migrations_dir = _migrations_dir(label)
    if migrations_dir is not None:
        targets.append(
            (f"the migrations of app {label!r} ({display(migrations_dir, root)})", migrations_dir)
        )
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


def _boundary_skip(
    rec: Recommendation,
    model: type[Model],
    attribute: str,
    element: str,
    refused: tuple[str, str],
    loader: Any,
    root: Path | None,
) -> Skip:
    """Why the index is not written, and the honest way for the user to get it."""
    where, why = refused
    label = model._meta.app_label
    reason = (
        f"not written: {where} {why}; generate writes only the project's own files "
        f"({display(root, None) if root is not None else 'the project'})"
    )
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


def _plan_redundant(
    planner: _Planner, red: Redundancy, recommended: set[str], apps_wanted: set[str]
) -> None:
    outcome = _plan_drop(planner, red, recommended, apps_wanted)
    if isinstance(outcome, Skip):
        planner.skipped.append(outcome)
    elif outcome is not None:
        label, op, comment, model_name = outcome
        planner.app(label).add(
            [(op, comment)],
            f"drop redundant index {red.index.name} on {model_name}",
            (model_name.lower(), (), "drop"),
        )


def _plan_drop(
    planner: _Planner, red: Redundancy, recommended: set[str], apps_wanted: set[str]
) -> tuple[str, Any, list[str], str] | Skip | None:
    from django.apps import apps as django_apps
    from django.contrib.postgres.operations import RemoveIndexConcurrently

    idx = red.index
    if red.covered_by in recommended and red.covered_by not in planner.generated:
        return Skip(idx.name, f"kept: {red.covered_by}, which makes it redundant, is not generated")
    if not idx.model:
        return Skip(
            idx.name,
            f"redundant ({red.reason}) but no model declares it; drop it by "
            f"hand: DROP INDEX CONCURRENTLY {idx.name};",
        )
    label, _, class_name = idx.model.partition(".")
    if apps_wanted and label not in apps_wanted:
        return None
    model = django_apps.get_model(label, class_name)
    if idx.origin != "Meta.indexes" or idx.name not in _state_names(planner.state, model):
        return Skip(
            idx.name,
            f"redundant ({red.reason}) but it comes from {idx.origin}, not Meta.indexes: "
            "remove it from the model by hand",
        )
    refused = _outside(model, planner.root)
    if refused is not None:
        where, why = refused
        return Skip(
            idx.name,
            f"redundant ({red.reason}) but not written: {where} {why}",
            f"DROP INDEX CONCURRENTLY {idx.name}; once nothing needs it",
        )
    try:
        planner.sources.edit(
            model, lambda text: remove_from_meta(text, class_name, "indexes", name=idx.name)
        )
    except (UnsafeEdit, OSError) as exc:
        return Skip(
            idx.name,
            f"cannot edit {class_name} safely: {exc}",
            f"remove {idx.name} from {class_name}.Meta.indexes",
        )
    op = RemoveIndexConcurrently(model_name=model._meta.model_name, name=idx.name)
    comment = _wrap(f"redundant: {red.reason} (covered by {red.covered_by})")
    return label, op, comment, class_name


def _comment(rec: Recommendation, queries: Mapping[str, Query]) -> list[str]:
    served = []
    for qid in rec.serves:
        q = queries.get(qid)
        where = sites(q.origins, q.origin_count, 5) if q is not None and q.origins else ""
        served.append(f"{where} ({qid})" if where else qid)
    lines = _wrap("serves: " + "; ".join(served)) if served else []
    if rec.reason:
        lines += _wrap("why: " + rec.reason)
    return lines


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=88, subsequent_indent="  ") or [text]


def _render_app(planner: _Planner, work: AppWork) -> PlannedMigration:
    planned = render(work, planner.loader)
    pending = _pending_changes(planner.loader, work.app_label, planner.generated)
    if pending:
        planner.notes.append(
            f"app {work.app_label} has model changes without a migration ({pending}); "
            "`makemigrations --check` reports them until you run makemigrations"
        )
    return planned


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
