"""Django 6.0 refuses GinIndex, BrinIndex, OpClass and the pg_trgm operation without
``django.contrib.postgres`` in INSTALLED_APPS (postgres.E005). ``generate`` checks it on every
Django version and says exactly what to add, instead of writing what the checks would fail."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli, run_python

LINE = '    "django.contrib.postgres",\n'


def _without_postgres_app(project: Path) -> None:
    settings = project / "alerting_project" / "settings.py"
    text = settings.read_text()
    assert LINE in text
    settings.write_text(text.replace(LINE, ""))


def test_postgres_indexes_wait_for_the_app_and_the_rest_is_generated(example_copy: Path) -> None:
    _without_postgres_app(example_copy)
    out = run_cli("generate", str(example_copy))
    assert out.returncode == 0, out.stderr
    skipped = [line for line in out.stderr.splitlines() if line.startswith("idxadvisor: skipped")]
    by_hand = [line for line in out.stderr.splitlines() if line.startswith("  by hand:")]
    assert skipped and all(
        "need 'django.contrib.postgres' in INSTALLED_APPS" in s for s in skipped
    ), out.stderr
    assert any("GinIndex" in s and "OpClass" in s and "TrigramExtension" in s for s in skipped)
    assert any("BrinIndex" in s for s in skipped)
    assert by_hand and all(
        'add "django.contrib.postgres", to INSTALLED_APPS in alerting_project.settings' in h
        for h in by_hand
    )
    [migration] = (example_copy / "monitoring" / "migrations").glob("0002_*.py")
    text = migration.read_text()
    assert "AddIndexConcurrently(" in text  # the B-tree indexes are still generated
    assert "django.contrib.postgres.indexes" not in text and "TrigramExtension" not in text
    models = (example_copy / "monitoring" / "models.py").read_text()
    assert "GinIndex" not in models and "BrinIndex" not in models
    check = run_python("manage.py", "makemigrations", "--check", "--dry-run", cwd=example_copy)
    assert check.returncode == 0, check.stdout + check.stderr

    # With the line the message asks for, the skipped indexes come in a second migration.
    settings = example_copy / "alerting_project" / "settings.py"
    settings.write_text(
        settings.read_text().replace(
            '    "django.contrib.auth",\n', '    "django.contrib.auth",\n' + LINE
        )
    )
    again = run_cli("generate", str(example_copy))
    assert again.returncode == 0, again.stderr
    assert "need 'django.contrib.postgres'" not in again.stderr
    [second] = (example_copy / "monitoring" / "migrations").glob("0003_*.py")
    assert "GinIndex(" in second.read_text() and "TrigramExtension(" in second.read_text()
