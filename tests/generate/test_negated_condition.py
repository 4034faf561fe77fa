"""A partial index whose WHERE negates a constant (issue 11, defect 4) is generated too:
``condition=~Q(status="down")`` in the model's Meta and the migration, ``makemigrations
--check`` clean, built by ``migrate``, then recognised so nothing is proposed again. Found on
django-simple-history, where ``history_type <> '-'`` was skipped as "no Django model owns
table" because Django's form of the index could not be written."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.generate.projects import write_project
from tests.helpers import TempDatabase, analyze_json, run_cli, run_python

MODELS = """\
from django.db import models


class Probe(models.Model):
    org = models.IntegerField()
    status = models.CharField(max_length=8, choices=[("up", "up"), ("down", "down")])
    checked = models.DateTimeField()
"""

QUERIES = """\
from mon.models import Probe


def live_probes(org):
    return list(Probe.objects.filter(org=org).exclude(status="down").order_by("-checked")[:20])
"""


def test_a_negated_constant_condition_is_generated_and_then_recognised(
    tmp_path: Path, temp_database: TempDatabase
) -> None:
    project = write_project(tmp_path / "site", "mon", models=MODELS, queries=QUERIES)
    env = temp_database.env
    first = run_python("manage.py", "makemigrations", "mon", cwd=project, env=env)
    assert first.returncode == 0, first.stderr
    generated = run_cli("generate", str(project), env={"DATABASE_URL": ""})
    assert generated.returncode == 0, generated.stderr
    assert "skipped" not in generated.stderr, generated.stderr
    models = (project / "mon" / "models.py").read_text()
    assert 'condition=~Q(status="down")' in models, models
    check = run_python("manage.py", "makemigrations", "--check", "--dry-run", cwd=project, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    migrate = run_python("manage.py", "migrate", "--no-input", cwd=project, env=env)
    assert migrate.returncode == 0, migrate.stderr
    with psycopg.connect(temp_database.url) as conn:
        [(definition,)] = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'mon_probe' "
            "AND indexdef LIKE '%WHERE%'"
        ).fetchall()
    assert "WHERE (NOT ((status)::text = 'down'::text))" in definition, definition
    # Written one way by Django, proposed the other way: the same index, nothing new.
    assert analyze_json(project)["recommendations"] == []


def test_a_negated_constant_on_a_nullable_column_has_no_django_form() -> None:
    # ~Q(note="x") on a nullable column is NOT (note = 'x' AND note IS NOT NULL) in Django's
    # SQL: it keeps the NULL rows too, another index than proposed. Written by hand instead.
    from idxadvisor.advisor.django_index import django_form
    from idxadvisor.types.access import Op, Predicate
    from idxadvisor.types.advice import IndexCandidate
    from idxadvisor.types.schema import Column, IndexElement, Table

    def form(null: bool):
        table = Table(
            "mon_probe",
            (Column("org", "org", "integer"), Column("note", "note", "varchar(8)", null=null)),
        )
        where = (Predicate("note", Op.NEQ, "note <> 'x'", None, ("'x'",)),)
        candidate = IndexCandidate("mon_probe", (IndexElement("org"),), condition=where)
        return django_form(candidate, "mon_probe_org_idx", table)

    assert form(null=True) is None
    assert 'condition=~Q(note="x")' in form(null=False).source
