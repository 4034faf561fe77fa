"""The advisor as a whole: small tables, names, the rule tables. Each rule's own tests are in
``tests/advisor/test_<rule>.py``.

Queries go through the real parser (sqlglot) into access patterns; the schema is built by hand
so these tests need no Django project (the example-project tests cover that path).
"""

from __future__ import annotations

from tests.advisor.hook import _advise, _schema


def test_small_tables_are_dropped_with_a_reason():
    advice = _advise("SELECT * FROM hook WHERE org = $1", _schema(rows=40))
    assert advice.recommendations == ()
    assert "too small" in advice.rejected[0].reason


def test_names_are_stable_and_fit_djangos_limit():
    sql = "SELECT * FROM hook WHERE org = $1 ORDER BY created_at DESC LIMIT 50"
    first = _advise(sql, _schema()).recommendations[0].name
    again = _advise(sql, _schema()).recommendations[0].name
    other = _advise(sql.replace("DESC", "ASC"), _schema()).recommendations[0].name
    assert first == again and first != other
    assert len(first) <= 30 and first.isidentifier()


def test_two_proposals_on_one_column_never_share_a_name():
    # Found on django-post-office: (subject varchar_pattern_ops) for a startswith and (subject)
    # for an admin sort got one name; the second CREATE INDEX failed ("already exists").
    schema = _schema()
    prefix = _advise("SELECT * FROM hook WHERE email LIKE 'a%'", schema).recommendations
    sort = _advise("SELECT * FROM hook ORDER BY email LIMIT 100", schema).recommendations
    [like], [plain] = prefix, sort
    assert like.candidate.elements[0].opclass and not plain.candidate.elements[0].opclass
    assert like.name != plain.name
