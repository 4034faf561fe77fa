"""A read-only connection to the user's database.

Analysis never changes the database: the session is READ ONLY by default, every transaction opens
with ``SET TRANSACTION READ ONLY`` and local ``statement_timeout``/``lock_timeout``, and always ends
in a rollback. Errors become one-line :class:`~idxadvisor.errors.DatabaseError` messages that name
the server (host:port/db) and never the password.

>>> redact("postgresql://app:s3cret@db.example.com:5432/shop")
'postgresql://app:***@db.example.com:5432/shop'

HypoPG works inside such a transaction: ``hypopg_create_index`` only touches backend-local memory,
so it is allowed under READ ONLY (checked on PostgreSQL 15 / HypoPG 1.3.1). Hypothetical indexes
survive a rollback, though, so :mod:`idxadvisor.live.whatif` calls ``hypopg_reset()`` itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict

from idxadvisor.errors import DatabaseError

# Marks the tool's own statements, so pg_stat_statements readers can leave them out.
TOOL_MARK = "/* idxadvisor */"

_URL_PASSWORD = re.compile(
    r"(?P<head>^[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)(?P<pw>[^@/?#\s]*)(?=@)", re.I
)
_KV_PASSWORD = re.compile(
    r"(?P<head>(?:^|(?<=\s))password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I
)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#\s]*)", re.I)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (URL, ``?password=`` or key=value form).

    >>> redact("host=db user=app password='x y' dbname=shop")
    'host=db user=app password=*** dbname=shop'
    """
    out = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", url)
    out = _QUERY_PASSWORD.sub(lambda m: m.group("head") + "***", out)
    return _KV_PASSWORD.sub(lambda m: m.group("head") + "***", out)


def describe_target(url: str) -> str:
    """``host:port/dbname`` for messages (no user, no password).

    >>> describe_target("postgresql://u:pw@db.local:6543/shop")
    'db.local:6543/shop'
    """
    try:
        p = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the database (unparsable URL)"
    host = p.get("host") or p.get("hostaddr") or "localhost"
    port = p.get("port") or "5432"
    db = p.get("dbname") or p.get("user") or ""
    return f"{host}:{port}/{db}"


def _scrub(text: str, url: str) -> str:
    """One line of ``text`` with the URL's password removed wherever it appears."""
    line = " ".join(text.split())
    try:
        pw = conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        pw = None
    if pw:
        line = line.replace(str(pw), "***")
    return redact(line)


def connect_error(url: str, exc: BaseException) -> DatabaseError:
    """A one-line DatabaseError for a failed connection attempt."""
    msg = " ".join(str(exc).split())
    # libpq: 'connection failed: connection to server at "h", port 1 failed: Connection refused …'
    if " failed: " in msg:
        msg = msg.rsplit(" failed: ", 1)[1]
    msg = msg.removeprefix("FATAL: ").strip()
    msg = re.sub(r"\s*Is the server running.*$", "", msg)
    target = describe_target(url)
    auth_failed = (
        "password authentication failed" in msg
        or "no password supplied" in msg
        or ("role" in msg and "does not exist" in msg)
    )
    hint = "authentication failed" if auth_failed else ""
    head = f"cannot connect to PostgreSQL at {target}"
    text = f"{head}: {hint + ' (' + msg + ')' if hint else msg}"
    return DatabaseError(_scrub(text, url))


def query_error(url: str, exc: psycopg.Error, what: str = "") -> DatabaseError:
    """A one-line DatabaseError for a failed statement (permission, timeout, missing object)."""
    diag = getattr(exc, "diag", None)
    primary = (diag.message_primary if diag else None) or str(exc)
    state = getattr(exc, "sqlstate", None)
    if state == "42501":
        reason = f"missing permission: {primary}"
    elif state == "57014":
        reason = f"statement_timeout reached: {primary}"
    elif state == "55P03":
        reason = f"lock_timeout reached: {primary}"
    else:
        reason = primary
    where = f" while {what}" if what else ""
    return DatabaseError(_scrub(f"{describe_target(url)}{where}: {reason}", url))


class ReadOnlyDatabase:
    """An open, read-only session. Use :func:`connect_readonly` to get one.

    ``transaction()`` yields the psycopg connection inside a READ ONLY transaction that is rolled
    back at the end; ``fetchall``/``fetchone`` run one statement that way. Inside a
    ``transaction()`` block, nested calls reuse it and a failing statement only rolls back to a
    savepoint, so one bad query does not spoil the rest.
    """

    def __init__(self, conn: psycopg.Connection, url: str, statement_timeout_ms: int) -> None:
        self._conn = conn
        self.url = url
        self.statement_timeout_ms = statement_timeout_ms
        self._depth = 0
        self.server_version: int = conn.info.server_version
        self._extensions: dict[str, str] | None = None

    # -- context management -------------------------------------------------------------
    def __enter__(self) -> ReadOnlyDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._conn.closed:
            try:
                self._conn.rollback()
            finally:
                self._conn.close()

    @property
    def target(self) -> str:
        """``host:port/dbname``, safe to print."""
        return describe_target(self.url)

    @property
    def connection(self) -> psycopg.Connection:
        """The raw psycopg connection (session is READ ONLY by default)."""
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A READ ONLY transaction with the timeouts, always rolled back."""
        if self._depth:
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            self._conn.execute("SET TRANSACTION READ ONLY")
            self._conn.execute(f"SET LOCAL statement_timeout = {int(self.statement_timeout_ms)}")
            self._conn.execute(f"SET LOCAL lock_timeout = {int(self.statement_timeout_ms)}")
            yield self._conn
        finally:
            self._depth = 0
            if not self._conn.closed:
                self._conn.rollback()

    @contextmanager
    def savepoint(self) -> Iterator[psycopg.Connection]:
        """Inside ``transaction()``: statements whose failure must not abort the transaction."""
        with self.transaction() as conn, conn.transaction():
            yield conn

    def fetchall(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None,
                 *, what: str = "") -> list[tuple]:
        """Rows of one statement, run read-only. Errors → one-line DatabaseError."""
        try:
            with self.savepoint() as conn:
                return conn.execute(TOOL_MARK + " " + sql, params).fetchall()
        except psycopg.Error as exc:
            raise query_error(self.url, exc, what) from None

    def fetchone(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None,
                 *, what: str = "") -> tuple | None:
        rows = self.fetchall(sql, params, what=what)
        return rows[0] if rows else None

    def extensions(self) -> dict[str, str]:
        """Installed extensions of this database: name → version."""
        if self._extensions is None:
            rows = self.fetchall("SELECT extname, extversion FROM pg_extension",
                                 what="reading pg_extension")
            self._extensions = {name: version for name, version in rows}
        return self._extensions

    def has_extension(self, name: str) -> bool:
        return name in self.extensions()

    def require_extension(self, name: str, purpose: str) -> None:
        """DatabaseError with the fix when ``name`` is not installed in this database."""
        if not self.has_extension(name):
            raise DatabaseError(
                f"{name} is not installed in {self.target} ({purpose}): "
                f"run CREATE EXTENSION {name}; as a privileged user"
            )


def connect_readonly(url: str, statement_timeout_ms: int = 5000,
                     connect_timeout_s: int = 10) -> ReadOnlyDatabase:
    """Open a read-only session. Unreachable server, bad credentials → one-line DatabaseError.

    >>> connect_readonly("postgresql://u:pw@127.0.0.1:1/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    idxadvisor.errors.DatabaseError: cannot connect to PostgreSQL at 127.0.0.1:1/x: ...
    """
    if not url or not url.strip():
        raise DatabaseError("empty database URL")
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise DatabaseError(_scrub(f"invalid database URL {redact(url)}: {exc}", url)) from None
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout_s,
                               application_name="idxadvisor")
    except psycopg.Error as exc:
        raise connect_error(url, exc) from None
    try:
        # Session defaults first (autocommit, so a later rollback cannot undo them) …
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        conn.execute(f"SET lock_timeout = {int(statement_timeout_ms)}")
        # … then every statement runs in an explicit transaction that we roll back.
        conn.autocommit = False
    except psycopg.Error as exc:
        conn.close()
        raise query_error(url, exc, "setting up the read-only session") from None
    return ReadOnlyDatabase(conn, url, statement_timeout_ms)


def database_url_from_settings(settings: Mapping[str, Any]) -> str:
    """A PostgreSQL URL from a Django ``DATABASES`` entry (for ``--use-settings-db``).

    >>> database_url_from_settings({"ENGINE": "django.db.backends.postgresql", "NAME": "shop",
    ...     "USER": "app", "PASSWORD": "p@ss", "HOST": "db", "PORT": 5433,
    ...     "OPTIONS": {"sslmode": "require"}})
    'postgresql://app:p%40ss@db:5433/shop?sslmode=require'
    """
    engine = str(settings.get("ENGINE", ""))
    if "postgresql" not in engine and "postgis" not in engine:
        raise DatabaseError(
            f"the Django settings' database uses {engine or 'no ENGINE'}; "
            "idxadvisor needs PostgreSQL (django.db.backends.postgresql)"
        )
    options = dict(settings.get("OPTIONS") or {})
    user = settings.get("USER") or ""
    password = settings.get("PASSWORD") or ""
    host = str(settings.get("HOST") or "")
    port = str(settings.get("PORT") or "")
    name = settings.get("NAME") or ""
    auth = ""
    if user:
        auth = quote(str(user), safe="")
        if password:
            auth += ":" + quote(str(password), safe="")
        auth += "@"
    if host.startswith("/"):  # a Unix socket directory goes in the query string
        options.setdefault("host", host)
        host = ""
    netloc = host + (f":{port}" if port else "")
    query = {k: str(v) for k, v in options.items()
             if isinstance(v, str | int | float) and not isinstance(v, bool)}
    url = f"postgresql://{auth}{netloc}/{quote(str(name), safe='')}"
    return url + ("?" + urlencode(query) if query else "")
