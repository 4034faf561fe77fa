"""django-celery-results as a site runs it: Celery's django-db backend stores and reads task and
group results through the managers, the periodic cleanup deletes expired results, and staff
browse the admin with its filters."""

from __future__ import annotations

import datetime

import rwdriver

rwdriver.setup()

from django.utils import timezone  # noqa: E402
from django_celery_results.models import GroupResult, TaskResult  # noqa: E402

STATUSES = ["SUCCESS", "FAILURE", "PENDING", "STARTED", "RETRY"]
for i in range(300):
    TaskResult.objects.store_result(
        "application/json", "utf-8", f"task-{i}", '{"ok": true}', STATUSES[i % 5],
        task_name=f"app.tasks.job_{i % 7}", worker=f"celery@w{i % 3}",
        periodic_task_name=f"nightly-{i % 4}" if i % 2 else None,
        task_args="[]", task_kwargs="{}")
for i in range(0, 300, 10):
    TaskResult.objects.get_task(f"task-{i}")
for i in range(40):
    GroupResult.objects.store_group_result("application/json", "utf-8", f"group-{i}", "[]")
    GroupResult.objects.get_group(f"group-{i}")
TaskResult.objects.delete_expired(datetime.timedelta(days=1))
GroupResult.objects.delete_expired(datetime.timedelta(days=1))
list(TaskResult.objects.get_all_expired(datetime.timedelta(hours=1)).values_list("task_id"))

client = rwdriver.admin_client()
base = "/admin/django_celery_results/taskresult/"
day = timezone.now().date()
for url in [
    base,
    base + "?status__exact=FAILURE",
    base + "?task_name=app.tasks.job_3",
    base + "?worker=celery%40w1",
    base + "?periodic_task_name=nightly-1",
    base + f"?date_done__gte={day}",
    base + "?q=job_5",
    "/admin/django_celery_results/groupresult/",
    "/admin/django_celery_results/groupresult/?date_done__gte=" + str(day),
]:
    rwdriver.get(client, url)
