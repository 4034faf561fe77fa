"""Precision: the shapes of wrong proposals found on real projects, each now right.

Each test is one class of defect (issue 11): a query through the real parser, a schema of the
shape the real project had, and what a maintainer would merge — often nothing.
"""

from __future__ import annotations

import itertools

import pytest

from idxadvisor.advisor import advise
from idxadvisor.advisor.merge import merge
from idxadvisor.patterns.extractor import extract
from idxadvisor.types.access import Op, Predicate
from idxadvisor.types.advice import IndexCandidate
from idxadvisor.types.schema import Column, ExistingIndex, IndexElement, Schema, Table
from idxadvisor.types.workload import Query

T = "app_item"


def _schema(*indexes: ExistingIndex, columns: tuple[Column, ...] = ()) -> Schema:
    columns = columns or (
        Column("id", "id", "bigint"),
        Column("number", "number", "varchar(32)", unique=True),
        Column("user_id", "user", "integer", references="auth_user"),
        Column("status", "status", "varchar(16)", choices=True),
        Column("processed", "processed", "timestamp with time zone", null=True),
        Column("created_at", "created_at", "timestamp with time zone"),
        Column("name", "name", "varchar(100)"),
        Column("slug", "slug", "varchar(50)"),
        Column("message", "message", "text"),
        Column("payload", "payload", "jsonb"),
        Column("code", "code", "varchar(8)"),
        Column("unread", "unread", "boolean"),
    )
    pk = ExistingIndex(T, f"{T}_pkey", (IndexElement("id"),), "primary key", unique=True)
    number = ExistingIndex(T, f"{T}_number_key", (IndexElement("number"),), "unique", unique=True)
    return Schema({T: Table(T, columns)}, (pk, number, *indexes))


def _user_slug_unique() -> ExistingIndex:
    return ExistingIndex(
        T,
        "item_user_slug_uniq",
        (IndexElement("user_id"), IndexElement("slug")),
        "unique_together",
        unique=True,
    )


def _advise(schema: Schema, *sqls: str):
    patterns = []
    for i, sql in enumerate(sqls):
        patterns.extend(extract(Query(id=f"q{i}", sql=sql, fingerprint=sql, source="sql")))
    return advise(patterns, schema)


def _keys(rec) -> list[tuple[str, bool]]:
    return [(e.key, e.descending) for e in rec.candidate.elements]


# 1. Unique columns end the key ------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "id = $1 AND status = 'x'",  # primary key
        "number = $1 AND user_id = $2",  # unique field, then another equality
        "number = $1 ORDER BY created_at DESC LIMIT 5",  # unique field, then an order
    ],
)
def test_an_equality_on_a_unique_key_is_served_and_nothing_is_proposed(where):
    advice = _advise(_schema(), f"SELECT * FROM {T} WHERE {where}")
    assert advice.recommendations == ()
    assert {s.index for s in advice.served} <= {f"{T}_pkey", f"{T}_number_key"}
    assert advice.served


def test_unique_together_and_unconditional_unique_constraints_end_the_key_too():
    together = _user_slug_unique()
    advice = _advise(
        _schema(together), f"SELECT * FROM {T} WHERE slug = $1 AND user_id = $2 AND status = 'a'"
    )
    assert advice.recommendations == ()
    assert [s.index for s in advice.served] == ["item_user_slug_uniq"]


def test_a_partial_unique_index_ends_the_key_only_when_the_query_implies_its_where():
    partial = ExistingIndex(
        T,
        "item_slug_live",
        (IndexElement("slug"),),
        "UniqueConstraint",
        unique=True,
        condition="status = 'live'",
    )
    served = _advise(_schema(partial), f"SELECT * FROM {T} WHERE slug = $1 AND status = 'live'")
    assert [s.index for s in served.served] == ["item_slug_live"]
    other = _advise(_schema(partial), f"SELECT * FROM {T} WHERE slug = $1 AND user_id = $2")
    assert other.recommendations, "slug is unique only among live rows"


# 2. INCLUDE only what is small, and only for index-only reads -------------------------------


@pytest.mark.parametrize("column", ["message", "payload"])
def test_text_and_json_columns_are_never_included(column):
    advice = _advise(_schema(), f"SELECT {column} FROM {T} WHERE user_id = $1 AND code = $2")
    [rec] = advice.recommendations
    assert rec.candidate.include == ()


def test_a_full_model_fetch_of_a_narrow_table_gets_no_include():
    narrow = (
        Column("id", "id", "bigint"),
        Column("code", "code", "varchar(8)"),
        Column("level", "level", "integer"),
        Column("message", "message", "text"),
    )
    schema = _schema(columns=narrow)
    advice = _advise(schema, f"SELECT id, code, level, message FROM {T} WHERE level = $1")
    [rec] = advice.recommendations
    assert rec.candidate.include == ()


def test_small_columns_of_a_values_query_are_included():
    advice = _advise(_schema(), f"SELECT code FROM {T} WHERE user_id = $1 AND status = $2")
    [rec] = advice.recommendations
    assert rec.candidate.include == ("code",)


# 3. Merging keeps every promise ---------------------------------------------------------------


def _c(
    *keys: str,
    eq: int = 0,
    desc: tuple[str, ...] = (),
    serves: str = "q",
    condition: tuple[Predicate, ...] = (),
) -> IndexCandidate:
    return IndexCandidate(
        T,
        tuple(IndexElement(k, descending=k in desc) for k in keys),
        condition=condition,
        serves=(serves,),
        equality_prefix=eq,
    )


def test_equality_keys_have_no_direction_when_merging():
    merged = merge(
        [
            _c("user_id", "created_at", eq=1, serves="q1"),
            _c("user_id", "created_at", eq=1, desc=("created_at",), serves="q2"),
        ]
    )
    assert len(merged) == 1
    assert set(merged[0].serves) == {"q1", "q2"}


def test_a_fold_that_would_break_an_earlier_query_is_refused():
    # q1 seeks user_id, then orders by created_at; q2 pins (status, user_id). Folding q1 into a
    # reordered (user_id, status, ...) would break q3 = (status, name) pinned on status first.
    candidates = [
        _c("status", "user_id", "name", eq=3, serves="q2"),
        _c("user_id", "created_at", eq=1, serves="q1"),
        _c("status", "name", eq=1, serves="q3"),
    ]
    for merged in (merge(list(p)) for p in itertools.permutations(candidates)):
        for index in merged:
            for qid, wanted in (("q1", ["user_id", "created_at"]), ("q3", ["status", "name"])):
                if qid in index.serves:
                    keys = [e.key for e in index.elements]
                    eq = 1
                    assert (
                        set(keys[:eq]) == set(wanted[:eq]) and keys[eq : len(wanted)] == wanted[eq:]
                    ), (qid, keys)


def test_the_merge_result_does_not_depend_on_the_order_of_its_input():
    candidates = [
        _c("user_id", eq=1, serves="a"),
        _c("user_id", "created_at", eq=1, desc=("created_at",), serves="b"),
        _c("name", "user_id", eq=2, serves="c"),
        _c("status", "user_id", eq=2, serves="d"),
        _c("user_id", "status", "created_at", eq=2, serves="e"),
    ]
    results = {
        tuple(
            sorted(
                (tuple(e.key for e in m.elements), tuple(sorted(m.serves))) for m in merge(list(p))
            )
        )
        for p in itertools.permutations(candidates)
    }
    assert len(results) == 1


def test_the_reason_its_keys_lead_this_index_is_only_given_when_they_do():
    advice = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20",
        f"SELECT * FROM {T} WHERE user_id = $1 AND name = $2",
    )
    for rec in advice.recommendations:
        keys = [e.key for e in rec.candidate.elements]
        if "its keys lead this index" in rec.reason:
            assert keys[0] == "user_id"


def test_a_merged_index_is_explained_by_the_query_that_seeks_on_it():
    # A sort by (user_id, created_at DESC) and a filter on user_id ordered by created_at DESC
    # are one index; its reasons open with the seek, whichever query comes first.
    sort = f"SELECT * FROM {T} ORDER BY user_id, created_at DESC LIMIT 100"
    seek = f"SELECT * FROM {T} WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20"
    for sqls in ((sort, seek), (seek, sort)):
        [rec] = _advise(_schema(), *sqls).recommendations
        assert rec.candidate.reasons[0].startswith("Equality on user_id first"), sqls


def test_the_queries_whose_keys_lead_are_named_once_each():
    # Three shorter lookups fold into one index: one sentence names each of them, rather than
    # one sentence per fold.
    advice = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE user_id = $1 AND name = $2 ORDER BY created_at DESC LIMIT 5",
        f"SELECT * FROM {T} WHERE user_id = $1 AND name = $2",
        f"SELECT * FROM {T} WHERE user_id = $1 AND name = $2 LIMIT 1",
        f"SELECT * FROM {T} WHERE name = $1 AND user_id = $2 LIMIT 21",
    )
    [rec] = advice.recommendations
    said = [r for r in rec.candidate.reasons if r.startswith("Also serves ")]
    assert len(said) == 1
    named = said[0].removeprefix("Also serves ").split(":")[0].split(", ")
    assert len(named) == len(set(named)) == len(rec.serves) - 1
    assert said[0].endswith("their keys lead this index.")


# 4. Negated constants are partial predicates ---------------------------------------------------


@pytest.mark.parametrize(
    "where, condition",
    [
        ("NOT (status = 'down')", "status <> 'down'"),
        ("status <> 'down'", "status <> 'down'"),
        ("status NOT IN ('down', 'paused')", "NOT status IN ('down', 'paused')"),
    ],
)
def test_negated_constant_filters_go_into_the_index_where(where, condition):
    advice = _advise(_schema(), f"SELECT * FROM {T} WHERE {where} AND user_id = $1")
    [rec] = advice.recommendations
    assert _keys(rec) == [("user_id", False)]
    assert rec.candidate.condition_sql is not None
    from idxadvisor.sql.canonical import canonical

    assert canonical(rec.candidate.condition_sql) == canonical(condition)


def test_an_existing_partial_index_written_another_way_is_recognised():
    # ~Q(status="down") in the model, "status <> 'down'" in the query, and the catalog's form.
    for written in ("NOT (status = 'down')", "((status)::text <> 'down'::text)"):
        existing = ExistingIndex(
            T, "item_up", (IndexElement("user_id"),), "Meta.indexes", condition=written
        )
        advice = _advise(
            _schema(existing), f"SELECT * FROM {T} WHERE status <> 'down' AND user_id = $1"
        )
        assert advice.recommendations == (), written
        assert [s.index for s in advice.served] == ["item_up"]


# 5. A filter walked in primary-key order is not served --------------------------------------


def test_a_rare_filter_in_primary_key_order_needs_its_partial_index():
    advice = _advise(_schema(), f"SELECT * FROM {T} WHERE processed IS NULL ORDER BY id LIMIT 1")
    [rec] = advice.recommendations
    assert rec.candidate.condition_sql == "processed IS NULL"


# 6. LIKE prefix needs the pattern operator class --------------------------------------------


def test_a_like_prefix_gets_the_pattern_operator_class():
    advice = _advise(_schema(), f"SELECT * FROM {T} WHERE name LIKE 'abc%' AND user_id = $1")
    [rec] = advice.recommendations
    assert [(e.key, e.opclass) for e in rec.candidate.elements] == [
        ("user_id", None),
        ("name", "varchar_pattern_ops"),
    ]


def test_a_plain_btree_does_not_serve_a_like_prefix_but_djangos_like_index_does():
    plain = ExistingIndex(T, "item_name", (IndexElement("name"),), "db_index")
    like = ExistingIndex(
        T, "item_name_like", (IndexElement("name", opclass="varchar_pattern_ops"),), "db_index"
    )
    sql = f"SELECT * FROM {T} WHERE name LIKE 'abc%'"
    assert _advise(_schema(plain), sql).recommendations
    served = _advise(_schema(plain, like), sql)
    assert served.recommendations == ()
    assert [s.index for s in served.served] == ["item_name_like"]


def test_a_like_parameter_of_unknown_shape_is_not_a_leading_wildcard():
    advice = _advise(_schema(), f"SELECT * FROM {T} WHERE message LIKE $1 AND user_id = $2")
    assert all(r.candidate.method != "gin" for r in advice.recommendations)


# 8. Constants are not shapes ------------------------------------------------------------------


def test_a_long_in_list_of_literals_is_not_a_partial_predicate():
    values = ", ".join(str(n) for n in range(500))
    advice = _advise(
        _schema(), f"SELECT * FROM {T} WHERE user_id IN ({values}) ORDER BY created_at LIMIT 10"
    )
    for rec in advice.recommendations:
        assert rec.candidate.condition == ()


# 11. Every proposal is an index PostgreSQL can build ------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT * FROM {T} WHERE CAST(created_at AT TIME ZONE $1 AS DATE) = $2",
        f"SELECT * FROM {T} WHERE DATE_TRUNC($1, created_at) = $2",
        f"SELECT * FROM {T} WHERE user_id = $1 ORDER BY DATE_TRUNC($2, created_at) LIMIT 5",
    ],
)
def test_an_expression_holding_a_parameter_is_never_an_index_key(sql):
    for rec in _advise(_schema(), sql).recommendations:
        assert "$" not in rec.sql, rec.sql


@pytest.mark.parametrize(
    "sql",
    [
        # An ORDER BY of a grouped query on an aggregate, by ordinal and as written.
        f"SELECT user_id, MAX(created_at) FROM {T} GROUP BY 1 ORDER BY 2 DESC LIMIT 5",
        f"SELECT user_id, COUNT(id) AS n FROM {T} GROUP BY user_id ORDER BY n DESC LIMIT 5",
        f"SELECT code, SUM(id) FROM {T} WHERE status = $1 GROUP BY code ORDER BY SUM(id)",
        # A window, and functions that change with the clock or a sequence.
        f"SELECT id, ROW_NUMBER() OVER (ORDER BY created_at) FROM {T} ORDER BY 2 LIMIT 3",
        f"SELECT * FROM {T} WHERE NOW() - created_at < $1 AND user_id = $2",
        f"SELECT * FROM {T} WHERE AGE(created_at) > $1 ORDER BY id LIMIT 3",
        f"SELECT * FROM {T} WHERE user_id = $1 ORDER BY CLOCK_TIMESTAMP() - created_at LIMIT 5",
    ],
)
def test_an_aggregate_a_window_or_a_volatile_call_is_never_an_index_key(sql, temp_database):
    # Found on django-silk: ORDER BY 2 DESC resolved to MAX(time_taken) and proposed as a key;
    # PostgreSQL: "aggregate functions are not allowed in index expressions". Every proposal
    # is built here on a real table of the schema's shape.
    import psycopg

    advice = _advise(_schema(), sql)
    columns = ", ".join(f'"{c.name}" {c.db_type}' for c in _schema().tables[T].columns)
    with psycopg.connect(temp_database.url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{T}" ({columns})')
        for rec in advice.recommendations:
            assert not any(f in rec.sql.upper() for f in ("MAX(", "COUNT(", "SUM(", "NOW("))
            conn.execute(rec.sql.replace(" CONCURRENTLY", ""))


_TYPED = Table(
    "typed",
    (
        Column("id", "id", "bigint", unique=True, primary_key=True),
        Column("at", "at", "timestamp with time zone"),
        Column("ts", "ts", "timestamp"),
        Column("d", "d", "date"),
        Column("n", "n", "integer"),
        Column("email", "email", "varchar(254)"),
    ),
)


@pytest.mark.parametrize(
    ("where", "buildable"),
    [
        # The session's TimeZone decides the day, the field, the truncation of a timestamptz.
        ("at::date = $1", False),
        ("date_trunc('day', at) = $1", False),
        ("EXTRACT(year FROM at) = 2020", False),
        # AT TIME ZONE first (Django's __date with USE_TZ), or a timestamp: IMMUTABLE.
        ("(at AT TIME ZONE 'UTC')::date = $1", True),
        ("date_trunc('day', ts) = $1", True),
        ("EXTRACT(year FROM ts) = 2020", True),
        # DateStyle and locale: STABLE whatever the type.
        ("to_char(ts, 'YYYY') = $1", False),
        ("d::text LIKE '2020%'", False),
        # A column of another type compared as its text (Django's __startswith, __iexact on an
        # IntegerField): the cast is lost in the pattern, so no key on n is proposed.
        ("n::text LIKE '12%'", False),
        ("UPPER(n::text) = UPPER($1)", False),
        ("UPPER(email::text) = UPPER($1)", True),
        ("email::text LIKE 'ab%'", True),
    ],
)
def test_an_index_key_postgresql_cannot_build_on_the_columns_type_is_never_proposed(
    where, buildable, temp_database
):
    # Issue 11, defect 11, on types: each proposal is built on a real table of these types, and
    # each key refused is one PostgreSQL refuses too, as the advisor would have written it.
    import psycopg

    from idxadvisor.advisor.django_index import recommend

    schema = Schema({"typed": _TYPED})
    advice = _advise(schema, f"SELECT * FROM typed WHERE {where}")
    columns = ", ".join(f'"{c.name}" {c.db_type}' for c in _TYPED.columns)
    with psycopg.connect(temp_database.url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE typed ({columns})")
        for rec in advice.recommendations:
            conn.execute(rec.sql.replace(" CONCURRENTLY", ""))
        assert bool(advice.recommendations) == buildable, [r.sql for r in advice.recommendations]
        refused = [r for r in advice.rejected if "IMMUTABLE" in r.reason or "as text" in r.reason]
        assert bool(refused) != buildable, [r.reason for r in advice.rejected]
        for r in refused:
            written = recommend(r.candidate, _TYPED).sql.replace(" CONCURRENTLY", "")
            with pytest.raises(psycopg.Error):
                conn.execute(written)


def test_is_not_null_on_a_not_null_column_is_no_predicate():
    advice = _advise(
        _schema(), f"SELECT * FROM {T} WHERE created_at IS NOT NULL AND user_id = $1 AND code = $2"
    )
    [rec] = advice.recommendations
    assert rec.candidate.condition == ()


def test_two_partial_indexes_that_cover_every_row_are_one_full_index():
    advice = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE unread AND user_id = $1 AND code = $2",
        f"SELECT * FROM {T} WHERE NOT unread AND user_id = $1 AND code = $2",
    )
    [rec] = advice.recommendations
    assert rec.candidate.condition == ()
    assert set(rec.serves) == {"q0", "q1"}


def test_a_sort_of_a_table_joined_to_a_filtered_one_is_only_possible():
    # Found on django-silk: SQLQuery.objects.filter(profiles=p).order_by("-start_time")[:2].
    # The filter is on the link table, whose unique (profile_id, sqlquery_id) finds the few
    # rows; an index on start_time only helps a walk of every query row in time order.
    from idxadvisor.types.workload import Origin

    link = Table(
        "link",
        (
            Column("id", "id", "bigint"),
            Column("profile_id", "profile", "integer"),
            Column("item_id", "item", "bigint"),
        ),
    )
    unique = ExistingIndex(
        "link",
        "link_uniq",
        (IndexElement("profile_id"), IndexElement("item_id")),
        "unique",
        unique=True,
    )
    base = _schema()
    schema = Schema({**base.tables, "link": link}, (*base.indexes, unique))
    sql = (
        f"SELECT {T}.id FROM {T} JOIN link ON {T}.id = link.item_id "
        f"WHERE link.profile_id = $1 ORDER BY {T}.created_at DESC LIMIT 2"
    )
    query = Query("q0", sql, sql, "static", origins=(Origin("shop/views.py", 3),))
    advice = advise(tuple(extract(query)), schema, queries={"q0": query})
    assert advice.recommendations  # listed, ranked below the strong ones
    for rec in advice.recommendations:
        assert rec.strength == "possible", (rec.sql, rec.value)
        assert any("a join filtered on another table" in v for v in rec.value)


def test_a_range_behind_an_order_by_key_is_not_called_a_contiguous_slice():
    # (user_id, created_at DESC, code): the walk in created_at order checks the code range on
    # each entry; only a range right after the equalities is one slice of the index.
    [rec] = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE user_id = $1 AND code > $2 ORDER BY created_at DESC LIMIT 5",
    ).recommendations
    assert [e.key for e in rec.candidate.elements] == ["user_id", "created_at", "code"]
    assert "contiguous slice" not in rec.reason
    assert "checked in the index" in rec.reason
    [rec] = _advise(
        _schema(), f"SELECT * FROM {T} WHERE user_id = $1 AND code > $2"
    ).recommendations
    assert "Then the range on code: one contiguous slice of the index." in rec.reason


def test_a_join_with_no_filter_does_not_make_its_join_column_a_key():
    other = Table("auth_user", (Column("id", "id", "integer"),))
    schema = _schema()
    schema = Schema({**schema.tables, "auth_user": other}, schema.indexes)
    advice = _advise(schema, f"SELECT * FROM {T} JOIN auth_user ON auth_user.id = {T}.code")
    assert advice.recommendations == ()


def test_a_scalar_subquery_does_not_make_the_enclosing_tables_column_a_key():
    # Django's annotate(last=Subquery(Run.objects.filter(id=OuterRef("code")).values(…))), as
    # django-q2's Schedule admin does: the sub-query is run per row, by the primary key of
    # its own table; the list itself is read by its own range.
    other = Table("app_run", (Column("id", "id", "integer"), Column("name", "name", "text")))
    pk = ExistingIndex("app_run", "app_run_pkey", (IndexElement("id"),), "primary key", True)
    schema = _schema()
    schema = Schema({**schema.tables, "app_run": other}, (*schema.indexes, pk))
    advice = _advise(
        schema,
        f"SELECT {T}.id, (SELECT U0.name FROM app_run U0 WHERE U0.id = ({T}.code)) AS last "
        f"FROM {T} WHERE {T}.created_at >= $1 AND {T}.created_at < $2 ORDER BY {T}.created_at",
    )
    assert [_keys(r) for r in advice.recommendations] == [[("created_at", False)]]
    assert {(s.table, s.index) for s in advice.served} == {("app_run", "app_run_pkey")}


def test_predicates_built_by_hand_have_the_negation_op():
    # The parser's contract these rules rely on.
    [p] = extract(
        Query(
            id="q", sql=f"SELECT * FROM {T} WHERE NOT (status = 'x')", fingerprint="", source="sql"
        )
    )
    assert [(x.op, x.constants) for x in p.predicates] == [(Op.NEQ, ("'x'",))]


def test_a_descending_copy_of_the_primary_key_is_the_primary_key():
    # A B-tree reads backwards: (id DESC) is the primary key, never a new index.
    advice = _advise(_schema(), f"SELECT * FROM {T} ORDER BY id DESC LIMIT 100")
    assert advice.recommendations == ()


def test_partials_on_is_null_and_is_not_null_are_one_full_index():
    advice = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE processed IS NULL AND user_id = $1 AND code = $2",
        f"SELECT * FROM {T} WHERE NOT (processed IS NULL) AND user_id = $1 AND code = $2",
    )
    [rec] = advice.recommendations
    assert rec.candidate.condition == ()


def test_a_brin_beside_a_btree_on_the_same_column_folds_into_the_btree():
    columns = (
        Column("id", "id", "bigint"),
        Column("at", "at", "timestamp with time zone", insert_timestamp=True),
        Column("level", "level", "integer"),
    )
    advice = _advise(
        _schema(columns=columns),
        f"DELETE FROM {T} WHERE at < $1",
        f"SELECT * FROM {T} WHERE at >= $1 ORDER BY at LIMIT 20",
    )
    [rec] = advice.recommendations
    assert rec.candidate.method == "btree" and set(rec.serves) == {"q0", "q1"}


def test_an_in_list_on_a_unique_key_is_served_by_it():
    advice = _advise(
        _schema(), f"SELECT * FROM {T} WHERE number IN ($1) ORDER BY created_at DESC LIMIT 10"
    )
    assert advice.recommendations == ()
    assert [s.index for s in advice.served] == [f"{T}_number_key"]


@pytest.mark.parametrize(
    "sql",
    [
        # the admin sorts by a unique column, then by the model's ordering: ties cannot happen
        f"SELECT * FROM {T} ORDER BY number ASC, created_at DESC LIMIT 100",
        f"SELECT * FROM {T} ORDER BY number DESC, created_at DESC, id DESC LIMIT 100",
        f"SELECT * FROM {T} ORDER BY id ASC, created_at DESC LIMIT 100",
    ],
)
def test_order_by_keys_after_a_unique_key_are_no_index_keys(sql):
    advice = _advise(_schema(), sql)
    assert advice.recommendations == ()
    assert {s.index for s in advice.served} <= {f"{T}_pkey", f"{T}_number_key"}
    assert advice.served


def test_a_unique_pair_ends_the_order_once_the_query_pins_its_other_column():
    together = _user_slug_unique()
    advice = _advise(
        _schema(together),
        f"SELECT * FROM {T} WHERE user_id = $1 ORDER BY slug, created_at DESC LIMIT 10",
    )
    assert advice.recommendations == ()
    assert [s.index for s in advice.served] == ["item_user_slug_uniq"]
    # Without the pinned column the pair does not end anything: slug alone repeats.
    other = _advise(_schema(together), f"SELECT * FROM {T} ORDER BY slug, created_at DESC LIMIT 10")
    assert [_keys(r) for r in other.recommendations] == [[("slug", False), ("created_at", True)]]


@pytest.mark.parametrize(
    "where",
    ["processed IS NULL", "status = 'done'", "unread"],
)
def test_a_partial_on_a_pinned_column_folds_into_an_index_that_seeks_on_it(where):
    # "(created_at DESC) WHERE processed IS NULL" beside "(processed, created_at DESC)": the
    # full index seeks on processed IS NULL and reads the rest in order; one index, not two.
    column = where.split()[0]
    advice = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE {where} ORDER BY created_at DESC LIMIT 100",
        f"SELECT * FROM {T} WHERE {column} = $1 ORDER BY created_at DESC LIMIT 100",
    )
    [rec] = advice.recommendations
    assert _keys(rec) == [(column, False), ("created_at", True)]
    assert rec.candidate.condition == ()
    assert set(rec.serves) == {"q0", "q1"}
    assert "sought on as the leading key" in " ".join(rec.candidate.reasons)


@pytest.mark.parametrize(
    "where",
    ["processed IS NOT NULL", "processed IS NULL"],
)
def test_a_partial_bounding_the_leading_key_folds_into_the_full_index_on_it(where):
    # An admin filter "has a date" sorted by that date, beside lookups by range of it: the
    # full "(processed)" seeks on IS NOT NULL itself (an index condition), so a second,
    # partial index on the same key would only cost writes.
    advice = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE {where} ORDER BY processed LIMIT 100",
        f"SELECT * FROM {T} WHERE processed >= $1 AND processed < $2 ORDER BY processed",
    )
    [rec] = advice.recommendations
    assert _keys(rec) == [("processed", False)]
    assert rec.candidate.condition == ()
    assert set(rec.serves) == {"q0", "q1"}
    assert "sought on the leading key processed itself" in " ".join(rec.candidate.reasons)


def test_a_partial_on_another_column_still_does_not_fold_into_a_full_walk():
    # "(created_at) WHERE processed IS NULL" into "(created_at)" would walk every row.
    advice = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE processed IS NULL ORDER BY created_at LIMIT 100",
        f"SELECT * FROM {T} ORDER BY created_at LIMIT 100",
    )
    assert sorted(bool(r.candidate.condition) for r in advice.recommendations) == [False, True]


def test_a_pinned_partial_does_not_fold_into_an_index_that_does_not_lead_with_it():
    advice = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE processed IS NULL ORDER BY created_at DESC LIMIT 100",
        f"SELECT * FROM {T} WHERE user_id = $1 AND processed IS NULL ORDER BY name LIMIT 100",
        f"SELECT * FROM {T} WHERE name = $1 ORDER BY processed, created_at DESC LIMIT 100",
    )
    partial = [r for r in advice.recommendations if r.candidate.condition]
    assert [_keys(r) for r in partial if "q0" in r.serves] == [[("created_at", True)]]


def test_a_list_of_every_value_of_a_column_gets_no_index():
    # The admin's list_filter choices: every row read in order, nothing stops the scan early.
    advice = _advise(_schema(), f"SELECT DISTINCT name FROM {T} ORDER BY 1 ASC")
    assert advice.recommendations == ()
    [rejected] = advice.rejected
    assert "no LIMIT" in rejected.reason
    # A listing is paged in production (the admin leaves the LIMIT out when one page holds
    # every row), and with a LIMIT the index lets the scan stop early: a (possible) proposal.
    for listing in (f"SELECT * FROM {T} ORDER BY name", f"SELECT * FROM {T} ORDER BY name LIMIT 9"):
        [rec] = _advise(_schema(), listing).recommendations
        assert _keys(rec) == [("name", False)]
        assert rec.strength == "possible"


@pytest.mark.parametrize("where", ["unread", "NOT unread", "unread AND NOT unread"])
def test_a_boolean_alone_is_no_index_key(where):
    advice = _advise(_schema(), f"SELECT COUNT(*) FROM {T} WHERE {where}")
    assert advice.recommendations == ()


def test_a_boolean_beside_another_constant_filter_stays_the_index_where():
    advice = _advise(_schema(), f"SELECT COUNT(*) FROM {T} WHERE unread AND processed IS NULL")
    [rec] = advice.recommendations
    assert _keys(rec) == [("processed", False)]
    assert rec.candidate.condition_sql == "unread"


def test_a_sort_by_a_boolean_gets_no_index():
    advice = _advise(_schema(), f"SELECT * FROM {T} ORDER BY unread DESC, id DESC LIMIT 100")
    assert advice.recommendations == ()


def test_a_list_of_every_value_under_a_constant_filter_gets_no_index():
    advice = _advise(_schema(), f"SELECT DISTINCT name FROM {T} WHERE NOT unread ORDER BY 1")
    assert advice.recommendations == ()
    assert advice.rejected


def test_partials_that_pin_more_columns_fold_into_one_that_seeks_on_them():
    # The admin's "empty" filter choice beside the filter by value, under the same manager
    # WHERE: (created_at DESC) WHERE name IS NULL AND unread folds into
    # (name, created_at DESC) WHERE unread.
    advice = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE unread AND name IS NULL ORDER BY created_at DESC LIMIT 100",
        f"SELECT * FROM {T} WHERE unread AND name = $1 ORDER BY created_at DESC LIMIT 100",
    )
    [rec] = advice.recommendations
    assert _keys(rec) == [("name", False), ("created_at", True)]
    assert rec.candidate.condition_sql == "unread"
    assert set(rec.serves) == {"q0", "q1"}


def test_the_primary_key_is_the_schemas_not_a_column_named_id():
    # One home for "the primary key": the schema's column flag, whatever the column is called.
    columns = (
        Column("code", "code", "varchar(12)", unique=True, primary_key=True),
        Column("id", "id", "integer"),  # a plain column that happens to be called id
        Column("user_id", "user", "integer"),
    )
    pk = ExistingIndex(T, f"{T}_pkey", (IndexElement("code"),), "primary key", unique=True)
    schema = Schema({T: Table(T, columns)}, (pk,))
    first_by_pk = _advise(schema, f"SELECT * FROM {T} WHERE user_id = $1 ORDER BY code LIMIT 1")
    assert [_keys(r) for r in first_by_pk.recommendations] == [[("user_id", False)]]
    by_id = _advise(schema, f"SELECT * FROM {T} WHERE user_id = $1 ORDER BY id LIMIT 1")
    assert [_keys(r) for r in by_id.recommendations] == [[("user_id", False), ("id", False)]]


def test_an_in_list_before_an_order_with_a_limit_is_a_filter_not_a_key():
    # A B-tree seeking several values returns each value's rows in turn, not sorted: with a
    # LIMIT the order is the key (the scan stops early), and the list is checked on the rows.
    [rec] = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE user_id = $1 AND code IN ($2, $3) "
        "ORDER BY created_at DESC LIMIT 1",
    ).recommendations
    assert _keys(rec) == [("user_id", False), ("created_at", True)]
    assert "checked on the rows the index returns" in " ".join(rec.candidate.reasons)
    # One listed value is an equality; no LIMIT: sought on, and the rows sorted after.
    [one] = _advise(
        _schema(), f"SELECT * FROM {T} WHERE code IN ($1) ORDER BY created_at DESC LIMIT 1"
    ).recommendations
    assert _keys(one) == [("code", False), ("created_at", True)]
    [unlimited] = _advise(
        _schema(), f"SELECT * FROM {T} WHERE code IN ($1, $2) ORDER BY created_at DESC"
    ).recommendations
    assert _keys(unlimited) == [("code", False)]


def test_every_candidate_of_each_half_joins_the_full_index_whatever_the_order():
    # Two candidates WHERE unread (one read backwards) and one WHERE NOT unread, all on the
    # same key: one full index, never a full one beside a left-over partial one.
    sqls = [
        f"SELECT * FROM {T} WHERE unread ORDER BY created_at DESC LIMIT 100",
        f"SELECT * FROM {T} WHERE NOT unread ORDER BY created_at DESC LIMIT 100",
        f"SELECT * FROM {T} WHERE unread ORDER BY created_at ASC LIMIT 100",
    ]
    for order in itertools.permutations(range(3)):
        advice = _advise(_schema(), *(sqls[i] for i in order))
        [rec] = advice.recommendations
        assert rec.candidate.condition == ()
        assert len(rec.serves) == 3


def _fk(column: str, name: str | None = None) -> ExistingIndex:
    return ExistingIndex(T, name or f"{T}_{column}_idx", (IndexElement(column),), "foreign key")


@pytest.mark.parametrize(
    ("sql", "existing", "strength"),
    [
        # The foreign-key index finds one user's rows; the new index only narrows that seek.
        (f"SELECT * FROM {T} WHERE user_id = $1 AND name = $2", "user_id", "possible"),
        (f"SELECT * FROM {T} WHERE user_id = $1 AND created_at > $2", "user_id", "possible"),
        # A status (choices) has few values, each on many rows: narrowing it pays.
        (f"SELECT * FROM {T} WHERE status = $1 AND name = $2", "status", "strong"),
        # Rows in the LIMIT's order: a sort saved and an early stop, more than narrowing.
        (
            f"SELECT * FROM {T} WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20",
            "user_id",
            "strong",
        ),
        # A range the existing index seeks on is no equality it narrows.
        (f"SELECT * FROM {T} WHERE created_at > $1 AND name = $2", "created_at", "strong"),
        (f"SELECT * FROM {T} WHERE user_id = $1 AND name = $2", None, "strong"),
    ],
)
def test_a_proposal_that_only_narrows_an_existing_seek_is_only_possible(sql, existing, strength):
    indexes = (_fk(existing),) if existing else ()
    [rec] = _advise(_schema(*indexes), sql).recommendations
    assert rec.strength == strength, rec.value
    says = [v for v in rec.value if "already seeks on" in v]
    if strength == "possible":
        assert says and f"{T}_{existing}_idx already seeks on {existing} = …" in says[0]
    else:
        assert not says


def test_a_reason_opens_with_what_the_index_does_not_with_then():
    # Found on django-post-office and django-simple-history: "Then the range on subject: …"
    # and "Then the ORDER BY key …" opened a proposal's reason, following nothing.
    for where in ("ORDER BY created_at DESC LIMIT 5", "WHERE code > $1"):
        [rec] = _advise(_schema(), f"SELECT * FROM {T} {where}").recommendations
        assert not rec.reason.startswith("Then"), rec.reason
        assert rec.reason.startswith(("The ORDER BY key", "The range on code")), rec.reason


def test_a_reason_says_each_sentence_once():
    # Found on django-allauth: two queries folded in with the same WHERE made "NOT verified is
    # then checked on the rows the seek finds…" appear twice in one reason.
    advice = _advise(
        _schema(),
        f"SELECT * FROM {T} WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1",
        f"SELECT * FROM {T} WHERE user_id = $1 AND NOT unread",
        f"SELECT COUNT(*) FROM {T} WHERE user_id = $1 AND NOT unread",
    )
    assert advice.recommendations
    for rec in advice.recommendations:
        assert len(rec.candidate.reasons) == len(set(rec.candidate.reasons)), rec.reason
