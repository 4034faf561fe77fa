"""django-axes as a site runs it: every login through the admin's login form goes through
Axes' backend and middleware (failures counted, lockouts checked, successes and logouts logged),
and the documented management commands reset attempts and purge old logs."""

from __future__ import annotations

import rwdriver

rwdriver.setup()

from axes.utils import reset  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

for i in range(20):
    User.objects.create_superuser(f"staff{i}", f"staff{i}@example.com", "right-password")


def login(username: str, password: str, ip: str) -> None:
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

reset(ip="10.0.1.5")
reset(username="staff3")
call_command("axes_list_attempts")
call_command("axes_reset_ip", "10.0.2.6")
call_command("axes_reset_username", "staff7")
call_command("axes_reset_logs", age=30)
call_command("axes_reset_failure_logs", age=30)
