"""hash: an equality on a text column with no length limit gets a hash index, not a B-tree.

Mirrors ``idxadvisor.advisor.rules.hash``. Found on django-background-tasks: a B-tree on its
``task_params`` TextField made the app's own INSERT of a 6 kB value fail.
"""

from __future__ import annotations

import secrets

import psycopg
import pytest

from idxadvisor.types.schema import Column, Schema, Table
from tests.advisor.hook import _advise, _keys

TASK = Table(
    "task",
    (
        Column("id", "id", "bigint", unique=True, primary_key=True),
        Column("params", "params", "text"),
        Column("queue", "queue", "varchar(100)"),
        Column("run_at", "run_at", "timestamptz"),
    ),
)
SCHEMA = Schema({"task": TASK})


@pytest.mark.parametrize(
    "where",
    ["params = $1", "params = $1 AND queue = $2", "params = $1 ORDER BY run_at LIMIT 5"],
)
def test_an_equality_on_unbounded_text_is_a_hash_index_on_that_column(where, temp_database):
    [rec] = _advise(f"SELECT * FROM task WHERE {where}", SCHEMA).recommendations
    assert rec.candidate.method == "hash"
    assert _keys(rec) == [("params", False)]
    assert rec.django.startswith('HashIndex(fields=["params"]')
    assert "no length limit" in rec.reason
    if "queue" in where or "run_at" in where:
        assert "other keys" in rec.reason
    # Built on PostgreSQL, it takes a value a B-tree entry refuses (random text: it does not
    # compress below the 2,704 bytes).
    long_value = secrets.token_urlsafe(4000)
    with psycopg.connect(temp_database.url, autocommit=True) as conn:
        for name in ("task", "task_btree"):
            conn.execute(
                f"CREATE TABLE {name} (id bigint PRIMARY KEY, params text, "
                "queue varchar(100), run_at timestamptz)"
            )
        conn.execute(rec.sql.replace(" CONCURRENTLY", ""))
        conn.execute("INSERT INTO task VALUES (1, %s, 'q', now())", (long_value,))
        conn.execute("CREATE INDEX ON task_btree (params)")
        with pytest.raises(psycopg.Error, match="exceeds btree"):
            conn.execute("INSERT INTO task_btree VALUES (1, %s, 'q', now())", (long_value,))


@pytest.mark.parametrize(
    "sql",
    [
        # An IN list, a range, a prefix: a hash index seeks on = alone. The B-tree stays, and
        # its cost says what a long value does to it.
        "SELECT * FROM task WHERE params IN ($1, $2)",
        "SELECT * FROM task WHERE params LIKE 'abc%'",
    ],
)
def test_what_a_hash_index_cannot_serve_stays_a_btree_with_the_warning(sql):
    [rec] = _advise(sql, SCHEMA).recommendations
    assert rec.candidate.method == "btree"
    assert "no length limit" in rec.cost and "fail" in rec.cost


def test_a_bounded_varchar_keeps_its_btree():
    [rec] = _advise("SELECT * FROM task WHERE queue = $1", SCHEMA).recommendations
    assert rec.candidate.method == "btree"
    assert "no length limit" not in rec.cost
