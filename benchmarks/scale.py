"""Scale of the front of the pipeline: real captured corpus, literal variants, a 50 MB file.

Three measurements (numbers for the report, never asserted in tests), each in a fresh
subprocess so its peak memory is its own (``peak_mb``: peak RSS, ``resource.getrusage``;
``wall_s``: the subprocess from start to exit, interpreter and imports included; ``seconds``:
the measured work alone):

* ``corpus``: every statement the real-world capture files under
  ``benchmarks/realworld/.work/*/capture.jsonl`` record (each call counts: a statement that ran
  500 times is 500 statements), end to end through ``build_workload`` and ``analyse``, against
  a bare ``sqlglot.parse_one`` of the same statements, in the same run;
* ``variants``: 40,000 literal variants of one statement in a ``.sql`` file → ONE query;
* ``big``: a 50 MB ``.sql`` file of 300,000 statements (four shapes, literal values, each
  statement with a comment line before it and a sqlcommenter-style ``traceparent`` comment
  after it, as an application's log holds them), read through ``build_workload`` and
  ``analyse``.

Command line::

    python -m benchmarks.scale [--json]
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlglot

from idxadvisor.patterns.extractor import analyse
from idxadvisor.sources.capture.workload_file import read_workload_file
from idxadvisor.sources.sqlfile import iter_sql_files
from idxadvisor.types.workload import Statement
from idxadvisor.workload import build_workload

TEMPLATES = [
    "SELECT * FROM hook WHERE status = 'pending' AND user_id = {n} ORDER BY created_at LIMIT 50",
    "UPDATE hook SET attempts = {n}, note = '{s}' WHERE id = {m}",
    "SELECT h.id, u.email FROM hook h JOIN users u ON u.id = h.user_id WHERE u.email = '{s}'",
    "DELETE FROM log WHERE created_at < '2024-01-{d:02d}' AND org_id = {n}",
]


def _corpus() -> dict[str, float]:
    statements: list[Statement] = []
    for path in sorted(glob.glob("benchmarks/realworld/.work/*/capture.jsonl")):
        found, _ = read_workload_file(path, unattributed=True)
        statements.extend(found)
    # Each call is a statement as it ran: the workload a capture of that run would hold.
    expanded = [s for s in statements for _ in range(s.calls)]
    singles = [Statement(s.sql, s.origin, s.source) for s in expanded]
    start = time.perf_counter()
    for s in singles:
        sqlglot.parse_one(s.sql, read="postgres")
    bare = time.perf_counter() - start
    bare_peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    workload = build_workload(singles)
    analyse(workload)
    ours = time.perf_counter() - start
    return {
        "statements": len(singles),
        "distinct": len(workload.queries),
        "bare_parse_s": round(bare, 3),
        "end_to_end_s": round(ours, 3),
        "ratio": round(ours / bare, 3),
        "bare_peak_mb": round(bare_peak_kb / 1024, 1),
        "peak_mb": _peak_mb(),
    }


def _write(path: Path, count: int, templates: list[str], *, traced: bool = False) -> None:
    rng = random.Random(0)
    with path.open("w") as out:
        for i in range(count):
            text = templates[i % len(templates)].format(
                n=rng.randrange(10**9),
                m=rng.randrange(10**9),
                d=rng.randrange(1, 29),
                s="".join(rng.choice("abcdefghij") for _ in range(12)),
            )
            if traced:  # what sqlcommenter appends: a different trace id on every statement
                trace = f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01"
                text += f" /*traceparent='{trace}'*/"
            out.write(f"-- statement {i}\n{text};\n")


def _read(path: str) -> dict[str, float]:
    start = time.perf_counter()
    workload = build_workload(s for s in iter_sql_files([Path(path)]) if isinstance(s, Statement))
    patterns, skipped = analyse(workload)
    elapsed = time.perf_counter() - start
    return {
        "statements": sum(q.calls for q in workload.queries),
        "queries": len(workload.queries),
        "patterns": len(patterns),
        "skipped": len(skipped),
        "seconds": round(elapsed, 2),
        "peak_mb": _peak_mb(),
    }


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _in_subprocess(*args: str) -> dict[str, float]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out)
    result["wall_s"] = round(time.perf_counter() - start, 2)
    return result


def corpus() -> dict[str, float]:
    return _in_subprocess("--corpus")


def variants() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "variants.sql"
        _write(path, 40_000, TEMPLATES[:1])
        return _in_subprocess("--read", str(path))


def big() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "big.sql"
        _write(path, BIG_STATEMENTS, TEMPLATES, traced=True)
        result = _in_subprocess("--read", str(path))
        result["file_mb"] = round(path.stat().st_size / 2**20, 1)
        return result


BIG_STATEMENTS = 300_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--read", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        print(json.dumps(_read(args.read)))
        return
    if args.corpus:
        print(json.dumps(_corpus()))
        return
    results = {"corpus": corpus(), "variants": variants(), "big": big()}
    print(json.dumps(results, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
