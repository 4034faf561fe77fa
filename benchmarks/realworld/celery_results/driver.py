"""django-celery-results as a site runs it: Celery's django-db backend stores and reads task and
group results through the managers, the periodic cleanup deletes expired results, and staff
browse the admin with its filters."""

from __future__ import annotations

import datetime

import rwdriver

rwdriver.setup()

from django_celery_results.models import GroupResult, TaskResult  # noqa: E402

STATUSES = ["SUCCESS", "FAILURE", "PENDING", "STARTED", "RETRY"]
for i in range(300):
    TaskResult.objects.store_result(
        "application/json",
        "utf-8",
        f"task-{i}",
        '{"ok": true}',
        STATUSES[i % 5],
        task_name=f"app.tasks.job_{i % 7}",
        worker=f"celery@w{i % 3}",
        periodic_task_name=f"nightly-{i % 4}" if i % 2 else None,
        task_args="[]",
        task_kwargs="{}",
    )
for i in range(0, 300, 10):
    TaskResult.objects.get_task(f"task-{i}")
for i in range(40):
    GroupResult.objects.store_group_result("application/json", "utf-8", f"group-{i}", "[]")
    GroupResult.objects.get_group(f"group-{i}")
# managers.py:83-96: the periodic clean-up (celery.backend_cleanup) and its read side.
TaskResult.objects.delete_expired(datetime.timedelta(days=1))
GroupResult.objects.delete_expired(datetime.timedelta(days=1))
list(TaskResult.objects.get_all_expired(datetime.timedelta(hours=1)).values_list("task_id"))

client = rwdriver.admin_client()
# django_celery_results/admin.py:16-82: the task and group result changelists with their
# sortable columns, list_filter, date_hierarchy and search_fields.
rwdriver.browse_changelist(
    client, "/admin/django_celery_results/taskresult/", searches=("job_5", "task-42")
)
rwdriver.browse_changelist(
    client, "/admin/django_celery_results/groupresult/", searches=("group-7",)
)
