"""The static scan: queryset chains in the project's source, compiled to SQL by Django without
a database (:mod:`.scan` is the entry point)."""
