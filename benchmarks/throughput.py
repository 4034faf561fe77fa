"""Analysis throughput: idxadvisor's workload and patterns stages against a bare sqlglot parse.

    >>> len(synthetic_statements(3)), len(set(synthetic_statements(3)))
    (3, 3)
    >>> result = measure(synthetic_workload(1_000))  # doctest: +SKIP
    >>> result["workload_and_patterns"]["shapes_per_second"] > 0  # doctest: +SKIP
    True

The same statements go through, each timed on its own:

* ``parse``: ``sqlglot.parse_one(sql, read="postgres")`` for every statement, nothing else;
* ``workload``: idxadvisor's ``workload.build_workload`` (fingerprint, deduplicate);
* ``patterns``: idxadvisor's ``patterns.analyse`` on that workload (per-table access patterns);
* ``workload_and_patterns``: the two together, idxadvisor's analysis end to end.

Each is the best of ``--repeats`` runs, and idxadvisor's caches (by statement text) are emptied
before each run of its stages, so every run is as cold as one ``idxadvisor analyze``.

The statements are either synthetic (``--shapes N`` distinct statements over the example's
tables: filters with =, IN, ranges, IS NULL, LIKE prefixes, UPPER(...), joins, ORDER BY,
LIMIT, UPDATE and DELETE) or, with ``--corpus``, every call the real-world benchmark apps'
capture files record (``benchmarks/realworld/.work/*/capture.jsonl``, written by
``python -m benchmarks.realworld``: a statement that ran 500 times is 500 statements).

``--sqlglotc`` repeats the measurement with sqlglot's mypyc-compiled build (PyPI ``sqlglotc``)
in a cached virtual environment, so the project's own environment is never switched behind its
back. sqlglotc only works with the sqlglot of its own version; when ours has none yet, the
newest version that has one is used (what ``pip install 'idxadvisor[fast]'`` resolves to), and
the pure-Python parse of that same version is measured in a second cached environment: sqlglot
has no switch for it, since sqlglotc overlays compiled modules on sqlglot's own ``.py`` files
and Python's import prefers an extension module over a ``.py`` file of the same name.

Command line::

    python -m benchmarks.throughput [--shapes 10000 | --corpus] [--repeats 3] [--sqlglotc] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot.errors import SqlglotError

from idxadvisor import patterns
from idxadvisor.patterns.parse import COMPILED
from idxadvisor.sources.capture.workload_file import read_workload_file
from idxadvisor.types.workload import Statement
from idxadvisor.workload import build_workload

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "idxadvisor-benchmarks"
# What the real-world benchmark apps captured (python -m benchmarks.realworld), from ROOT.
CAPTURES = "benchmarks/realworld/.work/*/capture.jsonl"

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


def synthetic_workload(count: int) -> list[Statement]:
    """:func:`synthetic_statements` as the statements of a ``.sql`` file."""
    return [Statement(sql, source="sql") for sql in synthetic_statements(count)]


def corpus_statements(root: Path = ROOT) -> tuple[list[Statement], list[Path]]:
    """Every call the real-world capture files under ``root`` record, and those files.

    Each call is one statement as it ran (``calls`` 1): the workload a capture of that run
    would hold before idxadvisor deduplicates it.

    >>> corpus_statements(Path("/nonexistent"))
    ([], [])
    """
    paths = sorted(root.glob(CAPTURES))
    statements: list[Statement] = []
    for path in paths:
        found, _ = read_workload_file(path, unattributed=True)
        statements.extend(
            Statement(s.sql, s.origin, s.source) for s in found for _ in range(s.calls)
        )
    return statements, paths


def snapshot_corpus(into: Path) -> list[Path]:
    """Copy the capture files under ``into`` (same layout), so that every interpreter measured
    reads the same statements even while the real-world benchmark rewrites them."""
    copied = []
    for path in sorted(ROOT.glob(CAPTURES)):
        target = into / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied.append(target)
    return copied


def _digest(statements: Sequence[Statement]) -> str:
    """A short digest of the statement texts in order: equal digests, the same statements."""
    texts = hashlib.sha256()
    for statement in statements:
        texts.update(statement.sql.encode())
        texts.update(b"\0")
    return texts.hexdigest()[:16]


def _cold() -> None:
    """Empty idxadvisor's caches by statement text, so a timed run parses everything afresh."""
    for name, module in list(sys.modules.items()):
        if name.startswith("idxadvisor.") and module is not None:
            for value in list(vars(module).values()):
                # functools.cache / lru_cache wrappers; asked of the type, so that no lazy
                # object (Django's settings) is woken by the question
                if hasattr(type(value), "cache_clear"):
                    value.cache_clear()


def _best_of(repeats: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest of ``repeats`` timings (the least disturbed by other load), and a result."""
    best, result = float("inf"), None
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def _bare_parse(statements: Sequence[Statement]) -> int:
    """Parse each statement with sqlglot alone, keeping nothing; how many it could not read."""
    failed = 0
    for statement in statements:
        try:
            sqlglot.parse_one(statement.sql, read="postgres")
        except SqlglotError:
            failed += 1
    return failed


def _analysis(statements: Sequence[Statement]) -> tuple[float, float, Any, Any]:
    """One cold run of the workload stage, then the patterns stage: both times and results."""
    _cold()
    started = time.perf_counter()
    workload = build_workload(statements)
    built = time.perf_counter()
    found = patterns.analyse(workload)
    return built - started, time.perf_counter() - built, workload, found


def measure(statements: Sequence[Statement], repeats: int = 3) -> dict[str, Any]:
    """Time a bare sqlglot parse, idxadvisor's workload stage and its patterns stage.

    Each runs ``repeats`` times and the shortest time counts, as ``timeit`` does; for
    idxadvisor's stages, the run whose two stages together took least.
    """
    result: dict[str, Any] = {
        "statements": len(statements),
        "statements_digest": _digest(statements),
        "sqlglot_version": sqlglot.__version__,
        "sqlglot_compiled": COMPILED,
        "python": sys.version.split()[0],
        "timing": f"best of {max(1, repeats)}, idxadvisor's caches emptied before each run",
        # The figures are only comparable with others taken under the same load.
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    parse_seconds, failed = _best_of(repeats, lambda: _bare_parse(statements))
    result["parse"] = {
        "seconds": round(parse_seconds, 3),
        "statements_per_second": round(len(statements) / parse_seconds, 1),
        "unparsable": failed,
    }
    runs = [_analysis(statements) for _ in range(max(1, repeats))]
    workload_seconds, patterns_seconds, workload, (found, skipped) = min(
        runs, key=lambda run: run[0] + run[1]
    )
    both = workload_seconds + patterns_seconds
    shapes = len(workload.queries)
    result["distinct_shapes"] = shapes
    result["workload"] = {
        "seconds": round(workload_seconds, 3),
        "shapes_per_second": round(shapes / workload_seconds, 1),
    }
    result["patterns"] = {
        "seconds": round(patterns_seconds, 3),
        "access_patterns": len(found),
        "skipped": len(skipped),
        "shapes_per_second": round(shapes / patterns_seconds, 1),
    }
    result["workload_and_patterns"] = {
        "seconds": round(both, 3),
        "shapes_per_second": round(shapes / both, 1),
        "statements_per_second": round(len(statements) / both, 1),
        "over_bare_parse": round(both / parse_seconds, 3),
    }
    return result


def sqlglotc_version(ours: str, available: Sequence[str]) -> tuple[str, str | None]:
    """The sqlglot version to measure sqlglotc with, and why it is not ours when it is not.

    ``available`` is sqlglotc's versions on PyPI, newest first (as ``pip index`` lists them).

    >>> sqlglotc_version("30.30.0", ["30.30.0", "30.29.0"])
    ('30.30.0', None)
    >>> sqlglotc_version("30.31.0", ["30.30.0", "30.29.0"])[0]
    '30.30.0'
    """
    if ours in available:
        return ours, None
    if not available:
        raise RuntimeError("PyPI lists no sqlglotc version")
    newest = available[0]
    return newest, (
        f"sqlglotc {ours} (our sqlglot's version) is not on PyPI: sqlglot and sqlglotc "
        f"{newest} are measured instead, the newest pair, which 'idxadvisor[fast]' resolves to"
    )


def _sqlglotc_versions() -> list[str]:
    index = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "sqlglotc", "--json"],
        capture_output=True,
        text=True,
    )
    if index.returncode != 0:
        raise RuntimeError(f"pip index versions sqlglotc failed: {_last_line(index.stderr)}")
    versions: list[str] = json.loads(index.stdout)["versions"]
    return versions


def cached_venv(name: str, requirements: Sequence[str]) -> Path:
    """The python of a cached venv holding only ``requirements``; the rest comes from ours.

    A ``.pth`` file adds this interpreter's site-packages after the venv's own, so idxadvisor
    (editable) and its other dependencies still import, while the venv's sqlglot comes first.
    The ``.pth`` file is written last: a venv without it is a failed build, made anew.
    """
    venv = CACHE / name
    python = venv / "bin" / "python"
    marker = "zz_idxadvisor_benchmarks.pth"
    if any(venv.glob(f"lib/python*/site-packages/{marker}")):
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *requirements],
        capture_output=True,
        text=True,
    )
    if pip.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError(f"pip install {' '.join(requirements)} failed: {_last_line(pip.stderr)}")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    )
    ours = sysconfig.get_paths()["purelib"]
    Path(site.stdout.strip(), marker).write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if not line.startswith("WARNING:")]
    return (lines or ["(no message)"])[-1][:300]


def _measure_in(python: Path, statements_args: list[str], repeats: int) -> dict[str, Any]:
    """:func:`measure` run by another interpreter (a cached venv) on the same statements."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    command = [str(python), "-m", "benchmarks.throughput", *statements_args]
    command += ["--repeats", str(repeats), "--json"]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{python}: {_last_line(proc.stderr)}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def comparison(pure: dict[str, Any], compiled: dict[str, Any]) -> dict[str, Any]:
    """The issue's figures: pure and compiled parse, and idxadvisor end to end with each.

    >>> pure = {"parse": {"seconds": 4.0}, "workload_and_patterns": {"seconds": 0.5}}
    >>> compiled = {"parse": {"seconds": 2.0}, "workload_and_patterns": {"seconds": 0.25}}
    >>> figures = comparison(pure, compiled)
    >>> figures["end_to_end_pure_over_bare_pure"], figures["end_to_end_compiled_over_bare_pure"]
    (0.125, 0.062)
    """
    bare = pure["parse"]["seconds"]
    return {
        "bare_parse_pure_s": bare,
        "bare_parse_compiled_s": compiled["parse"]["seconds"],
        "end_to_end_pure_s": pure["workload_and_patterns"]["seconds"],
        "end_to_end_compiled_s": compiled["workload_and_patterns"]["seconds"],
        # The targets: at most 1.25 in pure Python, under 1 with sqlglotc.
        "end_to_end_pure_over_bare_pure": round(pure["workload_and_patterns"]["seconds"] / bare, 3),
        "end_to_end_compiled_over_bare_pure": round(
            compiled["workload_and_patterns"]["seconds"] / bare, 3
        ),
        "compiled_parse_speedup": round(bare / compiled["parse"]["seconds"], 2),
    }


def measure_with_sqlglotc(
    statements_args: list[str], repeats: int, ours: dict[str, Any]
) -> dict[str, Any]:
    """:func:`measure` with the compiled sqlglot, and with the same version in pure Python.

    ``ours`` is this interpreter's measurement: the pure-Python one when its version is the
    compiled one's. The result holds the compiled measurement's keys, or only why it could
    not run.
    """
    try:
        version, note = sqlglotc_version(sqlglot.__version__, _sqlglotc_versions())
        compiled = _measure_in(
            cached_venv(f"sqlglotc-{version}", [f"sqlglot=={version}", f"sqlglotc=={version}"]),
            statements_args,
            repeats,
        )
        pure = ours
        if version != ours["sqlglot_version"]:
            python = cached_venv(f"sqlglot-{version}", [f"sqlglot=={version}"])
            pure = _measure_in(python, statements_args, repeats)
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        return {"status": f"did not run: {_last_line(str(exc))}"}
    if not compiled["sqlglot_compiled"]:
        return {"status": "did not run: sqlglotc installed but sqlglot still imports as .py"}
    if pure["sqlglot_compiled"] or pure["sqlglot_version"] != compiled["sqlglot_version"]:
        return {"status": "did not run: no pure-Python sqlglot of the compiled one's version"}
    if len({r["statements_digest"] for r in (ours, pure, compiled)}) != 1:
        return {"status": "did not run: the interpreters measured different statements"}
    result: dict[str, Any] = {"status": "ok", "version_note": note, **compiled}
    if pure is not ours:
        result["pure_same_version"] = pure
    result["comparison"] = {"sqlglot_version": version, **comparison(pure, compiled)}
    return result


def run(
    count: int, with_sqlglotc: bool, repeats: int = 3, *, corpus: bool = False
) -> dict[str, Any]:
    """Pure-Python sqlglot in this interpreter, and optionally the compiled build."""
    if not corpus:
        statements_args = ["--shapes", str(count)]
        result: dict[str, Any] = {"source": f"synthetic: {count} distinct statements"}
        result["pure"] = measure(synthetic_workload(count), repeats)
        if with_sqlglotc:
            result["sqlglotc"] = measure_with_sqlglotc(statements_args, repeats, result["pure"])
        return result
    with tempfile.TemporaryDirectory(prefix="idxadvisor-corpus-") as snapshot:
        paths = snapshot_corpus(Path(snapshot))
        statements, _ = corpus_statements(Path(snapshot))
        if not statements:
            raise SystemExit(
                f"benchmarks.throughput: no statements in {CAPTURES}: "
                "run python -m benchmarks.realworld first"
            )
        result = {"source": f"corpus: every call in {len(paths)} capture files ({CAPTURES})"}
        result["pure"] = measure(statements, repeats)
        if with_sqlglotc:
            statements_args = ["--corpus-root", snapshot]
            result["sqlglotc"] = measure_with_sqlglotc(statements_args, repeats, result["pure"])
    return result


def summary(result: dict[str, Any]) -> list[str]:
    """A few lines for a reader: each measurement's parse and end-to-end time."""
    lines = [str(result["source"])]
    compiled = result.get("sqlglotc", {})
    rows = [("pure", result["pure"]), ("pure", compiled.get("pure_same_version"))]
    if compiled.get("status") == "ok":
        rows.append(("sqlglotc", compiled))
    elif compiled:
        lines.append(f"sqlglotc: {compiled['status']}")
    for label, r in rows:
        if r:
            both = r["workload_and_patterns"]
            lines.append(
                f"sqlglot {r['sqlglot_version']} {label}: {r['statements']:,} statements, "
                f"{r['distinct_shapes']:,} distinct; bare parse {r['parse']['seconds']:.3f} s, "
                f"idxadvisor end to end {both['seconds']:.3f} s "
                f"({both['over_bare_parse']:.3f} x its own bare parse)"
            )
    if compiled.get("version_note"):
        lines.append(compiled["version_note"])
    if "comparison" in compiled:
        c = compiled["comparison"]
        lines.append(
            f"sqlglot {c['sqlglot_version']}: end to end over bare pure parse: "
            f"{c['end_to_end_pure_over_bare_pure']:.3f} pure (target <= 1.25), "
            f"{c['end_to_end_compiled_over_bare_pure']:.3f} sqlglotc (target < 1); "
            f"compiled parse {c['compiled_parse_speedup']:.2f}x faster than pure"
        )
    pure = result["pure"]
    lines.append(f"{pure['cpus']} CPUs, 1-minute load average {pure['load_average_1min']}")
    return lines


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput", description=__doc__.split("\n\n")[0]
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--shapes", type=_positive, default=10_000, help="synthetic statements")
    which.add_argument(
        "--corpus", action="store_true", help="the real-world apps' captured statements instead"
    )
    # The corpus as the parent process copied it: what a measured interpreter reads.
    which.add_argument("--corpus-root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--sqlglotc",
        action="store_true",
        help="also measure with the compiled sqlglot (cached venv)",
    )
    parser.add_argument("--repeats", type=_positive, default=3, help="best of N timings")
    parser.add_argument("--json", action="store_true", help="print only this interpreter's JSON")
    args = parser.parse_args(argv)
    if args.json:
        if args.corpus or args.corpus_root:
            statements, _ = corpus_statements(args.corpus_root or ROOT)
            if not statements:
                parser.error(f"no statements in {CAPTURES}")
        else:
            statements = synthetic_workload(args.shapes)
        print(json.dumps(measure(statements, args.repeats)))
        return 0
    result = run(args.shapes, args.sqlglotc, args.repeats, corpus=args.corpus)
    print(json.dumps(result, indent=2))
    print("\n".join(summary(result)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
