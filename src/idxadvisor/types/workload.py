"""The workload's nouns: statements as found, queries as deduplicated, and what was skipped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Source = Literal["static", "capture", "sql", "pg_stat_statements"]

SkipKind = Literal["query", "file"]


@dataclass(frozen=True, slots=True, order=True)
class Origin:
    """A place in the user's code (or a workload file) a query comes from."""

    path: str
    line: int
    col: int = 0
    function: str = ""
    # A QuerySet method's own ``self.…`` chain: it runs on whatever queryset its caller built,
    # so the filters seen here are only part of the query's (the caller's come on top).
    on_callers_queryset: bool = False
    # A line of a workload file (a statement logged there, as a ``.sql`` export), not code:
    # it counts as a statement of the workload, not as a call site. A place is one place
    # however it was found, so this takes no part in equality.
    in_workload_file: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def is_test(self) -> bool:
        """Whether the place is test code, a factory, a fixture or a migration: queries from
        there say nothing of what the site runs.

        >>> [Origin(p, 1).is_test for p in ("shop/tests/test_api.py", "shop/order_tests.py",
        ...     "conftest.py", "shop/factories.py", "shop/fixtures/x.py",
        ...     "shop/migrations/0002_x.py", "shop/views.py", "shop/latest.py")]
        [True, True, True, True, True, True, False, False]
        """
        parts = self.path.replace("\\", "/").split("/")
        name = parts[-1]
        return (
            any(p in _TEST_DIRS for p in parts[:-1])
            or name in _TEST_FILES
            or name.startswith("test_")
            or name.endswith(("_tests.py", "_test.py"))
        )

    @property
    def is_command(self) -> bool:
        """Whether the place is a management command or a script: run by hand or by cron, not
        on a request. A capture's ``<module>`` is a file's top-level code, run as a script
        (``python seed.py``) or at import: never by a request, wherever the file lies.

        >>> [Origin(p, 3, function=f).is_command for p, f in (
        ...     ("shop/management/commands/purge.py", "Command.handle"),
        ...     ("seed.py", "<module>"), ("shop/views.py", "list_view"))]
        [True, True, False]
        """
        parts = self.path.replace("\\", "/").split("/")
        return (
            self.function == "<module>"
            or "commands" in parts[:-1]
            or "scripts" in parts[:-1]
            or parts[-1] == "manage.py"
        )

    @property
    def is_request_path(self) -> bool:
        """Whether the place is code a web request runs: views, the admin, APIs, forms.

        >>> [Origin(p, 9).is_request_path for p in ("shop/api/views.py", "shop/tasks.py")]
        [True, False]
        >>> Origin("shop/views.py", 2, function="<module>").is_request_path  # import-time code
        False
        """
        if self.function == "<module>":
            return False
        parts = self.path.replace("\\", "/").split("/")
        stem = parts[-1].removesuffix(".py")
        return stem in _REQUEST_FILES or any(p in _REQUEST_DIRS for p in parts[:-1])


def sites(origins: Sequence[Origin], total: int, shown: int) -> str:
    """The first ``shown`` places and how many more of ``total``.

    >>> sites([Origin("a.py", 1), Origin("b.py", 2)], 5, 1)
    'a.py:1 and 4 more'
    """
    text = ", ".join(str(o) for o in origins[:shown])
    more = total - min(len(origins), shown)
    return f"{text} and {more:,} more" if more > 0 else text


_TEST_DIRS = frozenset({"tests", "test", "fixtures", "migrations"})
_TEST_FILES = frozenset({"tests.py", "conftest.py", "factories.py"})
_REQUEST_FILES = frozenset(
    {
        "views",
        "admin",
        "api",
        "forms",
        "serializers",
        "viewsets",
        "middleware",
        "urls",
        "backends",
        "handlers",
        "signals",
    }
)
_REQUEST_DIRS = frozenset({"views", "api", "admin", "templatetags", "handlers", "middleware"})


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement as a capture source found it, before deduplication."""

    sql: str
    origin: Origin | None = None
    source: Source = "sql"
    calls: int = 1
    total_time_ms: float = 0.0
    model: str | None = None  # "app_label.ModelName" when the source knows it
    code: str | None = None  # the queryset expression as written, e.g. "Rule.objects.filter(...)"


@dataclass(frozen=True, slots=True)
class Query:
    """A distinct query shape of the workload."""

    id: str
    sql: str
    fingerprint: str
    source: Source
    origins: tuple[Origin, ...] = ()
    calls: int = 1
    total_time_ms: float = 0.0
    model: str | None = None
    code: str | None = None
    # Lines of a workload file beyond the first ones kept (see workload.MAX_FILE_ORIGINS):
    # counted, not kept, so memory grows with shapes rather than with statements.
    origins_left_out: int = 0

    @property
    def origin_count(self) -> int:
        return len(self.origins) + self.origins_left_out

    @property
    def only_from_tests(self) -> bool:
        """Reached from test code only (see :attr:`Origin.is_test`); a query with no known
        origin (SQL files, pg_stat_statements) is not."""
        return bool(self.origins) and all(o.is_test for o in self.origins)

    @property
    def measured(self) -> bool:
        """Its calls were counted as it ran (a capture, pg_stat_statements, or a ``.sql``
        workload whose ``-- idxadvisor: calls=N total_ms=T`` comment gives a measured time),
        rather than guessed from call sites."""
        return self.source in ("capture", "pg_stat_statements") or self.total_time_ms > 0

    @property
    def weight(self) -> float:
        """How much this query matters: total time when measured, else how often it runs."""
        return self.total_time_ms if self.total_time_ms > 0 else float(self.calls)


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something the run could not analyse, and why. Never dropped silently.

    ``kind`` says how much was lost: ``"query"`` for one statement or queryset, ``"file"``
    for a whole source or workload file that could not be read or parsed.

    >>> Skipped("no FROM", Origin("q.sql", 3)).kind
    'query'
    >>> Skipped("cannot parse: SyntaxError: invalid syntax", Origin("a.py", 3, 4), kind="file").kind
    'file'
    """

    reason: str
    origin: Origin | None = None
    sql: str | None = None
    kind: SkipKind = "query"


@dataclass(frozen=True, slots=True)
class Workload:
    queries: tuple[Query, ...] = ()
    skipped: tuple[Skipped, ...] = field(default=())

    def by_id(self) -> dict[str, Query]:
        return {q.id: q for q in self.queries}
