"""The review through the real spreadsheet program: LibreOffice opens the exported review
(CSV and workbook) and saves it as CSV and as .xlsx; decisions are filled in; `review import`
takes every file back with every row id intact and every decision stored.

Skipped, with the reason, where `soffice` (Debian: libreoffice-calc-nogui) is absent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.synthetic import synthetic_account
from idgraph.graph.cli import cli
from idgraph.graph.review import REVIEW_COLUMNS
from idgraph.graph.store import Store

from .fixtures import attest_fixture, sync_fixture

SOFFICE = shutil.which("soffice")
pytestmark = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui",
)
UTF8_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1"  # comma, quote, UTF-8, from row 1
UTF8_IN = "CSV:44,34,76,1"  # the import dialog's "Unicode (UTF-8)", comma
SERVERS = 300
ACCENTED_SERVERS = [
    "Zürich Ünïcode",
    "Café Crème",
    '=HYPERLINK("http://x")',
    "Łódź 9705615772979639",
]
REVIEW_DATE = datetime.now(UTC).date().isoformat()  # between the run and today
NAMES = ["Zoë Ångström", "José Núñez", "Łukasz Żółć", "Renée Dubois", "Søren Kierkegård"]


def soffice(files: list[Path], target: str, out: Path, profile: Path, infilter: str = ""):
    """Open each file in LibreOffice and save it as `target` into `out` (a private profile)."""
    out.mkdir(parents=True, exist_ok=True)
    command = [
        SOFFICE,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        *([f"--infilter={infilter}"] if infilter else []),
        "--convert-to",
        target,
        "--outdir",
        str(out),
        *map(str, files),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    suffix = "." + target.split(":")[0]
    converted = [out / (f.stem + suffix) for f in files]
    assert all(p.exists() for p in converted), (done.stdout, done.stderr)
    return converted


def _members_csv(path: Path, server_names: list[str]) -> None:
    """Members with accented names: an owner, an admin, and users with view/full/none."""
    rows = [
        ["owner@acme-corp.example", "Åsa Öberg", "Account Owner", "yes"] + [""] * len(server_names),
        ["admin@acme-corp.example", "Ægir Þórsson", "Account Admin", "no"]
        + [""] * len(server_names),
    ]
    for index, name in enumerate(NAMES):
        access = [("view", "full", "none")[(index + i) % 3] for i in range(len(server_names))]
        rows.append([f"user{index}@acme-corp.example", name, "User", "unknown", *access])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["email", "name", "role", "two_factor", *(f"server:{n}" for n in server_names)]
        )
        writer.writerows(rows)


@pytest.fixture(scope="module")
def big_pack(tmp_path_factory):
    """A 300-server synthetic account, synced and attested, and its exported pack."""
    folder = tmp_path_factory.mktemp("lo")
    account = synthetic_account(SERVERS, senders=50, domains=10, seed=7)
    for server, name in zip(account["Servers"], ACCENTED_SERVERS, strict=False):
        server["Name"] = name
    db = folder / "idgraph.db"
    store = Store(db)
    with PostmarkEmulator(account) as emulator:
        result = sync_fixture(store, emulator)
    assert result.status == "complete"
    members = folder / "members.csv"
    _members_csv(members, [s["Name"] for s in account["Servers"]])
    attest_fixture(store, members)
    store.close()
    out = folder / "pack"
    started = time.perf_counter()
    exported = CliRunner().invoke(
        cli,
        [
            "export",
            "--db",
            str(db),
            "--out",
            str(out),
            "--format",
            "review-csv",
            "--format",
            "review-xlsx",
        ],
    )
    assert exported.exit_code == 0, exported.output
    figures = {"export_s": round(time.perf_counter() - started, 2)}
    return db, out, figures


def _exported_ids(out: Path) -> list[str]:
    text = (out / "review.csv").read_text(encoding="utf-8-sig")
    return [row["row_id"] for row in csv.DictReader(io.StringIO(text))]


def _decide(index: int) -> dict[str, str]:
    if index % 3 == 0:
        return {"decision": "revoke", "justification": f"Zoë said no … #{index}"}
    if index % 3 == 1:
        return {
            "decision": "keep",
            "reviewer": "ops@acme-corp.example",
            "review_date": REVIEW_DATE,
        }
    return {"decision": "modify", "justification": "full -> view"}


def _fill_csv(path: Path, target: Path) -> None:
    """Fill decisions into a CSV as LibreOffice saved it (UTF-8, no BOM)."""
    text = path.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    for index, row in enumerate(rows):
        row.update(_decide(index))
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, REVIEW_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _fill_xlsx(path: Path, target: Path) -> None:
    """Fill decisions into a workbook's first sheet, as a reviewer types them."""
    from openpyxl import load_workbook

    workbook = load_workbook(path)
    sheet = workbook.worksheets[0]
    header = [c.value for c in sheet[1]]
    for index, row in enumerate(sheet.iter_rows(min_row=2)):
        for column, value in _decide(index).items():
            row[header.index(column)].value = value
    workbook.save(target)


def _import(db: Path, path: Path) -> tuple[dict, list[dict]]:
    result = CliRunner().invoke(
        cli,
        [
            "review",
            "import",
            str(path),
            "--reviewer",
            "lead@acme-corp.example",
            "--db",
            str(db),
            "--out",
            str(path.parent),
            "--force",  # each format's file is imported into one folder in turn
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output[-3000:]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    store = Store(db)
    stored = list(store.db["review_decisions"].rows_where("file_sha256 = ?", [sha]))
    store.close()
    import json

    return json.loads(result.output), stored


def _assert_all_stored(stored: list[dict], ids: list[str]) -> None:
    assert [d["row_id"] for d in stored] == ids  # every id intact, in order
    for index, decision in enumerate(stored):
        expected = _decide(index)
        assert decision["decision"] == expected["decision"]
        assert decision["justification"] == expected.get("justification", "")
        if "review_date" in expected:
            assert decision["review_date"] == REVIEW_DATE
            assert decision["reviewer"] == "ops@acme-corp.example"


def test_libreoffice_saved_review_csv_imports_with_every_id(big_pack, tmp_path, lo_profile):
    db, out, figures = big_pack
    ids = _exported_ids(out)
    assert len(ids) > SERVERS * 4  # the members' per-server rows, one row per token
    profile = lo_profile
    started = time.perf_counter()
    (saved_csv,) = soffice([out / "review.csv"], UTF8_CSV, tmp_path / "csv", profile, UTF8_IN)
    (saved_xlsx,) = soffice([out / "review.csv"], "xlsx", tmp_path / "xlsx", profile, UTF8_IN)
    figures["libreoffice_csv_s"] = round(time.perf_counter() - started, 2)
    # LibreOffice kept the accents (the file said UTF-8) and the ids as text
    text = saved_csv.read_text(encoding="utf-8")
    assert "Zürich Ünïcode" in text and "Café Crème" in text and "…" in text
    assert [r["row_id"] for r in csv.DictReader(io.StringIO(text))] == ids
    filled_csv = tmp_path / "filled.csv"
    _fill_csv(saved_csv, filled_csv)
    filled_xlsx = tmp_path / "filled-from-csv.xlsx"
    _fill_xlsx(saved_xlsx, filled_xlsx)
    for path in (filled_csv, filled_xlsx):
        started = time.perf_counter()
        summary, stored = _import(db, path)
        figures[f"import_{path.name}_s"] = round(time.perf_counter() - started, 2)
        assert sum(summary["decisions"].values()) == len(ids)
        _assert_all_stored(stored, ids)
    figures["rows"] = len(ids)
    print("round trip figures:", figures)


def test_libreoffice_saved_review_workbook_imports_with_every_id(big_pack, tmp_path, lo_profile):
    db, out, figures = big_pack
    ids = _exported_ids(out)
    filled = tmp_path / "review.xlsx"
    _fill_xlsx(out / "review.xlsx", filled)
    profile = lo_profile
    started = time.perf_counter()
    (saved_xlsx,) = soffice([filled], "xlsx", tmp_path / "xlsx", profile)
    (saved_csv,) = soffice([filled], UTF8_CSV, tmp_path / "csv", profile)
    figures["libreoffice_xlsx_s"] = round(time.perf_counter() - started, 2)
    for path in (saved_xlsx, saved_csv):
        summary, stored = _import(db, path)
        assert sum(summary["decisions"].values()) == len(ids)
        _assert_all_stored(stored, ids)
    print("round trip figures:", figures)


def test_ids_without_a_letter_would_not_survive(tmp_path, lo_profile):
    """The control: the old all-hex ids come back from LibreOffice as numbers."""
    control = tmp_path / "old.csv"
    control.write_text("\ufeffrow_id\n9705615772979639\n522e003017105919\nr-522e003017105919\n")
    (saved,) = soffice([control], UTF8_CSV, tmp_path / "out", lo_profile, UTF8_IN)
    values = [v.strip('"') for v in saved.read_text(encoding="utf-8").split()]
    assert values[1] != "9705615772979639" and values[2] != "522e003017105919"
    assert values[3] == "r-522e003017105919"
