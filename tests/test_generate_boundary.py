"""`generate` writes only the project's own files, and never over a file it did not create.

Real Django projects on disk (copies of examples/alerting), real installed Django, models of
apps that live outside PROJECT_DIR (on PYTHONPATH, symlinked in) or that belong to an installed
distribution, and real name collisions in a migrations package.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import django
import pytest

from tests.helpers import run_cli, run_python

AUTH_DIR = Path(django.__file__).resolve().parent / "contrib" / "auth"

PERMISSION_QUERY = '''

def permissions_named(codename: str) -> list:
    """A queryset on an installed app's model: the advisor proposes an index on it."""
    from django.contrib.auth.models import Permission

    return list(Permission.objects.filter(codename=codename).order_by("name")[:5])
'''

ARTICLE_QUERY = '''

def latest_articles(slug: str) -> list:
    """A queryset on a model of an app the project imports but does not contain."""
    from extapp.models import Article

    return list(Article.objects.filter(slug=slug).order_by("-published_at")[:10])
'''

EXTAPP_MODELS = """from django.db import models


class Article(models.Model):
    slug = models.CharField(max_length=50)
    published_at = models.DateTimeField()
"""


def generate(project: Path, *args: str, env: dict[str, str] | None = None):
    return run_cli("generate", str(project), *args, env={"DATABASE_URL": "", **(env or {})})


def tree_state(directory: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``directory`` (symlinks followed): mtime and content."""
    return {
        str(p.relative_to(directory)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(directory.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def make_extapp(parent: Path) -> Path:
    """An ``extapp`` package (models and an initial migration) under ``parent``."""
    app = parent / "extapp"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(EXTAPP_MODELS)
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text(
        "from django.db import migrations, models\n\n\n"
        "class Migration(migrations.Migration):\n"
        "    initial = True\n"
        "    dependencies = []\n"
        "    operations = [\n"
        "        migrations.CreateModel(\n"
        '            name="Article",\n'
        "            fields=[\n"
        '                ("id", models.AutoField(auto_created=True, primary_key=True, '
        'serialize=False, verbose_name="ID")),\n'
        '                ("slug", models.CharField(max_length=50)),\n'
        '                ("published_at", models.DateTimeField()),\n'
        "            ],\n"
        "        ),\n"
        "    ]\n"
    )
    return app


def with_extapp(project: Path) -> None:
    settings = project / "alerting_project" / "settings.py"
    settings.write_text(
        settings.read_text() + '\nINSTALLED_APPS += ["extapp"]\n'
        'DEFAULT_AUTO_FIELD = "django.db.models.AutoField"\n'
    )
    queries = project / "monitoring" / "queries.py"
    queries.write_text(queries.read_text() + ARTICLE_QUERY)


def test_installed_django_model_is_never_edited(example_copy: Path):
    queries = example_copy / "monitoring" / "queries.py"
    queries.write_text(queries.read_text() + PERMISSION_QUERY)
    before = tree_state(AUTH_DIR)

    result = generate(example_copy)

    assert result.returncode == 0, result.stderr
    assert tree_state(AUTH_DIR) == before
    assert "Traceback" not in result.stderr
    # The index is reported as skipped with the reason and the exact way to build it.
    skipped = [line for line in result.stderr.splitlines() if "skipped auth_permis" in line]
    assert len(skipped) == 1, result.stderr
    assert "installed package Django" in skipped[0]
    by_hand = result.stderr.split(skipped[0], 1)[1].splitlines()[1]
    assert by_hand.startswith("  by hand: auth.Permission is not your code")
    assert 'models.Index(fields=["codename", "name"]' in by_hand
    assert "migrations.RunSQL('CREATE INDEX CONCURRENTLY" in by_hand
    assert re.search(r"dependencies = \[\('auth', '\d{4}_\w+'\)\]", by_hand), by_hand
    assert "atomic = False" in by_hand
    # The project's own app still gets its migration.
    assert list((example_copy / "monitoring" / "migrations").glob("0002_idxadvisor_*.py"))


def test_installed_model_not_even_in_the_dry_run(example_copy: Path):
    queries = example_copy / "monitoring" / "queries.py"
    queries.write_text(queries.read_text() + PERMISSION_QUERY)

    result = generate(example_copy, "--dry-run")

    assert result.returncode == 0, result.stderr
    assert str(AUTH_DIR) not in result.stdout
    assert "would write" in result.stderr
    assert not [
        line
        for line in result.stderr.splitlines()
        if line.startswith("idxadvisor: would") and str(AUTH_DIR) in line
    ]


@pytest.mark.parametrize("placement", ["pythonpath", "symlink"])
def test_app_outside_project_dir_is_not_written(example_copy: Path, tmp_path: Path, placement: str):
    shared = tmp_path / "shared"
    app = make_extapp(shared)
    with_extapp(example_copy)
    env: dict[str, str] = {}
    if placement == "pythonpath":
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(shared), os.environ.get("PYTHONPATH")])
        )
    else:
        # Inside the project by name only: the symlink resolves to a directory outside it.
        (example_copy / "extapp").symlink_to(app, target_is_directory=True)
    before = tree_state(shared)

    result = generate(example_copy, env=env)

    assert result.returncode == 0, result.stderr
    assert tree_state(shared) == before
    [skipped] = [line for line in result.stderr.splitlines() if "skipped extapp_" in line]
    assert "outside the project directory" in skipped
    assert "by hand: add to Article.Meta.indexes in that app: models.Index(" in result.stderr
    assert "makemigrations extapp" in result.stderr


def test_installed_distribution_inside_project_dir_is_not_written(example_copy: Path):
    # A vendored install (pip --target) inside the project: no "site-packages" in its path,
    # only the distribution's RECORD says it is installed code.
    vendor = example_copy / "vendor"
    make_extapp(vendor)
    dist_info = vendor / "extapp-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: extapp\nVersion: 1.0\n")
    files = sorted(str(p.relative_to(vendor)) for p in (vendor / "extapp").rglob("*.py"))
    (dist_info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
    with_extapp(example_copy)
    before = tree_state(vendor)

    result = generate(example_copy, env={"PYTHONPATH": str(vendor)})

    assert result.returncode == 0, result.stderr
    assert tree_state(vendor) == before
    [skipped] = [line for line in result.stderr.splitlines() if "skipped extapp_" in line]
    assert "installed package extapp" in skipped


def _target_name(project: Path) -> str:
    dry = generate(project, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    [name] = re.findall(r"would write monitoring/migrations/(0002_idxadvisor_\w+)\.py", dry.stderr)
    return name


@pytest.mark.parametrize(
    "content", ["", "# notes about the next migration\n", "NOTE = 'not a migration'\n"]
)
def test_non_migration_module_at_the_target_name(example_copy: Path, content: str):
    name = _target_name(example_copy)
    squatter = example_copy / "monitoring" / "migrations" / f"{name}.py"
    squatter.write_text(content)
    before = tree_state(example_copy)

    result = generate(example_copy)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"idxadvisor: error: {squatter.resolve()} is not a migration")
    assert "nothing was written" in lines[0]
    assert tree_state(example_copy) == before


def test_broken_migration_module_is_one_line(example_copy: Path):
    bad = example_copy / "monitoring" / "migrations" / "0002_manual.py"
    bad.write_text("from django.db import migrations\n\nclass Migration(migrations.Migration:\n")
    before = tree_state(example_copy)

    result = generate(example_copy)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "0002_manual.py:3" in lines[0]
    assert tree_state(example_copy) == before


def test_name_taken_by_a_package_moves_to_the_next_number(example_copy: Path):
    # A package of the target name is invisible to Django's loader and would shadow a module
    # of that name: generate takes the next free number instead.
    name = _target_name(example_copy)
    package = example_copy / "monitoring" / "migrations" / name
    package.mkdir()
    (package / "__init__.py").write_text("# someone else's\n")

    result = generate(example_copy)

    assert result.returncode == 0, result.stderr
    assert (package / "__init__.py").read_text() == "# someone else's\n"
    written = example_copy / "monitoring" / "migrations" / f"{name.replace('0002', '0003', 1)}.py"
    assert written.is_file(), result.stderr
    assert "('monitoring', '0001_initial')" in written.read_text()
    check = run_python("manage.py", "makemigrations", "--check", "--dry-run", cwd=example_copy)
    assert check.returncode == 0, check.stdout + check.stderr


def test_unmanaged_models_get_no_migration_and_say_why(tmp_path: Path) -> None:
    # legacy_loans is another system's table (managed = False): no migration of ours may
    # build on it, and its model's Meta would mislead makemigrations readers.
    from tests.test_real_layouts import lay_out

    args = lay_out(tmp_path, "tests")
    (tmp_path / "slow.sql").write_text(
        "SELECT * FROM legacy_loans WHERE borrower = $1 ORDER BY id DESC LIMIT 20;\n"
    )
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    run = run_cli("generate", *args, "--no-static", "--workload", str(tmp_path / "slow.sql"))
    assert run.returncode == 0, run.stderr
    assert re.search(
        r"skipped \S+: shelf\.LegacyLoan is unmanaged \(managed = False\)", run.stderr
    ), run.stderr
    assert "CREATE INDEX CONCURRENTLY" in run.stderr  # what to build where it is managed
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert after == before
