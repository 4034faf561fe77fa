"""The static scanner against real Django projects on disk, with no database reachable.

Each scan runs in a subprocess (Django settings are global to a process) that prints the result
as JSON; the SQL is checked by parsing it with sqlglot.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from tests.helpers import EXAMPLE, ROOT, run_cli, run_python

FIXTURE = ROOT / "tests" / "fixtures" / "staticproj"
UNREACHABLE = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nowhere", "PGPORT": "1"}

SCAN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from django.db import connections
    from idxadvisor.project import load_project
    from idxadvisor.sources.static.scan import scan

    root, settings, *paths = sys.argv[1:]
    project = load_project(Path(root), settings or None)
    result = scan(project, [Path(p) for p in paths] if paths else None)
    out = {
        "statements": [
            {"sql": s.sql, "path": s.origin.path, "line": s.origin.line, "col": s.origin.col,
             "function": s.origin.function, "model": s.model, "code": s.code,
             "source": s.source}
            for s in result.statements
        ],
        "skipped": [
            {"reason": k.reason, "path": k.origin.path, "line": k.origin.line}
            for k in result.skipped
        ],
        # No connection object may exist after the scan: nothing ever connected.
        "connected": [c.alias for c in connections.all() if c.connection is not None],
    }
    print(json.dumps(out))
    """
)


def run_scan(root: Path, *paths: str, settings: str = "") -> dict[str, Any]:
    run = run_python("-c", SCAN_SCRIPT, str(root), settings, *paths, cwd=root, env=UNREACHABLE)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def statement(scan: dict[str, Any], function: str, path: str | None = None) -> dict[str, Any]:
    found = [
        s
        for s in scan["statements"]
        if s["function"] == function and (path is None or s["path"] == path)
    ]
    assert len(found) == 1, (function, found)
    return found[0]


def tree(sql: str) -> exp.Expression:
    """The statement parsed, with table qualifiers dropped so conditions read like the source."""
    parsed = sqlglot.parse_one(sql, read="postgres")
    for column in parsed.find_all(exp.Column):
        column.set("table", None)
    return parsed


def norm(condition: str) -> str:
    return sqlglot.parse_one(condition, read="postgres").sql("postgres")


def where_terms(sql: str) -> set[str]:
    """The AND-ed conditions of the outer WHERE, normalised."""
    where = tree(sql).args["where"].this
    while isinstance(where, exp.Paren):
        where = where.this
    terms = list(where.flatten()) if isinstance(where, exp.And) else [where]
    return {t.sql("postgres") for t in terms}


def order_keys(sql: str) -> list[str]:
    return [o.sql("postgres") for o in tree(sql).args["order"].expressions]


def keys(*written: str) -> list[str]:
    """ORDER BY keys as written in SQL, normalised like :func:`order_keys`."""
    return order_keys("SELECT 1 FROM t ORDER BY " + ", ".join(written))


def limit(sql: str) -> str | None:
    node = tree(sql).args.get("limit")
    return node.expression.sql("postgres") if node is not None else None


def source_line(path: Path, text: str) -> int:
    """1-based line of the first line containing ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


# --- the fixture project ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the fixture project with files the scan must skip or report."""
    root = tmp_path_factory.mktemp("shop") / "staticproj"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    chain = "from shop.models import Order\nQ = Order.objects.filter(status='x').count()\n"
    (root / "shop" / "broken.py").write_text("def broken(:\n    return Order.objects.all()\n")
    (root / "shop" / "subqueries.py").write_text(
        "from django.db.models import OuterRef\nfrom shop.models import Order\n\n"
        "def latest_order():\n"
        "    return Order.objects.filter(customer=OuterRef('pk')).order_by('-id')\n\n"
        "def with_last_status():\n"
        "    from django.db.models import Subquery\n"
        "    from shop.models import Customer\n"
        "    return Customer.objects.annotate(\n"
        "        last=Subquery(latest_order().values('status')[:1])).filter(id=3)\n"
    )
    (root / "shop" / "migrations" / "0002_data.py").write_text(chain)
    (root / "shop" / "tests.py").write_text(chain)
    for hidden in (".venv/lib/site-packages/pkg", "node_modules/pkg", "env/lib", ".git"):
        (root / hidden).mkdir(parents=True)
        (root / hidden / "mod.py").write_text(chain)
    (root / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return root


@pytest.fixture(scope="module")
def shop(shop_root: Path) -> dict[str, Any]:
    return run_scan(shop_root)


def test_never_connects_and_reports_only_project_sources(shop: dict[str, Any]) -> None:
    assert shop["connected"] == []
    paths = {s["path"] for s in shop["statements"]} | {k["path"] for k in shop["skipped"]}
    assert paths == {
        "shop/models.py",
        "shop/queries.py",
        "shop/views.py",
        "shop/more.py",
        "shop/broken.py",
        "shop/subqueries.py",
    }
    assert all(s["source"] == "static" for s in shop["statements"])
    for s in shop["statements"]:
        sqlglot.parse_one(s["sql"], read="postgres")  # every statement is valid PostgreSQL


def test_filter_in_literals_runtime_range_order_and_default_limit(
    shop: dict[str, Any], shop_root: Path
) -> None:
    s = statement(shop, "open_orders")
    assert where_terms(s["sql"]) == {
        norm("\"status\" IN ('new', 'paid')"),
        norm('"placed_at" >= $1'),
    }
    assert order_keys(s["sql"]) == keys('"placed_at" DESC')
    assert limit(s["sql"]) == "100"  # `limit: int = 100` is the function's default
    queries = shop_root / "shop" / "queries.py"
    assert s["line"] == source_line(queries, "Order.objects.filter(status__in")
    assert s["col"] == 9
    assert s["model"] == "shop.Order"
    assert s["code"].startswith('Order.objects.filter(status__in=["new", "paid"]')
    assert s["code"].endswith('.order_by("-placed_at")[:limit]')


def test_iexact_first_and_like_patterns(shop: dict[str, Any]) -> None:
    email = statement(shop, "customer_by_email")["sql"]
    assert where_terms(email) == {norm('UPPER("email"::text) = UPPER($1)')}
    assert order_keys(email) == keys('"id" ASC')  # first() on an unordered queryset: by pk
    assert limit(email) == "1"
    # a run-time text in a LIKE keeps Django's wildcards around a neutral marker
    icontains = statement(shop, "search_titles")["sql"]
    assert where_terms(icontains) == {norm("UPPER(\"title\"::text) LIKE UPPER('%x%')")}
    assert limit(icontains) == "25"  # module constant PAGE_SIZE
    startswith = statement(shop, "titles_starting")["sql"]
    assert where_terms(startswith) == {norm("\"title\"::text LIKE 'x%'")}


def test_foreign_keys_choices_q_objects_and_count_exists(shop: dict[str, Any]) -> None:
    assert where_terms(statement(shop, "orders_of_customers")["sql"]) == {
        norm('"customer_id" IN ($1)')
    }
    count = statement(shop, "shipped_count")["sql"]
    assert tree(count).find(exp.Count) is not None and "JOIN" in count
    assert where_terms(count) == {norm('"country" = $1'), norm("\"status\" = 'shipped'")}
    exists = statement(shop, "has_vip_orders")["sql"]
    assert limit(exists) == "1"
    assert where_terms(exists) == {norm('"is_vip" OR NOT ("quantity" < 5)')}
    books = statement(shop, "published_books")  # custom manager with a filtering queryset
    assert where_terms(books["sql"]) == {norm('"is_published"'), norm("\"kind\" = 'book'")}


def test_delete_update_and_get(shop: dict[str, Any]) -> None:
    # Nothing cascades from AuditEntry: Django deletes in one DELETE.
    fast = tree(statement(shop, "purge_audit")["sql"])
    assert isinstance(fast, exp.Delete)
    assert where_terms(statement(shop, "purge_audit")["sql"]) == {norm('"created_at" < $1')}
    # Orders cascade from Customer: Django first SELECTs the rows to delete; that is reported.
    collected = statement(shop, "purge_customers")["sql"]
    assert isinstance(tree(collected), exp.Select)
    assert where_terms(collected) == {norm('"signed_up_at" < $1')}
    update = statement(shop, "mark_shipped")["sql"]
    assert isinstance(tree(update), exp.Update)
    assert 'SET "status" = \'shipped\', "shipped_at" = $1' in update
    assert where_terms(update) == {norm('"id" IN ($2)'), norm('"shipped_at" IS NULL')}
    get = statement(shop, "order_by_ref")["sql"]
    assert where_terms(get) == {norm('"ref" = $1')} and limit(get) == "21"


def test_subqueries_annotations_slices_and_raw(shop: dict[str, Any]) -> None:
    exists = statement(shop, "customers_with_orders")["sql"]
    assert "EXISTS(SELECT" in exists
    # the queryset bound to `paid` is part of the EXISTS, not a statement of its own
    assert [s["function"] for s in shop["statements"]].count("customers_with_orders") == 1
    subquery = statement(shop, "subquery_in")["sql"]
    assert tree(subquery).find(exp.Subquery) is not None or "IN (SELECT" in subquery
    annotated = statement(shop, "latest_order_per_customer")["sql"]
    assert "HAVING" in annotated and "GROUP BY" in annotated
    page = statement(shop, "stock_page")["sql"]
    assert page.endswith("LIMIT $1 OFFSET $2")
    assert where_terms(statement(shop, "recent_window")["sql"]) == {
        norm('"placed_at" BETWEEN $1 AND $2')
    }
    assert statement(shop, "raw_top")["sql"] == ("SELECT * FROM shop_customer WHERE country = 'NL'")
    # Inserts read no index: not statements, not failures.
    assert not [s for s in shop["statements"] if s["function"] == "make_customer"]
    assert not [k for k in shop["skipped"] if "make_customer" in k["reason"]]


def test_more_queryset_methods(shop: dict[str, Any], shop_root: Path) -> None:
    assert limit(statement(shop, "ensure_customer")["sql"]) == "21"
    assert statement(shop, "touch_product")["sql"].endswith("LIMIT 21 FOR UPDATE")
    assert where_terms(statement(shop, "products_by_id")["sql"]) == {norm('"id" IN ($1)')}
    latest = statement(shop, "newest_audit")["sql"]
    assert order_keys(latest) == keys('"created_at" DESC')
    assert limit(latest) == "1"
    assert "SUM(" in statement(shop, "total_stock")["sql"]
    assert limit(statement(shop, "first_paid")["sql"]) == "1"
    assert where_terms(statement(shop, "stream_orders")["sql"]) == {norm('"quantity" >= 10')}
    assert where_terms(statement(shop, "count_async")["sql"]) == {norm('"country" = $1')}
    assert statement(shop, "offset_only")["sql"].endswith("LIMIT $1 OFFSET $2")
    # create_user() ends in an INSERT: neither a statement nor a failure
    assert not [s for s in shop["statements"] if s["function"] == "signup"]
    signup = source_line(shop_root / "shop" / "more.py", "create_user(")
    assert ("shop/more.py", signup) not in {(k["path"], k["line"]) for k in shop["skipped"]}
    update = statement(shop, "cancel_range")["sql"]
    assert norm('"id" BETWEEN $1 AND $2') in where_terms(update)
    assert "'3'" in update  # an int literal on a CharField is prepared like Django does


def test_classmethod_and_import_styles(shop: dict[str, Any]) -> None:
    assert statement(shop, "vip_count", "shop/models.py")["model"] == "shop.Customer"
    assert statement(shop, "by_sku")["model"] == "shop.Product"  # from . import models
    cancelled = statement(shop, "cancelled")["sql"]  # from .models import Order as O; last()
    assert order_keys(cancelled) == keys('"placed_at" DESC')
    only = statement(shop, "customers_in")  # import shop.models as m; _default_manager
    assert only["model"] == "shop.Customer"
    assert tree(only["sql"]).find(exp.Select).expressions[1].sql() == '"email"'
    staff = statement(shop, "staff_emails")  # get_user_model().objects
    assert staff["model"] == "auth.User"
    assert where_terms(staff["sql"]) == {norm('"is_staff"')}


def test_unresolvable_querysets_are_skipped_with_reasons(
    shop: dict[str, Any], shop_root: Path
) -> None:
    queries = shop_root / "shop" / "queries.py"
    reasons = {(k["path"], k["line"]): k["reason"] for k in shop["skipped"]}
    dynamic = source_line(queries, "Order.objects.filter(**criteria)")
    assert reasons[("shop/queries.py", dynamic)] == (
        "filter() arguments built at run time (**criteria)"
    )
    basket = source_line(queries, "Basket.objects")
    assert reasons[("shop/queries.py", basket)] == "cannot resolve model 'Basket'"
    colour = reasons[("shop/queries.py", source_line(queries, 'colour="red"'))]
    assert colour.startswith("FieldError: Cannot resolve keyword 'colour' into field.")
    more = shop_root / "shop" / "more.py"
    assert "always empty" in reasons[("shop/more.py", source_line(more, "objects.none()"))]
    assert reasons[("shop/more.py", source_line(more, "order_by(field)"))] == (
        ".order_by() argument known only at run time (field)"
    )
    assert reasons[("shop/broken.py", 1)] == "cannot parse: SyntaxError: invalid syntax"
    # Django's own "may only be used in a subquery" says nothing of where it is read.
    assert reasons[("shop/subqueries.py", 5)].startswith(
        "a sub-query (it refers to OuterRef): it runs only inside another query's Subquery()"
    )
    # ... nor Django's AttributeError on the run-time value a call it does not follow gives.
    assert reasons[("shop/subqueries.py", 10)] == (
        "Subquery() of a value the scan cannot rebuild (latest_order().values('status')[:1]): "
        "a queryset returned by a call is not followed; idxadvisor capture sees it run"
    )


def test_explicit_paths_scan_only_those_files(shop_root: Path) -> None:
    result = run_scan(shop_root, "shop/views.py", "shop/tests.py")
    # tests.py is skipped in a whole-project scan, but scanned when asked for by name
    assert {s["path"] for s in result["statements"]} == {"shop/views.py", "shop/tests.py"}
    assert {s["function"] for s in result["statements"]} == {
        "by_sku",
        "cancelled",
        "customers_in",
        "staff_emails",
        "",
    }
    assert result["skipped"] == []


def test_non_postgres_settings_still_compile_for_postgresql(shop_root: Path) -> None:
    settings = shop_root / "shopsite" / "settings_sqlite.py"
    settings.write_text(
        "from shopsite.settings import *  # noqa: F403\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}}\n"
    )
    result = run_scan(shop_root, "shop/queries.py", settings="shopsite.settings_sqlite")
    email = statement(result, "customer_by_email")["sql"]
    assert where_terms(email) == {norm('UPPER("email"::text) = UPPER($1)')}  # not SQLite's LIKE


# --- the example project ------------------------------------------------------------------


@pytest.fixture(scope="module")
def alerting() -> dict[str, Any]:
    return run_scan(EXAMPLE)


def test_example_webhook_retry_query(alerting: dict[str, Any]) -> None:
    s = statement(alerting, "due_webhook_deliveries")
    assert s["model"] == "monitoring.WebhookDelivery"
    assert where_terms(s["sql"]) == {
        norm("\"status\" IN ('pending', 'failed')"),
        norm('"next_retry_at" <= $1'),
    }
    assert order_keys(s["sql"]) == keys('"next_retry_at" ASC')
    assert limit(s["sql"]) == "100"
    assert s["line"] == source_line(
        EXAMPLE / "monitoring" / "queries.py", "WebhookDelivery.objects.filter(status__in"
    )
    assert alerting["connected"] == []


def test_example_query_families(alerting: dict[str, Any]) -> None:
    email = statement(alerting, "profile_by_email")["sql"]
    assert where_terms(email) == {norm('UPPER("email"::text) = UPPER($1)')}
    purge = statement(alerting, "purge_logs_before")["sql"]
    assert isinstance(tree(purge), exp.Delete)  # nothing cascades from IntegrationLog
    assert where_terms(purge) == {norm('"created_at" < $1')}
    failed = statement(alerting, "failed_deliveries_for_organisation")["sql"]
    assert where_terms(failed) == {norm('"organisation" = $1'), norm("\"status\" = 'failed'")}
    assert limit(failed) == "50"
    mark = statement(alerting, "mark_delivered")["sql"]
    assert isinstance(tree(mark), exp.Update) and '"next_retry_at" = NULL' in mark
    logs = statement(alerting, "logs_matching")["sql"]
    assert norm("UPPER(\"message\"::text) LIKE UPPER('%x%')") in where_terms(logs)
    grouped = statement(alerting, "error_count_per_integration")["sql"]
    assert "GROUP BY" in grouped and "COUNT(" in grouped
    channels = statement(alerting, "active_channels")["sql"]
    assert norm('"disabled_at" IS NULL') in where_terms(channels)


def test_example_dynamic_search_is_skipped(alerting: dict[str, Any]) -> None:
    line = source_line(EXAMPLE / "monitoring" / "queries.py", "objects.filter(**filters)")
    assert {
        "reason": "filter() arguments built at run time (**filters)",
        "path": "monitoring/queries.py",
        "line": line,
    } in alerting["skipped"]
    assert not [s for s in alerting["statements"] if s["function"] == "search_deliveries"]


def test_a_queryset_built_over_several_statements_is_one_query(tmp_path: Path) -> None:
    root = tmp_path / "staticproj"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "shop" / "search.py").write_text(
        textwrap.dedent(
            """
        from shop.models import Order


        def orders_of(customer, status=None):
            qs = Order.objects.filter(customer=customer)
            if status:
                qs = qs.filter(status="paid")
            qs = qs.order_by("-placed_at")
            return list(qs[:20])


        def count_new(customer):
            pending = Order.objects.filter(status="new")
            return pending.filter(customer=customer).count()


        def unrelated(rows):
            qs = Order.objects.filter(status="new")
            qs = [r for r in rows]  # rebound to something else: no longer a queryset
            return qs.count(1)
        """
        )
    )
    result = run_scan(root, "shop/search.py")
    by_function = {}
    for s in result["statements"]:
        by_function.setdefault(s["function"], []).append(s)
    # The building statements are not queries of their own: one query, at the line that runs it.
    [orders] = by_function["orders_of"]
    assert orders["line"] == 10 and orders["code"].startswith("qs[:20]")
    assert _where(orders) == _canonical("customer_id = $1 AND status = 'paid'")
    assert tree(orders["sql"]).args["order"].sql("postgres") == 'ORDER BY "placed_at" DESC'
    assert tree(orders["sql"]).args["limit"].sql("postgres") == "LIMIT 20"
    [count] = by_function["count_new"]
    assert count["line"] == 15 and "COUNT(*)" in count["sql"]
    assert _where(count) == _canonical("status = 'new' AND customer_id = $1")
    # A name rebound to something else stops being that queryset.
    [unrelated] = by_function["unrelated"]
    assert unrelated["line"] == 19
    assert _where(unrelated) == _canonical("status = 'new'")


def _where(statement: dict[str, Any]) -> str:
    return _canonical(tree(statement["sql"]).find(exp.Where).this.sql("postgres"))


def _canonical(condition: str) -> str:
    """The canonical text of a condition (AND-ed terms in a canonical order)."""
    from idxadvisor.schema.models import expression_key

    return expression_key(condition)


# --- querysets followed through real code: custom methods, related managers, views, admin ---

BLOG = ROOT / "tests" / "fixtures" / "blogproj"
LIVE = "NOT deleted"  # ArticleManager.get_queryset(): in every query through Article.objects


@pytest.fixture(scope="module")
def blog() -> dict[str, Any]:
    return run_scan(BLOG)


def at(scan: dict[str, Any], path: str, text: str) -> dict[str, Any]:
    """The one statement reported at the line of ``path`` holding ``text``."""
    line = source_line(BLOG / path, text)
    found = [s for s in scan["statements"] if s["path"] == path and s["line"] == line]
    assert len(found) == 1, (path, text, found)
    return found[0]


def terms(*conditions: str) -> set[str]:
    return {norm(c).replace('"', "") for c in conditions}


def plain_where(sql: str) -> set[str]:
    """:func:`where_terms` without identifier quotes, to compare with :func:`terms`."""
    return {t.replace('"', "") for t in where_terms(sql)}


def table_of(statement: dict[str, Any]) -> str:
    return tree(statement["sql"]).find(exp.Table).name  # the FROM table comes first


def test_custom_queryset_methods_compose_through_the_manager(blog: dict[str, Any]) -> None:
    # Article.objects = ArticleManager.from_queryset(ArticleQuerySet)(): the manager's
    # get_queryset() filter, then published() and by_author() (both `self.filter`), composed.
    chained = at(blog, "blog/services.py", "published().by_author(author)")
    assert chained["model"] == "blog.Article"
    assert plain_where(chained["sql"]) == terms(LIVE, "status = 'published'", "author_id = $1")
    assert order_keys(chained["sql"]) == keys('"published_at" DESC')
    assert limit(chained["sql"]) == "5"
    # Inside the queryset class: `self` is the queryset the model's manager starts from.
    recent = at(blog, "blog/models.py", 'self.published().order_by("-published_at")[:limit]')
    assert plain_where(recent["sql"]) == terms(LIVE, "status = 'published'")
    assert limit(recent["sql"]) == "10"  # the method's literal default
    drafts = at(blog, "blog/models.py", "self.exclude(")
    assert plain_where(drafts["sql"]) == terms(LIVE, "NOT (status = 'published')", "author_id = $1")
    # Inside the manager: self.get_queryset() is the manager's own override.
    featured = at(blog, "blog/models.py", "self.get_queryset().filter(featured=True)")
    assert plain_where(featured["sql"]) == terms(LIVE, "featured")
    # as_manager(): self in CommentQuerySet is a Comment queryset; self.all() too.
    for text, condition in (
        ("self.filter(approved=True)", "approved"),
        ("self.all().filter(approved=False)", "NOT approved"),
    ):
        found = at(blog, "blog/models.py", text)
        assert table_of(found) == "blog_comment" and plain_where(found["sql"]) == terms(condition)
    # A manager's get_queryset() is the base of the queries above, not one of its own.
    assert not [
        s
        for s in blog["statements"]
        if s["function"] == "get_queryset" and s["path"] == "blog/models.py"
    ]


def test_related_managers_of_known_instances(blog: dict[str, Any]) -> None:
    cases = {
        # (path, text): (table, WHERE terms)
        ("blog/services.py", "article.comments.filter"): (
            "blog_comment",
            (
                "article_id = $1",
                "approved",
            ),
        ),  # parameter: Article
        ("blog/services.py", "article.comments.count()"): (
            "blog_comment",
            ("article_id = $1",),
        ),  # "Article | None"
        ("blog/services.py", "author.articles.filter"): (
            "blog_article",
            (
                LIVE,
                "author_id = $1",
                "status = 'published'",
            ),
        ),  # from get()
        ("blog/services.py", "request.user.bookmark_set"): (
            "blog_bookmark",
            ("user_id = $1",),
        ),  # the user model
        ("blog/models.py", "self.comments.filter"): (
            "blog_comment",
            (
                "article_id = $1",
                "approved",
            ),
        ),  # self in a model method
    }
    for (path, text), (table, written) in cases.items():
        conditions = terms(*written)
        found = at(blog, path, text)
        assert table_of(found) == table, (path, text)
        assert plain_where(found["sql"]) == conditions, (path, text, found["sql"])
    # The get() that bound `author` is still a query of its own.
    got = at(blog, "blog/services.py", "Author.objects.get(pk=author_id)")
    assert plain_where(got["sql"]) == terms("id = $1")
    # Many-to-many, forward (article.tags, from get_object_or_404) and reverse (tag.articles):
    # through the join table, by the instance's key.
    tags = at(blog, "blog/services.py", "article.tags.order_by")
    assert table_of(tags) == "blog_tag"
    assert plain_where(tags["sql"]) == terms("blog_article_tags.article_id = $1").__class__(
        {t for t in plain_where(tags["sql"])}
    ) and "article_id = $1" in tags["sql"].replace('"blog_article_tags"."article_id"', "article_id")
    assert any(j.this.name == "blog_article_tags" for j in tree(tags["sql"]).args["joins"])
    tagged = at(blog, "blog/services.py", "tag.articles.filter")
    assert plain_where(tagged["sql"]) == terms(LIVE, "tag_id = $1", "featured")
    assert limit(tagged["sql"]) == "1"  # exists()
    # Something whose model the source does not say is passed over: it may be no queryset.
    assert not [s for s in blog["statements"] if s["function"] == "unknown"]
    assert not [k for k in blog["skipped"] if k["path"] == "blog/services.py"]


def test_class_based_views_and_admin_get_queryset(blog: dict[str, Any]) -> None:
    # model = Article + ordering: Django's default queryset, then the override's filter.
    listed = at(blog, "blog/views.py", 'filter(status="published", author=')
    assert plain_where(listed["sql"]) == terms(LIVE, "author_id = $1", "status = 'published'")
    assert order_keys(listed["sql"]) == keys('"published_at" DESC')
    # queryset = Article.objects.filter(...): a query itself, and the base of get_queryset().
    attribute = at(blog, "blog/views.py", "queryset = Article.objects.filter(featured=True)")
    assert plain_where(attribute["sql"]) == terms(LIVE, "featured")
    ordered = at(blog, "blog/views.py", 'super().get_queryset().order_by("title")')
    assert plain_where(ordered["sql"]) == terms(LIVE, "featured")
    assert order_keys(ordered["sql"]) == keys('"title" ASC')
    # self.get_queryset() elsewhere in the view: the class's own override.
    counted = at(blog, "blog/views.py", "self.get_queryset().count()")
    assert "COUNT(*)" in counted["sql"] and plain_where(counted["sql"]) == terms(LIVE, "featured")
    detail = at(blog, "blog/views.py", "self.get_queryset().filter(article=")
    assert plain_where(detail["sql"]) == terms("approved", "article_id = $1")
    # The admin: the registered ModelAdmin's default queryset (its ordering), then the filter.
    admin = at(blog, "blog/admin.py", "super().get_queryset(request)")
    assert table_of(admin) == "blog_comment"
    assert plain_where(admin["sql"]) == terms("NOT approved")
    assert order_keys(admin["sql"]) == keys('"created_at" DESC')
    assert blog["skipped"] == [] and blog["connected"] == []


def _shop_with_models(tmp_path: Path, models_source: str) -> Path:
    """A copy of the static fixture project with ``models_source`` appended to shop/models.py."""
    root = tmp_path / "staticproj"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    models = root / "shop" / "models.py"
    models.write_text(models.read_text() + textwrap.dedent(models_source))
    return root


def test_a_returned_queryset_carries_no_default_ordering_but_its_own(tmp_path: Path) -> None:
    # A queryset method returns a building block: its callers count, delete or iterate it.
    # The model's Meta.ordering is no evidence of an ORDER BY the workload runs; an order the
    # method writes, a slice, or an evaluation where the rows are read, is.
    root = _shop_with_models(
        tmp_path,
        """

        class JobQuerySet(models.QuerySet):
            def ready(self):
                return self.filter(state="ready")

            def first_ready(self):
                return self.filter(state="ready")[:5]

            def by_age(self):
                return self.filter(state="ready").order_by("created")

            def done(self):
                return self.filter(state="failed") | self.filter(state="ok")


        class Job(models.Model):
            state = models.CharField(max_length=10)
            priority = models.IntegerField()
            created = models.DateTimeField()
            objects = JobQuerySet.as_manager()

            class Meta:
                ordering = ["-priority", "created"]
        """,
    )
    (root / "shop" / "jobs.py").write_text(
        textwrap.dedent(
            """
        from shop.models import Job


        def ready_jobs():
            return [j.pk for j in Job.objects.filter(state="ready")]
        """
        )
    )
    result = run_scan(root, "shop/models.py", "shop/jobs.py")
    order = {
        s["function"]: tree(s["sql"]).args.get("order")
        for s in result["statements"]
        if "shop_job" in s["sql"]
    }
    assert order["ready"] is None
    assert order["done"] is None  # each operand of the returned union is a building block too
    assert order["first_ready"].sql("postgres") == 'ORDER BY "priority" DESC, "created" ASC'
    assert order["by_age"].sql("postgres") == 'ORDER BY "created" ASC'
    assert order["ready_jobs"].sql("postgres") == 'ORDER BY "priority" DESC, "created" ASC'


def test_a_queryset_methods_own_query_is_no_claim_about_the_table(tmp_path: Path) -> None:
    # `self.select_for_update().first()` in a QuerySet method runs on whatever its caller
    # filtered (django-tasks' get_locked()): compiled on its own it reads as an unfiltered
    # sort of the whole table. A proposal resting only on it is "possible", says why, and does
    # not claim its queries filter nothing. A manager's `self` is every row: no such doubt.
    root = _shop_with_models(
        tmp_path,
        """

        class JobQuerySet(models.QuerySet):
            def next_locked(self):
                return self.select_for_update(skip_locked=True).first()


        class JobManager(models.Manager):
            def oldest(self):
                return self.order_by("created").first()


        class Job(models.Model):
            state = models.CharField(max_length=10)
            priority = models.IntegerField()
            created = models.DateTimeField()
            objects = JobQuerySet.as_manager()
            by_age = JobManager()

            class Meta:
                ordering = ["-priority", "created"]
        """,
    )
    run = run_cli("analyze", str(root), "--format", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    on_job = {tuple(r["fields"]): r for r in report["recommendations"] if r["table"] == "shop_job"}
    locked = on_job[("-priority", "created")]
    assert locked["strength"] == "possible"
    [why] = [v for v in locked["value"] if "QuerySet method" in v]
    assert "next_locked()" in why and "caller's filters" in why
    assert not any("filter nothing" in v for v in locked["value"])
    oldest = on_job[("created",)]
    assert not any("QuerySet method" in v for v in oldest["value"])
    assert any("filter nothing" in v for v in oldest["value"])


def test_a_row_fetched_by_another_query_is_a_value_of_the_query_using_it(tmp_path: Path) -> None:
    # `filter(customer=Customer.objects.get(...))`, a row bound to a name first, and Django's
    # content-type lookup of the generic-relation apps: the row is a value known at run time.
    # The query using it keeps its own SQL and WHERE; the row's own query is one of its own, at
    # its own line (compiled, or skipped with its reason), never taken for the other's.
    root = _shop_with_models(
        tmp_path,
        """

        from django.contrib.contenttypes.models import ContentType


        class NoteManager(models.Manager):
            def for_model(self, model):
                return self.filter(content_type=ContentType.objects.get_for_model(model))


        class Note(models.Model):
            content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
            object_pk = models.CharField(max_length=64)
            created_at = models.DateTimeField()
            objects = NoteManager()


        from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation


        class Tag(models.Model):
            name = models.CharField(max_length=50)
            content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
            object_id = models.PositiveIntegerField()
            content_object = GenericForeignKey("content_type", "object_id")


        class ContentTypeIs:
            # taggit's ExtraJoinRestriction: raw SQL, the content type's pk as its param.
            contains_aggregate = False
            contains_over_clause = False

            def __init__(self, alias, pk):
                self.alias, self.pk = alias, pk

            def as_sql(self, compiler, connection):
                return f'{compiler.quote_name_unless_alias(self.alias)}."content_type_id" = %s', [
                    self.pk
                ]

            def relabel_aliases(self, change_map):
                self.alias = change_map.get(self.alias, self.alias)

            def clone(self):
                return type(self)(self.alias, self.pk)


        class TagRelation(GenericRelation):
            def get_extra_restriction(self, alias, remote_alias):
                return ContentTypeIs(remote_alias, ContentType.objects.get_for_model(self.model).pk)


        class Article(models.Model):
            title = models.CharField(max_length=100)
            tags = TagRelation(Tag)
        """,
    )
    (root / "shop" / "rows.py").write_text(
        textwrap.dedent(
            """
        from django.contrib.contenttypes.models import ContentType

        from shop.models import Article, Customer, Note, Order


        def inline_get(name):
            found = Order.objects.filter(customer=Customer.objects.get(name=name), status="new")
            return list(found)


        def bound_first():
            newest = Customer.objects.order_by("-signed_up_at").first()
            return Order.objects.filter(customer=newest).count()


        def notes_of(obj, pk):
            ct = ContentType.objects.get_for_model(obj)
            notes = Note.objects.filter(content_type=ct, object_pk=pk).order_by("-created_at")
            return list(notes[:10])


        def notes_by_model(model):
            return Note.objects.for_model(model).count()


        def vip_orders():
            return Order.objects.filter(customer__in=Customer.objects.filter(is_vip=True)).count()


        def tagged(word):
            return list(Article.objects.filter(tags__name=word))
        """
        )
    )
    result = run_scan(root, "shop/models.py", "shop/rows.py")
    rows = root / "shop" / "rows.py"
    by_function: dict[str, list[dict[str, Any]]] = {}
    for s in result["statements"]:
        by_function.setdefault(s["function"], []).append(s)

    def table(s: dict[str, Any]) -> str:
        return tree(s["sql"]).find(exp.Table).name

    [order, customer] = sorted(by_function["inline_get"], key=table, reverse=True)
    line = source_line(rows, "Customer.objects.get(")
    assert table(order) == "shop_order" and order["line"] == line
    assert where_terms(order["sql"]) == {'"customer_id" = $1', "\"status\" = 'new'"}
    assert table(customer) == "shop_customer" and customer["line"] == line
    assert where_terms(customer["sql"]) == {'"name" = $1'}

    [count, newest] = sorted(by_function["bound_first"], key=lambda s: s["line"], reverse=True)
    line = source_line(rows, "newest = ")
    assert table(count) == "shop_order" and count["line"] == line + 1 and "COUNT(*)" in count["sql"]
    assert where_terms(count["sql"]) == {'"customer_id" = $1'}
    assert table(newest) == "shop_customer" and newest["line"] == line

    [notes] = by_function["notes_of"]
    line = source_line(rows, "ct = ContentType")
    assert notes["line"] == line + 2 and table(notes) == "shop_note"
    assert where_terms(notes["sql"]) == {'"content_type_id" = $1', '"object_pk" = $2'}
    assert order_keys(notes["sql"]) == keys('"created_at" DESC')
    # The content-type lookup itself is answered from Django's per-process cache: no statement
    # of the workload, and no skip either.
    assert not [s for s in result["statements"] if s["line"] == line]
    assert not result["skipped"], result["skipped"]

    # The project's own manager method doing the lookup.
    [for_model] = by_function["notes_by_model"]
    assert where_terms(for_model["sql"]) == {'"content_type_id" = $1'}

    # A generic relation's join holds the content type looked up at run time, handed on as a
    # param by raw SQL (taggit's): a parameter, not the text 'RuntimeRow(0)', which PostgreSQL
    # refuses for an integer column.
    [tagged] = by_function["tagged"]
    assert "RuntimeRow" not in tagged["sql"]
    on = tree(tagged["sql"]).find(exp.Join).args["on"].sql("postgres")
    assert '"content_type_id" = $1' in on, on

    # A queryset used as a value is still a subquery, and no query of its own.
    [vip] = by_function["vip_orders"]
    assert "SELECT U0" in vip["sql"] or "IN (SELECT" in vip["sql"]
    assert all(table(s) == "shop_order" for s in by_function["vip_orders"])


def test_a_model_bound_in_the_class_body_and_a_row_used_further_on(tmp_path: Path) -> None:
    # `TaskModel = TaskResult` in a backend class (django-celery-results' shape): the methods'
    # `self.TaskModel.objects…` read that model's table. A manager method fetching a row,
    # whose row the code then reads in Python (`obj.as_dict().get(...)`), runs one statement,
    # at the line that fetches it: not one per later use of the row.
    root = _shop_with_models(
        tmp_path,
        """

        class TicketManager(models.Manager):
            def get_ticket(self, ref):
                return self.get(ref=ref)


        class Ticket(models.Model):
            ref = models.CharField(max_length=36)
            state = models.CharField(max_length=8)
            objects = TicketManager()

            def as_dict(self):
                return {"ref": self.ref, "state": self.state}
        """,
    )
    (root / "shop" / "backend.py").write_text(
        textwrap.dedent(
            """
        from shop.models import Ticket


        class Backend:
            TicketModel = Ticket

            def state_of(self, ref):
                obj = self.TicketModel.objects.get_ticket(ref)
                data = obj.as_dict()
                return data.get("ref"), data.get("state")

            def open_count(self):
                return self.TicketModel.objects.filter(state="open").count()
        """
        )
    )
    result = run_scan(root, "shop/backend.py")
    backend = root / "shop" / "backend.py"
    assert not result["skipped"], result["skipped"]
    by_function: dict[str, list[dict[str, Any]]] = {}
    for s in result["statements"]:
        by_function.setdefault(s["function"], []).append(s)
    [fetch] = by_function["state_of"]
    assert fetch["line"] == source_line(backend, "obj = self.TicketModel")
    assert tree(fetch["sql"]).find(exp.Table).name == "shop_ticket"
    assert where_terms(fetch["sql"]) == {'"ref" = $1'}
    [count] = by_function["open_count"]
    assert where_terms(count["sql"]) == {"\"state\" = 'open'"}


def test_a_condition_bound_to_a_local_name_is_rebuilt_where_it_is_used(tmp_path: Path) -> None:
    # `q = Q(a) | Q(b)` then `filter(q)`, and `Q(x) if setting else Q(y)` (django-q2's
    # scheduler): the condition is Django's, rebuilt from the name's one binding. A name bound
    # to a plain value stays a run-time value, never the constant the scan computes for it.
    root = tmp_path / "staticproj"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "shop" / "named.py").write_text(
        textwrap.dedent(
            """
        from django.db.models import Q
        from django.utils import timezone

        from shop.models import Order

        SHIP_ALL = True


        def open_orders(customer):
            either = Q(status="new") | Q(status="paid")
            return Order.objects.filter(either, customer=customer).count()


        def to_ship():
            default = Q(shipped_at__isnull=True) if SHIP_ALL else Q(pk__in=[])
            return Order.objects.filter(default | Q(status="paid")).count()


        def recent():
            now = timezone.now()
            return Order.objects.filter(placed_at__lt=now).count()
        """
        )
    )
    result = run_scan(root, "shop/named.py")
    assert not result["skipped"], result["skipped"]
    sql = {s["function"]: s["sql"] for s in result["statements"]}
    assert where_terms(sql["open_orders"]) == {
        norm("\"status\" = 'new' OR \"status\" = 'paid'"),
        '"customer_id" = $1',
    }
    assert where_terms(sql["to_ship"]) == {norm('"shipped_at" IS NULL OR "status" = \'paid\'')}
    assert where_terms(sql["recent"]) == {'"placed_at" < $1'}


def test_a_manager_given_by_a_descriptor_is_scanned_on_the_class_and_on_instances(
    tmp_path: Path,
) -> None:
    # django-simple-history's `Poll.history` / `poll.history` are managers a descriptor hands
    # out, not one of `_meta.managers`: their chains were neither analysed nor listed as
    # skipped. This descriptor has the same shape: a manager of another model, filtered by
    # the instance when read on one.
    root = _shop_with_models(
        tmp_path,
        """

        class NoteAudit(models.Model):
            note_id = models.IntegerField()
            at = models.DateTimeField()


        class AuditManager(models.Manager):
            def __init__(self, instance=None):
                super().__init__()
                self.model = NoteAudit
                self.instance = instance

            def get_queryset(self):
                rows = super().get_queryset()
                return rows if self.instance is None else rows.filter(note_id=self.instance.pk)


        class AuditDescriptor:
            def __get__(self, instance, owner):
                return AuditManager(instance)


        class Note(models.Model):
            title = models.CharField(max_length=20)
            audit = AuditDescriptor()
        """,
    )
    (root / "shop" / "audits.py").write_text(
        textwrap.dedent(
            """
        from shop.models import Note


        def recent_audits(since):
            return list(Note.audit.filter(at__gte=since).order_by("-at")[:10])


        def audits_of(note: Note, since):
            return list(note.audit.filter(at__gte=since))
        """
        )
    )
    result = run_scan(root, "shop/audits.py")
    assert result["skipped"] == []
    by_function = {s["function"]: s["sql"] for s in result["statements"]}
    assert set(by_function) == {"recent_audits", "audits_of"}
    assert all('FROM "shop_noteaudit"' in sql for sql in by_function.values())
    assert '"at" >= $1' in by_function["recent_audits"]
    assert '"note_id" = $' in by_function["audits_of"]


def test_a_model_named_by_apps_get_model_is_resolved(tmp_path: Path) -> None:
    # django-activity-stream's follow() / unfollow() run
    # apps.get_model('actstream', 'follow').objects...: those chains were neither analysed nor
    # listed as skipped.
    root = tmp_path / "staticproj"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "shop" / "lookups.py").write_text(
        textwrap.dedent(
            """
        from django.apps import apps


        def named_product(name):
            return apps.get_model("shop", "product").objects.filter(title=name).exists()


        def dotted_product(name):
            return list(apps.get_model("shop.Product").objects.filter(title=name)[:3])


        def unknown(name):
            return apps.get_model("nowhere", "thing").objects.filter(title=name).count()
        """
        )
    )
    result = run_scan(root, "shop/lookups.py")
    by_function = {s["function"]: s["sql"] for s in result["statements"]}
    assert set(by_function) == {"named_product", "dotted_product"}, result
    assert all('FROM "shop_product"' in sql for sql in by_function.values())
    [skipped] = result["skipped"]
    assert "nowhere" in skipped["reason"], skipped


def test_a_clock_value_in_code_the_scan_runs_is_a_parameter(tmp_path: Path) -> None:
    # django-background-tasks: a manager method filters on timezone.now() - a delay. The scan
    # runs the method, so the clock gave the instant of the scan: the text (and the query id,
    # and a check baseline) changed on every run. It is a parameter of the query.
    root = _shop_with_models(
        tmp_path,
        """

        import datetime

        from django.utils import timezone
        from django.utils.timezone import now as clock


        class LeaseQuerySet(models.QuerySet):
            def stale(self):
                return self.filter(locked_at__lt=timezone.now() - datetime.timedelta(minutes=5))

            def of_today(self):
                return self.filter(day=clock().date())


        class Lease(models.Model):
            locked_at = models.DateTimeField(null=True)
            day = models.DateField()
            objects = LeaseQuerySet.as_manager()
        """,
    )
    (root / "shop" / "leases.py").write_text(
        "from shop.models import Lease\n\n\n"
        "def stale():\n    return list(Lease.objects.stale())\n\n\n"
        "def today():\n    return list(Lease.objects.of_today())\n"
    )
    first, second = (run_scan(root, "shop/models.py", "shop/leases.py") for _ in range(2))
    texts = sorted(s["sql"] for s in first["statements"] if "shop_lease" in s["sql"])
    assert texts == sorted(s["sql"] for s in second["statements"] if "shop_lease" in s["sql"])
    by_function = {s["function"]: s for s in first["statements"] if "shop_lease" in s["sql"]}
    assert where_terms(by_function["stale"]["sql"]) == {'"locked_at" < $1'}
    assert where_terms(by_function["today"]["sql"]) == {'"day" = $1'}


def test_a_prefetch_on_the_manager_is_its_queryset(tmp_path: Path) -> None:
    # `User.objects.prefetch_related("groups")[:30]` was skipped ("'UserManager' object is not
    # subscriptable"), and without the slice "the chain ends in Manager".
    root = tmp_path / "staticproj"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "shop" / "prefetch.py").write_text(
        "from shop.models import Customer\n\n\n"
        "def first_page():\n"
        '    return list(Customer.objects.prefetch_related("orders")[:30])\n\n\n'
        "def everyone():\n"
        '    return list(Customer.objects.prefetch_related("orders"))\n'
    )
    result = run_scan(root, "shop/prefetch.py")
    assert result["skipped"] == []
    by_function = {s["function"]: s for s in result["statements"]}
    assert limit(by_function["first_page"]["sql"]) == "30"
    assert tree(by_function["everyone"]["sql"]).find(exp.Table).name == "shop_customer"


def test_a_custom_method_computing_with_a_run_time_value_says_so(tmp_path: Path) -> None:
    # django-background-tasks' get_task() json.dumps its arguments: the skip said "TypeError:
    # Object of type RuntimeValue is not JSON serializable", the scan's own class name.
    root = _shop_with_models(
        tmp_path,
        """

        import json


        class JobManager(models.Manager):
            def with_args(self, args):
                return self.filter(params=json.dumps(args))


        class Job(models.Model):
            params = models.CharField(max_length=200)
            objects = JobManager()
        """,
    )
    (root / "shop" / "jobs.py").write_text(
        "from shop.models import Job\n\n\n"
        "def of(args):\n    return list(Job.objects.with_args(args))\n"
    )
    result = run_scan(root, "shop/jobs.py")
    [skip] = result["skipped"]
    assert skip["reason"] == (
        "custom queryset method .with_args() computes with its arguments' values (TypeError on "
        "a value known only at run time): idxadvisor capture sees what it runs"
    )
    assert "RuntimeValue" not in skip["reason"]
