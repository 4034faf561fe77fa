"""``idxadvisor`` as a Django app: add it to ``INSTALLED_APPS`` for ``manage.py idxadvisor``.

It has no models, migrations or signals; it only contributes the management command, which
runs the CLI with the project's settings already configured.
"""

from __future__ import annotations

from django.apps import AppConfig


class IdxadvisorConfig(AppConfig):
    name = "idxadvisor"
    verbose_name = "idxadvisor index advice"
