"""Where statements come from: the static scan (:mod:`.static`), runtime capture
(:mod:`.capture`), ``.sql`` files (:mod:`.sqlfile`) and ``pg_stat_statements``."""
