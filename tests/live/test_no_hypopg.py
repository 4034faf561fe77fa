"""Live mode on a database without HypoPG: said once, the heuristic proposals stay, exit 0."""

from __future__ import annotations

import json
from pathlib import Path

from idxadvisor.live.whatif import HYPOPG_MISSING
from tests.helpers import TempDatabase, run_cli

SETUP = """
CREATE TABLE hook (id bigserial PRIMARY KEY, status varchar(20) NOT NULL,
                   account int NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO hook (status, account, created_at)
SELECT CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'done' END, g % 1000,
       timestamptz '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, 30000) g;
ANALYZE hook;
"""


def test_without_hypopg_the_heuristics_stand(temp_database: TempDatabase, tmp_path: Path) -> None:
    with temp_database.connect(autocommit=True) as conn:
        conn.execute(SETUP)
        assert not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'").fetchone()
    workload = tmp_path / "slow.sql"
    workload.write_text(
        "SELECT * FROM hook WHERE account = %s ORDER BY created_at DESC "
        "LIMIT 20;\nSELECT id FROM hook WHERE account = 7 AND status = 'x';\n"
    )
    run = run_cli(
        "analyze",
        "--workload",
        str(workload),
        "--database-url",
        temp_database.url,
        "--format",
        "json",
        cwd=tmp_path,
        env=temp_database.env,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    data = json.loads(run.stdout)
    assert data["recommendations"], data
    assert data["notes"].count(HYPOPG_MISSING) == 1, data["notes"]
    assert not any("HypoPG" in n for n in data["notes"] if n != HYPOPG_MISSING)
    assert all(r["benefit"] is None for r in data["recommendations"])  # nothing was costed
    # Nothing was created in the user's database.
    with temp_database.connect() as conn:
        assert not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'").fetchone()
