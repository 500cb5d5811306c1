"""A new database gets store.NEW_SCHEMA without importing sqlite-utils; it must be exactly
what the migrations (graph/store/migrations.py) make, and an older file must be brought to it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import sqlite_utils
from idgraph.graph.store import MIGRATION_NAMES, SCHEMA_VERSION, Store
from idgraph.graph.store.migrations import migrations


def _schema(path) -> tuple[list[tuple], list[str]]:
    conn = sqlite3.connect(path)
    try:
        objects = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        applied = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM _sqlite_migrations WHERE migration_set = 'idgraph' ORDER BY id"
            )
        ]
    finally:
        conn.close()
    return objects, applied


def _by_migrations(path, **apply) -> None:
    db = sqlite_utils.Database(path)
    migrations.apply(db, **apply)
    db.close()


def test_a_new_file_gets_the_schema_the_migrations_make(tmp_path):
    _by_migrations(tmp_path / "migrated.db")
    Store(tmp_path / "new.db").close()
    migrated, new = _schema(tmp_path / "migrated.db"), _schema(tmp_path / "new.db")
    assert new == migrated
    assert new[1] == list(MIGRATION_NAMES)
    every = migrations.pending(sqlite_utils.Database(memory=True))
    assert [migration.name for migration in every] == list(MIGRATION_NAMES)
    assert sqlite3.connect(tmp_path / "new.db").execute("PRAGMA user_version").fetchone() == (
        SCHEMA_VERSION,
    )


def test_an_older_file_gets_the_migrations_it_lacks(tmp_path):
    _by_migrations(tmp_path / "old.db", stop_before="m004_accounts")
    assert "accounts" not in sqlite_utils.Database(tmp_path / "old.db").table_names()
    Store(tmp_path / "old.db").close()
    _by_migrations(tmp_path / "migrated.db")
    assert _schema(tmp_path / "old.db") == _schema(tmp_path / "migrated.db")


def test_opening_locking_and_starting_a_run_do_not_import_sqlite_utils(tmp_path):
    """sqlite-utils (a tenth of a second to import) is imported while the connector reads
    (`warm_up`), not before its first request."""
    script = textwrap.dedent(
        f"""
        import sys
        from idgraph.graph.store import Store
        store = Store({str(tmp_path / "x.db")!r})
        with store.write_lock():
            store.known_accounts("postmark")
            run = store.start_run(kind="sync", connector="postmark", scope="postmark:a",
                                  account_label="a", plugin_versions={{}})
            print("sqlite_utils" in sys.modules, run)
            store.finish_run(run, status="failed", errors=["x"])
        store.close()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "1"]


def test_an_up_to_date_file_opens_and_reads_while_another_program_writes(tmp_path):
    """Opening a current database writes nothing, so a writer outside idgraph (holding
    SQLite's write lock) does not hold up a read."""
    path = tmp_path / "x.db"
    Store(path).close()
    other = sqlite3.connect(path, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO runs (kind, status) VALUES ('sync', 'running')")
    try:
        store = Store(path)
        store.conn.execute("PRAGMA busy_timeout = 0")  # waiting would be a failure, at once
        assert store.runs() == []  # the other program's row is not committed
        store.close()
    finally:
        other.rollback()
        other.close()
