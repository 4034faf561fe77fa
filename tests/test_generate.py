"""`idxadvisor generate` end to end on a copy of examples/alerting and a real PostgreSQL.

The flow a team follows: generate (after a dry run), `makemigrations --check` is clean,
`migrate` builds every index CONCURRENTLY and recovers from an interrupted build, `sqlmigrate`
passes squawk's index rules, and a second generate writes nothing.
"""

from __future__ import annotations

import json
import re
import shutil

import psycopg
import pytest

from tests.helpers import EXAMPLE, create_database, drop_database, run_cli, run_python
from tests.test_migrations import (
    ACCEPTED_RULES,
    INDEX_RULES,
    index_oids,
    indexes,
    snapshot,
    squawk,
)

GUARD_CALL = re.compile(r'rebuild_unfinished_index\("(\w+)", "(\w+)"\)')


def generate(project, *args: str):
    """`idxadvisor generate` as a developer runs it: from the source alone, no database (an
    empty DATABASE_URL keeps a CI-wide one from switching the analysis to live mode)."""
    return run_cli("generate", str(project), *args, env={"DATABASE_URL": ""})


@pytest.fixture(scope="module")
def flow(tmp_path_factory, pg_server_url):
    project = tmp_path_factory.mktemp("generate") / "alerting"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    db = create_database(pg_server_url)

    def manage(*args: str, **env: str):
        return run_python("manage.py", *args, cwd=project, env={**db.env, **env})

    try:
        pristine = snapshot(project)
        dry = generate(project, "--dry-run")
        after_dry = snapshot(project)
        generated = generate(project)
        assert generated.returncode == 0, generated.stderr
        [migration] = (project / "monitoring" / "migrations").glob("0002_*.py")
        builds = GUARD_CALL.findall(migration.read_text())
        base = manage("migrate", "monitoring", "0001", "--no-input")
        assert base.returncode == 0, base.stderr
        # Interrupt one concurrent build for real: a session holds a lock on the table of the
        # last index, so its CREATE INDEX CONCURRENTLY waits, hits lock_timeout and leaves an
        # INVALID index behind, after the earlier indexes were built.
        locked_table = builds[-1][0]
        with psycopg.connect(db.url) as holder:
            holder.execute(f"LOCK TABLE {locked_table} IN ROW EXCLUSIVE MODE")
            interrupted = manage("migrate", "--no-input", PGOPTIONS="-c lock_timeout=1500")
            holder.rollback()
        after_interrupt = indexes(db)
        oids_after_interrupt = index_oids(db)
        rerun = manage("migrate", "--no-input")
        yield {
            "project": project,
            "db": db,
            "manage": manage,
            "pristine": pristine,
            "dry": dry,
            "after_dry": after_dry,
            "generate": generated,
            "migration": migration,
            "builds": builds,
            "locked_table": locked_table,
            "interrupted": interrupted,
            "after_interrupt": after_interrupt,
            "rerun": rerun,
            "oids_after_interrupt": oids_after_interrupt,
        }
    finally:
        drop_database(pg_server_url, db.name)


def test_dry_run_prints_migration_and_diff_and_writes_nothing(flow):
    dry = flow["dry"]
    assert dry.returncode == 0, dry.stderr
    assert flow["after_dry"] == flow["pristine"]
    assert "AddIndexConcurrently(" in dry.stdout
    assert "--- a/monitoring/models.py\n+++ b/monitoring/models.py\n" in dry.stdout
    assert "idxadvisor: would write monitoring/migrations/0002_idxadvisor_" in dry.stderr
    # The dry run shows exactly what the real run then writes.
    name = flow["migration"].name
    assert f"# monitoring/migrations/{name}\n" in dry.stdout


def test_generate_writes_a_commented_concurrent_migration(flow):
    gen, migration = flow["generate"], flow["migration"]
    assert f"idxadvisor: wrote monitoring/migrations/{migration.name}" in gen.stderr
    assert "idxadvisor: edited monitoring/models.py" in gen.stderr
    text = migration.read_text()
    assert "    atomic = False\n" in text
    assert "        ('monitoring', '0001_initial'),\n" in text
    assert len(flow["builds"]) >= 3
    assert text.count("AddIndexConcurrently(") == len(flow["builds"])
    # Every operation names the queries it serves in the project's source, and why.
    for table, name in flow["builds"]:
        call = f'rebuild_unfinished_index("{table}", "{name}")'
        above = text[: text.index(call)].rsplit("migrations.RunPython(", 1)[0]
        comment = above.rstrip().rsplit("),\n", 1)[-1]
        assert re.search(r"# serves: monitoring/queries\.py:\d+ \(q_[0-9a-f]{8}\)", comment), (
            name,
            comment,
        )
        assert "# why: " in comment
    assert "import idxadvisor" not in text and "from idxadvisor" not in text
    models = (flow["project"] / "monitoring" / "models.py").read_text()
    for _, name in flow["builds"]:
        assert f'name="{name}"' in models


def test_interrupted_build_leaves_invalid_index_and_migrate_again_rebuilds(flow):
    interrupted = flow["interrupted"]
    assert interrupted.returncode != 0
    assert "lock timeout" in interrupted.stderr
    first_on_locked = next(n for t, n in flow["builds"] if t == flow["locked_table"])
    assert flow["after_interrupt"][first_on_locked][0] is False  # INVALID, for real
    names = [n for _, n in flow["builds"]]
    done_before = names[: names.index(first_on_locked)]
    assert done_before  # the example's migration builds other tables' indexes first
    assert all(flow["after_interrupt"][n][0] for n in done_before)
    assert not set(names[names.index(first_on_locked) + 1 :]) & set(flow["after_interrupt"])
    rerun = flow["rerun"]
    assert rerun.returncode == 0, rerun.stderr
    found = indexes(flow["db"])
    assert all(valid for valid, _ in found.values()), found
    assert {n for _, n in flow["builds"]} <= set(found)
    # Indexes the interrupted run had finished are not recorded as migrated: rebuilt too, so
    # what exists is exactly what the migration defines.
    oids = index_oids(flow["db"])
    assert all(oids[n] != flow["oids_after_interrupt"][n] for n in done_before)
    with flow["db"].connect() as conn:
        applied = conn.execute(
            "SELECT name FROM django_migrations WHERE app = 'monitoring' ORDER BY id"
        ).fetchall()
    assert [a for (a,) in applied] == ["0001_initial", flow["migration"].stem]


def test_makemigrations_check_is_clean(flow):
    check = flow["manage"]("makemigrations", "--check", "--dry-run")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No changes detected" in check.stdout


def test_sqlmigrate_shows_concurrent_builds_and_passes_squawk(flow):
    sql = flow["manage"]("sqlmigrate", "monitoring", flow["migration"].stem)
    assert sql.returncode == 0, sql.stderr
    creates = re.findall(r'^CREATE INDEX CONCURRENTLY "(\w+)"', sql.stdout, re.M)
    assert creates == [n for _, n in flow["builds"]]
    assert not re.search(r"^CREATE (UNIQUE )?INDEX (?!CONCURRENTLY)", sql.stdout, re.M)
    problems = squawk(sql.stdout)
    assert not [p for p in problems if p["rule_name"] in INDEX_RULES], problems
    assert {p["rule_name"] for p in problems} <= ACCEPTED_RULES, problems


def test_second_generate_writes_nothing(flow):
    before = snapshot(flow["project"])
    again = generate(flow["project"])
    assert again.returncode == 0, again.stderr
    assert "idxadvisor: nothing to generate" in again.stderr
    assert snapshot(flow["project"]) == before


def test_bad_option_is_one_line_and_exit_2(example_copy, tmp_path):
    workload = tmp_path / "q.sql"
    workload.write_text("SELECT * FROM monitoring_integrationlog WHERE organisation = $1;\n")
    before = snapshot(example_copy)
    run = generate(example_copy, "--no-static", "--workload", str(workload), "--app", "nope")
    assert run.returncode == 2
    assert run.stderr == "idxadvisor: error: --app nope: no installed app with that label\n"
    assert snapshot(example_copy) == before


def test_only_strong_proposals_are_written_unless_asked(example_copy):
    # A sort of the whole table is ranked "possible": weak evidence is no migration by default.
    workload = example_copy / "admin_sort.sql"
    workload.write_text("SELECT * FROM monitoring_alertrule ORDER BY name LIMIT 20;\n")
    analysis = run_cli(
        "analyze",
        str(example_copy),
        "--workload",
        str(workload),
        "--format",
        "json",
        env={"DATABASE_URL": ""},
    )
    assert analysis.returncode == 0, analysis.stderr
    [possible] = [
        r for r in json.loads(analysis.stdout)["recommendations"] if r["strength"] == "possible"
    ]
    default = generate(example_copy, "--workload", str(workload), "--dry-run")
    assert default.returncode == 0, default.stderr
    assert possible["name"] not in default.stdout
    assert f"1 possible proposal left out ({possible['name']})" in default.stderr
    assert "--include-possible" in default.stderr
    asked = generate(example_copy, "--workload", str(workload), "--dry-run", "--include-possible")
    assert asked.returncode == 0, asked.stderr
    assert possible["name"] in asked.stdout
    named = generate(
        example_copy, "--workload", str(workload), "--dry-run", "--only", possible["name"]
    )
    assert possible["name"] in named.stdout
