"""The workload file of ``idxadvisor capture``: JSON Lines, append-only, many writers.

Format (version 1), one JSON object per line, told apart by ``kind``:

* ``header`` — first line of the file: ``{"kind": "header", "format": "idxadvisor-capture",
  "version": 1, "created": …}``;
* ``process`` — once per process that ran SQL, before its first statement record: ``process``
  (a random token; pids get reused), ``pid``, ``ppid``, ``cwd``, ``program``, ``python``;
* ``statement`` — an aggregate of one process over one flush interval: ``sql`` with ``$1, $2, …``
  placeholders, ``origin`` (``{"path", "line", "function"}`` of the first frame in the user's
  code, path relative to the command's directory; null when no user frame called it), ``calls``,
  ``total_ms``, ``constants`` (``{"1": "'pending'"}``: parameters whose value was a literal of the
  origin's code and the same in every call);
* ``ignored`` — how many statements that are not SELECT/INSERT/UPDATE/DELETE a process skipped.

Writers append whole lines under ``flock`` (see ``runtime._append``), so the file is readable at
any moment; only a process killed in the middle of ``write`` can leave a truncated last line,
which :func:`read_workload_file` skips and reports. No parameter values other than those literal
constants are ever written.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "w.jsonl")
>>> create_workload_file(path)  # returns the offset where this run starts
0
>>> _ = open(path, "a").write('{"kind":"statement","process":"p","sql":"SELECT 1 FROM t WHERE '
...     'a = $1 AND b = $2","origin":{"path":"app/q.py","line":7,"function":"f"},"calls":3,'
...     '"total_ms":1.5,"constants":{"1":"\\'x\\'"}}\\n')
>>> statements, skipped = read_workload_file(path)
>>> statements[0].sql, str(statements[0].origin), statements[0].calls
("SELECT 1 FROM t WHERE a = 'x' AND b = $1", 'app/q.py:7', 3)
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from idxadvisor.errors import UsageError
from idxadvisor.files import display_path
from idxadvisor.sources.capture.runtime import FORMAT, VERSION, file_header, merge_like_shapes
from idxadvisor.sql.fingerprint import fingerprint
from idxadvisor.types.workload import Origin, Skipped, Statement

_PARAMETER = re.compile(r"\$(\d+)\b")
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """What a capture recorded: statements executed, distinct shapes, processes."""

    statements: int
    shapes: int
    processes: int
    ignored: int = 0

    def __str__(self) -> str:
        return (
            f"{self.statements} statements, {self.shapes} distinct shapes, "
            f"{self.processes} process{'es' if self.processes != 1 else ''}"
        )


def is_capture_file(path: str | os.PathLike[str]) -> bool:
    """Does ``path`` start with a capture header? False for SQL files, missing files, junk."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(_SNIFF_BYTES)
    except OSError:
        return False
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return (
        isinstance(record, dict)
        and record.get("kind") == "header"
        and (record.get("format") == FORMAT)
    )


def create_workload_file(path: str | os.PathLike[str], *, append: bool = False) -> int:
    """Make ``path`` ready for writers and return its size before this run (the run's offset).

    A new file gets the header (written atomically: temp file + rename). An existing capture
    file is replaced, or kept and appended to with ``append``. Any other existing file is
    refused: it is not ours to overwrite.
    """
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{target} is a directory; give a file name for the workload")
    if target.exists():
        if not is_capture_file(target):
            raise UsageError(
                f"{target} exists and is not an idxadvisor capture file; refusing to overwrite it "
                "(choose another --output)"
            )
        if append:
            return target.stat().st_size
    if not target.parent.is_dir():
        raise UsageError(f"directory {target.parent} does not exist")
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(file_header(), separators=(",", ":")) + "\n")
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return 0


def read_workload_file(
    path: str | os.PathLike[str],
    *,
    offset: int = 0,
    unattributed: bool = False,
    root: Path | None = None,
) -> tuple[tuple[Statement, ...], tuple[Skipped, ...]]:
    """The statements of a capture file, merged across processes and flushes.

    One :class:`Statement` per (SQL, origin), ``source="capture"``, with calls and time summed.
    A parameter is inlined as a literal only when every record of that statement agrees on it;
    the remaining placeholders are renumbered ``$1, $2, …``. ``offset`` skips what an earlier
    run appended (used for the summary of one run).

    Statements no frame of the project's code ran (Django's own: migrations, test database
    set-up, content types and permissions) are returned as :class:`Skipped`, one per SQL, unless
    ``unattributed``: the project cannot index Django's tables, and they would drown its own.

    With ``root`` (the project directory), each origin is given relative to it, as the static
    scan gives its own: the capture wrote it relative to its process's directory (its
    ``process`` record's ``cwd``), which may be another one (``capture`` run from a parent).
    """
    cwds: dict[str, str] = {}
    merged: dict[tuple[str, Origin | None], list[Any]] = {}
    skipped: list[Skipped] = []
    for number, record, problem in _records(path, offset):
        if problem is not None:
            skipped.append(Skipped(problem, Origin(str(path), number)))
            continue
        if record.get("kind") == "process" and isinstance(record.get("cwd"), str):
            cwds[str(record.get("process"))] = record["cwd"]
        if record.get("kind") != "statement":
            continue
        try:
            sql, origin, calls, total_ms, constants = _statement_record(record)
            if root is not None and origin is not None:
                origin = _rebased(origin, cwds.get(str(record.get("process"))), root)
        # One odd record (hand-edited, another tool's) is skipped with its reason, whatever
        # the odd part is; the rest of the file is read.
        except Exception as exc:
            reason = str(exc) if isinstance(exc, _Malformed) else f"{type(exc).__name__}: {exc}"
            skipped.append(
                Skipped(f"malformed statement record: {reason}", Origin(str(path), number))
            )
            continue
        likes = _like_shapes(record.get("like"))
        seen = merged.get((sql, origin))
        if seen is None:
            merged[(sql, origin)] = [calls, total_ms, constants, likes]
        else:
            seen[0] += calls
            seen[1] += total_ms
            seen[2] = {k: v for k, v in seen[2].items() if constants.get(k) == v}
            seen[3] = {
                k: merge_like_shapes(v, likes[k]) if k in likes else "infix"
                for k, v in seen[3].items()
            }
    statements: list[Statement] = []
    for (sql, origin), (calls, total_ms, constants, likes) in merged.items():
        # A LIKE parameter becomes a pattern of its shape, as the static scan writes it, so the
        # advisor knows a startswith from an icontains; the value itself was never recorded.
        shaped = {
            n: LIKE_SHAPE_LITERALS[shape]
            for n, shape in likes.items()
            if n not in constants and shape in LIKE_SHAPE_LITERALS
        }
        text = inline_constants(sql, {**constants, **shaped})
        if origin is None and not unattributed:
            skipped.append(
                Skipped(
                    f"run by Django itself, not by the project's code ({calls} calls)", None, text
                )
            )
            continue
        statements.append(
            Statement(
                sql=text,
                origin=origin,
                source="capture",
                calls=calls,
                total_time_ms=round(total_ms, 3),
            )
        )
    return tuple(statements), tuple(skipped)


def _rebased(origin: Origin, cwd: str | None, root: Path) -> Origin:
    """``origin`` relative to ``root`` (absolute when outside it); as written when the
    directory it was relative to is unknown.

    A capture made in another checkout of the project (CI captures in one directory, a
    developer analyses a copy): a path relative to that run's directory that names a file of
    ``root`` is that file, not one of the other checkout's, or each call site would count
    twice (once so, once as the static scan finds it)."""
    place = Path(origin.path)
    if not place.is_absolute():
        if cwd is None:
            return origin
        elsewhere = display_path(Path(cwd) / place, root)
        if Path(elsewhere).is_absolute() and (root / place).is_file():
            return replace(origin, path=place.as_posix())
        return replace(origin, path=elsewhere)
    return replace(origin, path=display_path(place, root))


def summarise_workload_file(path: str | os.PathLike[str], *, offset: int = 0) -> CaptureSummary:
    """Counts for the one-line report of ``idxadvisor capture``."""
    statements, _ = read_workload_file(path, offset=offset, unattributed=True)
    processes: set[str] = set()
    ignored = 0
    for _, record, problem in _records(path, offset):
        if problem is None and record.get("kind") == "process":
            processes.add(str(record.get("process")))
        elif problem is None and record.get("kind") == "ignored":
            calls = record.get("calls", 0)
            ignored += calls if isinstance(calls, int) and calls > 0 else 0
    shapes = {fingerprint(st.sql) for st in statements}
    return CaptureSummary(
        statements=sum(st.calls for st in statements),
        shapes=len(shapes),
        processes=len(processes),
        ignored=ignored,
    )


def inline_constants(sql: str, constants: dict[int, str]) -> str:
    """Put literal constants in place of their ``$n`` and renumber the other placeholders.

    >>> inline_constants("a IN ($1, $2) AND b <= $3", {1: "'pending'", 2: "'failed'"})
    "a IN ('pending', 'failed') AND b <= $1"
    """
    if not constants:
        return sql
    numbering: dict[int, int] = {}

    def replace(match: re.Match[str]) -> str:
        position = int(match.group(1))
        if position in constants:
            return constants[position]
        if position not in numbering:
            numbering[position] = len(numbering) + 1
        return f"${numbering[position]}"

    return _PARAMETER.sub(replace, sql)


# The pattern a LIKE parameter of each recorded shape stands for (as the static scan renders a
# startswith / endswith / contains lookup).
LIKE_SHAPE_LITERALS = {"exact": "'x'", "prefix": "'x%'", "suffix": "'%x'", "infix": "'%x%'"}


def _like_shapes(raw: Any) -> dict[int, str]:
    """``{"1": "prefix"}`` from a record, read defensively (an odd value is ignored)."""
    if not isinstance(raw, dict):
        return {}
    return {
        int(k): v
        for k, v in raw.items()
        if isinstance(k, str) and k.isdigit() and v in LIKE_SHAPE_LITERALS
    }


class _Malformed(ValueError):
    """A statement record with a field of the wrong kind."""


def _statement_record(
    record: dict[str, Any],
) -> tuple[str, Origin | None, int, float, dict[int, str]]:
    """(sql, origin, calls, total_ms, constants) of a statement record, checked field by field."""
    sql = record.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise _Malformed("'sql' is not a non-empty string")
    calls = record.get("calls", 1)
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 0:
        raise _Malformed(f"'calls' is not a count: {calls!r}")
    total_ms = record.get("total_ms", 0.0)
    if (
        isinstance(total_ms, bool)
        or not isinstance(total_ms, int | float)
        or not (0 <= total_ms < math.inf)
    ):
        raise _Malformed(f"'total_ms' is not a duration: {total_ms!r}")
    raw_constants = record.get("constants") or {}
    if not isinstance(raw_constants, dict):
        raise _Malformed("'constants' is not an object")
    constants = {int(k): str(v) for k, v in raw_constants.items()}
    origin = _origin(record.get("origin"))
    texts = [sql, *constants.values(), *((origin.path, origin.function) if origin else ())]
    if any(_has_lone_surrogate(t) for t in texts):
        raise _Malformed("holds text that is not valid Unicode (a lone surrogate escape)")
    return sql, origin, calls, float(total_ms), constants


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _origin(value: Any) -> Origin | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Malformed("'origin' is not an object")
    line = value.get("line")
    if isinstance(line, bool) or not isinstance(line, int) or line < 0:
        raise _Malformed(f"'origin.line' is not a line number: {line!r}")
    if not isinstance(value.get("path"), str):
        raise _Malformed("'origin.path' is not a string")
    return Origin(value["path"], line, 0, str(value.get("function") or ""))


def _records(
    path: str | os.PathLike[str], offset: int
) -> Iterator[tuple[int, dict[str, Any], str | None]]:
    """(line number, record, problem) for each line; a line that does not parse has a problem."""
    target = Path(path)
    if not target.exists():
        raise UsageError(f"workload file {target} does not exist")
    if not is_capture_file(target):
        raise UsageError(f"{target} is not an idxadvisor capture file")
    with open(target, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    lines = data.split(b"\n")
    first_number = 1 if offset == 0 else None
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        number = index + 1 if first_number else 0
        is_last = index == len(lines) - 1  # no newline after it: the writer was cut off
        try:
            record = json.loads(raw.decode("utf-8"))  # strict: json would pass surrogates
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if is_last:
                reason = "truncated last line (the process was killed while writing)"
            elif isinstance(exc, UnicodeDecodeError):
                bad = exc.object[exc.start]
                reason = f"not valid UTF-8: byte 0x{bad:02x} at column {exc.start + 1}"
            else:
                reason = f"unreadable line: {exc}"
            yield number, {}, reason
            continue
        version = record.get("version", VERSION)
        if record.get("kind") == "header" and not (isinstance(version, int) and version <= VERSION):
            raise UsageError(
                f"{target} is a capture file of format version {record['version']}; "
                f"this idxadvisor reads version {VERSION}: upgrade idxadvisor"
            )
        yield number, record, None
