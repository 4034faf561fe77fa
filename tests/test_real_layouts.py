"""Real projects as they are: dev settings on SQLite or MySQL, a test project in a subfolder, a
``src/`` layout, tables without a migration of their own, files Python cannot parse.

Every test runs the real CLI (``run_cli``, a subprocess) on a real project on disk: the bundled
example, or the reusable app in ``tests/fixtures/shelfapp`` laid out the way real repositories
do, with settings written here.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, TempDatabase, run_cli, run_python

SHELF = ROOT / "tests" / "fixtures" / "shelfapp" / "shelf"

POSTGRES = """{
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ.get("PGDATABASE", "shelf"),
    "USER": os.environ.get("PGUSER", "postgres"),
    "HOST": os.environ.get("PGHOST", "127.0.0.1"),
    "PORT": os.environ.get("PGPORT", "5432"),
}"""
SQLITE = '{"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}'
# mysqlclient is not installed here: importing this backend fails. Nothing may import it.
MYSQL = '{"ENGINE": "django.db.backends.mysql", "NAME": "shelf", "HOST": "127.0.0.1"}'

SETTINGS = """\
\"\"\"Settings of a test project for the reusable app shelf.\"\"\"
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "fixture-only"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "shelf"]
DATABASES = {{"default": {database}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
"""

MANAGE = """\
#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    # As reusable apps' test projects do: the app sits one directory up.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{module}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

# layout -> (where the app goes, manage.py's folder or None, settings file, settings module)
LAYOUTS: dict[str, tuple[str, str | None, str, str]] = {
    "tests": ("shelf", "tests", "tests/settings.py", "settings"),
    "sandbox": ("shelf", "sandbox", "sandbox/sandbox/settings.py", "sandbox.settings"),
    "example_project": (
        "shelf",
        "example_project",
        "example_project/example_project/settings.py",
        "example_project.settings",
    ),
    "src": ("src/shelf", None, "tests/settings.py", "tests.settings"),
}

SHELF_FUNCTIONS = (
    "groups_allowed",
    "books_of",
    "loans_of",
    "loan_by_ticket",
    "stats_of",
    "recent_published",
)


def lay_out(root: Path, layout: str, database: str = POSTGRES) -> list[str]:
    """The shelf app laid out as ``layout`` under ``root``; the CLI arguments it needs."""
    app, manage_dir, settings_file, module = LAYOUTS[layout]
    shutil.copytree(SHELF, root / app, ignore=shutil.ignore_patterns("__pycache__"))
    settings = root / settings_file
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(SETTINGS.format(database=database))
    for package in settings.relative_to(root).parents:
        if package != Path(".") and package.as_posix() != manage_dir:
            (root / package / "__init__.py").touch()
    if manage_dir is None:
        (root / "pyproject.toml").write_text('[project]\nname = "shelf"\nversion = "1"\n')
        return [str(root), "--settings", module]
    (root / manage_dir / "manage.py").write_text(MANAGE.format(module=module))
    return [str(root)]


def analyze(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    run = run_cli("analyze", *args, "--format", "json", env=env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def origins(report: dict[str, Any]) -> set[str]:
    return {o for q in report["queries"] for o in q["origins"]}


def function_lines(path: Path, names: tuple[str, ...]) -> dict[str, int]:
    """The line of each function's queryset (its ``return`` line) in the source."""
    lines = path.read_text().splitlines()
    found = {}
    for name in names:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"def {name}("))
        found[name] = next(
            i + 1 for i in range(start, len(lines)) if lines[i].lstrip().startswith("return")
        )
    return found


def files_in(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# --- 1. SQLite / MySQL development settings --------------------------------------------------


def _with_database(project: Path, database: str) -> None:
    settings = project / "alerting_project" / "settings.py"
    settings.write_text(settings.read_text() + f"\nDATABASES = {{'default': {database}}}\n")


@pytest.mark.parametrize("engine", ["sqlite3", "mysql"])
def test_non_postgres_dev_settings_give_the_postgres_advice(
    example_copy: Path, tmp_path: Path, engine: str
) -> None:
    baseline = analyze(str(example_copy))
    assert baseline["recommendations"], "the example must give advice to compare with"
    other = tmp_path / "other"
    shutil.copytree(example_copy, other)
    _with_database(other, SQLITE if engine == "sqlite3" else MYSQL)
    before = files_in(other)
    # Bytecode writing on, as on a developer's machine: importing the project writes nothing.
    env = {"PYTHONDONTWRITEBYTECODE": ""}
    report = analyze(str(other), env=env)
    assert report["recommendations"] == baseline["recommendations"]
    assert report["existing"] == baseline["existing"]
    assert report["summary"] == baseline["summary"]
    check = run_cli("check", "--format", "json", "monitoring/queries.py", cwd=other, env=env)
    assert check.returncode in (0, 1), check.stderr
    assert "Traceback" not in check.stderr
    assert json.loads(check.stdout)  # a real report, not an error
    assert files_in(other) == before  # no db.sqlite3, no __pycache__, nothing at all


def test_generated_sql_is_postgres_with_sqlite_settings(tmp_path: Path) -> None:
    args = lay_out(tmp_path, "tests", SQLITE)
    report = analyze(*args)
    (rec,) = [r for r in report["recommendations"] if r["table"] == "shelf_book"]
    assert rec["sql"].startswith('CREATE INDEX CONCURRENTLY "')
    assert rec["sql"].endswith('WHERE "published";')
    assert not (tmp_path / "tests" / "db.sqlite3").exists()


# --- 2. manage.py in a subfolder, src layout ---------------------------------------------------


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_whole_project_dir_is_scanned_whatever_the_layout(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    args = lay_out(root, layout)
    report = analyze(*args)
    app = LAYOUTS[layout][0]
    lines = function_lines(root / app / "queries.py", SHELF_FUNCTIONS)
    assert origins(report) == {f"{app}/queries.py:{line}" for line in lines.values()}
    assert report["skipped"] == []
    assert [r["table"] for r in report["recommendations"]] == ["shelf_book"]


def test_several_test_projects_with_explicit_settings(tmp_path: Path) -> None:
    lay_out(tmp_path, "sandbox")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "manage.py").write_text(MANAGE.format(module="x"))
    # Without --settings two manage.py are ambiguous; with it, neither narrows anything.
    ambiguous = run_cli("analyze", str(tmp_path))
    assert ambiguous.returncode == 2
    assert "several Django projects" in ambiguous.stderr
    report = analyze(str(tmp_path), "--settings", "sandbox.sandbox.settings")
    assert len(origins(report)) == len(SHELF_FUNCTIONS)


# --- 3. m2m, unmanaged, view and proxy tables --------------------------------------------------

WORKLOAD = """\
SELECT group_id FROM auth_group_permissions WHERE group_id = $1;
SELECT author_id FROM shelf_book_authors WHERE book_id = $1 AND author_id = $2;
SELECT book_id FROM shelf_book_authors WHERE author_id = $1;
SELECT * FROM legacy_loans WHERE book_ref = $1;
SELECT * FROM shelf_book_stats_view WHERE book_id = $1;
"""


def test_m2m_unmanaged_view_and_proxy_tables_are_known(
    tmp_path: Path, temp_database: TempDatabase
) -> None:
    args = lay_out(tmp_path, "tests")
    (tmp_path / "slow.sql").write_text(WORKLOAD)
    report = analyze(*args, "--workload", str(tmp_path / "slow.sql"))
    assert report["skipped"] == []
    assert len(origins(report)) == len(SHELF_FUNCTIONS) + WORKLOAD.count(";")
    # (table, columns) -> the index; a `_like` pattern-ops twin does not serve `=`: left out.
    existing = {
        (i["table"], tuple(i["columns"])): i
        for i in report["existing"]
        if not i["name"].endswith("_like")
    }
    served = {q["sql"]: q["served_by"] for q in report["queries"] if q["source"] != "static"}

    # Django's own names, read from the real tables migrate creates.
    migrated = run_python("tests/manage.py", "migrate", "-v0", cwd=tmp_path, env=temp_database.env)
    assert migrated.returncode == 0, migrated.stderr
    with temp_database.connect() as conn:
        catalog = {
            (table, name)
            for table, name in conn.execute(
                "SELECT tablename, indexname FROM pg_indexes WHERE tablename IN "
                "('auth_group_permissions', 'shelf_book_authors', 'shelf_book')"
            )
        }
    for table in ("auth_group_permissions", "shelf_book_authors", "shelf_book"):
        declared = {(i["table"], i["name"]) for i in report["existing"] if i["table"] == table}
        assert declared == {c for c in catalog if c[0] == table}, table

    m2m_unique = existing[("shelf_book_authors", ("book_id", "author_id"))]
    assert m2m_unique["unique"] and m2m_unique["origin"] == "unique_together"
    by_group = existing[("auth_group_permissions", ("group_id",))]
    assert by_group["origin"] == "foreign key"
    loans_fk = existing[("legacy_loans", ("book_ref",))]
    assert loans_fk["origin"] == "foreign key"
    assert existing[("legacy_loans", ("ticket",))]["unique"]
    stats_pk = existing[("shelf_book_stats_view", ("book_id",))]
    assert stats_pk["origin"] == "primary key"
    # Each workload query is served by a declared index of its table that leads with its key.
    leading = [
        ("auth_group_permissions", ("group_id",)),
        ("shelf_book_authors", ("book_id", "author_id")),
        ("shelf_book_authors", ("author_id",)),
        ("legacy_loans", ("book_ref",)),
        ("shelf_book_stats_view", ("book_id",)),
    ]
    for line, (table, keys) in zip(WORKLOAD.splitlines(), leading, strict=True):
        fits = {
            i["name"]
            for i in report["existing"]
            if i["table"] == table and tuple(i["columns"][: len(keys)]) == keys
        }
        assert served[line.rstrip(";")] in fits, line
    # The proxy's queryset reads the concrete table and gets the one proposal there.
    assert [r["table"] for r in report["recommendations"]] == ["shelf_book"]


# --- 4. files Python cannot parse ---------------------------------------------------------------

BAD_FILES: dict[str, tuple[bytes, int, str]] = {
    # name -> (content, line of the error, the start of the message)
    "unclosed.py": (b"from .models import Book\n\ndef f(:\n    return 1\n", 3, "invalid syntax"),
    "indent.py": (b"def f():\nreturn Book.objects.all()\n", 2, "expected an indented block"),
    "no_queryset.py": (b"x = (\n", 1, "'(' was never closed"),
    "latin1.py": ('NAME = "café"\n'.encode("latin-1"), 1, "(unicode error)"),
}


def test_unparsable_files_are_skipped_and_the_scan_goes_on(tmp_path: Path) -> None:
    args = lay_out(tmp_path, "tests")
    for name, (content, _, _) in BAD_FILES.items():
        (tmp_path / "shelf" / name).write_bytes(content)
    # Python reads these: a coding line, a BOM. They are scanned like any other file.
    (tmp_path / "shelf" / "coded.py").write_bytes(
        b"# -*- coding: latin-1 -*-\nfrom .models import Book\n\n\ndef caf\xe9():\n"
        b"    return Book.objects.filter(title='caf\xe9').first()\n"
    )
    (tmp_path / "shelf" / "bom.py").write_bytes(
        b"\xef\xbb\xbffrom .models import Book\n\n\ndef by_title(t):\n"
        b"    return list(Book.objects.filter(title=t))\n"
    )
    report = analyze(*args)
    skipped = {s["origin"].split(":")[0]: s for s in report["skipped"]}
    assert set(skipped) == {f"shelf/{name}" for name in BAD_FILES}
    for name, (_, line, message) in BAD_FILES.items():
        entry = skipped[f"shelf/{name}"]
        assert entry["origin"].startswith(f"shelf/{name}:{line}"), entry
        assert entry["reason"].startswith(f"cannot parse: SyntaxError: {message}"), entry
    assert {"shelf/coded.py:6", "shelf/bom.py:5"} <= origins(report)
    assert len(origins(report)) == len(SHELF_FUNCTIONS) + 2

    kinds = run_python("-c", KINDS_SCRIPT, str(tmp_path), cwd=tmp_path)
    assert kinds.returncode == 0, kinds.stderr
    assert json.loads(kinds.stdout) == {f"shelf/{name}": "file" for name in BAD_FILES}


KINDS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from idxadvisor.sources.static.scan import scan
    from idxadvisor.project import load_project

    result = scan(load_project(Path(sys.argv[1]), None))
    print(json.dumps({s.origin.path: s.kind for s in result.skipped}))
    """
)


# --- 5. `self.model` in managers, querysets, class-based views and ModelAdmin ----------------

MANAGERS = """

class LoanQuerySet(models.QuerySet):
    def by_borrower(self, who):
        return self.model._default_manager.filter(borrower=who).order_by("ticket")


class LoanManager(models.Manager):
    def overdue(self):
        return self.model.objects.filter(ticket__startswith="OD").order_by("-id")[:50]


class Shared(models.Manager):
    def any_of(self):
        return self.model.objects.filter(pk__gt=0)  # used by two models: ambiguous


class Shelf(models.Model):
    name = models.CharField(max_length=50)
    borrower = models.CharField(max_length=50)
    ticket = models.CharField(max_length=50)
    objects = LoanManager.from_queryset(LoanQuerySet)()
    shared = Shared()


class Rack(models.Model):
    label = models.CharField(max_length=50)
    shared = Shared()
"""

VIEWS = """
from django.views.generic import ListView

from .models import Book


class TitleList(ListView):
    model = Book

    def get_queryset(self):
        return self.model.objects.filter(title__startswith="A").order_by("title")
"""

ADMIN = """
from django.contrib import admin

from .models import Author, Shelf


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    def get_queryset(self, request):
        return self.model.objects.filter(name__isnull=False)


class ShelfAdmin(admin.ModelAdmin):
    def get_queryset(self, request):
        return self.model._default_manager.order_by("name")


admin.site.register(Shelf, ShelfAdmin)
"""


def test_self_model_in_managers_views_and_admin(tmp_path: Path) -> None:
    args = lay_out(tmp_path, "tests")
    settings = tmp_path / "tests" / "settings.py"
    settings.write_text(
        settings.read_text().replace(
            '"shelf"]',
            '"django.contrib.admin", "django.contrib.messages", '
            '"django.contrib.sessions", "shelf"]',
        )
    )
    models_py = tmp_path / "shelf" / "models.py"
    models_py.write_text(models_py.read_text() + MANAGERS)
    (tmp_path / "shelf" / "views.py").write_text(VIEWS)
    (tmp_path / "shelf" / "admin.py").write_text(ADMIN)
    report = analyze(*args)
    by_origin = {o: q for q in report["queries"] for o in q["origins"]}

    def query_at(path: str, text: str) -> dict[str, Any]:
        lines = (tmp_path / path).read_text().splitlines()
        line = next(i + 1 for i, ln in enumerate(lines) if text in ln)
        return by_origin[f"{path}:{line}"]

    expected = {
        ("shelf/models.py", "borrower=who"): "shelf_shelf",
        ("shelf/models.py", 'ticket__startswith="OD"'): "shelf_shelf",
        ("shelf/views.py", 'title__startswith="A"'): "shelf_book",
        ("shelf/admin.py", "name__isnull=False"): "shelf_author",
        ("shelf/admin.py", 'order_by("name")'): "shelf_shelf",
    }
    for (path, text), table in expected.items():
        assert query_at(path, text)["tables"] == [table], (path, text)
    reasons = {s["origin"]: s["reason"] for s in report["skipped"]}
    shared = next(o for o in reasons if o.startswith("shelf/models.py:"))
    assert reasons[shared] == "cannot resolve model 'self.model'"
    assert len(reasons) == 1
