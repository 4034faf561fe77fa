"""The read-only connection: one-line errors, no password in them, writes refused, timeouts."""

from __future__ import annotations

import psycopg
import pytest

from idxadvisor.errors import DatabaseError, UsageError
from idxadvisor.live.connection import (
    connect_readonly,
    database_url_from_settings,
    describe_target,
    redact,
)
from tests.helpers import TempDatabase


@pytest.fixture
def hook_db(temp_database: TempDatabase) -> TempDatabase:
    with temp_database.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE hook (id serial PRIMARY KEY, status varchar(20) NOT NULL)")
        conn.execute("INSERT INTO hook (status) SELECT 'done' FROM generate_series(1, 100)")
    return temp_database


def test_unreachable_database_is_one_line_without_password() -> None:
    url = "postgresql://app:Sup3rSecret@127.0.0.1:1/shop"
    with pytest.raises(DatabaseError) as info:
        connect_readonly(url, connect_timeout_s=3)
    message = str(info.value)
    assert "\n" not in message
    assert "Sup3rSecret" not in message
    assert "127.0.0.1:1/shop" in message
    assert "refused" in message.lower()
    assert info.value.exit_code == 2 and isinstance(info.value, UsageError)


def test_missing_database_and_unknown_role_are_one_line(pg_server_url: str) -> None:
    from tests.helpers import url_for_database

    with pytest.raises(DatabaseError) as info:
        connect_readonly(url_for_database(pg_server_url, "idxadv_no_such_db_7f3a"))
    assert "\n" not in str(info.value)
    assert 'database "idxadv_no_such_db_7f3a" does not exist' in str(info.value)

    params = psycopg.conninfo.conninfo_to_dict(pg_server_url)
    bad = (
        f"postgresql://idxadv_nobody_x9:pw123456@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', 5432)}/postgres"
    )
    with pytest.raises(DatabaseError) as info:
        connect_readonly(bad)
    assert "authentication failed" in str(info.value)
    assert "pw123456" not in str(info.value)


def test_writes_are_refused_and_nothing_changes(hook_db: TempDatabase) -> None:
    with connect_readonly(hook_db.url) as db:
        with pytest.raises(DatabaseError, match="read-only transaction"):
            db.fetchall("UPDATE hook SET status = 'x'")
        with pytest.raises(DatabaseError, match="read-only transaction"):
            db.fetchall("CREATE TABLE sneaky (a int)")
        # Even the raw connection, outside our helpers, is read-only by session default.
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            db.connection.execute("DELETE FROM hook")
        db.connection.rollback()
        # The session keeps working after a refused statement.
        assert db.fetchone("SELECT count(*) FROM hook") == (100,)
    with hook_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM hook WHERE status = 'done'").fetchone() == (100,)
        assert conn.execute("SELECT to_regclass('sneaky')").fetchone() == (None,)


def test_statement_timeout_applies(hook_db: TempDatabase) -> None:
    with connect_readonly(hook_db.url, statement_timeout_ms=100) as db:
        with pytest.raises(DatabaseError, match="statement_timeout"):
            db.fetchall("SELECT pg_sleep(2)")
        assert db.fetchone("SHOW statement_timeout") == ("100ms",)
        assert db.fetchone("SHOW transaction_read_only") == ("on",)


def test_missing_permission_is_one_line(hook_db: TempDatabase) -> None:
    role = f"idxadv_ro_{hook_db.name[-10:]}"
    with hook_db.connect(autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        params = psycopg.conninfo.conninfo_to_dict(hook_db.url)
        url = (
            f"postgresql://{role}@{params.get('host', '127.0.0.1')}:"
            f"{params.get('port', 5432)}/{hook_db.name}"
        )
        with connect_readonly(url) as db, pytest.raises(DatabaseError) as info:
            db.fetchall("SELECT * FROM hook", what="reading hook")
        assert "missing permission: permission denied for table hook" in str(info.value)
        assert "\n" not in str(info.value)
    finally:
        with hook_db.connect(autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_missing_extension_names_the_fix(hook_db: TempDatabase) -> None:
    with connect_readonly(hook_db.url) as db:
        assert not db.has_extension("pg_stat_statements")
        with pytest.raises(DatabaseError, match=r"CREATE EXTENSION pg_stat_statements"):
            db.require_extension("pg_stat_statements", "for the workload")


def test_redact_hides_passwords_in_every_form() -> None:
    assert redact("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgres://u@h/db?password=abc&sslmode=require") == (
        "postgres://u@h/db?password=***&sslmode=require"
    )
    assert redact("host=h password=abc dbname=d") == "host=h password=*** dbname=d"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert describe_target("postgresql://u:secret@db.example:6432/shop") == "db.example:6432/shop"


def test_database_url_from_django_settings_connects(hook_db: TempDatabase) -> None:
    params = psycopg.conninfo.conninfo_to_dict(hook_db.url)
    settings = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": hook_db.name,
        "USER": params.get("user", "postgres"),
        "PASSWORD": params.get("password", ""),
        "HOST": params.get("host", "127.0.0.1"),
        "PORT": params.get("port", "5432"),
        "OPTIONS": {"connect_timeout": 5},
    }
    url = database_url_from_settings(settings)
    with connect_readonly(url) as db:
        assert db.fetchone("SELECT current_database()") == (hook_db.name,)
    with pytest.raises(DatabaseError, match="needs PostgreSQL"):
        database_url_from_settings({"ENGINE": "django.db.backends.sqlite3", "NAME": "x"})
