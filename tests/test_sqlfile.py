"""Reading ``.sql`` workload files: splitting, origins, placeholders, weights, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from idxadvisor.errors import UsageError
from idxadvisor.patterns.extractor import analyse
from idxadvisor.sources.sqlfile import read_sql_files
from idxadvisor.types.access import Op
from idxadvisor.types.workload import Origin
from idxadvisor.workload import build_workload
from tests.helpers import TempDatabase


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_split_respects_quotes_comments_and_dollar_quotes(tmp_path: Path) -> None:
    f = write(
        tmp_path / "w.sql",
        "-- header; not a statement\n"
        "SELECT 'a;b', \"odd;name\" FROM t; /* c; */ SELECT 2;\n"
        "/* outer /* nested; */ still; */\n"
        "SELECT $$x;y$$, $tag$ $$; $tag$ FROM u WHERE a = $1;\n"
        "SELECT E'it\\'s;' AS s;\n"
        "SELECT 'it''s;';\n"
        "SELECT a -- trailing; comment\n"
        "FROM v;\n"
        ";;\n",
    )
    statements, skipped = read_sql_files([f])
    assert skipped == ()
    assert [(s.sql, s.origin.line) for s in statements] == [
        ("SELECT 'a;b', \"odd;name\" FROM t", 2),
        ("SELECT 2", 2),
        ("SELECT $$x;y$$, $tag$ $$; $tag$ FROM u WHERE a = $1", 4),
        ("SELECT E'it\\'s;' AS s", 5),
        ("SELECT 'it''s;'", 6),
        ("SELECT a -- trailing; comment\nFROM v", 7),
    ]
    assert {s.source for s in statements} == {"sql"}


def test_origin_line_is_the_first_non_comment_line(tmp_path: Path) -> None:
    f = write(
        tmp_path / "w.sql",
        "\n\n-- the hot query\n/* more\nnotes */\n  SELECT 1\n  FROM t\n",
    )
    [statement], _ = read_sql_files([f])
    assert statement.origin.line == 6
    assert statement.sql == "SELECT 1\n  FROM t"


def test_django_placeholders_are_numbered_per_statement(tmp_path: Path) -> None:
    f = write(
        tmp_path / "w.sql",
        "SELECT a FROM t WHERE b = %s AND c IN (%s, %s) AND d LIKE '50%%' AND e = '%s';\n"
        "SELECT a FROM t WHERE b = %s AND c %% 2 = 0;\n"
        "SELECT a FROM t WHERE b = $1 AND d LIKE '50%%';\n",
    )
    statements, _ = read_sql_files([f])
    assert [s.sql for s in statements] == [
        "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) AND d LIKE '50%' AND e = '%s'",
        "SELECT a FROM t WHERE b = $1 AND c % 2 = 0",
        # No %s: not Django's format, so the text is left as written.
        "SELECT a FROM t WHERE b = $1 AND d LIKE '50%%'",
    ]


def test_weights_from_idxadvisor_comments(tmp_path: Path) -> None:
    f = write(
        tmp_path / "w.sql",
        "-- idxadvisor: calls=1200 total_ms=5300.5\n"
        "SELECT 1 FROM t;\n"
        "-- IDXADVISOR: total_ms=12\n-- another comment\n"
        "SELECT 2 FROM t;\n"
        "SELECT 3 FROM t;\n",
    )
    statements, _ = read_sql_files([f])
    assert [(s.sql, s.calls, s.total_time_ms) for s in statements] == [
        ("SELECT 1 FROM t", 1200, 5300.5),
        ("SELECT 2 FROM t", 1, 12.0),
        ("SELECT 3 FROM t", 1, 0.0),
    ]


@pytest.mark.parametrize(
    ("directive", "message"),
    [
        ("calls=many", "w.sql:2: bad value in idxadvisor comment: 'calls=many'"),
        ("calls=-1", "w.sql:2: bad value in idxadvisor comment: 'calls=-1'"),
        ("total_ms=nan", "w.sql:2: bad value in idxadvisor comment: 'total_ms=nan'"),
        ("rows=3", "w.sql:2: unknown key 'rows' in idxadvisor comment (use calls=, total_ms=)"),
    ],
)
def test_bad_weight_comment_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, directive: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "w.sql", f"SELECT 0;\n-- idxadvisor: {directive}\nSELECT 1;\n")
    with pytest.raises(UsageError) as info:
        read_sql_files([Path("w.sql")])
    assert str(info.value) == message


def test_paths_relative_to_the_working_directory_when_below_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner = tmp_path / "project" / "sql"
    inner.mkdir(parents=True)
    f = write(inner / "w.sql", "SELECT 1;")
    outside = write(tmp_path / "o.sql", "SELECT 2;")
    monkeypatch.chdir(tmp_path / "project")
    statements, _ = read_sql_files([f, outside, Path("sql/w.sql")])
    assert [s.origin for s in statements] == [
        Origin("sql/w.sql", 1),
        Origin(os.fspath(outside), 1),
        Origin("sql/w.sql", 1),
    ]


def test_meta_commands_and_unterminated_text_are_skipped(tmp_path: Path) -> None:
    f = write(
        tmp_path / "w.sql",
        "\\timing on\nSELECT 1;\n\\x\nSELECT 'never closed;\n",
    )
    statements, skipped = read_sql_files([f])
    assert [(s.sql, s.origin.line) for s in statements] == [("SELECT 1", 2)]
    assert [(s.reason, s.origin.line, s.sql) for s in skipped] == [
        ("psql meta-command \\timing, not SQL", 1, "\\timing on"),
        ("psql meta-command \\x, not SQL", 3, "\\x"),
        ("unterminated string or comment at end of file", 4, "SELECT 'never closed;"),
    ]


def test_empty_and_comment_only_files(tmp_path: Path) -> None:
    f = write(tmp_path / "w.sql", "-- nothing here;\n/* nor; here */\n ; ;\n")
    assert read_sql_files([f, write(tmp_path / "e.sql", "")]) == ((), ())


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_file_is_a_usage_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "w.sql"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(UsageError) as info:
        read_sql_files([path])
    assert str(info.value).startswith(f"cannot read workload file {path}: ")


def test_statements_split_where_postgresql_splits_them(
    tmp_path: Path, temp_database: TempDatabase
) -> None:
    """Every piece runs on its own in PostgreSQL, so the cuts are where the server's are."""
    f = write(
        tmp_path / "schema.sql",
        "CREATE TABLE note (id int PRIMARY KEY, body text);\n"
        "CREATE FUNCTION shout(t text) RETURNS text LANGUAGE plpgsql AS $body$\n"
        "BEGIN\n  RETURN upper(t) || '!;';\nEND;\n$body$;\n"
        "INSERT INTO note VALUES (1, 'a;b'), (2, E'c\\';d'), (3, $$e;f$$);\n"
        "/* a comment; with /* nested; */ semicolons */\n"
        'SELECT shout(body) AS "x;y" FROM note -- done;\n;\n',
    )
    statements, skipped = read_sql_files([f])
    assert skipped == () and len(statements) == 4
    with temp_database.connect(autocommit=True) as conn:
        for s in statements:
            conn.execute(s.sql)
        rows = conn.execute(statements[-1].sql).fetchall()
    assert rows == [("A;B!;",), ("C';D!;",), ("E;F!;",)]


def test_workload_from_a_file_end_to_end(tmp_path: Path) -> None:
    f = write(
        tmp_path / "w.sql",
        "-- idxadvisor: calls=10\n"
        'SELECT "id" FROM "monitoring_webhookdelivery" WHERE "status" = %s;\n'
        "-- idxadvisor: calls=5\n"
        'select "id"  from "monitoring_webhookdelivery" where "status" = %s;\n'
        "CREATE INDEX x ON t (a);\n",
    )
    statements, skipped = read_sql_files([f])
    workload = build_workload(statements, skipped)
    query, ddl = workload.queries
    assert query.calls == 15 and [o.line for o in query.origins] == [2, 4]
    assert ddl.sql == "CREATE INDEX x ON t (a)"
    found, skipped_patterns = analyse(workload)
    assert [(p.table, p.predicates[0].op, p.predicates[0].sql) for p in found] == [
        ("monitoring_webhookdelivery", Op.EQ, "status = $1")
    ]
    assert [s.reason for s in skipped_patterns] == ["not a query: CREATE INDEX"]


def test_a_file_bigger_than_one_read_is_split_as_the_whole_text(tmp_path: Path) -> None:
    """The reader decodes and splits a piece (1 MiB) at a time: statements, quotes, COPY data
    and two-byte characters cut by a read come out as the whole text gives them."""
    head = "-- idxadvisor: calls=7\nSELECT 'é;' FROM t WHERE a = 1;\n" * 30_000  # ~1.5 MB
    rows = "".join(f"{i}\tnote; it's é\n" for i in range(80_000))  # ~1.5 MB of data
    value = "é;" * 400_000  # a literal longer than a read
    text = head + "COPY t (a, b) FROM stdin;\n" + rows + "\\.\n" + f"SELECT '{value}';\nSELECT 2"
    f = write(tmp_path / "big.sql", text)
    statements, skipped = read_sql_files([f])
    assert len(statements) == 30_002
    assert {(s.sql, s.calls) for s in statements[:30_000]} == {
        ("SELECT 'é;' FROM t WHERE a = 1", 7)
    }
    assert [s.origin.line for s in statements[:30_000]] == list(range(2, 60_001, 2))
    copy_line = 60_001
    [copy] = skipped
    assert copy.origin.line == copy_line
    assert copy.reason == (
        "COPY … FROM stdin into t: table data, not a query; 80000 data line(s) up to its \\. "
        "skipped"
    )
    assert (statements[-2].sql, statements[-2].origin.line) == (f"SELECT '{value}'", 140_003)
    assert (statements[-1].sql, statements[-1].origin.line) == ("SELECT 2", 140_004)
