"""The live-database layer (``--database-url``): everything here is read-only except
:mod:`idxadvisor.live.verify`, which needs ``--allow-writes``.

* :mod:`.connection` — ``connect_readonly``, ``redact``, ``database_url_from_settings``
* :mod:`.catalog` — ``read_schema``: tables, pg_stats, sizes, existing indexes
* :mod:`.stats` — selectivity, partial vs key column, BRIN, small tables, ``confirm_unique``
* :mod:`.whatif` — HypoPG what-if costs (``WhatIf``)
* :mod:`.selection` — greedy benefit-per-byte choice of the index set (``select``)
* :mod:`.pgss` — the workload from pg_stat_statements
* :mod:`.verify` — build, EXPLAIN ANALYZE before/after, drop
* :mod:`.housekeeping` — unused, duplicate and prefix-redundant indexes
"""
