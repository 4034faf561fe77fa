"""Stage 3: SQL → access patterns, read with sqlglot (see :mod:`.extractor`).

``analyse(workload)`` gives every statement's access patterns and what could not be read;
``extract(query)`` one statement's.
"""

from idxadvisor.patterns.extractor import analyse, extract

__all__ = ["analyse", "extract"]
