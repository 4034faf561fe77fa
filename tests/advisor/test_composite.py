"""composite: equality keys, then ORDER BY, then one range; expression keys.

Mirrors ``idxadvisor.advisor.rules.composite``.
"""

from __future__ import annotations

import pytest

from idxadvisor.types.schema import Column, ColumnStats, Schema, Table
from tests.advisor.hook import _advise, _keys, _schema


def test_equality_then_order_by_in_the_query_direction():
    advice = _advise(
        "SELECT * FROM hook WHERE org = $1 AND created_at >= $2 AND created_at < $3 "
        "ORDER BY created_at DESC LIMIT 50",
        _schema(),
    )
    [rec] = advice.recommendations
    assert _keys(rec) == [("org", False), ("created_at", True)]
    assert rec.fields == ("org", "-created_at")


def test_case_insensitive_lookup_gets_an_expression_index():
    advice = _advise(
        "SELECT * FROM hook WHERE UPPER(hook.email::text) = UPPER($1) ORDER BY hook.id LIMIT 1",
        _schema(),
    )
    [rec] = advice.recommendations
    assert [e.expression for e in rec.candidate.elements] == ["UPPER(email)"]
    assert rec.django.startswith('models.Index(Upper("email"), name="hook_email_')
    assert '((UPPER("email")))' in rec.sql or '(UPPER("email"))' in rec.sql


@pytest.mark.parametrize("join_column", ["id", "attempt_id"])
def test_a_join_on_a_unique_key_is_no_key_beside_the_tables_own_range(join_column):
    # A OneToOne primary key (axes' AccessAttemptExpiration) or the table's own "id": the
    # unique index serves the join lookup; the range is this table's own filter.
    expiry = Table(
        "expiry",
        (
            Column(join_column, "attempt", "bigint", unique=True, references="attempt"),
            Column("expires_at", "expires_at", "timestamptz"),
        ),
    )
    other = Table("attempt", (Column("id", "id", "bigint"),))
    schema = Schema({"expiry": expiry, "attempt": other})
    sql = (
        f"SELECT attempt.* FROM attempt JOIN expiry ON attempt.id = expiry.{join_column} "
        "WHERE expiry.expires_at <= $1"
    )
    recs = [r for r in _advise(sql, schema).recommendations if r.table == "expiry"]
    assert [_keys(r) for r in recs] == [[("expires_at", False)]]


@pytest.mark.parametrize(
    ("partner_filter", "keys"),
    [
        # attempt leads the join by its own filter: expiry is probed by attempt_id.
        ("attempt.username = $2 AND ", [("attempt_id", False), ("expires_at", False)]),
        # Nothing filters attempt: PostgreSQL reads expiry by its range and finds each attempt
        # by its primary key (allauth's emailaddress.user_id = auth_user.id), so attempt_id is
        # no key of expiry's index.
        ("", [("expires_at", False)]),
    ],
)
def test_a_foreign_key_join_is_a_key_only_when_the_other_side_can_lead(partner_filter, keys):
    expiry = Table(
        "expiry",
        (
            Column("id", "id", "bigint"),
            Column("attempt_id", "attempt", "bigint", references="attempt"),
            Column("expires_at", "expires_at", "timestamptz"),
        ),
    )
    attempt = Table("attempt", (Column("id", "id", "bigint"), Column("username", "u", "text")))
    schema = Schema({"expiry": expiry, "attempt": attempt})
    sql = (
        "SELECT attempt.* FROM attempt JOIN expiry ON attempt.id = expiry.attempt_id "
        f"WHERE {partner_filter}expiry.expires_at <= $1"
    )
    recs = [r for r in _advise(sql, schema).recommendations if r.table == "expiry"]
    assert [_keys(r) for r in recs] == [keys]


def test_past_three_equality_keys_the_rest_is_checked_on_the_rows_found():
    # simple-history's update_change_reason() filters a history row on every field: an
    # eight-column key was proposed where the first columns already find the few rows.
    advice = _advise(
        "SELECT * FROM hook WHERE org = $1 AND email = $2 AND channel_id = $3 AND status = $4 "
        "AND next_retry_at = $5 ORDER BY created_at LIMIT 3",
        _schema(),
    )
    [rec] = advice.recommendations
    assert _keys(rec) == [
        ("org", False),
        ("email", False),
        ("channel_id", False),
        ("created_at", False),
    ]
    assert "status = $4, next_retry_at = $5 are checked on the rows the seek finds" in rec.reason


@pytest.mark.parametrize(("n_distinct", "ordered"), [(5.0, True), (-0.5, False)])
def test_primary_key_order_after_an_equality_stays_when_a_value_has_many_rows(n_distinct, ordered):
    # taggit: TaggedItem.objects.filter(content_type=ct).order_by("-id")[:10] was "served" by
    # the content_type index, yet a content type has a million items: the planner walks the
    # primary key backwards and filters. With pg_stats saying so, the order is a key; with a
    # value per couple of rows (or no statistics), the few rows are sorted.
    stats = {"channel_id": ColumnStats(n_distinct=n_distinct)}
    advice = _advise(
        "SELECT * FROM hook WHERE channel_id = $1 ORDER BY id DESC LIMIT 10",
        _schema(stats=stats, rows=5_000_000),
    )
    if ordered:
        [rec] = advice.recommendations
        assert _keys(rec) == [("channel_id", False), ("id", True)]
    else:
        assert [_keys(r) for r in advice.recommendations] in ([], [[("channel_id", False)]])
