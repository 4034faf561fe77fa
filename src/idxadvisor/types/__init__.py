"""The nouns the stages exchange: small frozen dataclasses, no I/O, no project imports but
other types.

* :mod:`.workload` — statements, queries, origins, skipped
* :mod:`.access` — access patterns
* :mod:`.schema` — tables, columns, indexes
* :mod:`.advice` — candidates, recommendations, the advice
* :mod:`.analysis` — a whole run
"""
