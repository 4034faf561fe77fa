"""Existing indexes from the models, every way Django declares one, and the queries they serve.

A small project on disk declares a primary key, a unique field, ``db_index``, a foreign key,
``unique_together``, a conditional ``UniqueConstraint`` and ``Meta.indexes`` (expression,
partial, ``INCLUDE``); a SQL workload asks for each of them. Nothing may be proposed: every
query is served, by the index we expect.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli

MODELS = """
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper


class Customer(models.Model):
    email = models.EmailField(unique=True)
    code = models.CharField(max_length=10, db_index=True)
    region = models.CharField(max_length=10)
    status = models.CharField(max_length=10, choices=[("pending", "p"), ("vip", "v")])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        unique_together = [("region", "code")]
        constraints = [
            models.UniqueConstraint(fields=["region", "status"], name="cust_one_vip_per_region",
                                    condition=Q(status="vip")),
        ]
        indexes = [
            models.Index(Upper("email"), name="cust_upper_email"),
            models.Index(fields=["region", "-created_at"], name="cust_region_recent",
                         include=["status"]),
            models.Index(fields=["created_at"], name="cust_pending",
                         condition=Q(status__in=["pending", "vip"])),
        ]


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    total = models.IntegerField()
"""

WORKLOAD = """
SELECT * FROM shop_customer WHERE UPPER(shop_customer.email::text) = UPPER(%s);
SELECT * FROM shop_customer WHERE region = %s ORDER BY created_at DESC LIMIT 10;
SELECT * FROM shop_customer WHERE status = 'pending' AND created_at < %s
    ORDER BY created_at LIMIT 5;
SELECT * FROM shop_customer WHERE code = %s AND region = %s;
SELECT * FROM shop_customer WHERE email = %s;
SELECT * FROM shop_order WHERE customer_id = %s;
SELECT * FROM shop_customer WHERE id = %s;
"""

# A fragment of each statement -> the index that must serve it (name or Django's name prefix).
EXPECTED = {
    "UPPER(": "cust_upper_email",
    "ORDER BY created_at DESC": "cust_region_recent",
    "status = 'pending'": "cust_pending",
    "code = $1 AND region = $2": "shop_customer_region_code_",  # unique_together
    "WHERE email = $1": "shop_customer_email_key",
    "shop_order WHERE customer_id": "shop_order_customer_id_",  # the FK's index
    "WHERE id = $1": "shop_customer_pkey",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root: Path = tmp_path_factory.mktemp("shopproject")
    (root / "manage.py").write_text(
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")\n'
    )
    (root / "shopsite").mkdir()
    (root / "shopsite" / "__init__.py").write_text("")
    (root / "shopsite" / "settings.py").write_text(
        'SECRET_KEY = "x"\nINSTALLED_APPS = ["shop"]\nUSE_TZ = True\n'
        'DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"\n'
        'DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "none",'
        ' "HOST": "127.0.0.1", "PORT": "1"}}\n'
    )
    (root / "shop").mkdir()
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "models.py").write_text(MODELS)
    (root / "workload.sql").write_text(WORKLOAD)
    result = run_cli(
        "analyze",
        str(root),
        "--no-static",
        "--workload",
        str(root / "workload.sql"),
        "--format",
        "json",
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_declaration_is_an_existing_index_with_its_origin(report):
    origins = {e["name"]: e["origin"] for e in report["existing"]}
    assert origins["shop_customer_pkey"] == "primary key"
    assert origins["shop_customer_email_key"] == "unique"
    assert origins["cust_upper_email"] == "Meta.indexes"
    assert origins["cust_one_vip_per_region"] == "UniqueConstraint"
    by_origin = {o for o in origins.values()}
    assert {"foreign key", "db_index", "unique_together"} <= by_origin
    recent = next(e for e in report["existing"] if e["name"] == "cust_region_recent")
    assert recent["columns"] == ["region", "created_at"] and recent["include"] == ["status"]
    pending = next(e for e in report["existing"] if e["name"] == "cust_pending")
    assert pending["condition"] == "status IN ('pending', 'vip')"
    vip = next(e for e in report["existing"] if e["name"] == "cust_one_vip_per_region")
    assert vip["unique"] and vip["condition"] == "status = 'vip'"


def test_every_query_is_served_by_the_index_that_declares_its_access_path(report):
    assert report["recommendations"] == []
    assert len(report["queries"]) == len(EXPECTED)
    for fragment, name in EXPECTED.items():
        [q] = [q for q in report["queries"] if fragment in q["sql"]]
        assert q["served_by"] is not None and q["served_by"].startswith(name), (fragment, q)


COMPOSITE_PK_MODELS = """
from django.db import models


class Line(models.Model):
    pk = models.CompositePrimaryKey("order_id", "number")
    order_id = models.IntegerField()
    number = models.IntegerField()
    quantity = models.IntegerField()
"""


def test_a_composite_primary_key_serves_its_leading_prefix(tmp_path: Path) -> None:
    import django

    if django.VERSION < (5, 2):
        pytest.skip("CompositePrimaryKey is new in Django 5.2")
    root = tmp_path
    (root / "manage.py").write_text(
        'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpsite.settings")\n'
    )
    (root / "cpsite").mkdir()
    (root / "cpsite" / "__init__.py").write_text("")
    (root / "cpsite" / "settings.py").write_text(
        'SECRET_KEY = "x"\nINSTALLED_APPS = ["lines"]\n'
        'DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "none",'
        ' "HOST": "127.0.0.1", "PORT": "1"}}\n'
    )
    (root / "lines").mkdir()
    (root / "lines" / "__init__.py").write_text("")
    (root / "lines" / "models.py").write_text(COMPOSITE_PK_MODELS)
    (root / "w.sql").write_text(
        "SELECT * FROM lines_line WHERE order_id = %s ORDER BY number LIMIT 50;\n"
        "SELECT * FROM lines_line WHERE order_id = %s AND number = %s;\n"
    )
    result = run_cli(
        "analyze",
        str(root),
        "--no-static",
        "--workload",
        str(root / "w.sql"),
        "--format",
        "json",
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    pk = next(e for e in report["existing"] if e["origin"] == "primary key")
    assert pk["columns"] == ["order_id", "number"]
    assert report["recommendations"] == []
    assert {q["served_by"] for q in report["queries"]} == {pk["name"]}
