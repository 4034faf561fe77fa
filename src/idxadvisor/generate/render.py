"""Rendering one app's migration with Django's ``MigrationWriter``, plus what a person would
write by hand: ``atomic = False``, a comment above each operation (the queries it serves and
why), the guard functions its ``RunPython`` operations call, and short imports."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idxadvisor import __version__
from idxadvisor.generate.guards import GUARDS, GuardCall, GuardCallSerializer, guard_source
from idxadvisor.generate.results import FileChange, GenerateError, PlannedMigration

_MAX_SLUG = 40  # Django's auto names stay short; ours follow "NNNN_idxadvisor_<slug>"


@dataclass(slots=True)
class AppWork:
    """What one app's migration collects while planning (mutable, private to generate)."""

    app_label: str
    operations: list[Any] = field(default_factory=list)
    comments: list[list[str]] = field(default_factory=list)  # per operation, may be empty
    summary: list[str] = field(default_factory=list)
    slug_parts: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)

    def add(
        self,
        operations: Sequence[tuple[Any, list[str]]],
        summary: str,
        slug: tuple[str, tuple[str, ...], str],
    ) -> None:
        for op, comment in operations:
            self.operations.append(op)
            self.comments.append(comment)
        self.summary.append(summary)
        self.slug_parts.append(slug)

    def has(self, operation_class: str) -> bool:
        return any(type(op).__name__ == operation_class for op in self.operations)

    def prepend(self, operation: Any, comment: list[str]) -> None:
        self.operations.insert(0, operation)
        self.comments.insert(0, comment)


@contextmanager
def _guard_serializer() -> Iterator[None]:
    from django.db.migrations.writer import MigrationWriter

    MigrationWriter.register_serializer(GuardCall, GuardCallSerializer)
    try:
        yield
    finally:
        MigrationWriter.unregister_serializer(GuardCall)


def render(w: AppWork, loader: Any) -> PlannedMigration:
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
            # A subclass, as squashmigrations builds one: these are class attributes.
            migration_class = type(
                "Migration",
                (migrations.Migration,),
                {
                    "dependencies": [leaf],
                    "operations": list(w.operations),
                    "atomic": False,
                },
            )
            migration = migration_class(name, w.app_label)
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
        rest = rest[at + len(op_text) :]
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
        if line in (
            "import django.contrib.postgres.operations",
            "import django.db.migrations.operations.special",
        ):
            continue
        if line.startswith("from django.db import migrations") and postgres_ops:
            lines.append(
                f"from django.contrib.postgres.operations import {', '.join(postgres_ops)}"
            )
        lines.append(line)
        if line.startswith("# Generated by Django"):
            lines.append(f"# by idxadvisor {__version__}: concurrent index builds, so not atomic.")

    guards_used = [g for g in GUARDS if f"{g}(" in body]
    guards = "\n\n" + guard_source(guards_used) if guards_used else ""
    return "\n".join(lines).rstrip("\n") + "\n" + guards + sep + body
