"""Access patterns read from SQL: Django 5.2's own SQL (captured from the example project through
``connection.execute_wrapper``, placeholders as Django emits them, or with constants inlined the
way the static scan does) and hand-written SQL. Every expectation is the exact pattern."""

from __future__ import annotations

import doctest

import pytest

import idxadvisor.patterns.extractor as patterns_module
from idxadvisor.errors import UnparsableSQL
from idxadvisor.patterns.extractor import analyse, extract
from idxadvisor.sql.canonical import canonical
from idxadvisor.types.access import AccessPattern, Op, OrderKey, Predicate
from idxadvisor.types.workload import Origin, Query, Statement
from idxadvisor.workload import build_workload
from tests.helpers import TempDatabase

WD = '"monitoring_webhookdelivery"'
WD_ALL = (
    "id",
    "channel_id",
    "rule_id",
    "status",
    "payload",
    "attempts",
    "next_retry_at",
    "response_code",
    "created_at",
    "delivered_at",
)
WD_COLUMNS = ", ".join(f'{WD}."{c}"' for c in WD_ALL)


def q(sql: str, id: str = "q1") -> Query:
    return Query(id=id, sql=sql, fingerprint="", source="sql")


def ap(table: str, *predicates: Predicate, **kw) -> AccessPattern:
    return AccessPattern(
        query_id=kw.pop("query_id", "q1"),
        table=table,
        kind=kw.pop("kind", "select"),
        predicates=predicates,
        **kw,
    )


P = Predicate
CASES: list[tuple[str, str, tuple[AccessPattern, ...]]] = [
    (
        "filter + order_by + slice, status inlined",
        f'SELECT {WD_COLUMNS} FROM {WD} WHERE ({WD}."next_retry_at" <= %s AND '
        f'{WD}."status" = \'pending\') ORDER BY {WD}."next_retry_at" ASC LIMIT 100',
        (
            ap(
                "monitoring_webhookdelivery",
                P("next_retry_at", Op.RANGE, "next_retry_at <= %s"),
                P("status", Op.EQ, "status = 'pending'", None, ("'pending'",)),
                order_by=(OrderKey("next_retry_at"),),
                limit=100,
                selected=WD_ALL,
            ),
        ),
    ),
    (
        "__in with constants",
        f"SELECT {WD_COLUMNS} FROM {WD} WHERE {WD}.\"status\" IN ('pending', 'failed')",
        (
            ap(
                "monitoring_webhookdelivery",
                P(
                    "status",
                    Op.IN,
                    "status IN ('pending', 'failed')",
                    None,
                    ("'pending'", "'failed'"),
                ),
                selected=WD_ALL,
            ),
        ),
    ),
    (
        "__in with parameters",
        f'SELECT {WD}."id" AS "id" FROM {WD} WHERE {WD}."status" IN (%s, %s)',
        (
            ap(
                "monitoring_webhookdelivery",
                P("status", Op.IN, "status IN (%s, %s)"),
                selected=("id", "status"),
            ),
        ),
    ),
    (
        "__isnull both ways",
        f'SELECT {WD_COLUMNS} FROM {WD} WHERE ({WD}."delivered_at" IS NOT NULL AND '
        f'{WD}."rule_id" IS NULL)',
        (
            ap(
                "monitoring_webhookdelivery",
                P("delivered_at", Op.NOT_NULL, "delivered_at IS NOT NULL"),
                P("rule_id", Op.IS_NULL, "rule_id IS NULL"),
                selected=WD_ALL,
            ),
        ),
    ),
    (
        "iexact with a parameter: an UPPER(email) expression",
        'SELECT "monitoring_userprofile"."id" AS "id" FROM "monitoring_userprofile" '
        'WHERE UPPER("monitoring_userprofile"."email"::text) = UPPER(%s)',
        (
            ap(
                "monitoring_userprofile",
                P("email", Op.EQ, "UPPER(email) = UPPER(%s)", "UPPER(email)"),
                selected=("id", "email"),
            ),
        ),
    ),
    (
        "iexact inlined: UPPER of the constant is folded",
        'SELECT "monitoring_userprofile"."id" AS "id" FROM "monitoring_userprofile" '
        'WHERE UPPER("monitoring_userprofile"."email"::text) = UPPER(\'Ann@Example.com\')',
        (
            ap(
                "monitoring_userprofile",
                P(
                    "email",
                    Op.EQ,
                    "UPPER(email) = 'ANN@EXAMPLE.COM'",
                    "UPPER(email)",
                    ("'ANN@EXAMPLE.COM'",),
                ),
                selected=("id", "email"),
            ),
        ),
    ),
    (
        "icontains inlined",
        'SELECT "monitoring_alertrule"."id" AS "id" FROM "monitoring_alertrule" '
        'WHERE UPPER("monitoring_alertrule"."name"::text) LIKE UPPER(\'%cpu%\')',
        (
            ap(
                "monitoring_alertrule",
                P("name", Op.LIKE_ANY, "UPPER(name) LIKE '%CPU%'", "UPPER(name)", ("'%CPU%'",)),
                selected=("id", "name"),
            ),
        ),
    ),
    (
        "icontains with a parameter: the pattern is unknown, so any-position",
        'SELECT "monitoring_alertrule"."id" AS "id" FROM "monitoring_alertrule" '
        'WHERE UPPER("monitoring_alertrule"."name"::text) LIKE UPPER(%s)',
        (
            ap(
                "monitoring_alertrule",
                P("name", Op.LIKE_ANY, "UPPER(name) LIKE UPPER(%s)", "UPPER(name)"),
                selected=("id", "name"),
            ),
        ),
    ),
    (
        "startswith: the ::text cast of a column is the column",
        'SELECT "monitoring_alertrule"."id" AS "id" FROM "monitoring_alertrule" '
        'WHERE "monitoring_alertrule"."name"::text LIKE \'cpu%\'',
        (
            ap(
                "monitoring_alertrule",
                P("name", Op.LIKE_PREFIX, "name LIKE 'cpu%'", None, ("'cpu%'",)),
                selected=("id", "name"),
            ),
        ),
    ),
    (
        "join through two relations, ordered by the main table",
        f'SELECT {WD_COLUMNS} FROM {WD} INNER JOIN "monitoring_notificationchannel" ON '
        f'({WD}."channel_id" = "monitoring_notificationchannel"."id") INNER JOIN '
        '"monitoring_userprofile" ON ("monitoring_notificationchannel"."owner_id" = '
        '"monitoring_userprofile"."id") INNER JOIN "monitoring_alertrule" ON '
        f'({WD}."rule_id" = "monitoring_alertrule"."id") WHERE '
        '("monitoring_userprofile"."organisation" = %s AND '
        '"monitoring_alertrule"."severity" = \'critical\') '
        f'ORDER BY {WD}."created_at" DESC',
        (
            ap(
                "monitoring_webhookdelivery",
                join_columns=("channel_id", "rule_id"),
                order_by=(OrderKey("created_at", descending=True),),
                selected=WD_ALL,
            ),
            ap(
                "monitoring_notificationchannel",
                join_columns=("id", "owner_id"),
                selected=("id", "owner_id"),
            ),
            ap(
                "monitoring_userprofile",
                P("organisation", Op.EQ, "organisation = %s"),
                join_columns=("id",),
                selected=("id", "organisation"),
            ),
            ap(
                "monitoring_alertrule",
                P("severity", Op.EQ, "severity = 'critical'", None, ("'critical'",)),
                join_columns=("id",),
                selected=("id", "severity"),
            ),
        ),
    ),
    (
        "the same table joined twice under the alias T4",
        'SELECT "monitoring_alertrule"."id" AS "id" FROM "monitoring_alertrule" INNER JOIN '
        '"monitoring_notificationchannel" ON ("monitoring_alertrule"."channel_id" = '
        '"monitoring_notificationchannel"."id") INNER JOIN "monitoring_userprofile" ON '
        '("monitoring_alertrule"."owner_id" = "monitoring_userprofile"."id") INNER JOIN '
        '"monitoring_notificationchannel" T4 ON ("monitoring_userprofile"."id" = '
        'T4."owner_id") WHERE ("monitoring_notificationchannel"."kind" = \'email\' AND '
        "T4.\"kind\" = 'slack')",
        (
            ap(
                "monitoring_alertrule",
                join_columns=("channel_id", "owner_id"),
                selected=("id", "channel_id", "owner_id"),
            ),
            ap(
                "monitoring_notificationchannel",
                P("kind", Op.EQ, "kind = 'email'", None, ("'email'",)),
                join_columns=("id",),
                selected=("id", "kind"),
            ),
            ap("monitoring_userprofile", join_columns=("id",), selected=("id",)),
            ap(
                "monitoring_notificationchannel",
                P("kind", Op.EQ, "kind = 'slack'", None, ("'slack'",)),
                join_columns=("owner_id",),
                selected=("owner_id", "kind"),
            ),
        ),
    ),
    (
        ".delete() of a plain filter",
        f'DELETE FROM {WD} WHERE ({WD}."created_at" < %s AND {WD}."status" = \'delivered\')',
        (
            ap(
                "monitoring_webhookdelivery",
                P("created_at", Op.RANGE, "created_at < %s"),
                P("status", Op.EQ, "status = 'delivered'", None, ("'delivered'",)),
                kind="delete",
                selected=("created_at", "status"),
            ),
        ),
    ),
    (
        ".delete() cascading by primary keys",
        f'DELETE FROM {WD} WHERE {WD}."rule_id" IN (%s, %s, %s)',
        (
            ap(
                "monitoring_webhookdelivery",
                P("rule_id", Op.IN, "rule_id IN (%s, %s, %s)"),
                kind="delete",
                selected=("rule_id",),
            ),
        ),
    ),
    (
        ".update() with an F() expression",
        f'UPDATE {WD} SET "status" = %s, "attempts" = ({WD}."attempts" + %s) WHERE '
        f'({WD}."next_retry_at" <= %s AND {WD}."status" = \'pending\')',
        (
            ap(
                "monitoring_webhookdelivery",
                P("next_retry_at", Op.RANGE, "next_retry_at <= %s"),
                P("status", Op.EQ, "status = 'pending'", None, ("'pending'",)),
                kind="update",
                selected=("attempts", "next_retry_at", "status"),
                assigned=("status", "attempts"),
                computed=("attempts",),
            ),
        ),
    ),
    (
        ".update() across a join: WHERE id IN (SELECT …)",
        f'UPDATE {WD} SET "status" = %s WHERE {WD}."id" IN (SELECT U0."id" FROM {WD} U0 '
        'INNER JOIN "monitoring_notificationchannel" U1 ON (U0."channel_id" = U1."id") '
        'WHERE U1."organisation" = %s)',
        (
            ap(
                "monitoring_webhookdelivery",
                P(
                    "id",
                    Op.IN,
                    'id IN (SELECT U0."id" FROM "monitoring_webhookdelivery" AS U0 INNER JOIN '
                    '"monitoring_notificationchannel" AS U1 ON (U0."channel_id" = U1."id") '
                    'WHERE U1."organisation" = %s)',
                ),
                kind="update",
                selected=("id",),
                assigned=("status",),
            ),
            ap(
                "monitoring_webhookdelivery",
                join_columns=("channel_id",),
                selected=("id", "channel_id"),
            ),
            ap(
                "monitoring_notificationchannel",
                P("organisation", Op.EQ, "organisation = %s"),
                selected=("id", "organisation"),
            ),
        ),
    ),
    (
        "values().annotate(Count()) with GROUP BY 1",
        f'SELECT {WD}."status" AS "status", COUNT({WD}."id") AS "n" FROM {WD} INNER JOIN '
        f'"monitoring_notificationchannel" ON ({WD}."channel_id" = '
        '"monitoring_notificationchannel"."id") WHERE '
        '"monitoring_notificationchannel"."organisation" = 3 GROUP BY 1',
        (
            ap(
                "monitoring_webhookdelivery",
                join_columns=("channel_id",),
                selected=("status", "id", "channel_id"),
            ),
            ap(
                "monitoring_notificationchannel",
                P("organisation", Op.EQ, "organisation = 3", None, ("3",)),
                selected=("id", "organisation"),
            ),
        ),
    ),
    (
        "exists(): a boolean column alone, LIMIT 1",
        'SELECT %s AS "a" FROM "monitoring_alertrule" WHERE ("monitoring_alertrule"."is_active" '
        'AND "monitoring_alertrule"."organisation" = %s) LIMIT 1',
        (
            ap(
                "monitoring_alertrule",
                P("is_active", Op.EQ, "is_active", None, ("TRUE",)),
                P("organisation", Op.EQ, "organisation = %s"),
                limit=1,
                selected=("is_active", "organisation"),
            ),
        ),
    ),
    (
        "count(): COUNT(*) reads no column beyond the filter",
        f'SELECT COUNT(*) AS "__count" FROM {WD} WHERE ({WD}."channel_id" = %s AND '
        f'{WD}."status" = %s)',
        (
            ap(
                "monitoring_webhookdelivery",
                P("channel_id", Op.EQ, "channel_id = %s"),
                P("status", Op.EQ, "status = %s"),
                selected=("channel_id", "status"),
            ),
        ),
    ),
    (
        "count() with no filter: an empty selection",
        f'SELECT COUNT(*) AS "__count" FROM {WD}',
        (ap("monitoring_webhookdelivery", selected=()),),
    ),
    (
        "JSON key lookup inlined",
        'SELECT "monitoring_integrationlog"."id" AS "id" FROM "monitoring_integrationlog" '
        'WHERE ("monitoring_integrationlog"."context" -> \'k\') = \'"v"\'::jsonb',
        (
            ap(
                "monitoring_integrationlog",
                P(
                    "context",
                    Op.JSON,
                    "(context -> 'k') = CAST('\"v\"' AS JSONB)",
                    "context -> 'k'",
                    ("CAST('\"v\"' AS JSONB)",),
                ),
                selected=("id", "context"),
            ),
        ),
    ),
    (
        "has_key and contains on a JSON column",
        'SELECT "monitoring_integrationlog"."id" AS "id" FROM "monitoring_integrationlog" '
        'WHERE ("monitoring_integrationlog"."context" ? \'x\' AND '
        '"monitoring_integrationlog"."organisation" = %s AND '
        '"monitoring_integrationlog"."context" @> \'{"a": 1}\')',
        (
            ap(
                "monitoring_integrationlog",
                P("context", Op.JSON, "context ? 'x'", None, ("'x'",)),
                P("organisation", Op.EQ, "organisation = %s"),
                P("context", Op.JSON, "context @> '{\"a\": 1}'", None, ("'{\"a\": 1}'",)),
                selected=("id", "context", "organisation"),
            ),
        ),
    ),
    (
        "exclude(): NOT (a = b) is a NEQ",
        'SELECT "monitoring_alertrule"."id" AS "id" FROM "monitoring_alertrule" '
        'WHERE NOT ("monitoring_alertrule"."severity" = \'info\')',
        (
            ap(
                "monitoring_alertrule",
                P("severity", Op.NEQ, "severity <> 'info'", None, ("'info'",)),
                selected=("id", "severity"),
            ),
        ),
    ),
    (
        "Q(a) | Q(b) on one column becomes IN",
        'SELECT "monitoring_alertrule"."id" AS "id" FROM "monitoring_alertrule" WHERE '
        '("monitoring_alertrule"."severity" = \'info\' OR '
        '"monitoring_alertrule"."severity" = \'warning\')',
        (
            ap(
                "monitoring_alertrule",
                P(
                    "severity",
                    Op.IN,
                    "severity IN ('info', 'warning')",
                    None,
                    ("'info'", "'warning'"),
                ),
                selected=("id", "severity"),
            ),
        ),
    ),
    (
        "an OR across columns is no index predicate",
        'SELECT "monitoring_alertrule"."id" AS "id" FROM "monitoring_alertrule" WHERE '
        '("monitoring_alertrule"."severity" = \'info\' OR '
        '"monitoring_alertrule"."is_active")',
        (ap("monitoring_alertrule", selected=("id", "severity", "is_active")),),
    ),
    (
        "__range is BETWEEN",
        f'SELECT {WD}."id" AS "id" FROM {WD} WHERE {WD}."created_at" BETWEEN %s AND %s',
        (
            ap(
                "monitoring_webhookdelivery",
                P("created_at", Op.RANGE, "created_at BETWEEN %s AND %s"),
                selected=("id", "created_at"),
            ),
        ),
    ),
    (
        "order_by(F().desc(nulls_last=True))",
        'SELECT "monitoring_userprofile"."id" AS "id" FROM "monitoring_userprofile" WHERE '
        '"monitoring_userprofile"."is_active" ORDER BY '
        '"monitoring_userprofile"."last_seen_at" DESC NULLS LAST',
        (
            ap(
                "monitoring_userprofile",
                P("is_active", Op.EQ, "is_active", None, ("TRUE",)),
                order_by=(OrderKey("last_seen_at", descending=True, nulls_first=False),),
                selected=("id", "is_active", "last_seen_at"),
            ),
        ),
    ),
    (
        "only() with a two-key ordering",
        f'SELECT {WD}."id", {WD}."status" FROM {WD} WHERE {WD}."channel_id" = %s '
        f'ORDER BY {WD}."created_at" DESC, {WD}."id" ASC',
        (
            ap(
                "monitoring_webhookdelivery",
                P("channel_id", Op.EQ, "channel_id = %s"),
                order_by=(OrderKey("created_at", True), OrderKey("id")),
                selected=("id", "status", "channel_id", "created_at"),
            ),
        ),
    ),
    (
        "create(): INSERT … RETURNING",
        'INSERT INTO "monitoring_integrationlog" ("organisation", "integration", "level", '
        '"message", "context", "created_at") VALUES (%s, %s, %s, %s, %s, %s) RETURNING '
        '"monitoring_integrationlog"."id"',
        (ap("monitoring_integrationlog", kind="insert", selected=("id",)),),
    ),
    (
        "every operator, columns on either side, FETCH FIRST",
        "SELECT a, b FROM t WHERE $1 < c AND d IS NOT NULL AND NOT e AND f = ANY($2) "
        "AND g = ANY(ARRAY[1, 2]) AND h IN (3) AND i != 4 AND j NOT LIKE 'x%' "
        "AND k ILIKE 'ab%' AND l IS TRUE AND 10 >= m AND n LIKE '%z' AND o ~ 'r' "
        "AND p BETWEEN 1 AND 5 AND q = NULL AND r = FALSE "
        "ORDER BY 1 DESC FETCH FIRST 5 ROWS ONLY",
        (
            ap(
                "t",
                P("c", Op.RANGE, "c > $1"),
                P("d", Op.NOT_NULL, "d IS NOT NULL"),
                P("e", Op.EQ, "NOT e", None, ("FALSE",)),
                P("f", Op.IN, "f = ANY($2)"),
                P("g", Op.IN, "g IN (1, 2)", None, ("1", "2")),
                P("h", Op.EQ, "h = 3", None, ("3",)),
                P("i", Op.NEQ, "i <> 4", None, ("4",)),
                P("j", Op.OTHER, "j NOT LIKE 'x%'"),
                P("k", Op.LIKE_ANY, "k ILIKE 'ab%'", None, ("'ab%'",)),
                P("l", Op.EQ, "l", None, ("TRUE",)),
                P("m", Op.RANGE, "m <= 10", None, ("10",)),
                P("n", Op.LIKE_ANY, "n LIKE '%z'", None, ("'%z'",)),
                P("o", Op.OTHER, "o ~ 'r'"),
                P("p", Op.RANGE, "p BETWEEN 1 AND 5", None, ("1", "5")),
                P("q", Op.EQ, "q = NULL", None, ("NULL",)),
                P("r", Op.EQ, "NOT r", None, ("FALSE",)),
                order_by=(OrderKey("a", descending=True),),
                limit=5,
                selected=tuple("abcdefghijklmnopqr"),
            ),
        ),
    ),
    (
        "ORDER BY a select alias; LIMIT $1 is no known limit",
        "SELECT a AS x FROM t WHERE c = 1 ORDER BY x DESC NULLS LAST LIMIT $1",
        (
            ap(
                "t",
                P("c", Op.EQ, "c = 1", None, ("1",)),
                order_by=(OrderKey("a", True, False),),
                selected=("a", "c"),
            ),
        ),
    ),
    (
        "an expression order key",
        "SELECT id FROM users ORDER BY LOWER(users.email) LIMIT 20",
        (
            ap(
                "users",
                order_by=(OrderKey("email", expression="LOWER(email)"),),
                limit=20,
                selected=("id", "email"),
            ),
        ),
    ),
    (
        "ORDER BY keys of two tables: no order for either; LEFT JOIN ON filters only the right",
        "SELECT t.a FROM t JOIN u ON u.t_id = t.id AND u.k = 1 LEFT JOIN v ON v.id = t.v_id "
        "AND t.z = 3 AND v.w IS NULL WHERE u.m > 5 ORDER BY t.a, u.b",
        (
            ap("t", join_columns=("id", "v_id"), selected=("a", "id", "v_id", "z")),
            ap(
                "u",
                P("k", Op.EQ, "k = 1", None, ("1",)),
                P("m", Op.RANGE, "m > 5", None, ("5",)),
                join_columns=("t_id",),
                selected=("t_id", "k", "m", "b"),
            ),
            ap("v", P("w", Op.IS_NULL, "w IS NULL"), join_columns=("id",), selected=("id", "w")),
        ),
    ),
    (
        "unqualified columns with two tables: only the unambiguous join is kept",
        "SELECT a FROM t, u WHERE a = 1 AND t.x = u.y AND u.z = $1",
        (
            ap("t", join_columns=("x",), selected=None),
            # u leads the join by its filter; nothing leads into u by t.x (t has no filter).
            ap("u", P("z", Op.EQ, "z = $1"), selected=None),
        ),
    ),
    (
        "a correlated EXISTS and a derived table",
        "SELECT s.x FROM (SELECT a AS x FROM t WHERE b = 2 ORDER BY a LIMIT 3) s "
        "WHERE EXISTS (SELECT 1 FROM u WHERE u.t_a = s.x AND u.flag)",
        (
            ap(
                "t",
                P("b", Op.EQ, "b = 2", None, ("2",)),
                order_by=(OrderKey("a"),),
                limit=3,
                selected=("a", "b"),
            ),
            ap(
                "u",
                P("flag", Op.EQ, "flag", None, ("TRUE",)),
                join_columns=("t_a",),
                selected=("t_a", "flag"),
            ),
        ),
    ),
    (
        "a CTE is no base table; its query is",
        "WITH recent AS (SELECT id FROM t WHERE kind = 'a') "
        "SELECT r.id, u.x FROM recent r JOIN u ON u.t_id = r.id",
        (
            ap("t", P("kind", Op.EQ, "kind = 'a'", None, ("'a'",)), selected=("id", "kind")),
            ap("u", join_columns=("t_id",), selected=("x", "t_id")),
        ),
    ),
    (
        "UNION: both sides; t.* reads everything of t",
        "SELECT t.* FROM t WHERE lower(t.name) = 'x' UNION ALL SELECT b FROM u WHERE u.c IN (1, 2)",
        (
            ap("t", P("name", Op.EQ, "LOWER(name) = 'x'", "LOWER(name)", ("'x'",)), selected=None),
            ap("u", P("c", Op.IN, "c IN (1, 2)", None, ("1", "2")), selected=("b", "c")),
        ),
    ),
    (
        "a date cast is an expression, a JOIN … USING is a join column of the side t leads",
        "SELECT t.a FROM t JOIN u USING (id) WHERE t.created_at::date = '2020-01-01'::date",
        (
            ap(
                "t",
                P(
                    "created_at",
                    Op.EQ,
                    "CAST(created_at AS DATE) = CAST('2020-01-01' AS DATE)",
                    "CAST(created_at AS DATE)",
                    ("CAST('2020-01-01' AS DATE)",),
                ),
                selected=("a", "id", "created_at"),
            ),
            ap("u", join_columns=("id",), selected=("id",)),
        ),
    ),
    (
        "schema-qualified, quoted mixed-case names keep their case",
        'SELECT "Id" FROM public."Orders" o WHERE o."Status" = \'open\'',
        (
            ap(
                "Orders",
                P("Status", Op.EQ, "\"Status\" = 'open'", None, ("'open'",)),
                selected=("Id", "Status"),
            ),
        ),
    ),
    (
        "UPDATE … FROM and DELETE … USING: the target is written, the other table read",
        "UPDATE t SET a = u.b FROM u WHERE u.id = t.u_id AND u.z = 3",
        (
            ap(
                "t",
                join_columns=("u_id",),
                kind="update",
                selected=("u_id",),
                assigned=("a",),
                computed=("a",),
            ),
            ap(
                "u",
                P("z", Op.EQ, "z = 3", None, ("3",)),
                selected=("b", "id", "z"),
            ),
        ),
    ),
]


CASES += [
    (
        "= ANY (SELECT …) is IN, = ALL and row comparisons are OTHER, a + b an expression",
        "SELECT t.id FROM t WHERE a = ANY (SELECT x FROM u) AND NOT (b = ANY (SELECT y FROM u)) "
        "AND c = ALL($1) AND (d, e) > ($2, $3) AND f + g = 3",
        (
            ap(
                "t",
                P("a", Op.IN, "a = ANY (SELECT x FROM u)"),
                P("b", Op.NEQ, "NOT (b = ANY (SELECT y FROM u))"),
                P("c", Op.OTHER, "c = ALL($1)"),
                P("d", Op.OTHER, "(d, e) > ($2, $3)"),
                P("f", Op.EQ, "(f + g) = 3", "f + g", ("3",)),
                selected=("id", "a", "b", "c", "d", "e", "f", "g"),
            ),
            ap("u", selected=("x",)),
            ap("u", selected=("y",)),
        ),
    ),
]


@pytest.mark.parametrize(("name", "sql", "expected"), CASES, ids=[c[0] for c in CASES])
def test_extract(name: str, sql: str, expected: tuple[AccessPattern, ...]) -> None:
    assert extract(q(sql)) == expected


def test_delete_using() -> None:
    assert extract(q("DELETE FROM t USING u WHERE u.id = t.u_id AND t.k < 0")) == (
        ap(
            "t",
            P("k", Op.RANGE, "k < 0", None, ("0",)),
            kind="delete",
            selected=("u_id", "k"),
        ),
        ap("u", join_columns=("id",), selected=("id",)),
    )


def test_subquery_patterns_keep_the_query_id() -> None:
    sql = (
        f'SELECT {WD}."id" AS "id" FROM {WD} WHERE {WD}."rule_id" IN '
        '(SELECT U0."id" FROM "monitoring_alertrule" U0 WHERE U0."organisation" = %s)'
    )
    found = extract(q(sql, id="q_abc"))
    assert [(p.query_id, p.table) for p in found] == [
        ("q_abc", "monitoring_webhookdelivery"),
        ("q_abc", "monitoring_alertrule"),
    ]
    assert found[1].predicates == (P("organisation", Op.EQ, "organisation = %s"),)


def test_non_queries_give_no_pattern() -> None:
    assert extract(q("CREATE TABLE x (a int)")) == ()
    assert extract(q("SET statement_timeout = 0")) == ()


@pytest.mark.parametrize(
    ("sql", "expected_sql"),
    [
        # sqlglot cannot tokenize "$2,$3"; the repair adds the space.
        ("SELECT a FROM t WHERE b IN ($1,$2,$3)", "b IN ($1, $2, $3)"),
        # psql meta-commands and trailing semicolons around a statement.
        ("\\timing on\nSELECT a FROM t WHERE b = 1;;", "b = 1"),
    ],
)
def test_cheap_repairs(sql: str, expected_sql: str) -> None:
    [pattern] = extract(q(sql))
    assert [p.sql for p in pattern.predicates] == [expected_sql]


def test_django_percent_escapes_are_repaired() -> None:
    # A modulo written the Django way (%% in the SQL text) does not parse until repaired.
    [pattern] = extract(q("SELECT a FROM t WHERE b %% 2 = 0 AND c = %s"))
    assert pattern.predicates == (
        P("b", Op.EQ, "(b % 2) = 0", "b % 2", ("0",)),
        P("c", Op.EQ, "c = $1"),
    )


@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM t WHERE", "SELECT a FROM t WHERE (b = 1", "SELECT a FROM t WHERE a = 'x"],
)
def test_unparsable_sql_raises_with_sqlglots_first_line(sql: str) -> None:
    with pytest.raises(UnparsableSQL) as info:
        extract(q(sql))
    message = str(info.value)
    assert message and "\n" not in message and "\x1b" not in message


def test_analyse_collects_patterns_and_skips_with_reasons() -> None:
    workload = build_workload(
        [
            Statement('SELECT "id" FROM "t" WHERE "a" = $1', Origin("app/a.py", 3)),
            Statement("CREATE TABLE u (a int)", Origin("w.sql", 1)),
            Statement("SET search_path = x", Origin("w.sql", 2)),
            Statement("BEGIN", Origin("w.sql", 3)),
            Statement("create unique index concurrently i on t (a)", Origin("w.sql", 5)),
            Statement("SELECT * FROM t WHERE", Origin("w.sql", 4)),
            Statement("SELECT * FROM t WHERE", Origin("w.sql", 9)),
            Statement("UPDATE t SET a = 1 WHERE b IS NULL", None),
        ]
    )
    found, skipped = analyse(workload)
    ids = workload.by_id()
    assert [(ids[p.query_id].sql, p.table, p.kind, p.predicates) for p in found] == [
        ('SELECT "id" FROM "t" WHERE "a" = $1', "t", "select", (P("a", Op.EQ, "a = $1"),)),
        ("UPDATE t SET a = 1 WHERE b IS NULL", "t", "update", (P("b", Op.IS_NULL, "b IS NULL"),)),
    ]
    reasons = {(str(s.origin), s.reason.split(". Line")[0]) for s in skipped}
    assert reasons == {
        ("w.sql:1", "not a query: CREATE TABLE"),
        ("w.sql:2", "not a query: SET"),
        ("w.sql:3", "not a query: BEGIN"),
        ("w.sql:5", "not a query: CREATE UNIQUE INDEX"),
        (
            "w.sql:4",
            "unparsable SQL: Required keyword: 'this' missing for "
            "<class 'sqlglot.expressions.query.Where'>",
        ),
    }
    unparsable = next(s for s in skipped if s.reason.startswith("unparsable"))
    assert unparsable.sql == "SELECT * FROM t WHERE"


def test_module_doctests() -> None:
    result = doctest.testmod(patterns_module)
    assert result.attempted >= 8 and result.failed == 0


def test_canonical_is_idempotent() -> None:
    for sql in [
        "UPPER(email)",
        "context -> 'k'",
        "CAST(created_at AT TIME ZONE 'UTC' AS DATE)",
        'LOWER("Name")',
        '"order" || x',
    ]:
        assert canonical(canonical(sql)) == canonical(sql)
    assert canonical('"order" || x') == '"order" || x'


# --- against PostgreSQL -----------------------------------------------------------------------

# Index DDL exactly as Django 5.2's schema editor writes it for the example's models, and query
# SQL exactly as its lookups compile; each pair must come out as one key, and so must what the
# catalog says of the index once PostgreSQL has built it.
EXPRESSION_INDEXES = [
    (
        'CREATE INDEX "up_email" ON "monitoring_userprofile" ((UPPER("email")))',
        'SELECT "monitoring_userprofile"."id" FROM "monitoring_userprofile" '
        'WHERE UPPER("monitoring_userprofile"."email"::text) = UPPER(\'a@b.c\')',
        "UPPER(email)",
    ),
    (
        'CREATE INDEX "kt" ON "monitoring_integrationlog" ((("context" ->> \'k\')))',
        'SELECT "monitoring_integrationlog"."id" FROM "monitoring_integrationlog" '
        "WHERE (\"monitoring_integrationlog\".\"context\" ->> 'k') = 'v'",
        "context ->> 'k'",
    ),
    (
        'CREATE INDEX "kj" ON "monitoring_integrationlog" ((("context" -> \'k\')))',
        'SELECT "monitoring_integrationlog"."id" FROM "monitoring_integrationlog" '
        'WHERE ("monitoring_integrationlog"."context" -> \'k\') = \'"v"\'::jsonb',
        "context -> 'k'",
    ),
    (
        'CREATE INDEX "td" ON "monitoring_integrationlog" '
        "(((\"created_at\" AT TIME ZONE 'UTC')::date))",
        'SELECT "monitoring_integrationlog"."id" FROM "monitoring_integrationlog" '
        'WHERE ("monitoring_integrationlog"."created_at" AT TIME ZONE \'UTC\')::date '
        "= '2024-01-01'::date",
        "CAST(created_at AT TIME ZONE 'UTC' AS DATE)",
    ),
]

TABLES = """
CREATE TABLE monitoring_userprofile (id bigint PRIMARY KEY, email varchar(254) NOT NULL,
    is_active boolean NOT NULL, organisation integer NOT NULL);
CREATE TABLE monitoring_integrationlog (id bigint PRIMARY KEY, context jsonb NOT NULL,
    created_at timestamptz NOT NULL, level varchar(8) NOT NULL, organisation integer NOT NULL);
"""


def test_expression_keys_agree_with_django_and_the_catalog(temp_database: TempDatabase) -> None:
    with temp_database.connect(autocommit=True) as conn:
        conn.execute(TABLES)
        for ddl, query_sql, key in EXPRESSION_INDEXES:
            conn.execute(ddl)
            name = ddl.split('"')[1]
            [(catalog,)] = conn.execute(
                "SELECT pg_get_indexdef(%s::regclass, 1, true)", (name,)
            ).fetchall()
            django_expression = ddl[ddl.index("((") + 1 : ddl.rindex(")")]
            [pattern] = extract(q(query_sql))
            [predicate] = pattern.predicates
            assert (
                predicate.expression,
                canonical(django_expression),
                canonical(catalog),
            ) == (key, key, key)


def test_constant_predicates_are_valid_index_conditions(temp_database: TempDatabase) -> None:
    sql = (
        'SELECT "monitoring_integrationlog"."id" FROM "monitoring_integrationlog" WHERE '
        "(\"monitoring_integrationlog\".\"level\" IN ('error', 'warning') AND "
        'NOT ("monitoring_integrationlog"."organisation" = 4) AND '
        '("monitoring_integrationlog"."context" -> \'k\') = \'"v"\'::jsonb AND '
        '"monitoring_integrationlog"."created_at" >= \'2024-01-01\'::timestamptz AND '
        '"monitoring_integrationlog"."context" @> \'{"a": 1}\')'
    )
    [pattern] = extract(q(sql))
    assert [p.is_constant for p in pattern.predicates] == [True] * 5
    with temp_database.connect(autocommit=True) as conn:
        conn.execute(TABLES)
        for i, predicate in enumerate(pattern.predicates):
            conn.execute(
                f"CREATE INDEX p{i} ON monitoring_integrationlog (id) WHERE {predicate.sql}"
            )
        [(count,)] = conn.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = "
            "'monitoring_integrationlog'::regclass AND indpred IS NOT NULL"
        ).fetchall()
    assert count == 5


@pytest.mark.parametrize(
    ("where", "sql"),
    [
        # Django's annotate(x=Subquery(Task.objects.filter(id=OuterRef("task")).values(…)))
        (
            "select list",
            'SELECT s.id, (SELECT U0."name" FROM task U0 WHERE U0."id" = (s."task") '
            "ORDER BY U0.stopped DESC) AS n FROM schedule s WHERE s.next_run >= $1",
        ),
        (
            "order by",
            "SELECT s.id FROM schedule s WHERE s.next_run >= $1 "
            "ORDER BY (SELECT U0.stopped FROM task U0 WHERE U0.id = s.task LIMIT 1)",
        ),
        (
            "scalar comparison",
            "SELECT s.id FROM schedule s WHERE s.next_run >= $1 "
            "AND s.repeats = (SELECT COUNT(*) FROM task U0 WHERE U0.id = s.task)",
        ),
        # annotate(has_run=Exists(Task.objects.filter(id=OuterRef("task")))): not in a
        # WHERE, so never a semi-join.
        (
            "EXISTS in the select list",
            "SELECT s.id, EXISTS(SELECT 1 FROM task U0 WHERE U0.id = s.task LIMIT 1) AS has_run "
            "FROM schedule s WHERE s.next_run >= $1",
        ),
        (
            "EXISTS under OR",
            "SELECT s.id FROM schedule s WHERE s.next_run >= $1 AND "
            "(s.repeats > 0 OR EXISTS(SELECT 1 FROM task U0 WHERE U0.id = s.task))",
        ),
        (
            "NOT IN",
            "SELECT s.id FROM schedule s WHERE s.next_run >= $1 AND "
            "NOT (s.name IN (SELECT U0.name FROM task U0 WHERE U0.id = s.task))",
        ),
        # An anti-join: the schedule rows drive it, each probing task (found on
        # django-simple-history's as_of, whose NOT EXISTS made the outer id an index key).
        (
            "NOT EXISTS",
            "SELECT s.id FROM schedule s WHERE s.next_run >= $1 "
            "AND NOT EXISTS (SELECT 1 FROM task U0 WHERE U0.id = s.task)",
        ),
        (
            "inside a set operation",
            "SELECT s.id, (SELECT U0.name FROM task U0 WHERE U0.id = "
            "s.task UNION SELECT U1.name FROM task U1 WHERE U1.id = s.task) FROM schedule s "
            "WHERE s.next_run >= $1",
        ),
    ],
)
def test_a_scalar_subquery_looks_up_its_own_table_not_the_enclosing_one(
    where: str, sql: str
) -> None:
    # PostgreSQL runs a scalar sub-query once per row of the enclosing query: the enclosing
    # table's column is a value for each run, never a join key or a filter of that table.
    # The sub-query looks its table up by the value, like a parameter: an equality on id.
    found = extract(q(sql))
    outer = [p for p in found if p.table == "schedule"]
    inner = [p for p in found if p.table == "task"]
    assert [(p.join_columns, p.predicates[0].sql) for p in outer] == [((), "next_run >= $1")], where
    assert all(x.column in ("next_run", "name") for p in outer for x in p.predicates), where
    assert inner, where
    for p in inner:
        assert p.join_columns == (), where
        [lookup] = p.predicates
        assert (lookup.column, lookup.op, lookup.constants) == ("id", Op.EQ, ()), where
        assert lookup.sql in ("id = s.task", 'id = s."task"'), (where, lookup.sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT s.id FROM schedule s WHERE s.next_run >= $1 "
        "AND EXISTS (SELECT 1 FROM task U0 WHERE U0.id = s.task{task_filter})",
        "SELECT s.id FROM schedule s WHERE s.next_run >= $1 "
        "AND s.task IN (SELECT U0.id FROM task U0 WHERE U0.cluster = s.cluster{task_filter})",
        "SELECT s.id FROM schedule s JOIN task U0 ON U0.id = s.task{task_filter} "
        "WHERE s.next_run >= $1",
        "SELECT s.id FROM schedule s WHERE s.next_run >= $1 "
        "AND s.task = ANY (SELECT U0.id FROM task U0 WHERE U0.cluster = s.cluster{task_filter})",
    ],
)
@pytest.mark.parametrize("task_filter", ["", " AND U0.success"])
def test_a_join_or_semi_join_keeps_the_join_columns_of_a_side_the_other_can_lead(
    sql: str, task_filter: str
) -> None:
    # A join, EXISTS or IN may be driven from either side, but only from a side with a filter of
    # its own: an unfiltered task would be read whole to probe schedule by its join column (not
    # NOT EXISTS either: an anti-join is driven by the enclosing rows, see the test above).
    patterns = extract(q(sql.format(task_filter=task_filter)))
    outer = [p for p in patterns if p.table == "schedule"]
    inner = [p for p in patterns if p.table == "task"]
    assert outer and bool(outer[0].join_columns) == bool(task_filter), sql
    assert inner and all(p.join_columns for p in inner), sql


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # Django's `Tag.objects.filter(taggeditem__isnull=True)`: an anti-join. The IS NULL is
        # true of the tags no item matches; it never filters the item table's rows.
        (
            'SELECT "tag"."id" FROM "tag" LEFT OUTER JOIN "item" ON ("tag"."id" = "item"."tag_id")'
            ' WHERE "item"."id" IS NULL',
            {"tag": set(), "item": set()},
        ),
        # The same on a nullable column of the joined table, beside the other table's filter.
        (
            "SELECT a.id FROM a LEFT JOIN b ON a.id = b.a_id WHERE b.note IS NULL AND a.x IS NULL",
            {"a": {"x IS NULL"}, "b": set()},
        ),
        # RIGHT JOIN: the tables before it are the ones filled with NULLs.
        (
            "SELECT a.id FROM a RIGHT JOIN b ON a.id = b.a_id WHERE a.x IS NULL AND b.y IS NULL",
            {"a": set(), "b": {"y IS NULL"}},
        ),
        # A strict condition on the joined table makes the outer join an inner one: its filter.
        (
            "SELECT a.id FROM a LEFT JOIN b ON a.id = b.a_id WHERE b.status = 2",
            {"a": set(), "b": {"status = 2"}},
        ),
        # An inner join's IS NULL filters that table's rows, as always.
        (
            "SELECT a.id FROM a JOIN b ON a.id = b.a_id WHERE b.y IS NULL",
            {"a": set(), "b": {"y IS NULL"}},
        ),
    ],
)
def test_is_null_on_the_outer_joined_side_is_no_filter_of_that_table(sql, expected) -> None:
    found = {p.table: {x.sql for x in p.predicates} for p in extract(q(sql))}
    assert found == expected
