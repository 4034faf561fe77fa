"""Issue 12: a model that inherits its Meta from an abstract base gets ``class Meta(Base.Meta)``
with ``indexes = [*Base.Meta.indexes, …]``, as Django documents, instead of being skipped; the
inherited indexes stay, ``makemigrations`` sees nothing, ``migrate`` builds everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.generate.projects import write_project
from tests.helpers import TempDatabase, run_cli, run_python

MODELS = """\
from django.db import models


class Stamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=20)

    class Meta:
        abstract = True
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind"], name="%(app_label)s_%(class)s_kind")]


class Tagged(models.Model):
    tag = models.CharField(max_length=20)

    class Meta:
        abstract = True


class Order(Stamped):
    customer = models.IntegerField()


class Refund(Stamped):
    customer = models.IntegerField()

    class Meta(Stamped.Meta):
        verbose_name = "refund"


class Label(Tagged):
    customer = models.IntegerField()
"""

QUERIES = """\
from shop.models import Label, Order, Refund


def orders(customer):
    return Order.objects.filter(customer=customer).order_by("-created_at")[:20]


def refunds(customer):
    return Refund.objects.filter(customer=customer).order_by("-created_at")[:20]


def labels(customer):
    return Label.objects.filter(customer=customer).order_by("tag")[:20]
"""


@pytest.fixture
def project(tmp_path: Path, temp_database: TempDatabase) -> Path:
    root = write_project(tmp_path / "site", "shop", models=MODELS, queries=QUERIES)
    made = run_python("manage.py", "makemigrations", "shop", cwd=root, env=temp_database.env)
    assert made.returncode == 0, made.stderr
    return root


def _indexes(db: TempDatabase, table: str) -> dict[str, bool]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c"
            " ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(%s)",
            [table],
        ).fetchall()
    return dict(rows)


def test_inherited_meta_is_extended_and_inherited_indexes_survive(
    project: Path,
    temp_database: TempDatabase,
) -> None:
    out = run_cli("generate", str(project), env=temp_database.env)
    assert out.returncode == 0, out.stderr
    assert "hide the inherited" not in out.stderr
    models = (project / "shop" / "models.py").read_text()
    assert (
        "class Meta(Stamped.Meta):\n        indexes = [\n            *Stamped.Meta.indexes,\n"
        in models
    )  # Order: no Meta of its own
    assert models.count("*Stamped.Meta.indexes,") == 2  # Refund: its Meta(Stamped.Meta) too
    assert "class Meta(Tagged.Meta):\n        indexes = [\n            models.Index(" in models
    assert 'verbose_name = "refund"' in models

    check = run_python(
        "manage.py", "makemigrations", "--check", "--dry-run", cwd=project, env=temp_database.env
    )
    assert check.returncode == 0, check.stdout + check.stderr
    migrate = run_python("manage.py", "migrate", cwd=project, env=temp_database.env)
    assert migrate.returncode == 0, migrate.stderr
    for table in ("shop_order", "shop_refund"):
        found = _indexes(temp_database, table)
        assert f"{table}_kind" in found, found  # the abstract base's index, still there
        assert len(found) == 3 and all(found.values()), found  # pkey, kind, the new one
    shown = run_python(
        "-c",
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = "
        "'site_settings'; django.setup(); from shop.models import Order; "
        "print(Order._meta.ordering)",
        cwd=project,
        env=temp_database.env,
    )
    assert shown.stdout.strip() == "['-created_at']", shown.stderr  # the rest of Meta kept
    again = run_cli("generate", str(project), env=temp_database.env)
    assert again.returncode == 0 and "nothing to generate" in again.stderr, again.stderr
