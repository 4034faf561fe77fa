"""The recorder that runs inside the captured command: every SQL statement Django executes.

``idxadvisor capture`` starts the command with ``_boot/sitecustomize.py`` on ``PYTHONPATH``; that
file loads this module *by path* (the command's interpreter need not have idxadvisor installed,
e.g. idxadvisor from pipx, tests in the project's venv) and calls :func:`start`. From then on:

* as soon as ``django.db.backends.signals`` is imported, a receiver of ``connection_created``
  puts :func:`_execute_wrapper` on every database connection (Django's documented
  ``execute_wrappers`` hook), including connections opened later or in other threads;
* each statement costs a dict lookup, two counters and a walk up the stack to the first frame of
  the user's code (cached per code object), so a test suite runs nearly as fast as without;
* aggregates go to the workload file as JSON Lines, appended under ``flock`` every few seconds,
  when many shapes accumulate, at exit, on SIGTERM and before a forked child's ``os._exit``.

Stdlib only, and importable on older Pythons (3.8+): it runs in the user's interpreter.

>>> numbered_sql('SELECT "a" FROM "t" WHERE "b" = %s AND "c" LIKE %s ESCAPE \\'%%\\'', "positional")
'SELECT "a" FROM "t" WHERE "b" = $1 AND "c" LIKE $2 ESCAPE \\'%\\''
"""

from __future__ import annotations

# Only cheap built-in modules at import time: this module loads in *every* Python process the
# captured command starts, Django or not. json, re, signal, fcntl… load when first needed.
import atexit
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import Any

FORMAT = "idxadvisor-capture"
VERSION = 1
ENV_OUTPUT = "IDXADVISOR_CAPTURE_FILE"
ENV_FLUSH_SECONDS = "IDXADVISOR_CAPTURE_FLUSH_SECONDS"
DEFAULT_FLUSH_SECONDS = 5.0
MAX_ENTRIES = 20_000  # flush and forget beyond this many (sql, origin) pairs: memory stays bounded
MAX_CACHE = 50_000  # per-SQL-string caches are cleared beyond this size
MAX_CONSTANT_LENGTH = 100

# Statements worth analysing. Transaction control, SET, SAVEPOINT and DDL are counted, not kept.
_DML_PATTERN = r"\s*\(*\s*(?:SELECT|INSERT|UPDATE|DELETE|WITH|VALUES)\b"
_PLACEHOLDER_PATTERN = r"%%|%\((\w+)\)s|%s"
_dml: re.Pattern[str] | None = None
_placeholder: re.Pattern[str] | None = None
_COMPREHENSION = ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>")

# Integers are left out on purpose: an id passed as a variable too often equals some small integer
# literal of the code (``[:1]``, ``ORG = 7``) and would turn into a bogus constant.
_SCALARS = (str, bool)
_perf_counter = time.perf_counter

# --- process state (module globals: the hot path reads them without attribute lookups) -------
_output: str | None = None
_active = False
_cwd = ""
_token = ""
_header_written = False
_flush_interval = DEFAULT_FLUSH_SECONDS
_next_flush = 0.0
_flushing = False
_warned = False
_ignored = 0
_real_exit = os._exit
# (sql, origin) -> [calls, total seconds, ((position, first value), ...) of the parameters that
# are still constant, params style, {position: SQL literal}]
_entries: dict[tuple[str, tuple[str, int, str] | None], list[Any]] = {}
_is_dml: dict[str, bool] = {}
_user_code: dict[Any, bool] = {}  # code object -> is it the user's code?
_origins: dict[tuple[Any, int], tuple[str, int, str] | None] = {}
_UNKNOWN: Any = object()
_MANAGEMENT = os.sep + os.path.join("django", "core", "management") + os.sep
_module_constants: dict[str, frozenset[tuple[type, Any]]] = {}
_excluded_roots: tuple[str, ...] | None = None


def start(output: str) -> None:
    """Turn capture on in this process, writing to ``output``. Idempotent.

    Hooks Django lazily: nothing of Django is imported here, so a command that never touches
    Django pays only for this module's import.
    """
    global _output, _active, _cwd, _token, _flush_interval, _next_flush
    if _active:
        return
    _output = os.path.abspath(output)
    _cwd = os.getcwd()
    _token = _new_token()
    try:
        _flush_interval = float(os.environ.get(ENV_FLUSH_SECONDS, DEFAULT_FLUSH_SECONDS))
    except ValueError:
        _flush_interval = DEFAULT_FLUSH_SECONDS
    _next_flush = _perf_counter() + _flush_interval
    _active = True
    atexit.register(flush)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    signals = sys.modules.get("django.db.backends.signals")
    if signals is not None:
        _hook_django(signals)
    else:
        sys.meta_path.insert(0, _DjangoSignalsFinder())


def flush() -> None:
    """Append what was recorded since the last flush to the workload file, then reset counters.

    Safe to call at any time (atexit, signal handler, timer); a nested call is a no-op.
    """
    global _flushing, _header_written, _ignored
    if _output is None or _flushing:
        return
    _flushing = True
    try:
        lines = []
        for (sql, origin), entry in list(_entries.items()):
            calls = entry[0]
            if not calls:
                continue
            total = entry[1]
            entry[0] = 0
            entry[1] = 0.0
            lines.append(_json(_statement_record(sql, origin, calls, total, entry)))
        if _ignored:
            lines.append(_json({"kind": "ignored", "process": _token, "calls": _ignored}))
            _ignored = 0
        if len(_entries) > MAX_ENTRIES:
            _entries.clear()
        if lines:  # a process that ran no SQL leaves no trace
            if not _header_written:
                lines.insert(0, _json(_process_record()))
            _append(_output, ("\n".join(lines) + "\n").encode("utf-8"))
            _header_written = True
    except Exception as exc:
        _warn(f"could not write the workload file: {exc}")
    finally:
        _flushing = False


def numbered_sql(sql: str, style: str | None) -> str:
    """Django's ``%s`` / ``%(name)s`` placeholders as ``$1, $2, …``; ``%%`` as ``%``.

    ``style`` None means the statement ran without parameters: the driver does no ``%``
    interpolation then, so the text is already what PostgreSQL saw.
    """
    global _placeholder
    if style is None:
        return sql
    if _placeholder is None:
        import re

        _placeholder = re.compile(_PLACEHOLDER_PATTERN)
    names: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "%%":
            return "%"
        name = match.group(1) or str(len(names))
        if name not in names:
            names[name] = len(names) + 1
        return f"${names[name]}"

    return _placeholder.sub(replace, sql)


def sql_literal(value: object) -> str | None:
    """``value`` as a PostgreSQL literal, or None when it is not a small scalar we inline."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if len(value) > MAX_CONSTANT_LENGTH or any(ord(ch) < 32 for ch in value):
            return None
        return "'" + value.replace("'", "''") + "'"
    return None


# --- hot path --------------------------------------------------------------------------------


def _execute_wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
    start = _perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        end = _perf_counter()
        if _active:
            try:
                _record(sql, params, many, end - start, end)
            except Exception as exc:  # never break the user's command
                _disable(exc)


def _record(sql: str, params: Any, many: bool, elapsed: float, now: float) -> None:
    global _ignored
    is_dml = _is_dml.get(sql)
    if is_dml is None:
        if len(_is_dml) > MAX_CACHE:
            _is_dml.clear()
        is_dml = _is_dml[sql] = _dml_pattern().match(sql) is not None
    if not is_dml:
        _ignored += 1
        return
    frame = sys._getframe(2)
    callee = None
    user_code = _user_code
    while frame is not None:
        code = frame.f_code
        is_user = user_code.get(code)
        if is_user is None:
            if len(user_code) > MAX_CACHE:  # code made by exec() in a loop must not pile up
                user_code.clear()
                _origins.clear()
            is_user = user_code[code] = _is_user_file(code.co_filename)
        if is_user:
            break
        callee = frame
        frame = frame.f_back
    origin = None
    if frame is not None:
        where = (frame.f_code, frame.f_lineno)
        origin = _origins.get(where, _UNKNOWN)
        if origin is _UNKNOWN:
            origin = _origins[where] = _origin_of(frame, callee)
        if origin is None:
            frame = None
    key = (sql, origin)
    entry = _entries.get(key)
    if entry is None:
        entry = _entries[key] = _new_entry(params, many, frame)
    entry[0] += 1
    entry[1] += elapsed
    firsts = entry[2]
    if firsts:  # ((position, first value), ...): immutable, so threads may share it
        for position, first in firsts:
            value = params[position]
            if value is not first and (value != first or type(value) is not type(first)):
                entry[2] = tuple(
                    (pos, val) for pos, val in firsts
                    if params[pos] is val or (params[pos] == val and type(params[pos]) is type(val))
                )
                break
    if now >= _next_flush:
        _timed_flush(now)


def _dml_pattern() -> re.Pattern[str]:
    global _dml
    if _dml is None:
        import re

        _dml = re.compile(_DML_PATTERN, re.IGNORECASE)
    return _dml


def _new_token() -> str:
    """Names a process in the file; pids get reused, so a random one."""
    return os.urandom(8).hex()


def _timed_flush(now: float) -> None:
    global _next_flush
    _next_flush = now + _flush_interval
    flush()
    if len(_entries) > MAX_ENTRIES:
        _entries.clear()


def _new_entry(params: Any, many: bool, frame: Any) -> list[Any]:
    """A fresh aggregate; remembers which parameters are literals of the code that ran it.

    A parameter may later be written as a constant only if its value is a literal in the origin's
    code (``co_consts``: ``status__in=["pending", "failed"]``, ``is_active=True``) or an
    UPPER_CASE constant of the origin's module, and if every call passed that same value. Values
    coming from variables (ids, e-mails, timestamps) are never written: the file holds no data.
    """
    if len(_entries) >= MAX_ENTRIES:
        _timed_flush(_perf_counter())
    style = None if params is None else ("named" if isinstance(params, dict) else "positional")
    firsts: list[tuple[int, Any]] = []
    literals: dict[int, str] = {}
    if style == "positional" and not many and frame is not None and params:
        known = _literals_of(frame)
        for position, value in enumerate(params):
            if type(value) in _SCALARS and (type(value), value) in known:
                literal = sql_literal(value)
                if literal is not None:
                    firsts.append((position, value))
                    literals[position] = literal
    return [0, 0.0, tuple(firsts), style, literals]


def _literals_of(frame: Any) -> frozenset[tuple[type, Any]]:
    found: set[tuple[type, Any]] = set()
    code = frame.f_code
    _collect_constants(code.co_consts, found)
    if code.co_name in _COMPREHENSION and frame.f_back is not None:
        _collect_constants(frame.f_back.f_code.co_consts, found)
    module = frame.f_globals.get("__name__", "")
    constants = _module_constants.get(module)
    if constants is None:
        constants = _module_constants[module] = frozenset(
            (type(value), value)
            for name, value in list(frame.f_globals.items())
            if name.isupper() and type(value) in _SCALARS
        )
    return frozenset(found) | constants


def _collect_constants(values: tuple[Any, ...], found: set[tuple[type, Any]]) -> None:
    for value in values:
        if type(value) in _SCALARS:
            found.add((type(value), value))
        elif type(value) in (tuple, frozenset):
            _collect_constants(tuple(value), found)


def _is_user_file(filename: str) -> bool:
    """Is this file the user's code: not Django, not an installed package, not the stdlib?"""
    global _excluded_roots
    if not filename or filename.startswith("<"):
        return False
    path = os.path.normcase(os.path.abspath(filename))
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    if _excluded_roots is None:
        _excluded_roots = _compute_excluded_roots()
    return not any(path == root or path.startswith(root + os.sep) for root in _excluded_roots)


def _compute_excluded_roots() -> tuple[str, ...]:
    import sysconfig

    roots = {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}  # idxadvisor itself
    for name in ("django", "psycopg", "psycopg2", "pytest", "_pytest", "pluggy"):
        module = sys.modules.get(name)
        module_file = getattr(module, "__file__", None)
        if module_file:
            roots.add(os.path.dirname(os.path.abspath(module_file)))
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "scripts"):  # scripts: console scripts (bin/pytest)
        if paths.get(key):
            roots.add(os.path.abspath(paths[key]))
    for prefix in {sys.prefix, sys.exec_prefix, sys.base_prefix}:
        roots.add(os.path.join(os.path.abspath(prefix), "Scripts" if os.name == "nt" else "bin"))
    return tuple(sorted(os.path.normcase(root) for root in roots))


def _origin_of(frame: Any, callee: Any) -> tuple[str, int, str] | None:
    """``(path, line, function)`` of the user's frame; None when Django itself ran the query.

    ``manage.py``'s ``main()`` is on the stack of every query of a management command, and the
    only user frame for Django's own ones (migrations, test database set-up, content types):
    those get no origin.
    """
    code = frame.f_code
    if (
        callee is not None
        and frame.f_globals.get("__name__") == "__main__"
        and _MANAGEMENT in os.path.normcase(os.path.abspath(callee.f_code.co_filename))
    ):
        return None
    path = os.path.abspath(code.co_filename)
    try:
        relative = os.path.relpath(path, _cwd)
    except ValueError:  # another drive on Windows
        relative = path
    if relative.startswith(os.pardir):
        relative = path
    name = getattr(code, "co_qualname", code.co_name)
    parts = [part for part in name.split(".") if part != "<locals>"]
    while len(parts) > 1 and parts[-1] in _COMPREHENSION:
        parts.pop()
    return (relative.replace(os.sep, "/"), frame.f_lineno or 0, ".".join(parts))


# --- Django hooks ----------------------------------------------------------------------------


class _DjangoSignalsFinder:
    """Meta path finder that lets ``django.db.backends.signals`` load, then hooks into it.

    That module defines ``connection_created`` and is imported before any connection can exist.
    """

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "django.db.backends.signals":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _HookingLoader(spec.loader)
                return spec
        return None


class _HookingLoader:
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        try:
            _hook_django(module)
            sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _DjangoSignalsFinder)]
        except Exception as exc:
            _disable(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


def _hook_django(signals: Any) -> None:
    signals.connection_created.connect(
        _on_connection_created, weak=False, dispatch_uid="idxadvisor-capture"
    )
    _install_sigterm_flush()
    connections_module = sys.modules.get("django.db")
    handler = getattr(connections_module, "connections", None)
    if handler is not None:  # started late (pytest plugin): wrap what is already open
        try:
            for connection in handler.all(initialized_only=True):
                _wrap(connection)
        except Exception:  # settings not configured yet: connections come later, via the signal
            pass


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    _wrap(connection)


def _wrap(connection: Any) -> None:
    wrappers = connection.execute_wrappers
    if _execute_wrapper not in wrappers:
        wrappers.insert(0, _execute_wrapper)  # outermost: our time includes the user's wrappers


def _install_sigterm_flush() -> None:
    """On SIGTERM (``Pool.terminate()``, CI timeouts) flush, then die by SIGTERM as before."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # the program handles SIGTERM itself and exits through atexit
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):
        pass


def _on_sigterm(signum: int, frame: Any) -> None:
    import signal

    flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


# --- processes -------------------------------------------------------------------------------


def _after_fork_in_child() -> None:
    """A forked child starts with empty aggregates (the parent reports its own) and flushes
    before ``os._exit``, which multiprocessing's fork workers use and which skips atexit."""
    global _token, _header_written, _ignored, _next_flush, _flushing
    if not _active:
        return
    _entries.clear()
    _token = _new_token()
    _header_written = False
    _ignored = 0
    _flushing = False
    _next_flush = _perf_counter() + _flush_interval
    os._exit = _exit_after_flush


def _exit_after_flush(code: int) -> None:
    flush()
    _real_exit(code)


def _process_record() -> dict[str, Any]:
    return {
        "kind": "process",
        "process": _token,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "cwd": _cwd,
        "program": os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "",
        "python": sys.version.split()[0],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _statement_record(
    sql: str, origin: tuple[str, int, str] | None, calls: int, total: float, entry: list[Any]
) -> dict[str, Any]:
    literals = entry[4]
    # entry[2] keeps the literal parameters that had the same value in every call so far.
    constants = {str(pos + 1): literals[pos] for pos, _ in entry[2]}
    return {
        "kind": "statement",
        "process": _token,
        "sql": numbered_sql(sql, entry[3]),
        "origin": None
        if origin is None
        else {"path": origin[0], "line": origin[1], "function": origin[2]},
        "calls": calls,
        "total_ms": round(total * 1000.0, 3),
        "constants": constants,
    }


def file_header() -> dict[str, Any]:
    """The first line of every workload file: lets readers recognise the format."""
    return {
        "kind": "header",
        "format": FORMAT,
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _append(path: str, data: bytes) -> None:
    """Append whole lines: O_APPEND plus an exclusive flock, one open per flush (a forked child
    must not share the parent's open file description, or the lock would not exclude it)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: O_APPEND writes of one buffer each
        fcntl = None  # type: ignore[assignment]
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_size == 0:
            data = (_json(file_header()) + "\n").encode("utf-8") + data
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)  # releases the lock


def _json(record: dict[str, Any]) -> str:
    import json

    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _disable(exc: BaseException) -> None:
    global _active
    _active = False
    _warn(f"capture stopped after an internal error: {type(exc).__name__}: {exc}")


def _warn(message: str) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    try:  # noqa: SIM105 - contextlib costs an import in every process; stderr may be closed
        sys.stderr.write(f"idxadvisor capture: warning: {message}\n")
    except Exception:
        pass
