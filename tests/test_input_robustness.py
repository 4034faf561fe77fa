"""Odd input costs only itself: one bad byte, one COPY block, one absurdly nested statement is
skipped with a one-line reason, and everything around it is still read (issue 10)."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from idxadvisor.patterns.extractor import analyse
from idxadvisor.sources.capture.workload_file import read_workload_file
from idxadvisor.sources.sqlfile import read_sql_files
from idxadvisor.types.workload import Origin, Statement
from idxadvisor.workload import MAX_NESTING, build_workload
from tests.helpers import TempDatabase, run_cli

NORMAL = "SELECT id FROM hook WHERE status = 'pending'"


def _analysed_tables(statements: tuple[Statement, ...]) -> tuple[list[str], list[str]]:
    """(tables read into patterns, skip reasons) for statements run through the pipeline."""
    patterns, skipped = analyse(build_workload(statements))
    return [p.table for p in patterns], [s.reason for s in skipped]


# --- invalid UTF-8 in a .sql workload ---------------------------------------------------------

BAD_BYTES = [
    b"\xff",  # never valid
    b"\x80",  # a continuation byte alone
    b"\xc3",  # a two-byte sequence cut short
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xe2\x82",  # a three-byte sequence cut short
]
PLACES = [
    b"SELECT id FROM t WHERE note = 'a{bad}b'",  # in a string
    b'SELECT "col{bad}" FROM t',  # in a quoted identifier
    b"SELECT id FROM t -- caf{bad}\nWHERE a = 1",  # in a comment inside the statement
    b"SELECT id{bad} FROM t",  # in bare SQL
]


@pytest.mark.parametrize("bad", BAD_BYTES, ids=lambda b: b.hex())
@pytest.mark.parametrize("place", PLACES, ids=["string", "identifier", "comment", "bare"])
def test_one_bad_byte_skips_one_statement(tmp_path: Path, bad: bytes, place: bytes) -> None:
    path = tmp_path / "w.sql"
    broken = place.replace(b"{bad}", bad)
    path.write_bytes(
        b"SELECT id FROM a WHERE x = 1;\n"
        b"-- caf\xc3\xa9: valid UTF-8 around it\n" + broken + b";\n"
        b"SELECT id FROM b WHERE y = 'caf\xc3\xa9';\n"
    )
    statements, skipped = read_sql_files([path])
    assert [(s.sql, s.origin.line) for s in statements] == [
        ("SELECT id FROM a WHERE x = 1", 1),
        ("SELECT id FROM b WHERE y = 'caf\u00e9'", 3 + broken.count(b"\n") + 1),
    ]
    [skip] = skipped
    bad_line = 3 + broken[: broken.index(bad)].count(b"\n")
    assert skip.reason == f"not valid UTF-8: byte 0x{bad[0]:02x} at line {bad_line}"
    assert skip.origin == Origin(skip.origin.path, 3) and skip.kind == "query"
    # What is kept of it prints and serialises: the bad bytes are shown as U+FFFD.
    assert "\ufffd" in skip.sql
    json.dumps(skip.sql, ensure_ascii=False).encode("utf-8")


def test_a_byte_order_mark_is_not_part_of_the_first_statement(tmp_path: Path) -> None:
    path = tmp_path / "w.sql"
    path.write_bytes(b"\xef\xbb\xbf" + NORMAL.encode() + b";\n")
    statements, skipped = read_sql_files([path])
    assert [s.sql for s in statements] == [NORMAL] and skipped == ()


# --- invalid UTF-8 and odd records in a capture file ------------------------------------------

HEADER = {"kind": "header", "format": "idxadvisor-capture", "version": 1, "created": "now"}


def _record(sql: str, line: int, **extra: object) -> dict:
    return {
        "kind": "statement",
        "process": "p",
        "sql": sql,
        "calls": 2,
        "total_ms": 1.0,
        "origin": {"path": "app/q.py", "line": line, "function": "f"},
        "constants": {},
        **extra,
    }


def _good_lines() -> list[bytes]:
    return [json.dumps(HEADER).encode(), json.dumps(_record(NORMAL, 5)).encode()]


@pytest.mark.parametrize("bad", BAD_BYTES, ids=lambda b: b.hex())
def test_capture_file_bad_bytes_cost_one_line(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "w.jsonl"
    broken = json.dumps(_record("SELECT id FROM t WHERE a = 'X'", 9)).encode()
    broken = broken.replace(b"X", bad)
    lines = [*_good_lines(), broken, json.dumps(_record("SELECT id FROM u", 12)).encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    statements, skipped = read_workload_file(path)
    assert [(s.sql, s.origin.line) for s in statements] == [(NORMAL, 5), ("SELECT id FROM u", 12)]
    [skip] = skipped
    assert skip.origin.line == 3
    assert re.fullmatch(rf"not valid UTF-8: byte 0x{bad[0]:02x} at column \d+", skip.reason)


ODD_RECORDS = {
    "lone surrogate escape": '"sql": "SELECT id FROM t WHERE a = \'\\udc80\'"',
    "sql not a string": '"sql": 42',
    "sql empty": '"sql": "  "',
    "constants a list": '"constants": ["x"]',
    "constant key not a number": '"constants": {"one": "1"}',
    "calls a word": '"calls": "many"',
    "calls negative": '"calls": -1',
    "calls a boolean": '"calls": true',
    "total_ms NaN": '"total_ms": NaN',
    "total_ms infinite": '"total_ms": Infinity',
    "origin a list": '"origin": ["app/q.py", 3]',
    "origin line a word": '"origin": {"path": "app/q.py", "line": "three"}',
    "origin path missing": '"origin": {"line": 3}',
}


@pytest.mark.parametrize("field", ODD_RECORDS.values(), ids=ODD_RECORDS.keys())
def test_capture_file_odd_record_costs_one_line(tmp_path: Path, field: str) -> None:
    """A record with any field of the wrong kind is skipped with its reason; no traceback."""
    base = json.dumps(_record("SELECT 1 FROM t", 7))
    key = field.split(":", 1)[0]
    record = json.loads(base)
    record.pop(json.loads(key))
    odd = json.dumps(record)[:-1] + ", " + field + "}"
    lines = [*_good_lines(), odd.encode(), json.dumps(_record("SELECT id FROM u", 12)).encode()]
    path = tmp_path / "w.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    statements, skipped = read_workload_file(path)
    assert [s.origin.line for s in statements] == [5, 12]
    [skip] = skipped
    assert skip.origin.line == 3 and skip.reason.startswith("malformed statement record: ")
    assert "\n" not in skip.reason


# --- pg_dump output: COPY data and psql meta-commands -----------------------------------------

ROW_DATA = [
    "semi;colon; SELECT * FROM secret_table WHERE x = 1;",
    'quote \' and "double" and $$dollar$$',
    "back\\slash and a line\nbreak and a tab\there",
    "CREATE INDEX not_a_statement ON t (a);",
]


def test_pg_dump_data_is_skipped_as_a_block_and_never_shown(
    tmp_path: Path, temp_database: TempDatabase
) -> None:
    with temp_database.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE note (id int PRIMARY KEY, body text)")
        conn.execute('CREATE TABLE "Odd Name" (id int, body text)')
        for i, body in enumerate(ROW_DATA):
            conn.execute("INSERT INTO note VALUES (%s, %s)", (i, body))
            conn.execute('INSERT INTO "Odd Name" VALUES (%s, %s)', (i, body))
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", "-d", temp_database.url],
        check=True,
        capture_output=True,
    ).stdout
    path = tmp_path / "dump.sql"
    path.write_bytes(dump + b"\nSELECT id FROM note WHERE body = 'after the dump';\n")
    statements, skipped = read_sql_files([path])

    copies = [s for s in skipped if s.reason.startswith("COPY")]
    assert sorted(s.reason.split(":")[0] for s in copies) == [
        'COPY … FROM stdin into public."Odd Name"',
        "COPY … FROM stdin into public.note",
    ]
    for s in copies:
        assert s.reason.endswith(f"{len(ROW_DATA)} data line(s) up to its \\. skipped")
    lines = path.read_text().splitlines()
    assert [lines[s.origin.line - 1].startswith("COPY ") for s in copies] == [True, True]
    # Not one value of the rows shows up anywhere: not as a statement, not in a reason.
    seen = " ".join([*(s.sql for s in statements), *(f"{s.reason} {s.sql}" for s in skipped)])
    for fragment in ("semi", "secret_table", "dollar", "slash", "not_a_statement"):
        assert fragment not in seen
    # The statement after the data is read, at its own line.
    last = statements[-1]
    assert last.sql == "SELECT id FROM note WHERE body = 'after the dump'"
    assert lines[last.origin.line - 1] == last.sql + ";"
    # Whatever psql meta-commands the dump holds (\restrict on recent releases) are skipped
    # with the command named, and only those.
    metas = [s for s in skipped if s.reason.startswith("psql meta-command")]
    expected = [i + 1 for i, line in enumerate(lines) if line.startswith("\\") and line != "\\."]
    assert [s.origin.line for s in metas] == expected
    for s in metas:
        assert s.reason == f"psql meta-command {s.sql.split()[0]}, not SQL"
    assert len(skipped) == len(copies) + len(metas)


@pytest.mark.parametrize("target", ["t", "public.t", '"My T"', 'public."My T"', "ONLY_t"])
def test_copy_without_terminator_takes_the_rest_of_the_file(tmp_path: Path, target: str) -> None:
    path = tmp_path / "w.sql"
    path.write_text(
        f"{NORMAL};\n"
        f"COPY {target} (id, body) FROM stdin;\n"
        "1\tSELECT * FROM leaked;\n"
        "2\tnothing;here\n"
    )
    statements, skipped = read_sql_files([path])
    assert [s.sql for s in statements] == [NORMAL]
    [copy] = skipped
    assert copy.reason == (
        f"COPY … FROM stdin into {target}: table data, not a query; no \\. ends its data: "
        "the rest of the file (2 line(s)) skipped"
    )
    assert "leaked" not in copy.reason + (copy.sql or "")


def test_copy_to_stdout_and_copy_from_a_file_are_statements(tmp_path: Path) -> None:
    """Only FROM stdin has data in the file; other COPYs are statements (not queries)."""
    path = tmp_path / "w.sql"
    path.write_text("COPY t TO STDOUT;\nCOPY t FROM '/tmp/x.csv';\n" + NORMAL + ";\n")
    statements, skipped = read_sql_files([path])
    assert [s.origin.line for s in statements] == [1, 2, 3] and skipped == ()


def test_meta_commands_are_skipped_by_name(tmp_path: Path) -> None:
    path = tmp_path / "w.sql"
    path.write_text(
        "\\connect shop\n\\set ON_ERROR_STOP on\n"
        + NORMAL
        + ";\n\\c other\n"
        + NORMAL.replace("pending", "done")
        + ";\n"
    )
    statements, skipped = read_sql_files([path])
    assert [s.origin.line for s in statements] == [3, 5]
    assert [(s.reason, s.origin.line) for s in skipped] == [
        ("psql meta-command \\connect, not SQL", 1),
        ("psql meta-command \\set, not SQL", 2),
        ("psql meta-command \\c, not SQL", 4),
    ]


# --- statements nested too deeply -------------------------------------------------------------


def _derived(depth: int) -> str:
    inner = "hook"
    for _ in range(depth):
        inner = f"(SELECT * FROM {inner} s)"
    return f"SELECT * FROM {inner} s WHERE status = 'pending'"


def _in_subqueries(depth: int) -> str:
    sql = "SELECT id FROM hook WHERE status = 'pending'"
    for _ in range(depth):
        sql = f"SELECT id FROM hook WHERE id IN ({sql})"
    return sql


def _parens(depth: int) -> str:
    return "SELECT id FROM hook WHERE " + "(" * depth + "status = 'pending'" + ")" * depth


def _not_chain(depth: int) -> str:  # no parentheses: only the recursion backstop sees it
    return "SELECT id FROM hook WHERE " + "NOT " * depth + "done"


def _case_chain(depth: int) -> str:
    return (
        "SELECT id FROM hook WHERE status = " + "CASE WHEN a THEN " * depth + "'x'" + " END" * depth
    )


def _cast_chain(depth: int) -> str:
    return "SELECT id FROM hook WHERE status = 'pending'" + "::text" * depth


SHAPES = [_derived, _in_subqueries, _parens, _not_chain, _case_chain, _cast_chain]


@pytest.mark.parametrize("depth", [20, 65, 500, 5000])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda f: f.__name__.strip("_"))
def test_deep_statements_are_skipped_and_the_run_goes_on(tmp_path: Path, shape, depth: int) -> None:
    path = tmp_path / "w.sql"
    path.write_text(f"{NORMAL};\n{shape(depth)};\nSELECT id FROM other WHERE a = $1;\n")
    statements, skipped = read_sql_files([path])
    assert skipped == () and len(statements) == 3
    # As deep in the stack as a test runner or the CLI would call it, and deeper.
    tables, reasons = _call_at_depth(150, lambda: _analysed_tables(statements))
    assert tables[0] == "hook" and tables[-1] == "other"
    assert len(reasons) <= 1
    if reasons:
        [reason] = reasons
        assert reason.startswith("too deeply nested for analysis (") and "\n" not in reason
    else:
        assert "hook" in tables[1:-1]  # the nested statement was read, not dropped
    if shape in (_derived, _in_subqueries, _parens) and depth > MAX_NESTING:
        assert reasons == [
            f"too deeply nested for analysis ({depth} levels of parentheses; "
            f"the limit is {MAX_NESTING})"
        ]
    if depth == 20 and shape in (_derived, _in_subqueries, _parens):
        assert reasons == []  # ordinary depth: analysed


def _call_at_depth(frames: int, func):
    return func() if frames == 0 else _call_at_depth(frames - 1, func)


@pytest.mark.parametrize("connector", ["AND", "OR"])
def test_long_and_or_chains_are_analysed(connector: str) -> None:
    """A thousand-term chain is a thousand-deep tree: read without recursion, not skipped."""
    terms = [f"a{i} = {i}" if connector == "AND" else f"a = {i}" for i in range(3000)]
    sql = "SELECT id FROM hook WHERE " + f" {connector} ".join(terms)
    [pattern], skipped = analyse(build_workload([Statement(sql, Origin("q.sql", 1))]))
    assert skipped == ()
    if connector == "AND":
        assert len(pattern.predicates) == 3000
    else:  # an OR of equalities on one column is an IN
        [predicate] = pattern.predicates
        assert len(predicate.constants) == 3000


def test_deep_statement_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "deep.sql"
    path.write_text(f"{_derived(5000)};\n{_not_chain(5000)};\n{NORMAL};\n")
    result = run_cli("analyze", "--workload", str(path), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["analysed"] == 1
    reasons = [s["reason"] for s in report["skipped"]]
    assert len(reasons) == 2 and all(
        r.startswith("too deeply nested for analysis (") for r in reasons
    )


# --- assorted junk: nothing escapes the per-statement boundary --------------------------------

TOKENS = [
    "SELECT",
    "*",
    "FROM",
    "t",
    "WHERE",
    "a",
    "=",
    "$1",
    "%s",
    "(",
    ")",
    ",",
    "IN",
    "AND",
    "OR",
    "NOT",
    "'x'",
    '"q"',
    "::",
    "int",
    "[",
    "]",
    "->",
    "@>",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "ORDER",
    "BY",
    "LIMIT",
    "1",
    "UNION",
    "WITH",
    "AS",
    "JOIN",
    "ON",
    "LATERAL",
    "ARRAY",
    "$$",
    "E'\\\\'",
    "OVER",
    "?",
    "#>",
    "||",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "INSERT",
    "INTO",
    "RETURNING",
    "x.y.z",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "'%a'",
    ";",
    "UPPER",
    "BETWEEN",
    "EXISTS",
    "ANY",
    "\\x",
    "/*",
    "*/",
    "--",
    "\n",
    "\x00",
    "\udcff",
    "COPY",
    "stdin",
    "\\.",
    "é",
]


def test_random_junk_never_raises(tmp_path: Path) -> None:
    """Token soup, written as a file (bad bytes included), read and analysed end to end."""
    rnd = random.Random(10)
    for round_ in range(40):
        text = " ".join(rnd.choice(TOKENS) for _ in range(rnd.randint(20, 400)))
        path = tmp_path / f"junk{round_}.sql"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        statements, skipped = read_sql_files([path])
        workload = build_workload(statements, skipped)
        _, unparsed = analyse(workload)
        for s in (*skipped, *unparsed):
            assert s.reason and "\n" not in s.reason, s
            if s.sql is not None:
                s.sql.encode("utf-8")  # printable as it is


def test_random_capture_lines_never_raise(tmp_path: Path) -> None:
    """Records with fields swapped for random JSON values, and lines of random bytes."""
    rnd = random.Random(11)
    values: list[object] = [
        None,
        True,
        -1,
        0,
        3,
        1.5,
        float("nan"),
        "",
        "x",
        "SELECT 1 FROM t",
        [],
        ["a"],
        {},
        {"1": "'a'"},
        {"path": 3},
        {"path": "a.py", "line": 2},
    ]
    lines = [json.dumps(HEADER).encode()]
    for _ in range(300):
        record = _record(
            rnd.choice([NORMAL, "SELECT (", "SELECT a FROM t WHERE b = $1"]), rnd.randint(1, 50)
        )
        for key in rnd.sample(sorted(record), rnd.randint(0, 3)):
            record[key] = rnd.choice(values)
        lines.append(json.dumps(record).encode())
        if rnd.random() < 0.2:
            lines.append(bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 40))))
    path = tmp_path / "w.jsonl"
    path.write_bytes(b"\n".join(lines).replace(b"\n\n", b"\n") + b"\n")
    statements, skipped = read_workload_file(path)
    assert statements and skipped
    for s in skipped:
        assert s.reason and "\n" not in s.reason
    analyse(build_workload(statements, skipped))


def test_subprocess_keeps_stderr_short_on_junk(tmp_path: Path) -> None:
    """The CLI on a file of junk: exit 0, a report, and no traceback."""
    path = tmp_path / "junk.sql"
    path.write_bytes(
        b"SELECT \xff FROM t;\nCOPY t FROM stdin;\n1\t2\n\\.\n"
        + _parens(5000).encode()
        + b";\n\\connect x\n"
        + NORMAL.encode()
        + b";\n"
    )
    result = run_cli("analyze", "--workload", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == "" and "idxadvisor report" in result.stdout
    assert sys.getrecursionlimit() >= 1000  # nothing here raised the limit to get by


# --- honest reports: nothing analysed is not "all served" -------------------------------------

CAPTURE_HEADER_ONLY = json.dumps(HEADER) + "\n"
EMPTY_WORKLOADS = {
    # file name: (content, what the report must say)
    "empty.sql": ("", "nothing to analyse: no statements found"),
    "comments.sql": ("-- nothing;\n/* here; */\n ; ;\n", "nothing to analyse: no statements found"),
    "capture.jsonl": (CAPTURE_HEADER_ONLY, "nothing to analyse: no statements found"),
    "data.sql": ("COPY t (a) FROM stdin;\n1\n\\.\n", "nothing analysed: 1 statement skipped"),
    "ddl.sql": (
        "CREATE TABLE t (a int);\nSET search_path = x;\n",
        "nothing analysed: 2 statements skipped",
    ),
    "constant.sql": ("SELECT 1;\n", "nothing analysed: 1 statement found, none reads a table"),
}


def _flat(text: str) -> str:
    """The table report without its line wrapping."""
    return " ".join(text.split())


@pytest.mark.parametrize("name", EMPTY_WORKLOADS)
def test_a_workload_with_nothing_to_analyse_says_so(tmp_path: Path, name: str) -> None:
    content, said = EMPTY_WORKLOADS[name]
    path = tmp_path / name
    path.write_text(content)
    looked_at = f"(looked at workload file {path})"
    as_json = run_cli("analyze", "--workload", str(path), "--format", "json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    summary = json.loads(as_json.stdout)["summary"]
    assert summary["nothing_to_analyse"] == f"{said} {looked_at}"
    assert summary["analysed"] == 0
    table = run_cli("analyze", "--workload", str(path), cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    # Rich wraps a long path anywhere, even inside a word: compare without white space.
    expected = said[0].upper() + said[1:] + " " + looked_at + "."
    assert "".join(expected.split()) in "".join(table.stdout.split())
    assert "every analysed query is served" not in table.stdout


def test_a_run_that_analysed_something_has_no_nothing_message(tmp_path: Path) -> None:
    path = tmp_path / "w.sql"
    path.write_text(f"{NORMAL};\n")
    report = json.loads(
        run_cli("analyze", "--workload", str(path), "--format", "json", cwd=tmp_path).stdout
    )
    assert report["summary"]["nothing_to_analyse"] is None
    assert report["summary"]["files_unparsed"] == 0


def test_analyze_reports_a_file_that_does_not_parse(example_copy: Path) -> None:
    broken = example_copy / "monitoring" / "broken.py"
    broken.write_text(
        "from monitoring.models import AlertRule\n\n"
        "def due(:\n    return AlertRule.objects.filter(is_active=True)\n"
    )
    table = run_cli("analyze", ".", cwd=example_copy)
    assert table.returncode == 0, table.stderr
    flat = _flat(table.stdout)
    assert "; 2 skipped, 1 file that could not be parsed" in flat.split("╭")[0]  # the summary
    assert "Files that could not be parsed (1)" in flat
    assert re.search(r"monitoring/broken\.py:3 │ cannot parse: SyntaxError: invalid syntax", flat)
    assert flat.endswith("1 file could not be parsed: their queries were not analysed.")
    report = json.loads(run_cli("analyze", ".", "--format", "json", cwd=example_copy).stdout)
    assert report["summary"]["files_unparsed"] == 1
    [entry] = [s for s in report["skipped"] if s["kind"] == "file"]
    assert entry["origin"] == "monitoring/broken.py:3"
    assert report["recommendations"]  # the other files were analysed as usual


def test_a_project_whose_only_queries_do_not_parse(example_copy: Path) -> None:
    """Every queryset is in a broken file: nothing analysed, and the report says why."""
    queries = example_copy / "monitoring" / "queries.py"
    queries.write_text(queries.read_text() + "\ndef broken(:\n    pass\n")
    report = json.loads(run_cli("analyze", ".", "--format", "json", cwd=example_copy).stdout)
    assert report["summary"]["analysed"] == 0
    assert report["summary"]["nothing_to_analyse"] == (
        f"nothing analysed: 1 file could not be parsed (looked at the Python files of the "
        f"project {example_copy.resolve()})"
    )
    table = run_cli("analyze", ".", cwd=example_copy)
    assert "every analysed query is served" not in table.stdout
    assert "Nothing analysed: 1 file could not be parsed" in _flat(table.stdout)


@pytest.mark.parametrize(
    "shapes, expected",
    [
        ([{"1": "prefix"}], "LIKE 'x%' AND org = $1"),
        ([{"1": "infix"}], "LIKE '%x%' AND org = $1"),
        ([{"1": "exact"}, {"1": "prefix"}], "LIKE 'x%' AND org = $1"),  # served by the prefix index
        ([{"1": "prefix"}, {"1": "suffix"}], "LIKE '%x%' AND org = $1"),
        ([{"1": "prefix"}, {}], "LIKE '%x%' AND org = $1"),  # a call of unknown shape: the worst
        ([{"1": "bogus"}], "LIKE $1 AND org = $2"),
    ],
)
def test_like_parameter_shapes_become_patterns_of_that_shape(tmp_path: Path, shapes, expected):
    path = tmp_path / "w.jsonl"
    origin = {"path": "app/views.py", "line": 3, "col": 0, "function": "search"}
    records = [HEADER] + [
        {
            "kind": "statement",
            "sql": "SELECT id FROM t WHERE name LIKE $1 AND org = $2",
            "calls": 1,
            "total_ms": 0.1,
            "origin": origin,
            **({"like": like} if like else {}),
        }
        for like in shapes
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    statements, skipped = read_workload_file(path)
    assert skipped == ()
    [statement] = statements
    assert statement.sql.endswith(expected)
