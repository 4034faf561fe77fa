"""The live-database layer (``--database-url``): everything here is read-only except
:mod:`idxadvisor.live.verify`, which needs ``--allow-writes``.

* :mod:`.connection` — ``connect_readonly``, ``redact``, ``database_url_from_settings``
* :mod:`.explain` — EXPLAIN of one guarded workload statement (generic plans for ``$n``)
* :mod:`.whatif` — HypoPG what-if costs (``WhatIf``)
* :mod:`.selection` — greedy benefit-per-byte choice of the index set (``select``)
* :mod:`.refine` — the heuristic advice checked against the planner and the data (``refine``)
* :mod:`.uniqueness` — whether ``.get()`` columns are unique in the data (``confirm_unique``)
* :mod:`.removal` — which redundant indexes may go, from live statistics
* :mod:`.verify` — build, EXPLAIN ANALYZE before/after, drop
* :mod:`.housekeeping` — unused, invalid, duplicate and prefix-redundant indexes

The catalog is read by :mod:`idxadvisor.schema.catalog`, the statistics rules live in
:mod:`idxadvisor.advisor.statistics`, and ``pg_stat_statements`` is a source
(:mod:`idxadvisor.sources.pg_stat_statements`).
"""
