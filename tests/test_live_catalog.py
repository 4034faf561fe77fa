"""The live catalog, pg_stats-based decisions, the exact uniqueness check, and housekeeping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from idxadvisor.advisor.statistics import (
    favours_partial,
    is_small_table,
    order_by_selectivity,
    selectivity,
    value_fraction,
)
from idxadvisor.live.connection import connect_readonly
from idxadvisor.live.housekeeping import duplicate_indexes, invalid_indexes, unused_indexes
from idxadvisor.live.uniqueness import confirm_unique
from idxadvisor.schema.catalog import read_schema
from idxadvisor.types.access import Op, Predicate
from idxadvisor.types.schema import IndexElement
from tests.helpers import TempDatabase, create_database, drop_database

SETUP = """
CREATE TABLE account (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO account (name) SELECT 'a' || g FROM generate_series(1, 20) g;
CREATE TABLE hook (
    id bigserial PRIMARY KEY,
    account_id int NOT NULL REFERENCES account (id),
    status varchar(20) NOT NULL,
    email varchar(200) NOT NULL,
    code int,
    created_at timestamptz NOT NULL,
    note text
);
INSERT INTO hook (account_id, status, email, code, created_at, note)
SELECT 1 + g % 20,
       CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'done' END,
       'user' || g || '@example.com',
       CASE WHEN g = 40000 THEN 7 ELSE g END,
       timestamptz '2024-01-01' + g * interval '1 minute',
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'n' END
FROM generate_series(1, 40000) g;
-- The statistics sample may miss the one duplicate code; pin n_distinct = -1 so the exact
-- check is what has to find it.
ALTER TABLE hook ALTER COLUMN code SET (n_distinct = -1);
CREATE INDEX hook_status_partial ON hook (created_at) INCLUDE (email)
    WHERE status IN ('pending', 'failed');
CREATE INDEX hook_upper_email ON hook (UPPER(email));
CREATE INDEX hook_acct_created ON hook (account_id, created_at DESC);
CREATE INDEX hook_acct ON hook (account_id);
CREATE INDEX hook_acct_created_copy ON hook (account_id, created_at DESC);
CREATE INDEX hook_created_brin ON hook USING brin (created_at);
CREATE UNIQUE INDEX hook_email_key ON hook (email);
CREATE INDEX hook_email_plain ON hook (email);
ANALYZE account;
ANALYZE hook;
"""


@pytest.fixture(scope="module")
def data_db(pg_server_url: str) -> Iterator[TempDatabase]:
    db = create_database(pg_server_url, prefix="idxadv_live_catalog")
    try:
        with db.connect(autocommit=True) as conn:
            conn.execute(SETUP)
            # A failed concurrent build leaves an INVALID index behind.
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute("CREATE UNIQUE INDEX CONCURRENTLY hook_code_uniq ON hook (code)")
        yield db
    finally:
        drop_database(pg_server_url, db.name)


def test_catalog_reads_tables_stats_and_every_kind_of_index(data_db: TempDatabase) -> None:
    with connect_readonly(data_db.url) as db:
        schema = read_schema(db)
    hook = schema.tables["hook"]
    assert hook.rows == 40_000
    assert hook.size_bytes and hook.size_bytes > 1_000_000
    assert hook.column("account_id").references == "account"
    assert hook.column("email").db_type == "character varying(200)"
    assert hook.column("email").unique and not hook.column("code").unique
    assert hook.column("id").primary_key and not hook.column("email").primary_key
    assert hook.column("note").null and not hook.column("status").null

    status = hook.column("status").stats
    assert status.n_distinct == 2
    assert status.frequency("pending") == pytest.approx(0.02, abs=0.01)
    assert hook.column("note").stats.null_frac == pytest.approx(0.1, abs=0.02)
    assert hook.column("email").stats.n_distinct == -1
    assert hook.column("created_at").stats.correlation == pytest.approx(1.0, abs=0.01)

    by_name = {i.name: i for i in schema.indexes_on("hook")}
    partial = by_name["hook_status_partial"]
    assert partial.columns == ("created_at",) and partial.include == ("email",)
    assert partial.condition == (
        "status::text = ANY (ARRAY['pending'::character varying, "
        "'failed'::character varying]::text[])"
    )
    assert by_name["hook_upper_email"].elements == (IndexElement(expression="UPPER(email)"),)
    assert by_name["hook_acct_created"].elements == (
        IndexElement(column="account_id"),
        IndexElement(column="created_at", descending=True),
    )
    assert by_name["hook_created_brin"].method == "brin"
    assert by_name["hook_email_key"].unique
    assert by_name["hook_pkey"].unique
    assert by_name["hook_code_uniq"].valid is False
    assert all(i.valid for n, i in by_name.items() if n != "hook_code_uniq")
    assert all(i.origin == "catalog" and not i.declared for i in schema.indexes)
    # A failed concurrent build stops before filling its index: size 0.
    assert all(i.size_bytes > 0 for i in schema.indexes if i.valid)
    assert invalid_indexes(schema) == (by_name["hook_code_uniq"],)

    only = read_schema(connect_readonly(data_db.url), ["account"])
    assert set(only.tables) == {"account"} and {i.table for i in only.indexes} == {"account"}
    assert is_small_table(only.tables["account"]) and not is_small_table(hook)


def test_statistics_drive_selectivity_partial_and_column_order(data_db: TempDatabase) -> None:
    with connect_readonly(data_db.url) as db:
        hook = read_schema(db, ["hook"]).tables["hook"]
    status = hook.column("status").stats
    pending = Predicate("status", Op.EQ, "status = 'pending'", constants=("'pending'",))
    done = Predicate("status", Op.EQ, "status = 'done'", constants=("'done'",))
    assert selectivity(status, pending, hook.rows) == pytest.approx(0.02, abs=0.01)
    assert selectivity(status, done, hook.rows) == pytest.approx(0.98, abs=0.01)
    assert value_fraction(status, "'nope'", hook.rows) < 0.01
    # 2 % of rows: a partial index; 98 %: not.
    assert favours_partial(status, ("'pending'",))
    assert not favours_partial(status, ("'done'",))
    null_note = Predicate("note", Op.IS_NULL, "note IS NULL")
    assert selectivity(hook.column("note").stats, null_note, hook.rows) == pytest.approx(
        0.1, abs=0.02
    )
    # Most distinct first: email (unique) > account_id (20) > status (2).
    assert order_by_selectivity(hook, ["status", "account_id", "email"]) == (
        "email",
        "account_id",
        "status",
    )


def test_confirm_unique_checks_statistics_then_data(data_db: TempDatabase) -> None:
    with connect_readonly(data_db.url) as db:
        hook = read_schema(db, ["hook"]).tables["hook"]
        email = confirm_unique(db, hook, ["email"])
        assert email.unique is True
        assert "n_distinct = -1" in email.checked and "found no duplicates" in email.checked

        status = confirm_unique(db, hook, ["status"])
        assert status.unique is False and "n_distinct = 2" in status.checked

        code = confirm_unique(db, hook, ["code"])  # stats say unique, one duplicate exists
        assert code.unique is False
        assert "n_distinct = -1" in code.checked and "found duplicate" in code.checked

        pair = confirm_unique(db, hook, ["account_id", "email"])
        assert pair.unique is True

    with connect_readonly(data_db.url, statement_timeout_ms=1) as db:
        slow = confirm_unique(db, hook, ["email"])
    assert slow.unique is None
    assert "stopped by statement_timeout (1 ms)" in slow.checked


def test_duplicate_and_prefix_redundant_indexes(data_db: TempDatabase) -> None:
    with connect_readonly(data_db.url) as db:
        schema = read_schema(db, ["hook"])
    found = {r.index.name: (r.covered_by, r.reason) for r in duplicate_indexes(schema)}
    # Exact copy: one of the two is reported, against the other.
    copies = {"hook_acct_created", "hook_acct_created_copy"}
    [copy] = copies & set(found)
    assert found[copy][0] == (copies - {copy}).pop()
    assert found[copy][1].startswith("same definition as")
    # (account_id) is a prefix of (account_id, created_at DESC).
    assert found["hook_acct"][0] in copies
    assert "leading prefix" in found["hook_acct"][1]
    # The plain index on email duplicates the unique one; the unique one is kept.
    assert found["hook_email_plain"] == ("hook_email_key", "same definition as hook_email_key")
    assert "hook_email_key" not in found and "hook_pkey" not in found
    # Different predicate, method or expression: not redundant.
    for name in ("hook_status_partial", "hook_created_brin", "hook_upper_email"):
        assert name not in found


def test_unused_indexes_with_stats_reset_time(data_db: TempDatabase) -> None:
    with data_db.connect(autocommit=True) as conn:
        conn.execute("SELECT pg_stat_reset()")
        conn.execute("SET enable_seqscan = off")
        conn.execute("SELECT count(*) FROM hook WHERE account_id = 3").fetchall()
        conn.execute("SELECT pg_stat_force_next_flush()")
    with connect_readonly(data_db.url) as db:
        young = unused_indexes(db)
        # Any age counts here: which indexes are left out is what this test is about.
        report = unused_indexes(db, min_age=timedelta(0))
    assert young.indexes == () and "not reported" in (young.skipped_reason or "")
    assert report.age.basis == "the statistics reset" and report.age.since is not None
    unused = report.indexes
    names = {u.name for u in unused}
    assert "hook_email_plain" in names and "hook_created_brin" in names
    # Constraint-backed and INVALID indexes are left out.
    assert not names & {"hook_pkey", "hook_email_key", "account_pkey", "hook_code_uniq"}
    used = {"hook_acct", "hook_acct_created", "hook_acct_created_copy"}
    assert len(used - names) == 1  # the one the planner scanned
    assert all(u.size_bytes > 0 and u.definition.startswith("CREATE") for u in unused)
    # hook.account_id references account: the indexes leading with it say so.
    fk = {u.name: (u.foreign_key, u.references) for u in unused}
    for name in used & names:
        assert fk[name] == (("account_id",), "account")
    assert fk["hook_email_plain"] == (None, None)


def test_a_declared_name_past_63_bytes_is_the_catalogs_truncated_one(temp_database) -> None:
    # taggit's UniqueConstraint "taggit_taggeditem_content_type_id_object_id_tag_id_4bb97a8e_uniq"
    # (64 characters): PostgreSQL keeps 63, and the index is one index, declared, not a declared
    # one the catalog lacks beside an undeclared one "with the same definition".
    from idxadvisor.types.schema import ExistingIndex, Schema, Table

    name = "item_content_type_id_object_id_tag_id_4bb97a8e_uniq_padded_to_64"
    assert len(name) == 64
    with temp_database.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE item (id int PRIMARY KEY, tag_id int)")
        conn.execute(f'CREATE UNIQUE INDEX "{name}" ON item (tag_id)')
    with connect_readonly(temp_database.url) as conn:
        live = read_schema(conn, ["item"])
    [stored] = [i for i in live.indexes if i.name.startswith("item_content")]
    assert stored.name == name[:63]
    declared = ExistingIndex("item", name, (IndexElement("tag_id"),), "unique", unique=True)
    models = Schema({"item": Table("item", ())}, (declared,))
    merged = [i for i in models.merged_with(live).indexes if i.name.startswith("item_content")]
    assert len(merged) == 1 and merged[0].declared
