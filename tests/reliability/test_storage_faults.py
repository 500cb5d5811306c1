"""Issue 15, storage: one opener checks the database file; every SQLite or OS error is one
line naming the file and what to do (exit 3), and no run is left `running`."""

import os
import sqlite3

import pytest
import sqlite_utils
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.graph.cli import EXIT_CONFIG, cli
from idgraph.graph.store import SCHEMA_VERSION, Store, StoreError, versions
from idgraph.graph.store import file as store_module

from ..postmark.fixtures import FAST_OPTIONS, run_statuses


@pytest.fixture
def emu(account):
    with PostmarkEmulator(account) as emulator:
        yield emulator


def _sync(db, emu, *extra):
    env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url}
    args = ["sync", "postmark", "--db", str(db), "--account-label", "acme"]
    args += ["--retries", str(FAST_OPTIONS["retries"]), "--backoff", "0.01"]
    return CliRunner().invoke(cli, [*args, *extra], env=env)


def _refused(result, *words):
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for word in words:
        assert word in result.output, result.output


@pytest.mark.parametrize("command", [["runs"], ["show", "x"], ["export", "--out", "pack"]])
def test_reads_of_a_missing_path_refuse_and_create_nothing(tmp_path, command):
    db = tmp_path / "nothing.db"
    result = CliRunner().invoke(cli, [*command, "--db", str(db)])
    _refused(result, f"no idgraph database at {db}", "run a sync first")
    assert not db.exists()


def test_a_file_that_is_not_a_database(tmp_path, emu):
    db = tmp_path / "notes.db"
    db.write_text("these are my notes, not a database\n")
    _refused(_sync(db, emu), str(db), "not an SQLite database")
    _refused(CliRunner().invoke(cli, ["runs", "--db", str(db)]), "not an SQLite database")
    assert db.read_text() == "these are my notes, not a database\n"


def test_a_truncated_or_scribbled_database(tmp_path, emu):
    db = tmp_path / "idgraph.db"
    assert _sync(db, emu).exit_code == 0
    Store(db).close()  # checkpoint the WAL into the file
    for name in ("idgraph.db-wal", "idgraph.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    data = db.read_bytes()
    scribbled = tmp_path / "scribbled.db"
    scribbled.write_bytes(data[:100] + os.urandom(4096) * 2 + data[100 + 8192 :])
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(data[: len(data) // 3])
    for bad in (scribbled, truncated):
        result = CliRunner().invoke(cli, ["runs", "--db", str(bad)])
        _refused(result, str(bad))
        assert "damaged" in result.output or "malformed" in result.output
        _refused(_sync(bad, emu), str(bad))


def test_a_database_with_a_newer_schema_is_refused(tmp_path, emu):
    db = tmp_path / "idgraph.db"
    assert _sync(db, emu).exit_code == 0
    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()
    _refused(_sync(db, emu), str(db), "made by a newer idgraph")
    _refused(CliRunner().invoke(cli, ["runs", "--db", str(db)]), "made by a newer idgraph")
    assert "running" not in run_statuses(db)


def test_a_foreign_sqlite_file_is_refused_and_left_alone(tmp_path, emu):
    db = tmp_path / "other.db"
    other = sqlite_utils.Database(db)
    other["customers"].insert({"id": 1, "name": "x"})
    other.close()
    before = db.read_bytes()
    _refused(_sync(db, emu), str(db), "not an idgraph database")
    _refused(CliRunner().invoke(cli, ["runs", "--db", str(db)]), "not an idgraph database")
    assert db.read_bytes() == before
    assert sqlite_utils.Database(db).table_names() == ["customers"]


def test_a_lock_that_is_a_directory(tmp_path, emu):
    db = tmp_path / "idgraph.db"
    (tmp_path / "idgraph.db.lock").mkdir()
    _refused(_sync(db, emu), "idgraph.db.lock", "is a folder")
    assert "running" not in run_statuses(db)


def test_a_parent_path_that_is_a_file(tmp_path, emu):
    (tmp_path / "file").write_text("x")
    db = tmp_path / "file" / "idgraph.db"
    _refused(_sync(db, emu), str(tmp_path / "file"), "is a file, not a folder")


def test_a_read_only_database(tmp_path, emu, monkeypatch):
    db = tmp_path / "idgraph.db"
    assert _sync(db, emu).exit_code == 0
    if os.geteuid() == 0:
        # root writes a 0400 file anyway: make SQLite answer as it does for a read-only file
        def read_only(conn, wait=30.0):
            raise sqlite3.OperationalError("attempt to write a readonly database")

        monkeypatch.setattr(store_module, "_enable_wal", read_only)
    else:
        for path in tmp_path.glob("idgraph.db*"):
            path.chmod(0o400)
    _refused(_sync(db, emu), str(db), "read-only")
    assert "running" not in run_statuses(db)


def test_an_unwritable_out_folder(tmp_path, emu):
    db = tmp_path / "idgraph.db"
    assert _sync(db, emu).exit_code == 0
    (tmp_path / "taken").write_text("a file where a folder should be")
    out = tmp_path / "taken" / "pack"
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(out)])
    _refused(result, "cannot write the review pack", str(out))
    # --out naming a file is click's bad usage (2), also one line and no traceback
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(tmp_path / "taken")])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_full_disk_mid_write_fails_the_run_clearly(tmp_path, emu, monkeypatch):
    db = tmp_path / "idgraph.db"
    assert _sync(db, emu).exit_code == 0

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(versions, "apply_versions", full)
    result = _sync(db, emu)
    _refused(result, str(db), "disk is full")
    assert run_statuses(db) == ["complete", "failed"]


def test_open_store_errors_are_config_errors(tmp_path):
    with pytest.raises(StoreError, match="run a sync first"):
        Store(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
