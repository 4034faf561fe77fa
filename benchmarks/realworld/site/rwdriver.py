"""What every driver needs: Django set up on the throwaway database, migrated, and an admin
client logged in (the admin is the read path most of these apps document for their users)."""

from __future__ import annotations

import html
import os
import re
import sys
from typing import Any
from urllib.parse import urlencode

_QUERY_HREF = re.compile(r'href="(\?[^"]*)"')


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


def changelist_links(page: str) -> list[str]:
    """The query strings a changelist page links to, in page order, each once: the sort
    headers, the list_filter choices, the date_hierarchy and the pagination (every link of the
    page that stays on the changelist). The bare ``?`` (clear all filters) is the page itself.

    >>> changelist_links('<a href="?o=2">IP</a><a href="?status__exact=F&amp;o=2">F</a>'
    ...                  '<a href="?">all</a><a href="?o=2">again</a><a href="/admin/x/1/">row</a>')
    ['?o=2', '?status__exact=F&o=2']
    """
    seen: dict[str, None] = {}
    for href in _QUERY_HREF.findall(page):
        href = html.unescape(href)
        if href != "?":
            seen.setdefault(href, None)
    return list(seen)


def browse_changelist(client: Any, url: str, searches: tuple[str, ...] = ()) -> int:
    """A staff user on an admin changelist: open it, click each link it offers once (sort by
    any column, each filter choice, the date drill-down, the next page), and type each of
    ``searches`` into its search box. Every click the page offers, not a chosen few, so the
    driver does not pick queries to suit the ground truth. Returns the number of GETs."""
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
    links = changelist_links(response.content.decode())
    for href in links:
        get(client, url + href)
    for term in searches:
        get(client, url + "?" + urlencode({"q": term}))
    return 1 + len(links) + len(searches)
