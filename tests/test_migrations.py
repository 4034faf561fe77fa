"""The generate stage on a real copy of the example project and a real PostgreSQL.

Recommendations are built by hand here (the driver script below runs in a subprocess, since
Django's settings are process-global), so these tests pin the migration writer itself: the
end-to-end run from `idxadvisor generate` lives in test_generate.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from idxadvisor.generate.plan import FileChange, GenerateError, MigrationPlan, PlannedMigration
from idxadvisor.generate.plan import write_plan as write_plan_in_process
from tests.helpers import TempDatabase, run_python

DRIVER = r"""
import json, sys
from pathlib import Path
from idxadvisor.project import load_project

spec = json.loads(sys.argv[1])
root = Path.cwd()
load_project(root, None)
from idxadvisor.types.access import Op, Predicate
from idxadvisor.types.advice import IndexCandidate, Recommendation, Redundancy
from idxadvisor.errors import UsageError
from idxadvisor.generate.plan import plan_migrations, write_plan
from idxadvisor.schema.models import ExistingIndex, IndexElement
from idxadvisor.workload import Origin, Query

def element(f):
    if "(" in f:  # an expression key, as the advisor writes it: UPPER(email)
        return IndexElement(expression=f)
    return IndexElement(column=f.lstrip("-"), descending=f.startswith("-"))

def predicate(column, op, constants):
    sql = f"{column} IN ({', '.join(constants)})" if op == "IN" else f"{column} = {constants[0]}"
    return Predicate(column, Op[op], sql, constants=tuple(constants))

recs = [
    Recommendation(
        candidate=IndexCandidate(
            table=r["table"],
            elements=tuple(element(f) for f in r.get("keys", r.get("fields", ["x"]))),
            condition=tuple(predicate(*c) for c in r.get("condition", ())),
            unique=r.get("unique", False), serves=tuple(r.get("serves", ())),
            reasons=tuple(r.get("reasons", ())),
        ),
        name=r["name"], sql="", django=r["django"], app_label="monitoring", model=r["model"],
        fields=tuple(r.get("fields", ())),
    )
    for r in spec["recs"]
]
reds = [
    Redundancy(
        index=ExistingIndex(table=d["table"], name=d["name"], elements=(element("x"),),
                            origin=d["origin"], model=d["model"]),
        covered_by=d["covered_by"], reason=d["reason"],
    )
    for d in spec.get("redundant", [])
]
queries = {
    qid: Query(id=qid, sql="", fingerprint="", source="static",
               origins=tuple(Origin(p, n) for p, n in origins))
    for qid, origins in spec.get("queries", {}).items()
}
try:
    plan = plan_migrations(recs, reds, queries=queries, apps_filter=spec.get("apps", ()),
                           only=spec.get("only", ()), drop_redundant=spec.get("drop", False),
                           root=root)
    result = write_plan(plan, dry_run=spec.get("dry_run", False))
except UsageError as exc:
    print(json.dumps({"error": str(exc)}))
    sys.exit(2)
print(json.dumps({
    "written": [str(p) for p in result.written],
    "preview": result.preview,
    "migrations": [m.name for m in plan.migrations],
    "skipped": [[s.name, s.reason, s.add_by_hand] for s in plan.skipped],
    "notes": list(plan.notes),
}))
"""

RETRY = {  # partial index on a small table
    "table": "monitoring_webhookdelivery",
    "model": "WebhookDelivery",
    "name": "monitoring_whd_retry_idx",
    "fields": ["status", "next_retry_at"],
    "django": "models.Index(fields=['status', 'next_retry_at'], name='monitoring_whd_retry_idx', "
    "condition=Q(status__in=['pending', 'failed']))",
    "condition": [["status", "IN", ["'pending'", "'failed'"]]],
    "serves": ["q_retry001"],
    "reasons": ["status IN (...) is constant: partial index."],
}
LOG = {  # composite with a descending key
    "table": "monitoring_integrationlog",
    "model": "IntegrationLog",
    "name": "monitoring_il_org_created_idx",
    "fields": ["organisation", "-created_at"],
    "django": "models.Index(fields=['organisation', '-created_at'], "
    "name='monitoring_il_org_created_idx')",
    "serves": ["q_log00001", "q_log00002"],
    "reasons": ["Equality on organisation, then sort."],
}
EMAIL = {  # expression index
    "table": "monitoring_userprofile",
    "model": "UserProfile",
    "name": "monitoring_up_upper_email_idx",
    "fields": [],
    "keys": ["UPPER(email)"],
    "django": "models.Index(Upper('email'), name='monitoring_up_upper_email_idx')",
    "serves": ["q_email001"],
    "reasons": ["email__iexact compares UPPER(email)."],
}
UNIQUE = {  # as the advisor writes it: the constraint the model declares
    "table": "monitoring_userprofile",
    "model": "UserProfile",
    "name": "monitoring_up_org_email_uniq",
    "fields": ["organisation", "email"],
    "unique": True,
    "django": 'models.UniqueConstraint(fields=["organisation", "email"], '
    'name="monitoring_up_org_email_uniq")',
    "serves": ["q_email002"],
    "reasons": ["One profile per email and organisation."],
}
UNIQUE_AS_INDEX = {  # a unique candidate with a descending key: a constraint has no order
    **UNIQUE,
    "fields": ["organisation", "-email"],
    "django": "models.Index(fields=['organisation', '-email'], "
    "name='monitoring_up_org_email_uniq')",
}
QUERIES = {
    "q_retry001": [["monitoring/queries.py", 41]],
    "q_log00001": [["monitoring/queries.py", 77], ["monitoring/views.py", 12]],
    "q_log00002": [["monitoring/queries.py", 90]],
    "q_email001": [["monitoring/queries.py", 20]],
    "q_email002": [["monitoring/queries.py", 25]],
}

# squawk rules about building and dropping indexes: a generated migration must never trip them.
INDEX_RULES = {
    "require-concurrent-index-creation",
    "require-concurrent-index-deletion",
    "disallowed-unique-constraint",
    "ban-concurrent-index-creation-in-transaction",
    "adding-foreign-key-constraint",
    "constraint-missing-not-valid",
}
# Reported on Django's own AddIndexConcurrently SQL and accepted on purpose:
#  - prefer-robust-stmts wants IF NOT EXISTS so a rerun cannot fail: the guard step before each
#    build (a RunPython, invisible to sqlmigrate) drops the leftover instead, so it is rebuilt
#    rather than skipped while INVALID;
#  - a statement_timeout would cancel a long concurrent build and leave an INVALID index, and
#    CREATE INDEX CONCURRENTLY takes no lock that blocks reads or writes.
ACCEPTED_RULES = {"prefer-robust-stmts", "require-statement-timeout", "require-lock-timeout"}


def drive(project: Path, db: TempDatabase | None = None, **spec) -> dict:
    env = db.env if db is not None else {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    run = run_python("-c", DRIVER, json.dumps(spec), cwd=project, env=env)
    assert run.stdout.strip(), run.stderr
    return {"returncode": run.returncode, **json.loads(run.stdout.strip().splitlines()[-1])}


def manage(project: Path, db: TempDatabase, *args: str, extra_env: dict | None = None):
    return run_python("manage.py", *args, cwd=project, env={**db.env, **(extra_env or {})})


def squawk(sql: str) -> list[dict]:
    exe = shutil.which("squawk", path=str(Path(sys.executable).parent)) or shutil.which("squawk")
    assert exe, "squawk is not installed (pip install squawk-cli)"
    proc = subprocess.run(
        [exe, "--reporter", "json", "--pg-version", "15.0"],
        input=sql,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert proc.stdout.strip().startswith("["), proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def indexes(db: TempDatabase) -> dict[str, tuple[bool, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE t.relname LIKE 'monitoring%'"
        ).fetchall()
    return {name: (valid, definition) for name, valid, definition in rows}


def index_oids(db: TempDatabase) -> dict[str, int]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT c.relname, c.oid FROM pg_class c WHERE c.relkind = 'i' "
            "AND c.relname LIKE 'monitoring%'"
        ).fetchall()
    return dict(rows)


def snapshot(project: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


# --- the round trip ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory, pg_server_url):
    """A copy of the example with a generated migration applied on a fresh database."""
    from tests.conftest import EXAMPLE, create_database, drop_database

    project = tmp_path_factory.mktemp("roundtrip") / "alerting"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    db = create_database(pg_server_url)
    try:
        out = drive(project, db, recs=[RETRY, LOG, EMAIL, UNIQUE], queries=QUERIES)
        migrate = manage(project, db, "migrate", "--no-input")
        yield project, db, out, migrate
    finally:
        drop_database(pg_server_url, db.name)


def test_writes_one_migration_numbered_after_the_leaf_and_edits_the_models(generated):
    project, _, out, _ = generated
    assert out["returncode"] == 0, out
    [name] = out["migrations"]
    assert name.startswith("0002_idxadvisor_")
    assert len(name) <= 60
    migration = project / "monitoring" / "migrations" / f"{name}.py"
    assert sorted(out["written"]) == sorted([str(migration), str(project / "monitoring/models.py")])
    text = migration.read_text()
    assert "    atomic = False\n" in text
    assert "        ('monitoring', '0001_initial'),\n" in text
    assert text.count("AddIndexConcurrently(") == 3
    assert "from django.contrib.postgres.operations import AddIndexConcurrently\n" in text
    assert "idxadvisor" not in text.replace("# by idxadvisor", "").replace(name, "")  # no import
    # Each operation carries where its queries are and why, right above it.
    assert (
        "        # serves: monitoring/queries.py:77, monitoring/views.py:12 (q_log00001);\n"
        "        #   monitoring/queries.py:90 (q_log00002)\n"
        "        # why: Equality on organisation, then sort.\n"
        "        migrations.RunPython(\n"
        '            code=rebuild_unfinished_index("monitoring_integrationlog", '
        '"monitoring_il_org_created_idx"),\n'
    ) in text
    models = (project / "monitoring" / "models.py").read_text()
    assert "import Q\nfrom django.db.models.functions import Upper\n" in models
    assert 'models.Index(Upper("email"), name="monitoring_up_upper_email_idx"),' in models
    assert "models.UniqueConstraint(" in models
    assert 'fields=["organisation", "email"],' in models
    assert "# Tenant id of the organisation the user belongs to" in models  # comments kept


def test_makemigrations_sees_no_change_and_migrate_builds_valid_indexes(generated):
    project, db, _, migrate = generated
    assert migrate.returncode == 0, migrate.stderr
    check = manage(project, db, "makemigrations", "--check", "--dry-run")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No changes detected" in check.stdout
    found = indexes(db)
    assert all(valid for valid, _ in found.values()), found
    assert found["monitoring_whd_retry_idx"][1].endswith(
        "(status, next_retry_at) WHERE ((status)::text = ANY "
        "((ARRAY['pending'::character varying, 'failed'::character varying])::text[]))"
    )
    assert "(organisation, created_at DESC)" in found["monitoring_il_org_created_idx"][1]
    assert "(upper((email)::text))" in found["monitoring_up_upper_email_idx"][1]
    assert found["monitoring_up_org_email_uniq"][1].startswith("CREATE UNIQUE INDEX")
    with db.connect() as conn:
        contype = conn.execute(
            "SELECT contype FROM pg_constraint WHERE conname = 'monitoring_up_org_email_uniq'"
        ).fetchone()
    assert contype == ("u",)  # a real constraint, as Django's UniqueConstraint makes it


def test_sqlmigrate_shows_concurrent_builds_that_pass_squawk(generated):
    project, db, out, _ = generated
    sql = manage(project, db, "sqlmigrate", "monitoring", out["migrations"][0])
    assert sql.returncode == 0, sql.stderr
    text = sql.stdout
    assert 'CREATE INDEX CONCURRENTLY "monitoring_il_org_created_idx"' in text
    assert 'CREATE UNIQUE INDEX CONCURRENTLY "monitoring_up_org_email_uniq"' in text
    assert (
        'ALTER TABLE "monitoring_userprofile" ADD CONSTRAINT "monitoring_up_org_email_uniq" '
        'UNIQUE USING INDEX "monitoring_up_org_email_uniq";'
    ) in text
    assert "BEGIN;" not in text  # non-atomic
    # The guards do not leak anything into sqlmigrate (they only run under migrate).
    assert "DROP" not in text
    problems = squawk(text)
    assert not [p for p in problems if p["rule_name"] in INDEX_RULES], problems
    assert {p["rule_name"] for p in problems} <= ACCEPTED_RULES, problems


def test_second_generate_writes_nothing(generated):
    project, db, _, _ = generated
    before = snapshot(project)
    again = drive(project, db, recs=[RETRY, LOG, EMAIL, UNIQUE], queries=QUERIES)
    assert again["returncode"] == 0, again
    assert again["written"] == [] and again["migrations"] == []
    assert len([n for n in again["notes"] if "already declared and migrated" in n]) == 4
    assert snapshot(project) == before


def test_migration_reverses(generated):
    project, db, _, _ = generated
    back = manage(project, db, "migrate", "monitoring", "0001", "--no-input")
    assert back.returncode == 0, back.stderr
    assert not {n for n in indexes(db) if n.startswith("monitoring_") and "_uniq" in n}
    assert "monitoring_il_org_created_idx" not in indexes(db)
    forward = manage(project, db, "migrate", "--no-input")
    assert forward.returncode == 0, forward.stderr
    assert all(valid for valid, _ in indexes(db).values())


# --- failures of the concurrent build -----------------------------------------------------------


def test_unique_build_with_duplicates_fails_clearly_and_leaves_nothing(example_copy, temp_database):
    db = temp_database
    first = manage(example_copy, db, "migrate", "--no-input")
    assert first.returncode == 0, first.stderr
    with db.connect() as conn:
        conn.execute(
            "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined) SELECT n, '', false, 'u' || n, '', '',"
            " '', false, true, now() FROM generate_series(1, 3) n"
        )
        conn.execute(
            "INSERT INTO monitoring_userprofile (user_id, organisation, email, display_name,"
            " timezone, is_active, preferences, created_at) VALUES"
            " (1, 7, 'ann@example.com', 'Ann', 'UTC', true, '{}', now()),"
            " (2, 7, 'ann@example.com', 'Ann again', 'UTC', true, '{}', now()),"
            " (3, 8, 'ann@example.com', 'Other org', 'UTC', true, '{}', now())"
        )
    out = drive(example_copy, db, recs=[UNIQUE_AS_INDEX], queries=QUERIES)
    assert out["returncode"] == 0, out
    models = (example_copy / "monitoring" / "models.py").read_text()
    assert 'fields=["organisation", "email"],' in models  # "-email": no order in a constraint
    failed = manage(example_copy, db, "migrate", "--no-input")
    assert failed.returncode != 0
    last_line = failed.stderr.strip().splitlines()[-1]
    assert (
        "cannot build unique index monitoring_up_org_email_uniq on monitoring_userprofile"
        in last_line
    )
    assert "(7, 'ann@example.com') on 2 rows" in last_line
    assert "nothing was built" in last_line
    with db.connect() as conn:
        assert conn.execute("SELECT to_regclass('monitoring_up_org_email_uniq')").fetchone() == (
            None,
        )
        assert conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'monitoring_up_org_email_uniq'"
        ).fetchone() == (0,)
        conn.execute("DELETE FROM monitoring_userprofile WHERE user_id = 2")
    fixed = manage(example_copy, db, "migrate", "--no-input")
    assert fixed.returncode == 0, fixed.stderr
    assert indexes(db)["monitoring_up_org_email_uniq"][0] is True


# --- refusals, skips, options -------------------------------------------------------------------


def test_dry_run_prints_migration_and_diff_and_writes_nothing(example_copy):
    before = snapshot(example_copy)
    out = drive(example_copy, recs=[RETRY, EMAIL], queries=QUERIES, dry_run=True)
    assert out["returncode"] == 0, out
    assert out["written"] == []
    assert snapshot(example_copy) == before
    preview = out["preview"]
    assert f"# monitoring/migrations/{out['migrations'][0]}.py\n" in preview
    assert "AddIndexConcurrently(" in preview and "atomic = False" in preview
    assert "--- a/monitoring/models.py\n+++ b/monitoring/models.py\n" in preview
    assert "+from django.db.models import Q\n" in preview
    assert "+        indexes = [\n" in preview


def test_conflicting_leaves_are_refused(example_copy):
    migrations_dir = example_copy / "monitoring" / "migrations"
    for name in ("0002_a", "0002_b"):
        (migrations_dir / f"{name}.py").write_text(
            "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
            "    dependencies = [('monitoring', '0001_initial')]\n    operations = []\n"
        )
    before = snapshot(example_copy)
    out = drive(example_copy, recs=[RETRY])
    assert out["returncode"] == 2
    assert out["error"] == (
        "conflicting migrations in app 'monitoring' (0002_a, 0002_b); run "
        "`python manage.py makemigrations --merge` first"
    )
    assert snapshot(example_copy) == before


def test_model_that_cannot_be_edited_is_skipped_with_what_to_add(example_copy, temp_database):
    models_py = example_copy / "monitoring" / "models.py"
    source = models_py.read_text()
    last_field = "    created_at = models.DateTimeField(default=timezone.now)\n\n"
    method = '    def __str__(self) -> str:\n        return f"[{self.level}]'
    source = source.replace(
        last_field + method,
        last_field + "    class Meta:\n        indexes = LOG_INDEXES + []\n\n" + method,
    )
    source = source.replace("class UserProfile(", "LOG_INDEXES = []\n\n\nclass UserProfile(")
    assert "indexes = LOG_INDEXES + []" in source
    models_py.write_text(source)
    out = drive(example_copy, temp_database, recs=[LOG, RETRY], queries=QUERIES)
    assert out["returncode"] == 0, out
    [(name, reason, by_hand)] = out["skipped"]
    assert name == "monitoring_il_org_created_idx"
    assert "IntegrationLog.Meta.indexes is not a literal list (LOG_INDEXES + [])" in reason
    assert 'models.Index(fields=["organisation", "-created_at"], ' in by_hand  # from the object
    assert "IntegrationLog.Meta.indexes" in by_hand
    migration = Path(next(p for p in out["written"] if "/migrations/" in p)).read_text()
    assert "monitoring_il_org_created_idx" not in migration
    assert "monitoring_whd_retry_idx" in migration
    assert "indexes = LOG_INDEXES + []" in models_py.read_text()
    check = manage(example_copy, temp_database, "makemigrations", "--check", "--dry-run")
    assert check.returncode == 0, check.stdout + check.stderr


def test_index_declared_by_hand_gets_its_migration_without_model_edit(example_copy, temp_database):
    models_py = example_copy / "monitoring" / "models.py"
    models_py.write_text(
        models_py.read_text()
        .replace(
            "from django.db import models\n",
            "from django.db import models\nfrom django.db.models import Q\n",
        )
        .replace(
            '        verbose_name_plural = "webhook deliveries"\n',
            '        verbose_name_plural = "webhook deliveries"\n'
            "        indexes = [models.Index(fields=['status', 'next_retry_at'], "
            "name='monitoring_whd_retry_idx', condition=Q(status__in=['pending', 'failed']))]\n",
        )
    )
    before = models_py.read_text()
    out = drive(example_copy, temp_database, recs=[RETRY], queries=QUERIES)
    assert out["returncode"] == 0, out
    assert [Path(p).name for p in out["written"]] == [
        "0002_idxadvisor_webhookdelivery_status_next_retry_at.py"
    ]
    assert out["notes"] == []  # the hand-written index is not a "pending change" any more
    assert models_py.read_text() == before
    check = manage(example_copy, temp_database, "makemigrations", "--check", "--dry-run")
    assert check.returncode == 0, check.stdout + check.stderr
    # Asked again by name once it is declared and migrated: a note, not an error.
    again = drive(example_copy, temp_database, recs=[], only=[RETRY["name"]])
    assert again["returncode"] == 0, again
    assert again["notes"] == [f"--only {RETRY['name']}: already declared by a model; nothing to do"]


def test_drop_redundant_only_when_asked(example_copy, temp_database):
    models_py = example_copy / "monitoring" / "models.py"
    models_py.write_text(
        models_py.read_text().replace(
            '        verbose_name_plural = "webhook deliveries"\n',
            '        verbose_name_plural = "webhook deliveries"\n'
            "        indexes = [\n"
            '            models.Index(fields=["status"], name="monitoring_whd_status_idx"),\n'
            "        ]\n",
        )
    )
    made = manage(example_copy, temp_database, "makemigrations", "monitoring", "-n", "status")
    assert made.returncode == 0, made.stderr
    redundant = [
        {
            "table": "monitoring_webhookdelivery",
            "name": "monitoring_whd_status_idx",
            "origin": "Meta.indexes",
            "model": "monitoring.WebhookDelivery",
            "covered_by": RETRY["name"],
            "reason": "its keys are a prefix of another index",
        }
    ]
    kept = drive(example_copy, recs=[RETRY], redundant=redundant, dry_run=True)
    assert "RemoveIndexConcurrently" not in kept["preview"]
    out = drive(example_copy, temp_database, recs=[RETRY], redundant=redundant, drop=True)
    assert out["returncode"] == 0, out
    assert out["migrations"] == ["0003_idxadvisor_webhookdelivery_add_1_drop_1"]
    migration = Path(next(p for p in out["written"] if "/migrations/" in p)).read_text()
    assert "RemoveIndexConcurrently(\n" in migration
    assert "# redundant: its keys are a prefix of another index" in migration
    assert migration.index("AddIndexConcurrently(") < migration.index("RemoveIndexConcurrently(")
    assert "monitoring_whd_status_idx" not in models_py.read_text()
    check = manage(example_copy, temp_database, "makemigrations", "--check", "--dry-run")
    assert check.returncode == 0, check.stdout + check.stderr
    migrate = manage(example_copy, temp_database, "migrate", "--no-input")
    assert migrate.returncode == 0, migrate.stderr
    assert "monitoring_whd_status_idx" not in indexes(temp_database)
    sql = manage(example_copy, temp_database, "sqlmigrate", "monitoring", out["migrations"][0])
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "monitoring_whd_status_idx"' in sql.stdout
    assert not [p for p in squawk(sql.stdout) if p["rule_name"] in INDEX_RULES]


def test_only_and_app_filters(example_copy):
    out = drive(example_copy, recs=[RETRY, LOG], only=[LOG["name"]], dry_run=True)
    assert out["returncode"] == 0, out
    assert out["migrations"] == ["0002_idxadvisor_integrationlog_organisation_created_at"]
    assert "monitoring_whd_retry_idx" not in out["preview"]
    unknown = drive(example_copy, recs=[RETRY], only=["nope_idx"], dry_run=True)
    assert unknown["returncode"] == 2
    assert unknown["error"].startswith("--only nope_idx: not among the recommendations")
    other_app = drive(example_copy, recs=[RETRY], apps=["auth"], dry_run=True)
    assert other_app["migrations"] == []


# --- writing: all or nothing, never overwrite ---------------------------------------------------


def _plan(*changes: FileChange) -> MigrationPlan:
    new = [c for c in changes if c.before is None]
    edits = tuple(c for c in changes if c.before is not None)
    migrations = tuple(PlannedMigration("app", c.path.stem, c, ()) for c in new)
    return MigrationPlan(migrations=migrations, model_edits=edits)


def test_write_is_all_or_nothing(tmp_path):
    models_py = tmp_path / "models.py"
    models_py.write_text("old\n")
    os.chmod(models_py, 0o640)
    # A dangling symlink: reading finds no file, but creating one there fails at the very end.
    blocked = tmp_path / "0003_blocked.py"
    blocked.symlink_to(tmp_path / "missing-target")
    plan = _plan(
        FileChange(tmp_path / "0002_new.py", None, "new\n"),
        FileChange(blocked, None, "x\n"),
        FileChange(models_py, "old\n", "edited\n"),
    )
    with pytest.raises(GenerateError, match="cannot write"):
        write_plan_in_process(plan)
    assert models_py.read_text() == "old\n"
    assert not (tmp_path / "0002_new.py").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0003_blocked.py", "models.py"]

    ok = _plan(
        FileChange(tmp_path / "0002_new.py", None, "new\n"),
        FileChange(models_py, "old\n", "edited\n"),
    )
    result = write_plan_in_process(ok)
    assert [p.name for p in result.written] == ["0002_new.py", "models.py"]
    assert models_py.read_text() == "edited\n"
    assert models_py.stat().st_mode & 0o777 == 0o640  # the user's file keeps its mode


def test_write_never_overwrites_and_refuses_changed_sources(tmp_path):
    existing = tmp_path / "0002_x.py"
    existing.write_text("mine\n")
    with pytest.raises(GenerateError, match="already exists; not overwriting it"):
        write_plan_in_process(_plan(FileChange(existing, None, "theirs\n")))
    assert existing.read_text() == "mine\n"
    models_py = tmp_path / "models.py"
    models_py.write_text("changed meanwhile\n")
    with pytest.raises(GenerateError, match="changed while generating"):
        write_plan_in_process(_plan(FileChange(models_py, "as read\n", "edited\n")))
    assert models_py.read_text() == "changed meanwhile\n"


def test_squawk_rules_used_here_do_catch_blocking_index_sql():
    """The squawk check above can fail: plain CREATE/DROP INDEX and ADD UNIQUE trip it."""
    problems = squawk(
        'CREATE INDEX "a" ON "t" ("x");\nDROP INDEX "a";\n'
        'ALTER TABLE "t" ADD CONSTRAINT "u" UNIQUE ("x");\n'
    )
    assert {p["rule_name"] for p in problems} & INDEX_RULES >= {
        "require-concurrent-index-creation",
        "require-concurrent-index-deletion",
        "disallowed-unique-constraint",
    }
