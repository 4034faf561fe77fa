"""unique: which .get() lookups to check, and the UNIQUE candidate from the evidence.

Mirrors ``idxadvisor.advisor.rules.unique``; the evidence itself (a real database) is tested in
``tests/test_live_evidence.py``.
"""

from __future__ import annotations

from idxadvisor.advisor.rules.unique import adopt_unique, unique, unique_lookups
from idxadvisor.patterns.extractor import extract
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import Column, ExistingIndex, IndexElement, Schema, Table
from idxadvisor.types.workload import Query

T = "shop_order"
TABLE = Table(
    T,
    (
        Column("id", "id", "bigint"),
        Column("number", "number", "varchar(32)"),
        Column("org", "org", "integer"),
    ),
)


def _query(qid: str, where: str, code: str | None) -> Query:
    sql = f"SELECT * FROM {T} WHERE {where} LIMIT 21"
    return Query(qid, sql, sql, "capture", code=code)


def _lookups(schema: Schema, *queries: Query):
    patterns = [p for q in queries for p in extract(q)]
    return unique_lookups(patterns, {q.id: q for q in queries}, schema)


def test_only_one_row_lookups_on_columns_no_unique_index_covers_are_checked() -> None:
    schema = Schema({T: TABLE})
    get = _query("q1", "number = $1", "Order.objects.get(number=n)")
    filt = _query("q2", "org = $1", "Order.objects.filter(org=o)")
    again = _query("q3", "number = $1", "Order.objects.get_or_create(number=n)")
    assert [(x.columns, x.query_id) for x in _lookups(schema, get, filt, again)] == [
        (("number",), "q1")
    ]
    covered = Schema(
        {T: TABLE}, (ExistingIndex(T, "n_key", (IndexElement("number"),), "unique", unique=True),)
    )
    assert _lookups(covered, get) == []


def test_the_candidate_follows_the_evidence() -> None:
    [lookup] = _lookups(
        Schema({T: TABLE}),
        _query("q1", "number = $1 AND org = $2", "Order.objects.get(number=n, org=o)"),
    )
    found = unique(lookup, True, "no duplicates in 5,000 rows")
    assert found is not None and found.unique and found.keys == ("number", "org")
    assert "no duplicates in 5,000 rows" in found.reasons[0]
    assert unique(lookup, False, "duplicates") is None
    assert unique(lookup, None, "too few rows") is None


def test_a_plain_proposal_on_the_same_keys_becomes_the_unique_one() -> None:
    plain = IndexCandidate(
        T, (IndexElement("org"), IndexElement("number")), serves=("q2",), equality_prefix=2
    )
    other = IndexCandidate(T, (IndexElement("org"),), serves=("q4",))
    partial_same = IndexCandidate(
        T, (IndexElement("number"), IndexElement("org")), condition=(), serves=("q5",), unique=True
    )
    found = IndexCandidate(
        T,
        (IndexElement("number"), IndexElement("org")),
        unique=True,
        serves=("q1",),
        reasons=("unique data",),
        equality_prefix=2,
    )
    out, notes = adopt_unique([plain, other], [found], [(T, ("org",), "too few rows")])
    assert notes == []  # said on the plain (org) proposal instead
    by_keys = {c.keys: c for c in out}
    assert set(by_keys) == {("org", "number"), ("org",)}
    assert by_keys[("org", "number")].unique
    assert set(by_keys[("org", "number")].serves) == {"q1", "q2"}
    assert by_keys[("org", "number")].reasons[0] == "unique data"
    assert "Not proposed as UNIQUE: too few rows." in by_keys[("org",)].reasons
    # Nothing plain on those keys: the UNIQUE candidate is added, the rest left alone.
    out, _ = adopt_unique([other, partial_same], [found], [])
    assert out[:2] == [other, partial_same] and out[2] == found
    _, notes = adopt_unique([], [], [(T, ("number",), "no statistics")])
    assert notes == ["not proposed as UNIQUE: no statistics"]


def test_a_unique_proposal_renders_without_a_django_project() -> None:
    # SQL-only runs have no settings module; the Django objects must still be built.
    import subprocess
    import sys

    code = (
        "from idxadvisor.types.advice import IndexCandidate\n"
        "from idxadvisor.types.schema import IndexElement\n"
        "from idxadvisor.advisor.django_index import recommend\n"
        "c = IndexCandidate('t', (IndexElement('a'),), unique=True, serves=('q',))\n"
        "r = recommend(c, None)\n"
        "print(r.sql)\nprint(r.django)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith('CREATE UNIQUE INDEX CONCURRENTLY "t_a_')
    assert 'models.UniqueConstraint(fields=["a"]' in out.stdout
