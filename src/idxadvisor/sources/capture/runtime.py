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

What is left out (counted in the ``ignored`` record, never written as statements), unless
``IDXADVISOR_CAPTURE_INCLUDE_DJANGO=1``:

* statements that are not SELECT/INSERT/UPDATE/DELETE/WITH/VALUES (``SAVEPOINT``, ``SET``,
  ``SHOW``, DDL, ``CREATE DATABASE``);
* Django's own bookkeeping, told apart by *where it runs*, not by its text: everything that runs
  inside ``migrate`` and ``flush`` (data migrations included: their ``RunPython`` names fields the
  models may no longer have), ``MigrationExecutor.migrate``, the ``pre_migrate`` /
  ``post_migrate`` emitters (content types, permissions), and the test database's creation,
  cloning, serialisation and destruction. These functions are wrapped when Django imports them,
  so the test is one dict lookup per statement;
* wherever it runs, catalog introspection (``pg_catalog``, ``information_schema``, ``pg_*``
  relations) and the ``django_migrations`` table.

The origin of a statement is the innermost frame of the project's own code, skipping frames
that only pass the request on (a middleware's ``get_response(request)``, a test's
``self.client.get(...)``, a decorator's wrapper). When no project frame ran the queryset itself
(a ``TemplateResponse`` of a class-based view renders after the view has returned), the view
Django's handler is calling is the origin: its ``get_queryset`` (or ``get``, …) for a class;
when that view is Django's code run for a project class (a registered ``ModelAdmin``'s
changelist, a view subclass that only sets attributes), that class statement.

Each statement record may carry ``"like": {"2": "prefix"}``: for each placeholder (numbered as
in the record's ``sql``) that is the operand of ``LIKE`` / ``ILIKE``, the shape of the bound
pattern — ``exact`` (no wildcard), ``prefix`` (``abc%``, ``startswith``), ``suffix``
(``%abc``, ``endswith``), ``infix`` (``%abc%``, ``contains``, or anything else starting with a
wildcard). Backslash-escaped ``\\%`` and ``\\_`` are literal. The pattern itself is never
written. Calls that disagree merge by :func:`merge_like_shapes`.

Stdlib only, and importable on older Pythons (3.8+): it runs in the user's interpreter.

>>> like_shape("abc%"), like_shape("%abc"), like_shape("%a%"), like_shape("50\\\\%")
('prefix', 'suffix', 'infix', 'exact')
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
from _thread import get_ident as _get_ident

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from types import FrameType
    from typing import Any, NoReturn

FORMAT = "idxadvisor-capture"
VERSION = 1
ENV_OUTPUT = "IDXADVISOR_CAPTURE_FILE"
ENV_FLUSH_SECONDS = "IDXADVISOR_CAPTURE_FLUSH_SECONDS"
ENV_INCLUDE_DJANGO = "IDXADVISOR_CAPTURE_INCLUDE_DJANGO"  # "1": keep Django's bookkeeping too
DEFAULT_FLUSH_SECONDS = 5.0
MAX_ENTRIES = 20_000  # flush and forget beyond this many (sql, origin) pairs: memory stays bounded
MAX_CACHE = 50_000  # per-SQL-string caches are cleared beyond this size
MAX_CONSTANT_LENGTH = 100

# Statements worth analysing. Transaction control, SET, SAVEPOINT and DDL are counted, not kept.
_DML_PATTERN = r"\s*\(*\s*(?:SELECT|INSERT|UPDATE|DELETE|WITH|VALUES)\b"
_PLACEHOLDER_PATTERN = r"%%|%\((\w+)\)s|%s"
_dml: re.Pattern[str] | None = None
_placeholder: re.Pattern[str] | None = None
# Catalog introspection and the migration table: Django's, wherever it runs.
_BOOKKEEPING_PATTERN = (
    r"\b(?:pg_catalog|information_schema)\s*\.|\bFROM\s+\"?pg_[a-z_]+\b|\"django_migrations\""
)
_bookkeeping_sql: re.Pattern[str] | None = None
# A placeholder that is the operand of LIKE / ILIKE, as Django writes it (``LIKE UPPER(%s)``).
_LIKE_OPERAND_PATTERN = r"\bI?LIKE\s+(?:(?:UPPER|LOWER)\s*\(\s*)?$"
_like_operand: re.Pattern[str] | None = None
_COMPREHENSION = ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>")
# Names of decorator wrappers (closures): they pass the call on, they do not build the query.
_WRAPPER_NAMES = frozenset(
    (
        "wrapper",
        "_wrapper",
        "wrapped",
        "_wrapped",
        "inner",
        "_inner",
        "wrapped_view",
        "_wrapped_view",
        "decorated",
        "_decorated",
        "wrapper_view",
        "_view_wrapper",
    )
)
# Methods of a class-based view that build its queryset, in the order they are preferred as the
# origin of a statement the view's deferred response ran.
_VIEW_METHODS = (
    "get_queryset",
    "get_object",
    "get_context_data",
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "dispatch",
)
# Kinds of code objects, decided once per code object.
_LIBRARY, _USER, _CHAIN, _HANDLER, _WRAPPER = 0, 1, 2, 3, 4

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
_kept: dict[str, bool] = {}  # SQL -> worth recording (DML, not catalog/migration bookkeeping)
_kinds: dict[Any, int] = {}  # code object -> _LIBRARY, _USER, _CHAIN, _HANDLER or _WRAPPER
_views: dict[Any, tuple[str, int, str] | None] = {}  # view callable -> origin of its code
_like_positions: dict[str, tuple[tuple[Any, str], ...]] = {}  # SQL -> ((param key, "$n"), ...)
# thread ident -> depth inside Django's bookkeeping (migrate, test database set-up)
_bookkeeping: dict[int, int] = {}
_include_django = False
_origins: dict[tuple[Any, int], tuple[str, int, str] | None] = {}
_UNKNOWN: Any = object()
_MANAGEMENT = os.sep + os.path.join("django", "core", "management") + os.sep
# Django code that passes a request on: the handler chain, MiddlewareMixin, the test client.
_CHAIN_PARTS = tuple(
    os.sep + os.path.join("django", *parts)
    for parts in (("core", "handlers", ""), ("utils", "deprecation.py"), ("test", "client.py"))
)
_module_constants: dict[str, frozenset[tuple[type, Any]]] = {}
_excluded_roots: tuple[str, ...] | None = None


def start(output: str, *, include_django: bool | None = None) -> None:
    """Turn capture on in this process, writing to ``output``. Idempotent.

    Hooks Django lazily: nothing of Django is imported here, so a command that never touches
    Django pays only for this module's import. ``include_django`` keeps Django's bookkeeping
    (migrations, test database set-up, catalog introspection); None reads
    ``IDXADVISOR_CAPTURE_INCLUDE_DJANGO``.
    """
    global _output, _active, _cwd, _token, _flush_interval, _next_flush, _include_django
    if _active:
        return
    if include_django is None:
        include_django = os.environ.get(ENV_INCLUDE_DJANGO, "") not in ("", "0")
    _include_django = include_django
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
    pending = {}
    for name, hook in _module_hooks().items():
        module = sys.modules.get(name)
        if module is not None:  # started late (pytest plugin): Django is already imported
            _run_hook(hook, module)
        else:
            pending[name] = hook
    if pending:
        sys.meta_path.insert(0, _DjangoFinder(pending))


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
    if style is None:
        return sql
    placeholders = _placeholder_pattern()
    names: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "%%":
            return "%"
        name = match.group(1) or str(len(names))
        if name not in names:
            names[name] = len(names) + 1
        return f"${names[name]}"

    return placeholders.sub(replace, sql)


def _placeholder_pattern() -> re.Pattern[str]:
    global _placeholder
    if _placeholder is None:
        import re

        _placeholder = re.compile(_PLACEHOLDER_PATTERN)
    return _placeholder


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


def _execute_wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
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
    kept = _kept.get(sql)
    if kept is None:
        kept = _keep(sql)
    if not kept or (_bookkeeping and _get_ident() in _bookkeeping):
        _ignored += 1
        return
    frame: FrameType | None = sys._getframe(2)
    callee: FrameType | None = None
    kinds = _kinds
    origin = _UNKNOWN
    passing: FrameType | None = None  # the outermost project frame that only passed the call on
    while frame is not None:
        code = frame.f_code
        kind = kinds.get(code)
        if kind is None:
            kind = _kind_of(code)
        if kind == _USER:
            if callee is None or kinds.get(callee.f_code) != _CHAIN:
                break
            passing = frame  # a middleware's get_response(request), a test's self.client.get()
        elif kind == _WRAPPER:
            passing = frame
        elif kind == _HANDLER and passing is None:
            origin = _view_origin(frame)  # the view's deferred response ran it (TemplateResponse)
            if origin is not None:
                frame = None
                break
            origin = _UNKNOWN
        callee = frame
        frame = frame.f_back
    if frame is None and passing is not None and origin is _UNKNOWN:
        frame = passing
        callee = None
    if frame is not None:
        origin = _cached_origin(frame, callee)
        if origin is None and passing is not None:
            # Only manage.py's main() above (`manage.py test`): the project frame that passed
            # the call on (the test's self.client.force_login()) is where it came from.
            frame = passing
            origin = _cached_origin(frame, None)
        if origin is None:
            frame = None
    elif origin is _UNKNOWN:
        origin = None
    key = (sql, origin)
    entry = _entries.get(key)
    if entry is None:
        entry = _entries[key] = _new_entry(sql, params, many, frame)
    entry[0] += 1
    entry[1] += elapsed
    firsts = entry[2]
    if firsts:  # ((position, first value), ...): immutable, so threads may share it
        for position, first in firsts:
            value = params[position]
            if value is not first and (value != first or type(value) is not type(first)):
                entry[2] = tuple(
                    (pos, val)
                    for pos, val in firsts
                    if params[pos] is val or (params[pos] == val and type(params[pos]) is type(val))
                )
                break
    if entry[5]:
        _note_like_shapes(entry, params)
    if now >= _next_flush:
        _timed_flush(now)


def _keep(sql: str) -> bool:
    """Is this statement worth recording? Decided once per SQL text."""
    global _bookkeeping_sql
    if len(_kept) > MAX_CACHE:
        _kept.clear()
    kept = _dml_pattern().match(sql) is not None
    if kept and not _include_django:
        if _bookkeeping_sql is None:
            import re

            _bookkeeping_sql = re.compile(_BOOKKEEPING_PATTERN, re.IGNORECASE)
        kept = _bookkeeping_sql.search(sql) is None
    _kept[sql] = kept
    return kept


def _kind_of(code: Any) -> int:
    """What a code object is for the origin: the project's, Django's request chain, other."""
    if len(_kinds) > MAX_CACHE:  # code made by exec() in a loop must not pile up
        _kinds.clear()
        _origins.clear()
        _views.clear()
    filename = code.co_filename
    if _is_user_file(filename):
        kind = _WRAPPER if code.co_freevars and code.co_name in _WRAPPER_NAMES else _USER
    elif code.co_name in ("_get_response", "_get_response_async") and filename.endswith(
        os.path.join("core", "handlers", "base.py")
    ):
        kind = _HANDLER
    elif any(part in filename for part in _CHAIN_PARTS):
        kind = _CHAIN
    else:
        kind = _LIBRARY
    _kinds[code] = kind
    return kind


def _view_origin(frame: Any) -> tuple[str, int, str] | None:
    """The project's view Django's handler (this frame) is running, as an origin, or None."""
    callback = frame.f_locals.get("callback")
    if callback is None:
        return None
    try:
        found = _views.get(callback, _UNKNOWN)
    except TypeError:  # an unhashable callable
        return None
    if found is _UNKNOWN:
        found = _views[callback] = _code_origin_of_view(callback)
    return found


def _code_origin_of_view(callback: Any) -> tuple[str, int, str] | None:
    view_class = getattr(callback, "view_class", None)
    if isinstance(view_class, type):
        for name in _VIEW_METHODS:
            for klass in view_class.__mro__:
                method = klass.__dict__.get(name)
                code = getattr(method, "__code__", None)
                if code is not None and _is_user_file(code.co_filename):
                    return _code_origin(code, _first_body_line(code))
        return _class_origin(view_class)
    function = callback
    found = None
    owner = None  # the class of the instance a bound method view runs on (a ModelAdmin)
    for _ in range(10):  # functools.wraps chains: the innermost function of the project
        code = getattr(function, "__code__", None)
        if (
            code is not None
            and _is_user_file(code.co_filename)
            and not (code.co_freevars and code.co_name in _WRAPPER_NAMES)
        ):
            found = code
        bound_to = getattr(function, "__self__", None)
        if owner is None and bound_to is not None and not isinstance(bound_to, type):
            owner = type(bound_to)
        function = getattr(function, "__wrapped__", None)
        if function is None:
            break
    if found is not None:
        return _code_origin(found, _first_body_line(found))
    return None if owner is None else _class_origin(owner)


def _class_origin(cls: type) -> tuple[str, int, str] | None:
    """The project's class Django runs a view of without a method of the project's own: a
    ModelAdmin whose changelist is Django's code, a view subclass that only sets attributes.
    Its ``class`` statement is the origin (the request path it serves), not the test or
    script that sent the request."""
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    if not filename or not _is_user_file(filename):
        return None
    line = getattr(cls, "__firstlineno__", None)  # Python 3.13+
    if not isinstance(line, int):
        import inspect

        try:
            line = inspect.getsourcelines(cls)[1]
        except Exception:  # no source, or one that no longer parses: no origin, capture goes on
            return None
    import linecache

    for _ in range(20):  # past its decorators (@admin.register(...)): the class statement
        if not linecache.getline(filename, line).lstrip().startswith("@"):
            break
        line += 1
    return _place(filename, line, cls.__qualname__)


def _first_body_line(code: Any) -> int:
    """The first line of a function's body: there a view builds the queryset it hands on
    (``co_firstlineno`` is the ``def``, or its first decorator)."""
    lines = getattr(code, "co_lines", None)
    if lines is None:  # Python < 3.10
        return code.co_firstlineno
    body = [line for _, _, line in lines() if line and line > code.co_firstlineno]
    return min(body) if body else code.co_firstlineno


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


def _new_entry(sql: str, params: Any, many: bool, frame: Any) -> list[Any]:
    """A fresh aggregate; remembers which parameters are literals of the code that ran it.

    A parameter may later be written as a constant only if its value is a literal in the origin's
    code (``co_consts``: ``status__in=["pending", "failed"]``, ``is_active=True``), an
    UPPER_CASE constant of the origin's module or a member of an enumeration (Django's
    ``TextChoices``/``IntegerChoices``: ``status=Status.READY``, a name the code writes, often
    in a manager method far from the origin), and if every call passed that same value. Values
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
            member = _member_value(value)
            if member is not None or (type(value) in _SCALARS and (type(value), value) in known):
                literal = sql_literal(value if member is None else member)
                if literal is not None:
                    firsts.append((position, value))
                    literals[position] = literal
    likes = _like_operands(sql, style) if params and not many else ()
    return [0, 0.0, tuple(firsts), style, literals, likes, {}]


def _like_operands(sql: str, style: str | None) -> tuple[tuple[Any, str], ...]:
    """``((parameter key, "n"), ...)`` for the placeholders that are LIKE / ILIKE operands."""
    found = _like_positions.get(sql)
    if found is not None:
        return found
    if len(_like_positions) > MAX_CACHE:
        _like_positions.clear()
    operands: list[tuple[Any, str]] = []
    if style is not None and ("LIKE" in sql or "like" in sql):
        global _like_operand
        import re

        if _like_operand is None:
            _like_operand = re.compile(_LIKE_OPERAND_PATTERN, re.IGNORECASE)
        placeholders = _placeholder_pattern()
        names: dict[str, int] = {}
        for match in placeholders.finditer(sql):
            text = match.group(0)
            if text == "%%":
                continue
            name = match.group(1)
            key: Any = name if name else len(names)
            label = name or str(len(names))
            if label not in names:
                names[label] = len(names) + 1
            if _like_operand.search(sql, max(0, match.start() - 40), match.start()):
                operands.append((key, str(names[label])))
    found = _like_positions[sql] = tuple(operands)
    return found


def _note_like_shapes(entry: list[Any], params: Any) -> None:
    shapes = entry[6]
    for key, number in entry[5]:
        value = params[key]
        if not isinstance(value, str):
            continue
        shape = like_shape(value)
        seen = shapes.get(number)
        shapes[number] = shape if seen is None or seen == shape else merge_like_shapes(seen, shape)


def like_shape(pattern: str) -> str:
    """The shape of a LIKE pattern: ``exact``, ``prefix``, ``suffix`` or ``infix``.

    ``prefix`` whenever the pattern starts with a literal (a B-tree can seek on it),
    ``suffix`` when wildcards only lead, ``infix`` for any other leading wildcard.

    >>> [like_shape(p) for p in ("abc", "abc%", "a%c", "%abc", "_abc", "%abc%", "%", "\\\\%a%")]
    ['exact', 'prefix', 'prefix', 'suffix', 'suffix', 'infix', 'infix', 'prefix']
    """
    wild: list[bool] = []  # one flag per character of the pattern: is it a wildcard?
    index = 0
    length = len(pattern)
    while index < length:
        char = pattern[index]
        if char == "\\" and index + 1 < length:
            wild.append(False)
            index += 2
            continue
        wild.append(char == "%" or char == "_")
        index += 1
    if True not in wild:
        return "exact"
    if not wild[0]:
        return "prefix"
    lead = 0
    while lead < len(wild) and wild[lead]:
        lead += 1
    rest = wild[lead:]
    return "suffix" if rest and True not in rest else "infix"


def merge_like_shapes(first: str, second: str) -> str:
    """One shape for two calls: the one an index must serve for both.

    >>> merge_like_shapes("exact", "prefix"), merge_like_shapes("prefix", "suffix")
    ('prefix', 'infix')
    """
    if first == second:
        return first
    if {first, second} == {"exact", "prefix"}:
        return "prefix"
    return "infix"


def _member_value(value: Any) -> str | int | bool | None:
    """The value of an enumeration member (``Status.READY`` → ``"ready"``), else None. Integers
    count here: a choices member is never an id that happens to equal a literal."""
    enum = sys.modules.get("enum")  # not imported: no value can be a member
    if enum is None or not isinstance(value, enum.Enum):
        return None
    inner = value.value
    return inner if type(inner) in (str, int, bool) else None


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


def _cached_origin(frame: Any, callee: Any) -> tuple[str, int, str] | None:
    """:func:`_origin_of`, once per code line."""
    where = (frame.f_code, frame.f_lineno)
    origin = _origins.get(where, _UNKNOWN)
    if origin is _UNKNOWN:
        origin = _origins[where] = _origin_of(frame, callee)
    return origin


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
    return _code_origin(code, frame.f_lineno or 0)


def _code_origin(code: Any, line: int) -> tuple[str, int, str]:
    """``(path relative to the command's directory, line, qualified function name)``."""
    name = getattr(code, "co_qualname", code.co_name)
    parts = [part for part in name.split(".") if part != "<locals>"]
    while len(parts) > 1 and parts[-1] in _COMPREHENSION:
        parts.pop()
    return _place(code.co_filename, line, ".".join(parts))


def _place(filename: str, line: int, name: str) -> tuple[str, int, str]:
    path = os.path.abspath(filename)
    try:
        relative = os.path.relpath(path, _cwd)
    except ValueError:  # another drive on Windows
        relative = path
    if relative.startswith(os.pardir):
        relative = path
    return (relative.replace(os.sep, "/"), line, name)


# --- Django hooks ----------------------------------------------------------------------------


class _DjangoFinder:
    """Meta path finder that lets some Django modules load, then hooks into each one.

    ``django.db.backends.signals`` defines ``connection_created`` and is imported before any
    connection can exist; the others hold the bookkeeping functions wrapped by
    :func:`_bracket`. The finder leaves ``sys.meta_path`` once every hook has run.
    """

    def __init__(self, hooks: dict[str, Any]) -> None:
        self.hooks = hooks

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        hook = self.hooks.get(fullname)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                # Duck-typed, not an importlib.abc.Loader: importing importlib.abc would cost
                # every process start.
                spec.loader = _HookingLoader(  # type: ignore[assignment]
                    spec.loader, self, fullname, hook
                )
                return spec
        return None


class _HookingLoader:
    def __init__(self, loader: Any, finder: _DjangoFinder, name: str, hook: Any) -> None:
        self._loader = loader
        self._finder = finder
        self._name = name
        self._hook = hook

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        self._finder.hooks.pop(self._name, None)
        if not self._finder.hooks:
            sys.meta_path[:] = [f for f in sys.meta_path if f is not self._finder]
        _run_hook(self._hook, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


def _module_hooks() -> dict[str, Any]:
    """Module name -> what to do once Django has imported it."""
    hooks: dict[str, Any] = {"django.db.backends.signals": _hook_django}
    if not _include_django:
        hooks.update(
            {
                "django.core.management.commands.migrate": _hook_command,
                "django.core.management.commands.flush": _hook_command,
                "django.core.management.sql": _hook_functions(
                    "emit_pre_migrate_signal", "emit_post_migrate_signal"
                ),
                "django.db.migrations.executor": _hook_methods("MigrationExecutor", "migrate"),
                "django.db.backends.base.creation": _hook_methods(
                    "BaseDatabaseCreation",
                    "create_test_db",
                    "clone_test_db",
                    "destroy_test_db",
                    "serialize_db_to_string",
                    "deserialize_db_from_string",
                    "setup_worker_connection",
                ),
            }
        )
    return hooks


def _run_hook(hook: Any, module: Any) -> None:
    try:
        hook(module)
    except Exception as exc:
        _disable(exc)


def _hook_command(module: Any) -> None:
    _hook_methods("Command", "handle")(module)


def _hook_functions(*names: str) -> Any:
    def hook(module: Any) -> None:
        for name in names:
            function = getattr(module, name, None)
            if function is not None:
                setattr(module, name, _bracket(function))

    return hook


def _hook_methods(class_name: str, *names: str) -> Any:
    def hook(module: Any) -> None:
        klass = getattr(module, class_name, None)
        for name in names:
            function = klass.__dict__.get(name) if klass is not None else None
            if callable(function):
                setattr(klass, name, _bracket(function))

    return hook


def _bracket(function: Any) -> Any:
    """``function``, with the statements it runs (in this thread) counted as Django's own."""
    if getattr(function, "_idxadvisor_bookkeeping", False):
        return function

    def bookkeeping(*args: Any, **kwargs: Any) -> Any:
        ident = _get_ident()
        _bookkeeping[ident] = _bookkeeping.get(ident, 0) + 1
        try:
            return function(*args, **kwargs)
        finally:
            depth = _bookkeeping.pop(ident, 1) - 1
            if depth:
                _bookkeeping[ident] = depth

    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(bookkeeping, attribute, getattr(function, attribute, None))
    bookkeeping.__wrapped__ = function  # type: ignore[attr-defined]
    bookkeeping._idxadvisor_bookkeeping = True  # type: ignore[attr-defined]
    return bookkeeping


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


def _exit_after_flush(status: int) -> NoReturn:  # os._exit's signature, names included
    flush()
    _real_exit(status)


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
    record = {
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
    if entry[6]:  # optional (readers of an older idxadvisor ignore it)
        record["like"] = dict(sorted(entry[6].items(), key=lambda item: int(item[0])))
        entry[6] = {}
    return record


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
    """Tell the user once, through the workload file: the captured program's own output stays
    exactly as without capture. Only when the file cannot be written either does it go to
    stderr, as the last way left to say it."""
    global _warned
    if _warned:
        return
    _warned = True
    if _output is not None:
        try:
            record = {"kind": "warning", "process": _token, "message": message}
            _append(_output, (_json(record) + "\n").encode("utf-8"))
            return
        except Exception:
            pass
    try:  # noqa: SIM105 - contextlib costs an import in every process; stderr may be closed
        sys.stderr.write(f"idxadvisor capture: warning: {message}\n")
    except Exception:
        pass
