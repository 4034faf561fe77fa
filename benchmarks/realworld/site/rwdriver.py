"""What every driver needs: Django set up on the throwaway database, migrated, and an admin
client logged in (the admin is the read path most of these apps document for their users)."""

from __future__ import annotations

import os
import sys
from typing import Any


def setup() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rwsite.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def admin_client() -> Any:
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.create_superuser("admin", "admin@example.com", "unused-password")
    client = Client()
    client.force_login(user)
    return client


def get(client: Any, url: str) -> None:
    """GET ``url`` and insist it worked: a driver that silently hits errors measures nothing."""
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
