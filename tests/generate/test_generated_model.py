"""A model made at run time (django-simple-history's historical models: a class built by code
and set in the app's models module) has no source to edit: ``generate`` says so and gives the
SQL, and a redundancy on it does not tell the user to edit a field no file declares."""

from __future__ import annotations

from pathlib import Path

from tests.generate.projects import write_project
from tests.helpers import TempDatabase, analyze_json, run_cli, run_python

MODELS = """\
from django.db import models


class Probe(models.Model):
    org = models.IntegerField()


# As django-simple-history builds HistoricalProbe: a class made by code, not written here.
ProbeLog = type(
    "ProbeLog",
    (models.Model,),
    {
        "__module__": __name__,
        "ref": models.IntegerField(db_index=True),
        "logged": models.DateTimeField(),
    },
)
"""

QUERIES = """\
from mon.models import ProbeLog


def recent(ref):
    return list(ProbeLog.objects.filter(ref=ref).order_by("-logged")[:20])
"""


def test_a_model_made_at_run_time_is_not_edited_and_not_advised_to_be(
    tmp_path: Path, temp_database: TempDatabase
) -> None:
    project = write_project(tmp_path / "site", "mon", models=MODELS, queries=QUERIES)
    made = run_python("manage.py", "makemigrations", "mon", cwd=project, env=temp_database.env)
    assert made.returncode == 0, made.stderr
    found = analyze_json(project)
    [rec] = found["recommendations"]
    assert rec["table"] == "mon_probelog" and rec["fields"] == ["ref", "-logged"]
    [redundant] = found["redundant"]
    assert "made at run time" in redundant["reason"]
    assert "db_index=False" not in redundant["reason"]
    before = (project / "mon" / "models.py").read_text()
    generated = run_cli("generate", str(project), env={"DATABASE_URL": ""})
    assert generated.returncode == 0, generated.stderr
    assert "ProbeLog is not written in mon/models.py: its model is made at run time" in (
        generated.stderr
    ), generated.stderr
    assert 'by hand: CREATE INDEX CONCURRENTLY "' in generated.stderr
    assert (project / "mon" / "models.py").read_text() == before
    assert not list((project / "mon" / "migrations").glob("0002_*.py"))


def test_a_model_written_beside_the_module_it_names_is_written_in_the_source(
    tmp_path: Path,
) -> None:
    # Found on wagtail: Page says __module__ = "wagtail.models" and is written in
    # wagtail/models/pages.py; it was called "made at run time".
    project = write_project(tmp_path / "site", "mon", models="", queries=QUERIES)
    package = project / "mon" / "models"
    (project / "mon" / "models.py").unlink()
    package.mkdir()
    (package / "__init__.py").write_text("from mon.models.log import ProbeLog\n")
    (package / "log.py").write_text(
        "from django.db import models\n\n\n"
        "class ProbeLog(models.Model):\n"
        '    __module__ = "mon.models"\n'
        "    ref = models.IntegerField(db_index=True)\n"
        "    logged = models.DateTimeField()\n"
    )
    [redundant] = analyze_json(project)["redundant"]
    assert "made at run time" not in redundant["reason"]
    assert "set db_index=False on the field" in redundant["reason"]
