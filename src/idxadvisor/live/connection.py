"""A read-only connection to the user's database, and the rules for sending it anything.

Guarantees (analysis never changes the database):

* The session is READ ONLY by default (``SET SESSION CHARACTERISTICS``), with
  ``statement_timeout``, ``lock_timeout``, ``idle_in_transaction_session_timeout`` and
  ``standard_conforming_strings = on`` (the string syntax the statement lexer assumes); every
  transaction opens with ``SET TRANSACTION READ ONLY`` and always ends in a rollback.
* Statements derived from the workload are checked by :mod:`idxadvisor.sql.statements` before
  they are sent, then sent with :func:`send_one` — the extended query protocol, so the server
  itself refuses a second statement — after :func:`ensure_read_only` found the transaction still
  read-only.
* No text derived from a connection string contains its password: not ours, not psycopg's, not
  libpq's, for any scheme (``mysql://``, ``postgresql+psycopg://``, typos), a bad
  percent-encoding, an unencoded ``@`` or ``/`` in the password (refused: libpq would read part
  of it as the host), or the key=value form. Errors are one-line
  :class:`~idxadvisor.errors.DatabaseError` messages that name the server (host:port/db).

>>> redact("postgresql://app:s3cret@db.example.com:5432/shop")
'postgresql://app:***@db.example.com:5432/shop'
>>> url_problem("postgresql://app:p@ss@db/shop")  # doctest: +ELLIPSIS
"invalid database URL postgresql://app:***@db/shop: an unencoded '@' or '/' before the host; ..."

HypoPG works inside such a transaction: ``hypopg_create_index`` only touches backend-local memory,
so it is allowed under READ ONLY (checked on PostgreSQL 15 / HypoPG 1.3.1). Hypothetical indexes
survive a rollback, though, so :mod:`idxadvisor.live.whatif` calls ``hypopg_reset()`` itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, unquote, urlencode

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from idxadvisor.errors import DatabaseError
from idxadvisor.sql.statements import (
    TOOL_MARK,
    RefusedStatement,
)

# Redaction works on any text: a scheme typo or another database's URL is no reason to print a
# password. The URL pattern takes everything up to the *last* "@" of the run, so an unencoded
# "@" or "/" in the password is hidden too.
_URL_PASSWORD = re.compile(
    r"(?P<head>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*:/*[^\s:/?#@\"']*:)"
    r"(?P<pw>[^\s\"']*)(?=@)"
)
_KV_PASSWORD = re.compile(
    r"(?P<head>(?<![?&\w])password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*(?:'|$)|(?:\\.|[^\s\\'])+)", re.I
)
# Up to the next "&key=": an unencoded "&" in the password is still part of it.
_QUERY_PASSWORD = re.compile(
    r"(?P<head>[?&]password=)(?P<pw>[^#\s]*?)(?=&[A-Za-z_]+=|[#\s]|$)", re.I
)
_SCHEME = re.compile(r"^\s*(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):/*")
_QUOTED = re.compile(r'"([^"]*)"')
_FRAGMENT_SPLIT = re.compile(r"[@/:?#&=\s]+")


def redact(url: str) -> str:
    """``url`` (or any text) with every password replaced by ``***``: URLs of any scheme,
    ``?password=``, and the key=value form.

    >>> redact("postgresql://app:s3cret@db.example.com:5432/shop")
    'postgresql://app:***@db.example.com:5432/shop'
    >>> redact("host=db user=app password='x y' dbname=shop")
    'host=db user=app password=*** dbname=shop'
    >>> redact("bad URL mysql://u:p@ss/w@host/db here")
    'bad URL mysql://u:***@host/db here'
    """
    out = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", url)
    out = _QUERY_PASSWORD.sub(lambda m: m.group("head") + "***", out)
    return _KV_PASSWORD.sub(lambda m: m.group("head") + "***", out)


def _password_candidates(url: str) -> set[str]:
    """Every string that may be the password of ``url``, however malformed it is: after the
    user's ":" up to each "@" (libpq stops at the first, a reader means the last), the
    ``password=`` values, each also percent-decoded, and libpq's own reading."""
    found: set[str] = set()
    m = _SCHEME.match(url)
    if m:
        rest = url[m.end() :]
        colon = rest.find(":")
        for at in (i for i, c in enumerate(rest) if c == "@"):
            if 0 <= colon < at:
                found.add(rest[colon + 1 : at])
    for pattern in (_QUERY_PASSWORD, _KV_PASSWORD):
        for hit in pattern.finditer(url):
            value = hit.group("pw")
            found.add(value)
            found.add(value.strip("'").replace("\\'", "'").replace("\\\\", "\\"))
    try:
        parsed = conninfo_to_dict(url).get("password")
    except psycopg.Error:
        parsed = None
    if parsed:
        found.add(str(parsed))
    found |= {unquote(f) for f in found}
    return {f for f in found if f}


def _secrets(url: str) -> list[str]:
    """Password candidates and their pieces, longest first. Shorter than 3 characters they
    would blank out ordinary words; the URL patterns of :func:`redact` still hide them."""
    candidates = _password_candidates(url)
    pieces = {p for c in candidates for p in _FRAGMENT_SPLIT.split(c)}
    return sorted((s for s in candidates | pieces if len(s) >= 3), key=len, reverse=True)


def describe_target(url: str) -> str:
    """``host:port/dbname`` for messages (no user, no password).

    >>> describe_target("postgresql://u:pw@db.local:6543/shop")
    'db.local:6543/shop'
    >>> describe_target("postgresql://u:p@ss@db.local/shop")
    'the database (URL not shown: it is ambiguous)'
    """
    if url_problem(url):
        return (
            "the database (URL not shown: it is ambiguous)"
            if _ambiguous(url)
            else ("the database (unparsable URL)")
        )
    p = conninfo_to_dict(url)
    host = p.get("host") or p.get("hostaddr") or "localhost"
    port = p.get("port") or "5432"
    db = p.get("dbname") or p.get("user") or ""
    return _scrub(f"{host}:{port}/{db}", url)


def _ambiguous(url: str) -> bool:
    """A postgresql:// URL whose user or password holds an unencoded "@" or "/": libpq would read
    part of the password as the host or database, and print it."""
    m = _SCHEME.match(url)
    if not m or "://" not in url[: m.end()]:
        return False
    head = re.split(r"[?#]", url[m.end() :], maxsplit=1)[0]
    if head.count("@") > 1:
        return True
    return "@" in head and "/" in head[: head.index("@")]


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used, in one line without its password; None when it can.

    >>> url_problem("mysql://app:s3cret@db/shop")  # doctest: +ELLIPSIS
    'invalid database URL mysql://app:***@db/shop: only postgresql:// (or postgres://) URLs ...'
    >>> url_problem("postgresql://app:s3%zz@db/shop")
    'invalid database URL postgresql://app:***@db/shop: invalid percent-encoded token: "…"'
    """
    if not url or not url.strip():
        return "empty database URL"
    shown = _scrub(f"invalid database URL {url.strip()}", url)
    m = _SCHEME.match(url)
    if (
        m
        and "=" not in url[: m.end()]
        and m.group("scheme").lower() not in ("postgresql", "postgres")
        and ("//" in m.group() or "@" in url)
    ):
        return (
            f"{shown}: only postgresql:// (or postgres://) URLs and key=value strings are accepted"
        )
    if _ambiguous(url):
        return (
            f"{shown}: an unencoded '@' or '/' before the host; percent-encode them in the "
            "user name and password (%40, %2F)"
        )
    try:
        conninfo_to_dict(url)
    except psycopg.Error as exc:
        return f"{shown}: {_libpq_reason(str(exc), url)}"
    return None


def _libpq_reason(message: str, url: str) -> str:
    """libpq's complaint about a connection string, with every quoted piece of the string
    removed (they may hold part of the password) except libpq option names."""
    secrets = _secrets(url)
    keywords = _libpq_keywords()

    def keep(m: re.Match[str]) -> str:
        value = m.group(1)
        if value == "=" or (value in keywords and not any(value in s for s in secrets)):
            return m.group()
        return '"…"'

    return _scrub(_QUOTED.sub(keep, message), url)


def _libpq_keywords() -> frozenset[str]:
    try:
        return frozenset(o.keyword.decode() for o in pq.Conninfo.get_defaults() if o.keyword)
    except Exception:  # a libpq without PQconndefaults: keep no quoted piece at all
        return frozenset()


def _scrub(text: str, url: str) -> str:
    """One line of ``text`` with the URL's password removed wherever it appears."""
    line = " ".join(text.split())
    for secret in _secrets(url):
        line = line.replace(secret, "***")
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
            # One round trip (what-if runs thousands of these): SET TRANSACTION READ ONLY and
            # the two SET LOCAL timeouts, as set_config(..., is_local => true).
            timeout = f"{int(self.statement_timeout_ms)}ms"
            self._conn.execute(
                "SELECT set_config('transaction_read_only', 'on', true), "
                "set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                [timeout, timeout],
            )
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

    def fetchall(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *, what: str = ""
    ) -> list[tuple]:
        """Rows of one statement, run read-only. Errors → one-line DatabaseError."""
        try:
            with self.savepoint() as conn:
                return conn.execute(TOOL_MARK + " " + sql, params).fetchall()
        except psycopg.Error as exc:
            raise query_error(self.url, exc, what) from None

    def fetchone(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *, what: str = ""
    ) -> tuple | None:
        rows = self.fetchall(sql, params, what=what)
        return rows[0] if rows else None

    def extensions(self) -> dict[str, str]:
        """Installed extensions of this database: name → version."""
        if self._extensions is None:
            rows = self.fetchall(
                "SELECT extname, extversion FROM pg_extension", what="reading pg_extension"
            )
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


def open_connection(
    url: str, *, application_name: str = "idxadvisor", connect_timeout_s: int = 10
) -> psycopg.Connection:
    """An autocommit connection, after :func:`url_problem` found nothing wrong with ``url``.

    Every failure is a one-line DatabaseError without the password.
    """
    problem = url_problem(url)
    if problem:
        raise DatabaseError(problem)
    try:
        return psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=connect_timeout_s,
            application_name=application_name,
        )
    except psycopg.Error as exc:
        raise connect_error(url, exc) from None
    except Exception as exc:  # psycopg raises plain errors for some option values
        raise DatabaseError(
            _scrub(
                f"cannot connect to PostgreSQL at {describe_target(url)}: "
                f"{_libpq_reason(str(exc), url)}",
                url,
            )
        ) from None


def session_settings(statement_timeout_ms: int) -> tuple[str, ...]:
    """The SETs of a safe session: timeouts, and the string syntax the lexer of
    :mod:`idxadvisor.sql.statements` assumes (so it and the server split texts alike).

    >>> session_settings(5000)[0]
    'SET statement_timeout = 5000'
    """
    ms = int(statement_timeout_ms)
    return (
        f"SET statement_timeout = {ms}",
        f"SET lock_timeout = {ms}",
        f"SET idle_in_transaction_session_timeout = {max(ms * 2, 10_000)}",
        "SET standard_conforming_strings = on",
    )


def connect_readonly(
    url: str, statement_timeout_ms: int = 5000, connect_timeout_s: int = 10
) -> ReadOnlyDatabase:
    """Open a read-only session. Unreachable server, bad credentials → one-line DatabaseError.

    >>> connect_readonly("postgresql://u:pw@127.0.0.1:1/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    idxadvisor.errors.DatabaseError: cannot connect to PostgreSQL at 127.0.0.1:1/x: ...
    """
    conn = open_connection(url, connect_timeout_s=connect_timeout_s)
    try:
        # Session defaults first (autocommit, so a later rollback cannot undo them) …
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        for statement in session_settings(statement_timeout_ms):
            conn.execute(statement)
        # … then every statement runs in an explicit transaction that we roll back.
        conn.autocommit = False
    except psycopg.Error as exc:
        conn.close()
        raise query_error(url, exc, "setting up the read-only session") from None
    return ReadOnlyDatabase(conn, url, statement_timeout_ms)


def send_one(
    conn: psycopg.Connection, text: str, params: Sequence[Any] | None = None
) -> psycopg.Cursor:
    """Execute ``text`` (marked as the tool's) as exactly one statement.

    psycopg uses the simple query protocol when no parameters are passed, and the server then
    runs every ``;``-separated statement of the text. Binary results force the extended
    protocol, whose Parse message the server refuses for more than one statement ("cannot
    insert multiple commands into a prepared statement"), whatever a lexer missed.
    ``prepare=False``: no server-side prepared statement is left behind.
    """
    return conn.execute(TOOL_MARK + " " + text, params, binary=True, prepare=False)


def send_unbound(conn: psycopg.Connection, text: str) -> psycopg.Cursor:
    """Execute ``text`` as exactly one statement whose ``$n`` are its own placeholders
    (``EXPLAIN (GENERIC_PLAN)`` on PostgreSQL 16+), not protocol parameters.

    The extended protocol would bind them — as NULL constants, which the planner folds away
    ("One-Time Filter: false") — so the text runs with the simple protocol. Before that, the
    server parses the very same bytes with the extended protocol's Parse message (nothing
    runs), which refuses a second statement, as :func:`send_one` does.
    """
    marked = TOOL_MARK + " " + text
    result = conn.pgconn.prepare(b"", marked.encode(conn.info.encoding))
    if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
        raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
    return conn.execute(marked, prepare=False)


_SAFE_STATE = (
    "SELECT current_setting('transaction_read_only'), "
    "current_setting('standard_conforming_strings')"
)


def ensure_read_only(conn: psycopg.Connection) -> None:
    """Raise :class:`RefusedStatement` unless the current transaction is still READ ONLY (and
    strings still lex as the guard assumes). Called before each workload statement."""
    row = send_one(conn, _SAFE_STATE).fetchone()
    if row is None or tuple(row) != ("on", "on"):
        raise RefusedStatement(
            "the transaction is not read-only any more (transaction_read_only, "
            f"standard_conforming_strings = {tuple(row or ())}): nothing more is sent"
        )


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
    query = {
        k: str(v)
        for k, v in options.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    }
    url = f"postgresql://{auth}{netloc}/{quote(str(name), safe='')}"
    return url + ("?" + urlencode(query) if query else "")
