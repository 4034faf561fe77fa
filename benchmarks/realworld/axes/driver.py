"""django-axes as a site runs it: every login through the admin's login form goes through
Axes' backend and middleware (failures counted, lockouts checked, successes and logouts logged),
the documented management commands reset attempts and purge old logs, and staff read the three
Axes admin changelists. Run once per lockout configuration in app_settings.CONFIGS."""

from __future__ import annotations

import os

import rwdriver

rwdriver.setup()

from axes.utils import reset  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

for i in range(20):
    User.objects.create_superuser(f"staff{i}", f"staff{i}@example.com", "right-password")


def login(username: str, password: str, ip: str) -> None:
    # axes/handlers/database.py: user_login_failed (:123: clean-up, get_or_create, get_failures
    # through filter_user_attempts :369, failure log and its per-user limit :102),
    # user_logged_in (:280: access log, reset_user_attempts :432 when AXES_RESET_ON_SUCCESS) and
    # user_logged_out (:323: AccessLog by username, open session hash).
    client = Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=f"Browser/{ip[-1]}")
    client.post("/admin/login/", {"username": username, "password": password})
    if password == "right-password":
        client.get("/admin/logout/")
        client.post("/admin/logout/")


for i in range(20):
    ip = f"10.0.{i % 4}.{i}"
    for _ in range(3 + i % 5):  # some of them reach the lockout limit
        login(f"staff{i}", "wrong", ip)
    login(f"staff{i}", "right-password", ip)
for i in range(10):
    login(f"nobody{i}", "guess", "192.0.2.7")

# axes/utils.py:19 reset -> AxesDatabaseHandler.reset_attempts (database.py:43)
reset(ip="10.0.1.5")
reset(username="staff3")
reset(ip="10.0.2.2", username="staff2", ip_or_username=True)
call_command("axes_list_attempts")
call_command("axes_reset_ip", "10.0.2.6")
call_command("axes_reset_username", "staff7")
call_command("axes_reset_ip_username", "10.0.3.11", "staff11")
call_command("axes_reset_logs", age=30)
call_command("axes_reset_failure_logs", age=30)

# The admin reads do not depend on the lockout parameters: browse them in the first config only.
if os.environ.get("REALWORLD_CONFIG", "username_and_ip") == "username_and_ip":
    client = rwdriver.admin_client()
    # axes/admin.py:30-176: the three changelists with their list_display (sortable columns),
    # list_filter, date_hierarchy and search_fields; searches for an IP, a user and a browser
    # as staff investigating a lockout type them.
    for model in ("accessattempt", "accesslog", "accessfailurelog"):
        rwdriver.browse_changelist(
            client, f"/admin/axes/{model}/", searches=("10.0.1.5", "staff4", "Browser/3")
        )
