"""A file's schema: the version this idgraph writes, the statements a new file gets, and
bringing an older file up to date (the migrations, `store/migrations.py`, sqlite-utils)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

# The schema this idgraph writes, kept in PRAGMA user_version: one more per migration. A file
# with a higher number was made by a newer idgraph and is refused, never half-read.
SCHEMA_VERSION = 8
IDGRAPH_TABLES = ("runs", "node_versions", "edge_versions")
MIGRATIONS_TABLE = "_sqlite_migrations"  # sqlite-utils' record of the migrations applied
MIGRATION_NAMES = (
    "m001_initial",
    "m002_attestations",
    "m003_review_decisions",
    "m004_accounts",
    "m005_namespaced_edge_kinds",  # data only: NEW_SCHEMA holds no statement of it
    "m006_evidence",
    "m007_remediation_items",
    "m008_annotations",
)

# What graph/store/migrations.py makes of a new file, statement by statement (as sqlite-utils
# writes it): a new file gets this, and sqlite-utils is imported only once the run is being
# recorded, meanwhile. tests/host/test_store_schema.py checks it against the migrations.
NEW_SCHEMA = (
    'CREATE TABLE "_sqlite_migrations" (\n   "id" INTEGER PRIMARY KEY,\n   "migration_set" TEXT,'
    '\n   "name" TEXT,\n   "applied_at" TEXT\n);',
    'CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"\n    ON "_sqlite_migrations"'
    ' ("migration_set", "name");',
    'CREATE TABLE "runs" (\n   "id" INTEGER PRIMARY KEY,\n   "kind" TEXT,\n   "connector" TEXT,'
    '\n   "scope" TEXT,\n   "account_label" TEXT,\n   "started" TEXT,\n   "finished" TEXT,'
    '\n   "status" TEXT,\n   "counts" TEXT,\n   "errors" TEXT,\n   "warnings" TEXT,'
    '\n   "stats" TEXT,\n   "plugin_versions" TEXT\n);',
    'CREATE TABLE "node_versions" (\n   "scope" TEXT,\n   "id" TEXT,\n   "kind" TEXT,'
    '\n   "source" TEXT,\n   "attrs" TEXT,\n   "hash" TEXT,\n   "first_seen" INTEGER,'
    '\n   "opened_run" INTEGER,\n   "closed_run" INTEGER,'
    '\n   PRIMARY KEY ("scope", "id", "opened_run")\n);',
    'CREATE INDEX "idx_node_versions_opened_run"\n    ON "node_versions" ("opened_run");',
    'CREATE INDEX "idx_node_versions_closed_run"\n    ON "node_versions" ("closed_run");',
    'CREATE TABLE "edge_versions" (\n   "scope" TEXT,\n   "key" TEXT,\n   "src" TEXT,'
    '\n   "dst" TEXT,\n   "discriminator" TEXT,\n   "kind" TEXT,\n   "source" TEXT,'
    '\n   "attrs" TEXT,\n   "hash" TEXT,\n   "first_seen" INTEGER,\n   "opened_run" INTEGER,'
    '\n   "closed_run" INTEGER,\n   PRIMARY KEY ("scope", "key", "opened_run")\n);',
    'CREATE INDEX "idx_edge_versions_opened_run"\n    ON "edge_versions" ("opened_run");',
    'CREATE INDEX "idx_edge_versions_closed_run"\n    ON "edge_versions" ("closed_run");',
    'CREATE TABLE "attestations" (\n   "run_id" INTEGER PRIMARY KEY REFERENCES "runs"("id"),'
    '\n   "connector" TEXT,\n   "account_label" TEXT,\n   "file_name" TEXT,'
    '\n   "file_sha256" TEXT,\n   "attested_by" TEXT,\n   "attested_at" TEXT,'
    '\n   "expires_at" TEXT,\n   "evidence" TEXT,\n   "evidence_sha256" TEXT,'
    '\n   "members" INTEGER\n);',
    'CREATE TABLE "review_decisions" (\n   "id" INTEGER PRIMARY KEY,'
    '\n   "run_id" INTEGER REFERENCES "runs"("id"),\n   "row_id" TEXT,\n   "principal" TEXT,'
    '\n   "resource" TEXT,\n   "access" TEXT,\n   "access_kind" TEXT,\n   "decision" TEXT,'
    '\n   "reviewer" TEXT,\n   "review_date" TEXT,\n   "justification" TEXT,'
    '\n   "imported_at" TEXT,\n   "imported_by" TEXT,\n   "file_sha256" TEXT\n);',
    'CREATE INDEX "idx_review_decisions_run_id_row_id"\n    ON "review_decisions" ("run_id",'
    ' "row_id");',
    'CREATE TABLE "accounts" (\n   "connector" TEXT,\n   "label" TEXT,\n   "fingerprint" TEXT,'
    '\n   "first_run" INTEGER,\n   "last_run" INTEGER,\n   PRIMARY KEY ("connector", "label")\n);',
    'ALTER TABLE "runs" ADD COLUMN "credential" TEXT;',
    'ALTER TABLE "runs" ADD COLUMN "rotated_from" TEXT;',
    'ALTER TABLE "review_decisions" ADD COLUMN "sign_off" TEXT;',
    'ALTER TABLE "runs" ADD COLUMN "ledger_seq" INTEGER;',
    'ALTER TABLE "runs" ADD COLUMN "ledger_digest" TEXT;',
    'CREATE TABLE "remediation_items" (\n   "id" INTEGER PRIMARY KEY,'
    '\n   "decided_run" INTEGER REFERENCES "runs"("id"),\n   "row_id" TEXT,'
    '\n   "principal" TEXT,\n   "resource" TEXT,\n   "access" TEXT,\n   "access_kind" TEXT,'
    '\n   "source" TEXT,\n   "scope" TEXT,\n   "decision" TEXT,\n   "reviewer" TEXT,'
    '\n   "justification" TEXT,'
    '\n   "opened_at" TEXT,\n   "status" TEXT,\n   "evidence_run" INTEGER,'
    '\n   "evidence_at" TEXT,\n   "fixed_run" INTEGER,\n   "closed_by" TEXT\n);',
    'CREATE INDEX "idx_remediation_items_row_id"\n    ON "remediation_items" ("row_id");',
    'CREATE TABLE "annotations" (\n   "id" INTEGER PRIMARY KEY,\n   "target" TEXT,'
    '\n   "owner" TEXT,\n   "purpose" TEXT,\n   "expected_until" TEXT,'
    '\n   "annotated_by" TEXT,\n   "annotated_at" TEXT,\n   "file_sha256" TEXT\n);',
    'CREATE INDEX "idx_annotations_target"\n    ON "annotations" ("target");',
)


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version the file says it has (PRAGMA user_version)."""
    return conn.execute("PRAGMA user_version").fetchone()[0]


def set_schema_version(conn: sqlite3.Connection) -> None:
    if schema_version(conn) != SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to date, inside the caller's transaction: a new file gets
    NEW_SCHEMA; an older one the migrations it lacks (sqlite-utils is imported only then)."""
    tables = table_names(conn)
    if not tables:
        for statement in NEW_SCHEMA:
            conn.execute(statement)
        applied_at = str(datetime.now(UTC))  # as sqlite-utils records it
        conn.executemany(
            f'INSERT INTO "{MIGRATIONS_TABLE}" ("applied_at", "migration_set", "name") '
            "VALUES (?, 'idgraph', ?)",
            [(applied_at, name) for name in MIGRATION_NAMES],
        )
        return
    applied: set[str] = set()
    if MIGRATIONS_TABLE in tables:
        applied = {
            row[0]
            for row in conn.execute(
                f"SELECT name FROM \"{MIGRATIONS_TABLE}\" WHERE migration_set = 'idgraph'"
            )
        }
    if set(MIGRATION_NAMES) <= applied:
        return
    import sqlite_utils

    from .migrations import migrations

    migrations.apply(sqlite_utils.Database(conn))
