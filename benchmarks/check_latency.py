"""Latency of ``idxadvisor check`` as a pre-commit hook sees it.

Generates a Django project with 200 model files (20 apps of 10 model modules) and 1,000
querysets (100 query modules of 10) into a temporary directory, then times
``idxadvisor check`` on 20 changed query modules — a fresh process each time, Django start-up
included, as pre-commit runs it. Prints the median of 5 runs (after one warm-up run that fills
the OS file cache, as a developer's repeated commits do).

Command line::

    python -m benchmarks.check_latency            # median of 5 on 20 changed files
    python -m benchmarks.check_latency --runs 9 --changed 50 --keep /tmp/bench-project

Target: under 1.5 s for 20 changed files on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

APPS = 20
MODEL_MODULES_PER_APP = 10
QUERY_MODULES = 100
QUERYSETS_PER_MODULE = 10

SETTINGS = """
SECRET_KEY = "benchmark"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.postgres", {apps}]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", "NAME": "bench"}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
"""

MANAGE = """
import os, sys
if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""

MODEL = """
from django.db import models


class {name}(models.Model):
    organisation = models.PositiveIntegerField()
    owner = models.ForeignKey(
        "{app}.{owner}", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, default="new")
    email = models.CharField(max_length=200)
    title = models.CharField(max_length=200)
    body = models.TextField()
    score = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["organisation", "created_at"], name="{index}")]
"""

# Ten querysets per module, in the shapes application code has: equality, constants, ranges,
# order + limit, case-insensitive, leading wildcard, joins, updates, deletes, aggregates.
QUERYSETS = [
    "{m}.objects.filter(organisation=org, created_at__gte=since).order_by('-created_at')[:50]",
    "{m}.objects.filter(status='failed', updated_at__lte=now).order_by('updated_at')[:100]",
    "{m}.objects.filter(email__iexact=email).first()",
    "{m}.objects.filter(organisation=org, title__icontains=text)[:20]",
    "{m}.objects.filter(owner__organisation=org, is_active=True).count()",
    "{m}.objects.filter(score__gt=limit).order_by('-score')[:10]",
    "{m}.objects.filter(organisation=org, status__in=['new', 'open']).exists()",
    "{m}.objects.filter(pk__in=ids).update(status='done')",
    "{m}.objects.filter(created_at__lt=cutoff).delete()",
    "{m}.objects.get(pk=pk)",
]


def generate(root: Path) -> list[Path]:
    """Write the project; returns the query modules (relative to ``root``)."""
    apps = [f"app{i:02d}" for i in range(APPS)]
    _write(root / "manage.py", MANAGE)
    _write(root / "benchsite" / "__init__.py", "")
    _write(
        root / "benchsite" / "settings.py", SETTINGS.format(apps=", ".join(f'"{a}"' for a in apps))
    )
    models: list[tuple[str, str]] = []  # (app, class name)
    for app in apps:
        _write(root / app / "__init__.py", "")
        names = [f"{app.capitalize()}Item{j}" for j in range(MODEL_MODULES_PER_APP)]
        for j, name in enumerate(names):
            owner = names[j - 1]  # a ring of foreign keys within the app
            _write(
                root / app / "models" / f"item{j}.py",
                MODEL.format(name=name, app=app, owner=owner, index=f"{app}_item{j}_org_idx"),
            )
            models.append((app, name))
        _write(
            root / app / "models" / "__init__.py",
            "".join(
                f"from {app}.models.item{j} import {n}  # noqa: F401\n" for j, n in enumerate(names)
            ),
        )
    query_files = []
    for k in range(QUERY_MODULES):
        app, name = models[(k * 2) % len(models)]
        other_app, other = models[(k * 2 + 1) % len(models)]
        lines = [f"from {app}.models import {name}", f"from {other_app}.models import {other}", ""]
        for q in range(QUERYSETS_PER_MODULE):
            model = name if q % 2 == 0 else other
            lines += [
                "",
                f"def query_{q}(org, since, now, email, text, limit, ids, cutoff, pk):",
                f"    return {QUERYSETS[q].format(m=model)}",
                "",
            ]
        rel = Path(app) / "queries" / f"q{k:03d}.py"
        _write(root / rel, "\n".join(lines))
        _write(root / app / "queries" / "__init__.py", "")
        query_files.append(rel)
    return query_files


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def time_check(root: Path, files: list[Path]) -> tuple[float, float, int, str]:
    """One ``idxadvisor check`` process: (wall seconds, CPU seconds, exit code, report).

    CPU time (user + system of the child) is printed too: on a shared machine it is the
    steadier figure, and the check is single-threaded, so on an idle machine wall ≈ CPU.
    """
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "idxadvisor", "check", *map(str, files)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"idxadvisor check failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed, cpu, proc.returncode, proc.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--changed", type=int, default=20, help="changed files per run")
    parser.add_argument("--keep", type=Path, help="generate here and keep it (must not exist)")
    args = parser.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="idxadvisor-check-bench-"))
    try:
        if args.keep:
            root.mkdir(parents=True)
        files = generate(root)
        model_files = len(list(root.glob("app*/models/item*.py")))
        changed = files[:: max(1, len(files) // args.changed)][: args.changed]
        _, _, code, report = time_check(root, changed)  # warm-up
        runs = [time_check(root, changed) for _ in range(args.runs)]
        times = [r[0] for r in runs]
        cpu = [r[1] for r in runs]
        print(
            f"project: {model_files} model files, {len(files) * QUERYSETS_PER_MODULE} "
            f"querysets in {len(files)} modules; cpus: {os.cpu_count()}"
        )
        print(f"changed files: {len(changed)}; findings: {len(report.splitlines())} (exit {code})")
        print("runs: " + ", ".join(f"{t:.3f}" for t in times))
        print(
            f"median: {statistics.median(times):.3f} s wall, "
            f"{statistics.median(cpu):.3f} s CPU; load average {os.getloadavg()[0]:.2f}"
        )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
