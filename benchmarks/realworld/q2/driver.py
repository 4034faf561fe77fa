"""django-q2 as a site uses it: tasks are queued in groups and run (sync mode runs the same
worker and monitor code as a cluster, saving and pruning results), then results are read back
through the public task API and old groups are deleted."""

from __future__ import annotations

import rwdriver

rwdriver.setup()

from django_q.models import Task  # noqa: E402
from django_q.tasks import (  # noqa: E402
    async_task,
    count_group,
    delete_group,
    fetch,
    fetch_group,
    result,
    result_group,
)

ids = []
for i in range(150):
    # Sync mode re-raises a task's exception, so every task here succeeds.
    func = "math.floor" if i % 2 else "math.ceil"
    ids.append(async_task(func, i + 0.5, group=f"batch-{i % 6}", task_name=f"job-{i}"))
for task_id in ids[::10]:
    result(task_id)
    fetch(task_id)
for g in range(6):
    result_group(f"batch-{g}", failures=False)
    fetch_group(f"batch-{g}", failures=False)
    count_group(f"batch-{g}")
    count_group(f"batch-{g}", failures=True)
Task.get_task("job-3")
delete_group("batch-5")
