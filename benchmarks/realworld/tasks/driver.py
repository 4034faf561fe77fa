"""django-tasks' database backend as a site uses it: tasks are defined with ``@task`` and
enqueued with priorities, deferrals and several queues on two backends; the real ``db_worker``
command runs them in batch mode (one worker per queue set, as a site deploys them); results are
read back through the public API; ``prune_db_task_results`` clears old results; staff browse
the admin changelist. Paths are in the installed package (``django_tasks/...``)."""

from __future__ import annotations

import datetime

import rwdriver

rwdriver.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tasks import TaskContext, task, task_backends  # noqa: E402


# Module-level functions, as the backend insists (backends/base.py:55); the worker imports them
# back by path (backends/database/models.py:163-176).
@task
def add(a: int, b: int) -> int:
    return a + b


@task(priority=10, queue_name="emails")
def send_email(to: str) -> str:
    return f"sent to {to}"


@task(queue_name="reports", takes_context=True)
def build_report(context: TaskContext, rows: int) -> int:
    # TaskContext.save_metadata (base.py:374) -> DatabaseBackend.save_metadata
    # (backends/database/backend.py:119-124): UPDATE ... WHERE id = ...
    context.metadata["rows"] = rows
    context.save_metadata()
    return rows


@task
def fail(n: int) -> None:
    raise ValueError(f"job {n} failed")


@task(backend="bulk", queue_name="archive", priority=-10)
def archive(n: int) -> int:
    return n


# Task.enqueue (base.py:126) -> DatabaseBackend.enqueue / _task_to_db_task
# (backends/database/backend.py:68-90): one INSERT per task, run_after filled in by the pre_save
# handler (backends/database/signal_handlers.py:9-12) when not deferred.
now = timezone.now()
results = []
for i in range(40):
    results.append(add.enqueue(i, i))
    # Task.using (base.py:101): a per-call priority, as a site bumps urgent work
    results.append(send_email.using(priority=(i % 5) * 10 - 20).enqueue(f"user{i}@example.com"))
    if i % 4 == 0:
        results.append(build_report.enqueue(i))
        results.append(fail.enqueue(i))
    if i % 2 == 0:
        results.append(archive.enqueue(i))
for i in range(10):
    # deferred: due later (stays READY, skipped by ready()) or already due
    add.using(run_after=now + datetime.timedelta(hours=1 + i)).enqueue(i, 0)
    results.append(add.using(run_after=now - datetime.timedelta(minutes=i + 1)).enqueue(0, i))

# The db_worker command (backends/database/management/commands/db_worker.py): each poll is
# DBTaskResult.objects.ready().filter(backend_name=...) [.filter(queue_name__in=...)]
# .select_for_update(skip_locked=True).first() (db_worker.py:100-108, models.py:65-92), then
# claim (models.py:226) and set_succeeded / set_failed (models.py:236, 256). --batch exits
# when nothing is ready (db_worker.py:124); --no-startup-delay skips the random sleep (:95).
WORKER = ("db_worker", "--batch", "--no-startup-delay", "--interval", "0", "--verbosity", "0")
call_command(*WORKER, "--max-tasks", "5")  # the default queue, stopping after 5 (:132)
call_command(*WORKER)  # the rest of the default queue of the default backend
call_command(*WORKER, "--queue-name", "emails,reports")  # a worker for two queues
call_command(*WORKER, "--backend", "bulk", "--queue-name", "*")  # every queue (:101)

# Reading results back: TaskResult.refresh (base.py:343) and Task.get_result (base.py:138) ->
# DatabaseBackend.get_result (backends/database/backend.py:92-98): get(id=...).
for result in results[::7]:
    result.refresh()
    # the workers above must have run every due task: a driver that silently ran none
    # measures nothing
    if not result.is_finished:
        raise SystemExit(f"task {result.id} is still {result.status} after the workers ran")
for result in results[:20]:
    result.task.get_result(result.id)
task_backends["bulk"].get_result(results[4].id)

# prune_db_task_results (backends/database/management/commands/prune_db_task_results.py:
# 111-128): finished() (status IN FAILED/SUCCEEDED) of one backend, optionally of some queues,
# older than --min-age-days (or split by --failed-min-age-days); --dry-run counts instead.
call_command("prune_db_task_results", "--dry-run", "--verbosity", "0")  # the defaults: 14 days
call_command(
    "prune_db_task_results",
    "--dry-run",
    "--queue-name",
    "*",
    "--min-age-days",
    "0",
    "--failed-min-age-days",
    "7",
    "--verbosity",
    "0",
)
call_command("prune_db_task_results", "--min-age-days", "0", "--verbosity", "0")
call_command(
    "prune_db_task_results",
    "--backend",
    "bulk",
    "--queue-name",
    "archive",
    "--min-age-days",
    "0",
    "--verbosity",
    "0",
)

client = rwdriver.admin_client()
# backends/database/admin.py:10-23: the read-only task result changelist, ordered by
# -enqueued_at, list_filter status / priority / queue_name; it has no search_fields.
rwdriver.browse_changelist(client, "/admin/django_tasks_database/dbtaskresult/")
