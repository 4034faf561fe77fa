#!/usr/bin/env python
"""The benchmark site's manage.py (copied into .work/<app>/ with the app under test)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rwsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
