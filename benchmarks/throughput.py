"""Analysis throughput: distinct query shapes per second, idxadvisor's stages vs a bare parse.

    >>> result = measure(synthetic_statements(1_000))  # doctest: +SKIP
    >>> result["workload"]["shapes_per_second"] > 0
    True

A synthetic workload of N distinct statements over the example's tables (filters with =, IN,
ranges, IS NULL, LIKE prefixes, UPPER(...), joins, ORDER BY, LIMIT, UPDATE and DELETE) goes
through, each timed on its own:

* ``parse``: ``sqlglot.parse_one(sql, read="postgres")`` for every statement, nothing else;
* ``workload``: idxadvisor's ``workload.build_workload`` (fingerprint, deduplicate);
* ``patterns``: idxadvisor's ``patterns.analyse`` on that workload (per-table access patterns).

``--sqlglotc`` repeats the measurement with sqlglot's mypyc-compiled build (PyPI ``sqlglotc``,
the same version as sqlglot) in a separate cached virtual environment, so the project's own
environment is never switched to the compiled build behind its back.

Command line::

    python -m benchmarks.throughput --shapes 10000 [--repeats 3] [--sqlglotc] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlglot

from idxadvisor import patterns
from idxadvisor.types.workload import Statement
from idxadvisor.workload import build_workload

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "idxadvisor-benchmarks"

# The example's tables: column -> kind (what kinds of predicate make sense on it).
TABLES: dict[str, dict[str, str]] = {
    "monitoring_userprofile": {
        "id": "int",
        "user_id": "int",
        "organisation": "int",
        "email": "text",
        "display_name": "text",
        "timezone": "text",
        "last_seen_at": "time",
        "is_active": "bool",
        "created_at": "time",
    },
    "monitoring_notificationchannel": {
        "id": "int",
        "organisation": "int",
        "owner_id": "int",
        "name": "text",
        "kind": "text",
        "target_url": "text",
        "disabled_at": "time",
        "created_at": "time",
    },
    "monitoring_alertrule": {
        "id": "int",
        "organisation": "int",
        "owner_id": "int",
        "channel_id": "int",
        "name": "text",
        "severity": "text",
        "is_active": "bool",
        "evaluation_interval": "int",
        "next_evaluation_at": "time",
        "last_triggered_at": "time",
        "created_at": "time",
        "updated_at": "time",
    },
    "monitoring_webhookdelivery": {
        "id": "int",
        "channel_id": "int",
        "rule_id": "int",
        "status": "text",
        "attempts": "int",
        "next_retry_at": "time",
        "response_code": "int",
        "created_at": "time",
        "delivered_at": "time",
    },
    "monitoring_integrationlog": {
        "id": "int",
        "organisation": "int",
        "integration": "text",
        "level": "text",
        "message": "text",
        "created_at": "time",
    },
}
JOINS = [  # (child, fk column, parent)
    ("monitoring_webhookdelivery", "channel_id", "monitoring_notificationchannel"),
    ("monitoring_webhookdelivery", "rule_id", "monitoring_alertrule"),
    ("monitoring_alertrule", "channel_id", "monitoring_notificationchannel"),
    ("monitoring_alertrule", "owner_id", "monitoring_userprofile"),
    ("monitoring_notificationchannel", "owner_id", "monitoring_userprofile"),
]


class _Params:
    """Numbers $1, $2, … in order of appearance, always with a space after commas."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"${self.n}"


def _predicate(rng: random.Random, table: str, column: str, kind: str, p: _Params) -> str:
    col = f'"{table}"."{column}"'
    if kind == "bool":
        return f"{col} = {rng.choice(['TRUE', 'FALSE'])}"
    if kind == "time":
        return rng.choice(
            [
                f"{col} >= {p()}",
                f"{col} < {p()}",
                f"{col} <= {p()}",
                f"{col} IS NULL",
                f"{col} IS NOT NULL",
                f"{col} BETWEEN {p()} AND {p()}",
            ]
        )
    if kind == "int":
        n = rng.randint(1, 500)
        return rng.choice(
            [
                f"{col} = {p()}",
                f"{col} IN ({p()}, {p()}, {p()})",
                f"{col} > {n}",
                f"{col} = {n}",
                f"{col} IS NULL",
            ]
        )
    word = rng.choice(["pending", "failed", "error", "slack", "info", "critical", "a", "x"])
    return rng.choice(
        [
            f"{col} = {p()}",
            f"{col} = '{word}'",
            f"{col} IN ('{word}', 'z{word}')",
            f"UPPER({col}::text) = UPPER({p()})",
            f"{col} LIKE '{word}%'",
            f"{col} <> '{word}'",
        ]
    )


def synthetic_statements(count: int, seed: int = 7) -> list[str]:
    """``count`` different statements (as text) over the example's tables, reproducibly."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < count:
        p = _Params()
        shape = rng.random()
        if shape < 0.2:  # join
            child, fk, parent = rng.choice(JOINS)
            preds = [
                _predicate(rng, t, c, TABLES[t][c], p)
                for t in (child, parent)
                for c in rng.sample(sorted(TABLES[t]), rng.randint(0, 2))
            ]
            where = f" WHERE {' AND '.join(preds)}" if preds else ""
            sql = (
                f'SELECT "{child}"."id" FROM "{child}" INNER JOIN "{parent}" ON '
                f'("{child}"."{fk}" = "{parent}"."id"){where} '
                f'ORDER BY "{child}"."id" DESC LIMIT {rng.randint(1, 200)}'
            )
        else:
            table = rng.choice(sorted(TABLES))
            columns = TABLES[table]
            chosen = rng.sample(sorted(columns), rng.randint(1, min(4, len(columns))))
            where = " AND ".join(_predicate(rng, table, c, columns[c], p) for c in chosen)
            if shape < 0.3:
                sql = f'DELETE FROM "{table}" WHERE {where}'
            elif shape < 0.4:
                target = rng.choice(sorted(columns))
                sql = f'UPDATE "{table}" SET "{target}" = {p()} WHERE {where}'
            else:
                order = rng.choice(sorted(columns))
                direction = rng.choice(["", " DESC"])
                limit = f" LIMIT {rng.randint(1, 1000)}" if rng.random() < 0.7 else ""
                sql = (
                    f'SELECT "{table}".* FROM "{table}" WHERE {where} '
                    f'ORDER BY "{table}"."{order}"{direction}{limit}'
                )
        seen[sql] = None
    return list(seen)


def _compiled() -> bool:
    return sqlglot.parser.__file__.endswith((".so", ".pyd"))


def _best_of(repeats: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest of ``repeats`` timings (the least disturbed by other load), and a result."""
    best, result = float("inf"), None
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure(statements: list[str], repeats: int = 3) -> dict[str, Any]:
    """Time a bare sqlglot parse, idxadvisor's workload stage and its patterns stage.

    Each stage runs ``repeats`` times and the shortest time counts, as ``timeit`` does.
    """
    result: dict[str, Any] = {
        "statements": len(statements),
        "sqlglot_version": sqlglot.__version__,
        "sqlglot_compiled": _compiled(),
        "python": sys.version.split()[0],
        "timing": f"best of {max(1, repeats)}",
    }
    parse_seconds, _ = _best_of(
        repeats, lambda: [sqlglot.parse_one(sql, read="postgres") for sql in statements]
    )
    result["parse"] = {
        "seconds": round(parse_seconds, 3),
        "statements_per_second": round(len(statements) / parse_seconds, 1),
    }

    workload_seconds, workload = _best_of(
        repeats, lambda: build_workload(Statement(sql, source="sql") for sql in statements)
    )
    shapes = len(workload.queries)
    result["distinct_shapes"] = shapes
    result["workload"] = {
        "seconds": round(workload_seconds, 3),
        "shapes_per_second": round(shapes / workload_seconds, 1),
    }
    try:
        patterns_seconds, (found, skipped) = _best_of(repeats, lambda: patterns.analyse(workload))
    except NotImplementedError:
        result["patterns"] = {"status": "not implemented yet in idxadvisor.patterns.extractor"}
        return result
    both = workload_seconds + patterns_seconds
    result["patterns"] = {
        "seconds": round(patterns_seconds, 3),
        "access_patterns": len(found),
        "skipped": len(skipped),
        "shapes_per_second": round(shapes / patterns_seconds, 1),
    }
    result["workload_and_patterns"] = {
        "seconds": round(both, 3),
        "shapes_per_second": round(shapes / both, 1),
    }
    return result


def sqlglotc_python() -> Path:
    """A cached venv whose sqlglot is the compiled build; everything else comes from ours.

    The venv holds only sqlglot and sqlglotc of our sqlglot's version; a ``.pth`` file adds this
    interpreter's site-packages after its own, so idxadvisor (editable) and the rest still import.
    """
    venv = CACHE / f"sqlglotc-{sqlglot.__version__}"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            f"sqlglot=={sqlglot.__version__}",
            f"sqlglotc=={sqlglot.__version__}",
        ],
        capture_output=True,
        text=True,
    )
    if pip.returncode != 0:
        raise RuntimeError(f"pip install sqlglotc failed: {pip.stderr.strip()[-500:]}")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    )
    ours = sysconfig.get_paths()["purelib"]
    Path(site.stdout.strip(), "zz_idxadvisor_benchmarks.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n"
    )
    return python


def measure_with_sqlglotc(count: int, repeats: int = 3) -> dict[str, Any]:
    """:func:`measure` in the sqlglotc venv, or why it could not run."""
    try:
        python = sqlglotc_python()
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        return {"status": f"did not run: {str(exc).strip().splitlines()[-1][:300]}"}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    command = [
        str(python),
        "-m",
        "benchmarks.throughput",
        "--shapes",
        str(count),
        "--repeats",
        str(repeats),
        "--json",
    ]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        return {"status": f"did not run: {proc.stderr.strip().splitlines()[-1][:300]}"}
    result = json.loads(proc.stdout)
    if not result.get("sqlglot_compiled"):
        return {"status": "did not run: sqlglotc installed but sqlglot still imports as .py"}
    return {"status": "ok", **result}


def run(count: int, with_sqlglotc: bool, repeats: int = 3) -> dict[str, Any]:
    """Pure-Python sqlglot in this interpreter, and optionally the compiled build."""
    result: dict[str, Any] = {"pure": measure(synthetic_statements(count), repeats)}
    if with_sqlglotc:
        result["sqlglotc"] = measure_with_sqlglotc(count, repeats)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--shapes", type=int, default=10_000)
    parser.add_argument(
        "--sqlglotc",
        action="store_true",
        help="also measure with the compiled sqlglot (cached venv)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings per stage")
    parser.add_argument("--json", action="store_true", help="print only this interpreter's JSON")
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(measure(synthetic_statements(args.shapes), args.repeats)))
        return 0
    print(json.dumps(run(args.shapes, args.sqlglotc, args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
