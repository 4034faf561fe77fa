"""Run a command with query capture on: ``idxadvisor capture -- python manage.py test``.

The command runs unchanged; its environment gets ``PYTHONPATH`` with ``_boot/`` in front (whose
``sitecustomize`` starts :mod:`idxadvisor.capture.runtime` in every Python process of the command,
forked and spawned ones included) and ``IDXADVISOR_CAPTURE_FILE``.

>>> boot_environment({"PYTHONPATH": "/opt/lib"}, "/tmp/w.jsonl")["PYTHONPATH"].endswith("/opt/lib")
True
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from idxadvisor.capture.runtime import ENV_OUTPUT
from idxadvisor.capture.workload_file import (
    CaptureSummary,
    create_workload_file,
    summarise_workload_file,
)
from idxadvisor.errors import UsageError

BOOT_DIR = Path(__file__).resolve().parent / "_boot"


@dataclass(frozen=True, slots=True)
class CaptureRun:
    """The outcome of one captured command."""

    exit_code: int
    output: Path
    summary: CaptureSummary


def boot_environment(environ: Mapping[str, str], output: str | os.PathLike[str]) -> dict[str, str]:
    """``environ`` plus what turns capture on in every Python process started with it."""
    env = dict(environ)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(BOOT_DIR), *([existing] if existing else [])])
    env[ENV_OUTPUT] = str(Path(output).resolve())
    return env


def run_capture(
    command: Sequence[str], output: str | os.PathLike[str], *, append: bool = False,
    cwd: str | os.PathLike[str] | None = None,
) -> CaptureRun:
    """Run ``command`` with capture on, appending its queries to ``output``.

    Returns the command's exit code (128 + N when a signal N ended it) and a summary of what this
    run added to the file.
    """
    if not command:
        raise UsageError("no command to run: idxadvisor capture [OPTIONS] -- COMMAND...")
    program = command[0]
    if shutil.which(program) is None and not Path(program).is_file():
        raise UsageError(f"command not found: {program}")
    target = Path(output).resolve()
    offset = create_workload_file(target, append=append)
    env = boot_environment(os.environ, target)
    try:
        process = subprocess.Popen(list(command), cwd=cwd, env=env)
    except OSError as exc:
        raise UsageError(f"cannot run {program}: {exc.strerror or exc}") from exc
    # Ctrl-C reaches the command too (same process group): wait for it to wind down and flush,
    # then report.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        returncode = process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    exit_code = 128 - returncode if returncode < 0 else returncode
    return CaptureRun(exit_code, target, summarise_workload_file(target, offset=offset))
