"""idxadvisor itself, applied the way a user would: ``generate`` writes migrations, ``migrate``
builds the indexes.

    >>> advice = advise(EXAMPLE, workdir, database_url=None)  # static mode  # doctest: +SKIP
    >>> advice.migrate_project, advice.applied_via
    (PosixPath('.../static/alerting'), 'generated migrations')

Static mode reads only the source; live mode adds ``--database-url`` (catalog, statistics,
HypoPG).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.advisors import Advice, did_not_run


def _idxadvisor(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "idxadvisor", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def advise(project: Path, workdir: Path, database_url: str | None) -> Advice:
    """Advice from idxadvisor for a copy of ``project``: live mode when a URL is given."""
    mode = "live" if database_url else "static"
    name = f"idxadvisor ({mode})"
    copy = workdir / f"idxadvisor-{mode}" / project.name
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {**os.environ}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env.pop("DATABASE_URL", None)  # static mode must not need a database
    live = ["--database-url", database_url] if database_url else []
    migrations = copy / "monitoring" / "migrations"
    before = {p.name for p in migrations.glob("*.py")}

    started = time.perf_counter()
    proc = _idxadvisor("generate", str(copy), *live, cwd=copy, env=env)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        return did_not_run(name, f"idxadvisor generate failed: {proc.stderr or proc.stdout}")
    written = sorted({p.name for p in migrations.glob("*.py")} - before)
    return Advice(
        advisor=name,
        migrate_project=copy,
        advise_seconds=seconds,
        applied_via="generated migrations",
        details={"migrations": written, "output": proc.stdout[-2000:]},
    )
