"""Run a command with query capture on: ``idxadvisor capture -- python manage.py test``.

The command runs unchanged; its environment gets ``PYTHONPATH`` with ``_boot/`` in front (whose
``sitecustomize`` starts :mod:`idxadvisor.sources.capture.runtime` in every Python process of
the command, forked and spawned ones included) and ``IDXADVISOR_CAPTURE_FILE``.

The command and everything it starts live and die with ``idxadvisor capture``:

* the command runs in its own process group. SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to
  ``idxadvisor capture`` are forwarded to that whole group; on a terminal the group is made the
  foreground job, so Ctrl-C and prompts (``Type 'yes' …``) reach it as without capture;
* a watchdog — a tiny ``python -I -S`` process in its own session, holding the read end of a
  pipe only ``idxadvisor capture`` writes to — notices when ``idxadvisor capture`` dies, even by
  SIGKILL (the pipe reaches end of file), and then ends the command's process group: SIGTERM (the
  recorder flushes on it), SIGKILL after a grace period. A watchdog rather than Linux's
  ``prctl(PR_SET_PDEATHSIG)``: the death signal reaches only the direct child, while the
  watchdog ends grandchildren too (test workers, ``sh -c`` pipelines), and it works on every
  POSIX system. A process that leaves the group on purpose (``setsid``) is out of its reach;
* the exit status is the command's, or 128 + N when signal N ended it.

>>> boot_environment({"PYTHONPATH": "/opt/lib"}, "/tmp/w.jsonl")["PYTHONPATH"].endswith("/opt/lib")
True
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from idxadvisor.errors import UsageError
from idxadvisor.sources.capture.runtime import ENV_INCLUDE_DJANGO, ENV_OUTPUT
from idxadvisor.sources.capture.workload_file import (
    CaptureSummary,
    _records,
    create_workload_file,
    summarise_workload_file,
)

BOOT_DIR = Path(__file__).resolve().parent / "_boot"
FORWARDED_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)
GRACE_SECONDS = 5.0
_DONE = b"d"  # what a capture that ends normally tells its watchdog

# argv[1]: the read end of the pipe, argv[2]: the command's process group, argv[3]: grace.
WATCHDOG = """
import os, signal, sys, time
fd, group, grace = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
for number in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
    signal.signal(number, signal.SIG_IGN)
try:
    data = os.read(fd, 1)
except OSError:
    data = b""
if data != b"d":
    def alive():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for number in (signal.SIGCONT, signal.SIGTERM):
        try:
            os.killpg(group, number)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""


@dataclass(frozen=True, slots=True)
class CaptureRun:
    """The outcome of one captured command."""

    exit_code: int
    output: Path
    summary: CaptureSummary
    # what the recorders had to say, kept out of the command's own output
    warnings: tuple[str, ...] = ()


def boot_environment(
    environ: Mapping[str, str],
    output: str | os.PathLike[str],
    *,
    include_django: bool | None = None,
) -> dict[str, str]:
    """``environ`` plus what turns capture on in every Python process started with it.

    ``include_django`` None keeps ``IDXADVISOR_CAPTURE_INCLUDE_DJANGO`` as ``environ`` has it.
    """
    env = dict(environ)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(BOOT_DIR), *([existing] if existing else [])])
    env[ENV_OUTPUT] = str(Path(output).resolve())
    if include_django:
        env[ENV_INCLUDE_DJANGO] = "1"
    elif include_django is not None:
        env.pop(ENV_INCLUDE_DJANGO, None)
    return env


def run_capture(
    command: Sequence[str],
    output: str | os.PathLike[str],
    *,
    append: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    include_django: bool | None = None,
) -> CaptureRun:
    """Run ``command`` with capture on, appending its queries to ``output``.

    Returns the command's exit code (128 + N when a signal N ended it), a summary of what this
    run added to the file, and the recorder's warnings. ``include_django`` keeps Django's own
    bookkeeping statements (migrations, test database set-up), left out by default (None:
    as ``IDXADVISOR_CAPTURE_INCLUDE_DJANGO`` says).
    """
    if not command:
        raise UsageError("no command to run: idxadvisor capture [OPTIONS] -- COMMAND...")
    program = command[0]
    if shutil.which(program) is None and not Path(program).is_file():
        raise UsageError(f"command not found: {program}")
    target = Path(output).resolve()
    offset = create_workload_file(target, append=append)
    env = boot_environment(os.environ, target, include_django=include_django)
    returncode = _run_in_own_group(list(command), cwd, env)
    exit_code = 128 - returncode if returncode < 0 else returncode
    with _quiet_sqlglot():
        summary = summarise_workload_file(target, offset=offset)
    return CaptureRun(exit_code, target, summary, _warnings(target, offset))


def _run_in_own_group(
    command: list[str], cwd: str | os.PathLike[str] | None, env: dict[str, str]
) -> int:
    """Run ``command`` in a process group of its own, tied to this process; its return code."""
    terminal = _foreground_terminal()
    group: list[int] = []  # set once the child exists
    pending: list[int] = []  # signals that came before it did

    def forward(signum: int, frame: FrameType | None) -> None:
        if not group:
            pending.append(signum)
            return
        with suppress(OSError):  # the group may be gone already
            os.killpg(group[0], signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED_SIGNALS}
    watchdog = None
    try:
        try:
            process = subprocess.Popen(command, cwd=cwd, env=env, preexec_fn=_child_setup(terminal))
        except OSError as exc:
            raise UsageError(f"cannot run {command[0]}: {exc.strerror or exc}") from exc
        group.append(process.pid)  # the child leads its own group (setpgid in _child_setup)
        watchdog = _start_watchdog(process.pid)
        for signum in pending:
            forward(signum, None)
        return process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if terminal is not None:
            _take_terminal_back(terminal)
        if watchdog is not None:
            _stop_watchdog(watchdog)


def _foreground_terminal() -> int | None:
    """The file descriptor of our controlling terminal when we are its foreground job."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return fd
        except OSError:
            continue
    return None


def _child_setup(terminal: int | None) -> Callable[[], None]:
    """What the child does between fork and exec: lead a new process group, and on a terminal
    become its foreground job (before exec, so its first read of the terminal cannot stop it)."""

    def setup() -> None:
        os.setpgid(0, 0)
        if terminal is not None:
            previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            with suppress(OSError):
                os.tcsetpgrp(terminal, os.getpgrp())
            signal.signal(signal.SIGTTOU, previous)

    return setup


def _take_terminal_back(terminal: int) -> None:
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(terminal, os.getpgrp())
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, previous)


@dataclass(frozen=True, slots=True)
class _Watchdog:
    process: subprocess.Popen[bytes] | None
    write_end: int


def _start_watchdog(group: int) -> _Watchdog:
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, False)  # only this process may hold it: its death is the EOF
    try:
        process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                WATCHDOG,
                str(read_end),
                str(group),
                str(GRACE_SECONDS),
            ],
            pass_fds=(read_end,),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={key: value for key, value in os.environ.items() if key != ENV_OUTPUT},
        )
    except OSError:  # no watchdog: the command still runs, only a SIGKILL would orphan it
        process = None
    os.close(read_end)
    return _Watchdog(process, write_end)


def _stop_watchdog(watchdog: _Watchdog) -> None:
    with suppress(OSError):
        os.write(watchdog.write_end, _DONE)
    os.close(watchdog.write_end)
    if watchdog.process is not None:
        try:
            watchdog.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - it exits on the byte at once
            watchdog.process.kill()


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning for each statement it cannot parse fully; the summary only needs
    a fingerprint, and the user's terminal is still showing the command's output."""
    logger = logging.getLogger("sqlglot")
    disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = disabled


def _warnings(path: Path, offset: int) -> tuple[str, ...]:
    """The distinct warnings the recorders of this run wrote to the file."""
    found: dict[str, None] = {}
    for _, record, problem in _records(path, offset):
        if problem is None and record.get("kind") == "warning":
            found[str(record.get("message", ""))] = None
    return tuple(found)
