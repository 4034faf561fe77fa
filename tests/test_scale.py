"""Scale behaviour: literal variants fold to one query, streaming and parallel reading give the
same result as reading everything at once in order. Behaviour only: timings live in
``benchmarks/`` (never asserted here)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from idxadvisor.patterns.extractor import analyse
from idxadvisor.sources.capture.runtime import numbered_sql
from idxadvisor.sources.sqlfile import iter_sql_files, read_sql_files
from idxadvisor.sql.fingerprint import Folder, fingerprint, shape
from idxadvisor.sql.literals import number_placeholders
from idxadvisor.types.access import Op
from idxadvisor.types.workload import Origin, Statement
from idxadvisor.workload import MAX_FILE_ORIGINS, build_workload

SHAPES = [
    "SELECT * FROM hook WHERE status = 'pending' AND user_id = {n} ORDER BY created_at LIMIT 50",
    "SELECT id FROM note WHERE body LIKE '{s}%' AND deleted = FALSE",
    "UPDATE hook SET attempts = {n} WHERE id = {m}",
    "SELECT * FROM t WHERE created_at >= DATE '2024-01-01' AND a = {n} ORDER BY 1",
]


def _variants(template: str, count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        template.format(
            n=rng.randrange(10**6),
            m=rng.randrange(10**6),
            s="".join(rng.choice("abcxyz") for _ in range(4)),
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("template", SHAPES)
@pytest.mark.parametrize("source", ["sql", "pg_stat_statements"])
def test_literal_variants_of_a_runtime_source_are_one_query(template: str, source: str) -> None:
    texts = _variants(template, 300)
    workload = build_workload(
        Statement(t, Origin("w.sql", i + 1), source=source) for i, t in enumerate(texts)
    )
    [query] = workload.queries
    # The first lines are kept as origins, the rest counted: memory follows shapes.
    assert query.calls == 300 and query.origin_count == 300
    assert len(query.origins) == MAX_FILE_ORIGINS and query.origins_left_out == 200
    # The constants that never vary stay, in the query's text and in what is read from it.
    for constant in ("'pending'", "FALSE", "DATE '2024-01-01'", "ORDER BY 1", "LIMIT 50"):
        assert (constant in query.sql) == (constant in template)
    patterns, skipped = analyse(workload)
    assert not skipped
    constants = {c for p in patterns for pr in p.predicates for c in pr.constants}
    assert "'pending'" in constants or "'pending'" not in template
    # The varying values are parameters: no number of a variant is left in the text.
    numbers = re.compile(r"\b\d{3,}\b")
    assert set(numbers.findall(query.sql)) <= set(numbers.findall(template))
    assert "$1" in query.sql


def test_a_constant_that_varies_folds_and_one_that_does_not_stays() -> None:
    texts = [
        f"SELECT * FROM hook WHERE status = '{s}' AND kind = 'mail'"
        for s in ("pending", "failed", "pending")
    ]
    [query] = build_workload(Statement(t, source="sql") for t in texts).queries
    assert query.sql == "SELECT * FROM hook WHERE status = $1 AND kind = 'mail'"
    [pattern], _ = analyse(build_workload([Statement(query.sql, source="sql")]))
    by_column = {p.column: p for p in pattern.predicates}
    assert by_column["kind"].constants == ("'mail'",) and by_column["status"].constants == ()


def test_code_sources_keep_every_literal() -> None:
    """Static scan and capture inline only the code's constants: each is its own query."""
    texts = [f"SELECT * FROM hook WHERE status = '{s}'" for s in ("pending", "failed")]
    for source in ("static", "capture"):
        workload = build_workload(Statement(t, Origin("a.py", 1), source=source) for t in texts)
        assert sorted(q.sql for q in workload.queries) == sorted(texts)


def test_one_origin_per_place_across_sources() -> None:
    sql = "SELECT * FROM t WHERE a = $1"
    workload = build_workload(
        [
            Statement(sql, Origin("app/q.py", 7, 8, "f"), source="static"),
            Statement(sql, Origin("app/q.py", 7), source="capture"),
            Statement(sql, Origin("app/q.py", 9), source="capture"),
        ]
    )
    [query] = workload.queries
    assert [(str(o), o.col) for o in query.origins] == [("app/q.py:7", 8), ("app/q.py:9", 0)]


def test_fingerprint_ignores_layout_and_parameter_numbering() -> None:
    assert fingerprint("select a from t where b in ($1,$2) -- x\n") == fingerprint(
        "SELECT a\n  FROM t WHERE b IN ($3)"
    )
    assert fingerprint("SELECT a FROM t WHERE b = %s") == fingerprint(
        "SELECT a FROM t WHERE b = $1"
    )
    assert fingerprint("SELECT 'a' FROM t") != fingerprint("SELECT 'b' FROM t")
    assert fingerprint("SELECT a FROM t WHERE x = 1") != fingerprint("SELECT a FROM t WHERE y = 1")


def test_folded_text_is_the_statement_with_new_parameters() -> None:
    folder = Folder()
    for v in ("1", "2"):
        folder.add(f"SELECT * FROM t WHERE a = $1 AND b = {v} AND c = 'x'")
    assert folder.folded("SELECT * FROM t WHERE a = $1 AND b = 2 AND c = 'x'") == (
        "SELECT * FROM t WHERE a = $1 AND b = $2 AND c = 'x'"
    )
    assert shape("SELECT 'unterminated").literals == ()


def test_several_statements_in_one_text_are_skipped_with_the_reason() -> None:
    workload = build_workload(
        [Statement("SELECT * FROM t WHERE a = 1; DELETE FROM t", Origin("w.sql", 1))]
    )
    patterns, skipped = analyse(workload)
    assert patterns == ()
    assert [s.reason for s in skipped] == [
        "2 statements in one text (each is read only on its own)"
    ]


def test_update_patterns_name_the_columns_they_set() -> None:
    workload = build_workload(
        [
            Statement(
                'UPDATE "t" SET "status" = $1, "attempts" = ("t"."attempts" + 1) '
                'WHERE "t"."id" = $2'
            )
        ]
    )
    [pattern], _ = analyse(workload)
    assert (pattern.kind, pattern.assigned) == ("update", ("status", "attempts"))
    assert [p.op for p in pattern.predicates] == [Op.EQ]


def _write_sql(path: Path, count: int) -> list[str]:
    rng = random.Random(1)
    texts = []
    for i in range(count):
        template = SHAPES[i % len(SHAPES)]
        texts.append(template.format(n=rng.randrange(10**6), m=rng.randrange(100), s="ab;c"))
    body = "".join(f"-- q{i}\n{t};\n\n" for i, t in enumerate(texts))
    body += "COPY t (a) FROM stdin;\n1\n2\n\\.\nSELECT 1 FROM t WHERE x = 'a;b';\n"
    path.write_text(body)
    return texts


def test_streaming_reader_gives_what_the_whole_file_reader_gives(tmp_path: Path) -> None:
    path = tmp_path / "w.sql"
    _write_sql(path, 200)
    statements, skipped = read_sql_files([path])
    items = list(iter_sql_files([path]))
    assert [i for i in items if isinstance(i, Statement)] == list(statements)
    assert [i for i in items if not isinstance(i, Statement)] == list(skipped)
    assert len(statements) == 201 and len(skipped) == 1
    stream = iter_sql_files([path])
    first = next(stream)  # a generator: the first statement comes before the file is split
    assert isinstance(first, Statement) and first.origin is not None
    assert (first.origin.line, first.sql) == (2, statements[0].sql)


def test_process_pool_gives_the_same_result_as_serial(tmp_path: Path) -> None:
    texts = []
    for i in range(600):
        texts.append(
            f"SELECT id FROM t{i} WHERE a = $1 AND b IN ('x', 'y') ORDER BY c DESC LIMIT 5"
        )
    texts += ["SELECT FROM WHERE", "CREATE TABLE x (a int)", "SELECT 1; SELECT 2"]
    workload = build_workload(Statement(t, Origin("w.sql", i + 1)) for i, t in enumerate(texts))
    serial = analyse(workload, workers=1)
    pooled = analyse(workload, workers=2)
    assert pooled == serial
    assert len(serial[0]) == 600 and len(serial[1]) == 3


PLACEHOLDER_INPUTS = [
    "SELECT a FROM t WHERE b = %s",
    "SELECT a FROM t WHERE b = %s AND c IN (%s, %s) LIMIT %s",
    "SELECT x %% 2 FROM t WHERE y = %s",
    "SELECT a FROM t WHERE b = %(name)s OR c = %(other)s OR d = %(name)s",
    "SELECT a FROM t",
    "UPDATE t SET a = %s WHERE b LIKE UPPER(%s)",
]


@pytest.mark.parametrize("sql", PLACEHOLDER_INPUTS)
def test_capture_runtime_numbers_placeholders_as_the_one_routine_does(sql: str) -> None:
    style = None if "%" not in sql else ("named" if "%(" in sql else "positional")
    assert numbered_sql(sql, style) == number_placeholders(sql)


def test_literal_variants_do_not_fill_the_per_text_cache() -> None:
    """Each variant of a log is a new text: kept in the per-text shape cache, memory would grow
    with the statements read, not with the distinct shapes."""
    texts = _variants(SHAPES[0], 2_000, seed=3)
    before = shape.cache_info()
    [query] = build_workload(
        Statement(t, Origin("w.sql", i + 1), source="sql") for i, t in enumerate(texts)
    ).queries
    after = shape.cache_info()
    assert query.calls == 2_000
    assert after.misses + after.hits - before.misses - before.hits <= 1


def test_code_call_sites_are_all_kept_and_file_lines_counted_past_the_first() -> None:
    # check matches a query's call sites against the changed files: none may be dropped.
    sql = "SELECT * FROM t WHERE a = $1"
    static = build_workload(
        Statement(sql, Origin(f"app/v{i}.py", 3), source="static") for i in range(250)
    )
    [query] = static.queries
    assert len(query.origins) == 250 and query.origins_left_out == 0
    mixed = build_workload(
        [
            *(Statement(sql, Origin("w.sql", i + 1), source="sql") for i in range(150)),
            Statement(sql, Origin("app/views.py", 9), source="static"),
        ]
    )
    [query] = mixed.queries
    assert Origin("app/views.py", 9) in query.origins
    assert query.origin_count == 151


def test_file_lines_stay_capped_when_two_shapes_of_a_file_are_one_query() -> None:
    # Texts with a parameter and texts with varying literals fold to one query: together they
    # still keep only the first file lines, and count the rest.
    statements = [
        *(Statement("SELECT * FROM t WHERE a = $1", Origin("w.sql", i + 1)) for i in range(150)),
        *(
            Statement(f"SELECT * FROM t WHERE a = {i}", Origin("w.sql", 1000 + i))
            for i in range(150)
        ),
    ]
    [query] = build_workload(statements).queries
    assert query.origin_count == 300
    assert len(query.origins) == MAX_FILE_ORIGINS
