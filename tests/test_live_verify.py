"""verify: real EXPLAIN (ANALYZE, BUFFERS) before and after building the indexes, and the
database left as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idxadvisor.errors import DatabaseError, UsageError
from idxadvisor.live.verify import build_statement, verify
from idxadvisor.types.advice import IndexCandidate, Recommendation
from idxadvisor.types.schema import IndexElement
from idxadvisor.types.workload import Query
from tests.helpers import TempDatabase, create_database, drop_database

SETUP = """
CREATE TABLE hook (
    id bigserial PRIMARY KEY,
    status varchar(20) NOT NULL,
    email varchar(200) NOT NULL,
    code int NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO hook (status, email, code, created_at)
SELECT CASE WHEN g % 100 = 0 THEN 'pending' ELSE 'done' END,
       'user' || g || '@example.com', g % 10,
       timestamptz '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, 60000) g;
ANALYZE hook;
"""


def rec(name: str, *elements: IndexElement, unique: bool = False) -> Recommendation:
    """A recommendation as the advisor hands it over: verify builds from its structure."""
    return Recommendation(IndexCandidate("hook", elements, unique=unique), name, "", "")


EMAIL_IDX = rec("hook_email_idx", IndexElement("email"))
UPPER_IDX = rec("hook_upper_email_idx", IndexElement(expression="UPPER(email::text)"))


@pytest.fixture(scope="module")
def staging(pg_server_url: str) -> Iterator[TempDatabase]:
    db = create_database(pg_server_url, prefix="idxadv_live_verify")
    try:
        with db.connect(autocommit=True) as conn:
            conn.execute(SETUP)
        yield db
    finally:
        drop_database(pg_server_url, db.name)


def q(qid: str, sql: str) -> Query:
    return Query(id=qid, sql=sql, fingerprint=sql, source="sql")


def snapshot(db: TempDatabase) -> tuple[list, tuple]:
    with db.connect() as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        data = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'pending'), sum(code) FROM hook"
        ).fetchone()
        prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
    return indexes, (data, prepared)


def test_verify_times_before_and_after_and_leaves_the_database_as_it_was(
    staging: TempDatabase,
) -> None:
    before = snapshot(staging)
    queries = [
        q("q_email", "SELECT * FROM hook WHERE email = 'user777@example.com'"),
        q("q_param", "SELECT id FROM hook WHERE email = $1"),
        q("q_upper", "SELECT id FROM hook WHERE UPPER(email::text) = 'USER42@EXAMPLE.COM'"),
        q("q_update", "UPDATE hook SET status = 'failed' WHERE email = 'user5@example.com'"),
    ]
    report = verify(staging.url, [EMAIL_IDX, UPPER_IDX], queries, runs=2)
    assert snapshot(staging) == before  # indexes dropped, rows untouched, nothing prepared
    assert report.built == ("hook_email_idx", "hook_upper_email_idx") and not report.kept

    t = {x.query_id: x for x in report.timings}
    for qid in ("q_email", "q_param", "q_upper"):
        assert t[qid].executed
        assert t[qid].before.time_ms is not None and t[qid].after.time_ms is not None
        # Deterministic evidence rather than wall-clock: far fewer buffers touched.
        assert t[qid].after.buffers < t[qid].before.buffers / 20
        assert t[qid].before.indexes == ()
    assert t["q_email"].after.indexes == ("hook_email_idx",)
    assert t["q_param"].after.indexes == ("hook_email_idx",)
    assert t["q_upper"].after.indexes == ("hook_upper_email_idx",)
    assert (
        t["q_param"].parameters.startswith("$1 = '")
        and "pg_stats" in (t["q_param"].parameters)
        and "hook.email" in t["q_param"].parameters
    )
    # The bound value comes from the data: the query returns rows on both sides.
    assert t["q_param"].before.rows == t["q_param"].after.rows == 1
    assert "ANALYZE hook: statistics for the new expression index" in report.notes

    # Not a SELECT: never executed, plain EXPLAIN costs only.
    assert not t["q_update"].executed
    assert t["q_update"].before.time_ms is None and t["q_update"].after.time_ms is None
    assert t["q_update"].after.cost < t["q_update"].before.cost
    assert "not a SELECT" in t["q_update"].note

    table = report.render()
    assert table.splitlines()[0].split()[:3] == ["query", "before", "ms"]
    assert "hook_email_idx" in table and "built and dropped again" in table


def test_keep_leaves_the_index_and_existing_ones_are_not_dropped(staging: TempDatabase) -> None:
    before = snapshot(staging)
    try:
        report = verify(
            staging.url,
            [EMAIL_IDX],
            [q("q", "SELECT 1 FROM hook WHERE code = 3")],
            keep=True,
            runs=1,
        )
        assert report.kept and report.built == ("hook_email_idx",)
        names = [n for n, _ in snapshot(staging)[0]]
        assert "hook_email_idx" in names
        # Run again: the index is already there, so it is used as is and not dropped.
        again = verify(staging.url, [EMAIL_IDX], [], runs=1)
        assert again.built == () and "hook_email_idx already exists" in again.notes[0]
        assert "hook_email_idx" in [n for n, _ in snapshot(staging)[0]]
    finally:
        with staging.connect(autocommit=True) as conn:
            conn.execute("DROP INDEX IF EXISTS hook_email_idx")
    assert snapshot(staging) == before


def test_failed_build_leaves_no_invalid_index(staging: TempDatabase) -> None:
    before = snapshot(staging)
    bad = rec("hook_code_uniq", IndexElement("code"), unique=True)
    report = verify(
        staging.url,
        [bad, EMAIL_IDX],
        [q("q", "SELECT * FROM hook WHERE email = 'user9@example.com'")],
        runs=1,
    )
    assert report.failed and report.failed[0][0] == "hook_code_uniq"
    assert "could not create unique index" in report.failed[0][1]
    assert report.built == ("hook_email_idx",)
    assert snapshot(staging) == before


@pytest.mark.parametrize("name", ["", 'x"; DROP TABLE hook; --'])
def test_verify_builds_only_one_named_create_index(staging: TempDatabase, name: str) -> None:
    """The statement comes from the structure; a name that would make it anything but one
    named CREATE INDEX is refused before connecting."""
    before = snapshot(staging)
    with pytest.raises(UsageError, match="only builds named CREATE INDEX"):
        verify(staging.url, [rec(name, IndexElement("code"))], [])
    assert snapshot(staging) == before


def test_statement_is_rendered_from_the_recommendation() -> None:
    stmt = build_statement(
        rec(
            "hook_upper_email_idx",
            IndexElement(expression="UPPER(email)"),
            IndexElement("created_at", descending=True),
            unique=True,
        )
    )
    assert stmt == (
        'CREATE UNIQUE INDEX CONCURRENTLY "hook_upper_email_idx" ON "hook" '
        '((UPPER("email")), "created_at" DESC)'
    )


def test_verify_unreachable_is_one_line() -> None:
    with pytest.raises(DatabaseError) as info:
        verify("postgresql://u:hunter22@127.0.0.1:1/db", [EMAIL_IDX], [])
    assert "hunter22" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM hook WHERE created_at >= $1 AND created_at < $2",
        "SELECT id FROM hook WHERE created_at > $1 AND created_at <= $2",
        "SELECT id FROM hook WHERE $1 <= created_at AND $2 > created_at",
        "SELECT id FROM hook WHERE created_at BETWEEN $1 AND $2",
        "SELECT id FROM hook WHERE code >= $1 AND code < $2 AND status = $3",
        "SELECT id FROM hook h WHERE h.status IN ($1, $2)",
        "SELECT id FROM hook WHERE email LIKE $1",
        "SELECT id FROM hook WHERE created_at >= $1 ORDER BY created_at LIMIT $2",
    ],
)
def test_parameters_are_bound_from_the_data_so_rows_come_back(
    staging: TempDatabase, sql: str
) -> None:
    """A range gets a lower bound below its upper bound, equality a value that exists: the
    query returns rows, so its timing is evidence (the 481.2x of an empty range was not)."""
    report = verify(staging.url, [], [q("q", sql)], runs=1)
    (t,) = report.timings
    assert t.executed, t.note
    assert t.before.rows and t.before.rows > 0, t.parameters
    assert not t.no_evidence
    assert t.parameters.count("$") == sql.count("$")


def test_empty_result_on_both_sides_is_no_evidence(staging: TempDatabase) -> None:
    report = verify(
        staging.url,
        [EMAIL_IDX],
        [q("q_none", "SELECT id FROM hook WHERE email = 'nobody@example.com'")],
        runs=1,
    )
    (t,) = report.timings
    assert t.executed and t.before.rows == 0 and t.after.rows == 0
    assert t.no_evidence and t.speedup is None
    line = next(x for x in report.render().splitlines() if x.startswith("q_none"))
    assert "no evidence: 0 rows on both sides" in line and "x " not in line.split("  ")[3]
    assert "(0 rows)" in line
