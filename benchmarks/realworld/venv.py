"""The benchmark's own venv (``benchmarks/realworld/.venv``): the pinned apps of
``requirements.txt`` plus idxadvisor installed editable from this repo, so the main test venv
never sees them. Rebuilt when requirements.txt changes (its hash is stamped in the venv)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".requirements-sha256"


def in_benchmark_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _wanted() -> str:
    return hashlib.sha256((HERE / "requirements.txt").read_bytes()).hexdigest()


def ensure() -> None:
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == _wanted():
        return
    print("benchmarks.realworld: installing the pinned apps into", VENV, file=sys.stderr)
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "-q",
            "-r",
            str(HERE / "requirements.txt"),
            "-e",
            str(ROOT),
        ],
        check=True,
    )
    STAMP.write_text(_wanted())


def reexec(argv: list[str]) -> None:
    ensure()
    os.chdir(ROOT)
    os.execv(str(PYTHON), [str(PYTHON), "-m", "benchmarks.realworld", *argv])
