"""django-q2 as a site uses it: tasks are queued in groups and run (sync mode runs the same
worker and monitor code as a cluster, saving and pruning results), results are read back
through the public task API, old groups are deleted, and staff read the admin changelists.
Run once per save_limit_per setting in app_settings.CONFIGS."""

from __future__ import annotations

import os

import rwdriver

rwdriver.setup()

from datetime import timedelta  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_q.brokers import get_broker  # noqa: E402
from django_q.models import Schedule, Task  # noqa: E402
from django_q.scheduler import scheduler  # noqa: E402
from django_q.tasks import (  # noqa: E402
    async_task,
    count_group,
    delete_group,
    fetch,
    fetch_group,
    result,
    result_group,
    schedule,
)

ids = []
for i in range(150):
    # Sync mode re-raises a task's exception, so every task here succeeds. Each saved result
    # goes through monitor.save_task (django_q/monitor.py:77): the SAVE_LIMIT prune, then
    # Task.objects.get(id=..., name=...).
    func = "math.floor" if i % 2 else "math.ceil"
    ids.append(async_task(func, i + 0.5, group=f"batch-{i % 6}", task_name=f"job-{i}"))
for task_id in ids[::10]:
    result(task_id)  # tasks.py:135 -> Task.get_result (models.py:108)
    fetch(task_id)  # tasks.py:236 -> Task.get_task (models.py:154)
for g in range(6):
    # tasks.py:175, 289, 363 -> Task.get_result_group / get_task_group / get_group_count
    # (models.py:115-136), with and without failures as the API offers.
    result_group(f"batch-{g}", failures=False)
    result_group(f"batch-{g}", failures=True)
    fetch_group(f"batch-{g}", failures=False)
    fetch_group(f"batch-{g}")
    count_group(f"batch-{g}")
    count_group(f"batch-{g}", failures=True)
Task.get_task("job-3")

# Schedules (tasks.py:81 schedule()), due, run by the scheduler a cluster's sentinel calls on
# every heartbeat (cluster.py -> scheduler.py:24): it selects the due schedules of this
# cluster FOR UPDATE, queues a task from each (sync: run now) and saves or deletes them.
past = timezone.now() - timedelta(minutes=5)
schedule(
    "math.floor",
    1.5,
    name="every-minute",
    schedule_type=Schedule.MINUTES,
    minutes=1,
    repeats=-1,
    next_run=past,
)
schedule("math.ceil", 2.5, name="twice", schedule_type=Schedule.ONCE, repeats=2, next_run=past)
schedule("math.floor", 3.5, schedule_type=Schedule.HOURLY, repeats=3, next_run=past)
for _ in range(3):
    scheduler(broker=get_broker())
delete_group("batch-5")  # tasks.py:396 -> Task.delete_group (models.py:143): detach
delete_group("batch-4", tasks=True)  # ... and delete the tasks

# The admin reads do not depend on save_limit_per: browse them in the first config only.
if os.environ.get("REALWORLD_CONFIG", "save_limit_per_group") == "save_limit_per_group":
    call_command("qinfo")  # management/commands/qinfo.py -> monitor_terminal.info (:237)
    client = rwdriver.admin_client()
    # django_q/admin.py:33-195: Success (TaskAdmin, success=True), Failure, Schedule and the ORM
    # queue changelists with their sortable columns, list_filter and search_fields.
    for model in ("success", "failure", "schedule", "ormq"):
        rwdriver.browse_changelist(
            client, f"/admin/django_q/{model}/", searches=("job-1", "math.floor", "batch-2")
        )
