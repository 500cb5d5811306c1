"""Issue 23: every file idgraph writes where a person points follows one rule (never through
a link, never over a database, over a file only with --force, whole or not at all); review
import stores its decisions only with remediation.md on disk; CSV listings end rows in CRLF.
"""

import csv
import errno
import hashlib
import io
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from idgraph.graph import files as files_module
from idgraph.graph.cli import EXIT_CONFIG, cli
from idgraph.graph.store import Store

from ..postmark.fixtures import attest_fixture, sync_fixture
from ..postmark.test_review_pack import _fill, pack  # noqa: F401 - the synced, exported pack fixture


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _synced(tmp_path, emulator, *, attest=True):
    db = tmp_path / "idgraph.db"
    store = Store(db)
    sync_fixture(store, emulator)
    if attest:
        attest_fixture(store)
    store.close()
    return db


def _one_line_refusal(result, *words):
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for word in words:
        assert word in result.output, result.output


def _template(db, out, *extra):
    args = ["attest", "template", "postmark", "--db", str(db), "--out", str(out), *extra]
    return CliRunner().invoke(cli, args)


def _decisions(db):
    connection = sqlite3.connect(db)
    try:
        return connection.execute("SELECT count(*) FROM review_decisions").fetchone()[0]
    finally:
        connection.close()


# -- 1. attest template --out -------------------------------------------------------------


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_attest_template_never_writes_over_the_database(tmp_path, emulator, force):
    db = _synced(tmp_path, emulator)
    Store(db).close()  # checkpointed: the file alone is the database
    before = _digest(db)
    _one_line_refusal(_template(db, db, *force), str(db), "SQLite database")
    assert _digest(db) == before
    assert not (tmp_path / "idgraph.db.notes.txt").exists()
    link = tmp_path / "members.csv"
    link.symlink_to(db)
    _one_line_refusal(_template(db, link, *force), str(link), "symbolic link")
    assert _digest(db) == before and link.is_symlink()
    foreign = tmp_path / "other.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    _one_line_refusal(_template(db, foreign, *force), "SQLite database")
    assert CliRunner().invoke(cli, ["runs", "--db", str(db)]).exit_code == 0


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_filled_member_file_is_replaced_only_with_force(tmp_path, emulator, suffix):
    db = _synced(tmp_path, emulator)
    members = tmp_path / f"members{suffix}"
    assert _template(db, members).exit_code == 0
    members.write_bytes(b"filled in by a person")
    _one_line_refusal(_template(db, members), str(members), "already exists", "--force")
    assert members.read_bytes() == b"filled in by a person"
    result = _template(db, members, "--force")
    assert result.exit_code == 0, result.output
    assert members.read_bytes() != b"filled in by a person"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# -- 2. review import's remediation.md --------------------------------------------------------


def test_review_import_never_writes_remediation_through_a_link(pack):  # noqa: F811
    db, out, _summary = pack
    filled = _fill(out, _keep_tokens)
    link = out / "remediation.md"
    link.symlink_to(db)
    Store(db).close()
    before = _digest(db)
    for extra in ([], ["--force"]):
        result = _import(db, filled, *extra)
        _one_line_refusal(result, str(link), "symbolic link")
        assert _digest(db) == before and link.is_symlink()
        assert _decisions(db) == 0


def test_an_existing_remediation_is_replaced_only_with_force(pack):  # noqa: F811
    db, out, _summary = pack
    filled = _fill(out, _keep_tokens)
    remediation = out / "remediation.md"
    remediation.write_text("- [x] step 1 carried out\n")
    _one_line_refusal(_import(db, filled), "already exists", "--force")
    assert remediation.read_text() == "- [x] step 1 carried out\n"
    assert _decisions(db) == 0
    assert _import(db, filled, "--force").exit_code == 0
    assert remediation.read_text().startswith("# Remediation") and _decisions(db) > 0


# -- 5. review import on a full disk ----------------------------------------------------------


def test_a_full_disk_stores_no_decision_and_leaves_no_remediation(pack, monkeypatch):  # noqa: F811
    db, out, _summary = pack
    filled = _fill(out, _keep_tokens)

    def disk_full(_descriptor):  # delayed allocation: the space runs out when flushed
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    result = _import(db, filled)
    _one_line_refusal(result, "remediation.md", "No space left", "nothing was imported")
    assert _decisions(db) == 0
    assert not (out / "remediation.md").exists()
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []


def test_the_real_program_out_of_file_space_stores_nothing(pack):  # noqa: F811
    """The real `idgraph` under a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored): the
    remediation steps (over 50 kB) cannot be written, as on a disk that is full."""
    db, out, _summary = pack

    def revoke_all(row):
        row.update(decision="revoke", justification="no longer needed " * 300)

    filled = _fill(out, revoke_all)

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    idgraph = Path(sys.executable).parent / "idgraph"
    args = [idgraph, "review", "import", filled, "--reviewer", "lead@acme-corp.example"]
    done = subprocess.run(
        [*map(str, args), "--db", str(db)], preexec_fn=limited, capture_output=True, text=True
    )
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "remediation.md: cannot be written (File too large): nothing was imported" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert _decisions(db) == 0
    assert [p.name for p in out.iterdir() if "remediation" in p.name] == []


def test_a_full_disk_at_the_commit_leaves_no_remediation(pack, monkeypatch):  # noqa: F811
    db, out, _summary = pack
    filled = _fill(out, _keep_tokens)
    real_publish = files_module.StagedFile.publish

    def publish_then_fail(self, **kwargs):  # the rename done, then SQLite finds no space
        real_publish(self, **kwargs)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(files_module.StagedFile, "publish", publish_then_fail)
    result = _import(db, filled)
    _one_line_refusal(result, "disk is full")
    assert _decisions(db) == 0
    assert not (out / "remediation.md").exists()


# -- exports and token files follow the same rule --------------------------------------------


def test_an_existing_pack_is_replaced_only_with_force_never_through_a_link(pack):  # noqa: F811
    db, out, _summary = pack
    review = out / "review.xlsx"
    review.write_bytes(b"decisions being filled in")
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(out)])
    _one_line_refusal(result, "already exists", "--force")
    assert review.read_bytes() == b"decisions being filled in"
    graph = out / "graph.json"
    graph.unlink()
    graph.symlink_to(db)
    Store(db).close()
    before = _digest(db)
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(out), "--force"])
    _one_line_refusal(result, "symbolic link")
    assert _digest(db) == before and review.read_bytes() == b"decisions being filled in"
    graph.unlink()
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert review.read_bytes().startswith(b"PK")


# -- 6. --format csv listings -----------------------------------------------------------------


def test_a_cr_in_a_name_stays_in_its_row_of_a_csv_listing(tmp_path, emulator, lo_profile):
    emulator.server(11001)["Name"] = "Billing\r=1+1"
    emulator.server(11002)["Name"] = "Two\nlines"
    db = _synced(tmp_path, emulator, attest=False)
    args = ["nodes", "--kind", "postmark:server", "--format", "csv", "--db", str(db)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    text = result.stdout_bytes.decode()  # as written: click's .stdout turns CRLF into LF
    assert "\r\n" in text and text.count("\n") == text.count("\r\n") + 1  # the LF in the name
    rows = list(csv.reader(io.StringIO(text, newline="")))
    names = {row[2] for row in rows[1:]}
    assert "Billing\r=1+1" in names and "Two\nlines" in names
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    servers = len(emulator.account["Servers"])
    assert len(rows) == 1 + servers  # the header and a row per server
    if shutil.which("soffice"):
        _libreoffice_reads_one_row_per_server(tmp_path, text, servers, lo_profile)


def _libreoffice_reads_one_row_per_server(tmp_path, text, servers, profile):
    from ..postmark.test_spreadsheet_roundtrip import UTF8_IN, soffice

    listing = tmp_path / "servers.csv"
    listing.write_text(text, encoding="utf-8", newline="")
    (saved,) = soffice([listing], "xlsx", tmp_path / "lo", profile, UTF8_IN)
    from openpyxl import load_workbook

    sheet = load_workbook(saved).worksheets[0]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert len(cells) == 1 + servers, cells
    assert "Billing\n=1+1" in [row[2] for row in cells] or "Billing\r=1+1" in [
        row[2] for row in cells
    ]
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


def _keep_tokens(row):
    token = row["principal"].startswith("postmark:server_token:")
    if token and row["access_kind"].startswith("postmark:grants"):
        row.update(decision="keep")


def _import(db, filled, *extra):
    args = ["review", "import", str(filled), "--reviewer", "lead@acme-corp.example"]
    return CliRunner().invoke(cli, [*args, "--db", str(db), *extra])
