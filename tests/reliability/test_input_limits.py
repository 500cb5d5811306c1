"""Issue 23, failure 7 for the files a person gives: member and decision files capped by
size, rows and cell length (a workbook's unzipped size checked before a cell is parsed),
error lists cut at 50, and `--evidence` a regular file under a size cap."""

import csv
import hashlib
import io
import os
import sqlite3
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from idgraph.graph.cli import EXIT_CONFIG, cli
from idgraph.graph.csvinput import MAX_CELL_CHARS, MAX_PROBLEMS_SHOWN
from idgraph.graph.store import Store

from ..postmark.fixtures import attest_fixture, sync_fixture
from ..postmark.test_review_pack import pack  # noqa: F401 - the synced, exported pack fixture

MEMBERS = Path(__file__).resolve().parents[2] / "connector/postmark/emulator/fixtures/members.csv"


def _attest(db, members, *extra, env=None):
    args = ["attest", "import", "postmark", str(members), "--attested-by", "a@acme-corp.example"]
    return CliRunner().invoke(cli, [*args, "--db", str(db), *extra], env=env or {})


def _digest(db: Path) -> str:
    return hashlib.sha256(
        b"".join(p.read_bytes() for p in sorted(db.parent.glob("*.db*")))
    ).hexdigest()


def _members_workbook(path: Path, long_cell: str) -> Path:
    """The fixture's members as a workbook, the first member's name `long_cell`: written
    into the sheet's XML, since openpyxl cuts a cell at 32,767 characters as Excel does."""
    rows = list(csv.reader(io.StringIO(MEMBERS.read_text(encoding="utf-8-sig"))))
    rows[1][1] = "LONG-CELL-HERE"
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    made = io.BytesIO()
    book.save(made)
    with zipfile.ZipFile(made) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            out.writestr(item, source.read(item).replace(b"LONG-CELL-HERE", long_cell.encode()))
    return path


@pytest.fixture
def synced(tmp_path, emulator):
    db = tmp_path / "idgraph.db"
    store = Store(db)
    sync_fixture(store, emulator)
    store.close()
    return db


def test_a_workbook_that_unzips_past_the_cap_is_refused_before_a_cell_is_parsed(
    synced, tmp_path, monkeypatch
):
    db = synced
    book = _members_workbook(tmp_path / "members.xlsx", "A" * 2_000_000)  # 2 MB in one cell
    assert book.stat().st_size < 100_000  # it compresses to almost nothing

    def never(*args, **kwargs):
        raise AssertionError("openpyxl parsed a workbook over the cap")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    before = _digest(db)
    result = _attest(db, book, env={"IDGRAPH_MAX_XLSX_UNZIPPED_BYTES": "1000000"})
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "unzips to" in result.output and "IDGRAPH_MAX_XLSX_UNZIPPED_BYTES" in result.output
    assert "Traceback" not in result.output
    assert _digest(db) == before


def test_a_cell_longer_than_a_spreadsheet_cell_is_refused_naming_row_and_column(synced, tmp_path):
    db = synced
    book = _members_workbook(tmp_path / "members.xlsx", "A" * (MAX_CELL_CHARS + 1))
    result = _attest(db, book)
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "row 2: column 2: 32,768 characters" in result.output


def test_a_file_past_the_row_or_size_cap_is_refused(synced, tmp_path):
    db = synced
    members = tmp_path / "members.csv"
    text = MEMBERS.read_text(encoding="utf-8-sig")
    members.write_text(text + "\n" * 500)
    rows = _attest(db, members, env={"IDGRAPH_MAX_INPUT_ROWS": "100"})
    assert rows.exit_code == EXIT_CONFIG and "more than 100 rows" in rows.output
    size = _attest(db, members, env={"IDGRAPH_MAX_INPUT_BYTES": "200"})
    assert size.exit_code == EXIT_CONFIG and "larger than 200 bytes" in size.output
    endless = _attest(db, "/dev/zero", env={"IDGRAPH_MAX_INPUT_BYTES": "1000"})
    assert endless.exit_code == EXIT_CONFIG and "larger than 1,000 bytes" in endless.output
    bad = _attest(db, members, env={"IDGRAPH_MAX_INPUT_ROWS": "many"})
    assert bad.exit_code == EXIT_CONFIG and "IDGRAPH_MAX_INPUT_ROWS='many'" in bad.output


def test_evidence_must_be_a_regular_file_under_the_cap(synced, tmp_path):
    db = synced
    before = _digest(db)
    endless = _attest(db, MEMBERS, "--evidence", "/dev/zero")
    assert endless.exit_code == EXIT_CONFIG, endless.output
    assert "must be a regular file" in endless.output
    pipe = tmp_path / "evidence.fifo"
    os.mkfifo(pipe)  # opening it to read would wait for a writer that never comes
    waiting = _attest(db, MEMBERS, "--evidence", str(pipe))
    assert waiting.exit_code == EXIT_CONFIG and "must be a regular file" in waiting.output
    evidence = tmp_path / "screenshot.png"
    evidence.write_bytes(b"x" * 5000)
    big = _attest(
        db, MEMBERS, "--evidence", str(evidence), env={"IDGRAPH_MAX_EVIDENCE_BYTES": "4096"}
    )
    assert big.exit_code == EXIT_CONFIG and "more than the 4,096 idgraph hashes" in big.output
    assert _digest(db) == before
    kept = _attest(db, MEMBERS, "--evidence", str(evidence))
    assert kept.exit_code == 0, kept.output


def test_a_file_of_many_bad_rows_lists_fifty_and_the_count(pack):  # noqa: F811
    db, out, _summary = pack
    rows = list(csv.DictReader((out / "review.csv").open(encoding="utf-8-sig")))
    filled = out / "filled.csv"
    with filled.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        for _copy in range(1000 // len(rows) + 1):
            writer.writerows([dict(row, decision="maybe") for row in rows])
    result = CliRunner().invoke(
        cli, ["review", "import", str(filled), "--reviewer", "l@acme-corp.example", "--db", str(db)]
    )
    assert result.exit_code == EXIT_CONFIG, result.output
    lines = result.output.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == MAX_PROBLEMS_SHOWN + 1
    assert errors[-1].startswith("error: ... and ") and "more problem(s) not shown" in errors[-1]
    total = int(errors[-1].split()[3].replace(",", "")) + MAX_PROBLEMS_SHOWN
    assert f"{total} problem(s): nothing was imported" in result.output
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM review_decisions").fetchone() == (0,)


def test_a_member_file_of_bad_rows_is_read_no_further_than_the_problems_kept(
    synced, tmp_path, monkeypatch
):
    from idgraph.graph import attestation

    monkeypatch.setattr(attestation, "MAX_PROBLEMS_KEPT", 20)
    members = tmp_path / "members.csv"
    header = MEMBERS.read_text(encoding="utf-8-sig").splitlines()[0]
    bad = "".join(f"not-an-email-{i},N,Nobody,maybe\n" for i in range(500))
    members.write_text(header + "\n" + bad)
    with pytest.raises(attestation.AttestationInvalid) as refused:
        attest_fixture(Store(synced), members)
    problems = refused.value.problems
    assert len(problems) <= 20 + 3 and "not read, after" in problems[-1]


def test_every_limit_is_documented():
    text = (Path(__file__).resolve().parents[2] / "docs/reliability.md").read_text()
    for name in (
        "MAX_INPUT_BYTES",
        "MAX_XLSX_UNZIPPED_BYTES",
        "MAX_INPUT_ROWS",
        "MAX_CELL_CHARS",
        "MAX_EVIDENCE_BYTES",
        "MAX_LISTING_ITEMS",
        "MAX_BODY_BYTES",
        "MAX_DECODED_BYTES",
    ):
        assert name in text, name


def test_an_endless_webhook_file_is_refused_at_once(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["postmark", "webhooks", "audit", "--expected", "/dev/zero"],
        env={"POSTMARK_ACCOUNT_TOKEN": "00000000-0000-4000-8000-000000000000"},
    )
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "/dev/zero: larger than 33,554,432 bytes" in result.output


def test_a_webhook_file_of_many_bad_entries_lists_fifty_and_the_count(tmp_path):
    hook = '[[server.webhook]]\nstream = "s{n}"\nurl = "https://h.example/{n}"\ntriggers = 5\n'
    expected = tmp_path / "hooks.toml"
    expected.write_text('[[server]]\nname = "A"\n' + "".join(hook.format(n=n) for n in range(80)))
    result = CliRunner().invoke(
        cli,
        ["postmark", "webhooks", "audit", "--expected", str(expected)],
        env={"POSTMARK_ACCOUNT_TOKEN": "00000000-0000-4000-8000-000000000000"},
    )
    assert result.exit_code == EXIT_CONFIG, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == MAX_PROBLEMS_SHOWN + 1
    assert errors[-1] == "error: ... and 30 more problem(s) not shown"
