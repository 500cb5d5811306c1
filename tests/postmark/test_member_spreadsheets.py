"""Member files as spreadsheets save them: Excel's "CSV UTF-8", LibreOffice's UTF-8 CSV and
.xlsx, the .xlsx template with drop-downs, and a server name with a trailing space.

The LibreOffice round trips skip, with the reason, where `soffice` is absent."""

from __future__ import annotations

import csv
import shutil

import openpyxl
import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import load_fixture
from idgraph.connector.postmark.members import MEMBER_FORMAT
from idgraph.graph.attestation import previous_members
from idgraph.graph.cli import cli
from idgraph.graph.store import Store

from .fixtures import synced_database
from .test_spreadsheet_roundtrip import UTF8_CSV, UTF8_IN, soffice

SOFFICE = shutil.which("soffice")
needs_soffice = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui",
)
NAMES = {"Åsa Öberg", "José Núñez", "Zoë Ångström"}


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """The fixture account with a trailing-space and an accented server name, synced."""
    account = load_fixture()
    account["Servers"][2]["Name"] = "Billing (EU) "
    account["Servers"][3]["Name"] = "Zürich Café"
    return synced_database(tmp_path_factory.mktemp("members"), account)


@pytest.fixture
def db(synced, tmp_path):
    copy = tmp_path / "idgraph.db"
    shutil.copy(synced, copy)
    return copy


def _template(db, out):
    result = CliRunner().invoke(
        cli, ["attest", "template", "postmark", "--db", str(db), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def _import(db, path, code=0):
    result = CliRunner().invoke(
        cli,
        [
            "attest",
            "import",
            "postmark",
            str(path),
            "--db",
            str(db),
            "--attested-by",
            "a@b.example",
        ],
    )
    assert result.exit_code == code, result.output
    return result


def _names(db):
    store = Store(db)
    try:
        return {m["name"] for m in previous_members(store, MEMBER_FORMAT, "acme").values()}
    finally:
        store.close()


def _filled_rows(header):
    servers = len(header) - 4
    return [
        ["owner@acme-corp.example", "Åsa Öberg", "Account Owner", "yes", *[""] * servers],
        ["jose@acme-corp.example", "José Núñez", "User", "", *["view"] * servers],
        ["zoe@acme-corp.example", "Zoë Ångström", "Teammate", "no", *[""] * servers],
    ]


def test_the_csv_template_has_the_names_trimmed_and_a_bom(db, tmp_path):
    text = _template(db, tmp_path / "m.csv").read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    header = next(csv.reader([text.lstrip("\ufeff").splitlines()[0]]))
    assert "server:11003 Billing (EU)" in header and "server:11004 Zürich Café" in header


def test_excel_csv_utf8_with_semicolons_imports_accented_names(db, tmp_path):
    header = next(csv.reader([_template(db, tmp_path / "t.csv").read_text("utf-8-sig")]))
    path = tmp_path / "excel.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:  # Excel's "CSV UTF-8"
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(_filled_rows(header))
    _import(db, path)
    assert _names(db) == NAMES


def test_the_unedited_template_of_a_trailing_space_server_imports_back(db, tmp_path):
    header = next(csv.reader([_template(db, tmp_path / "t.csv").read_text("utf-8-sig")]))
    first = tmp_path / "first.csv"
    with first.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *_filled_rows(header)])
    _import(db, first)
    again = _template(db, tmp_path / "again.csv")  # pre-filled, not edited
    result = _import(db, again)
    assert "  - " not in result.output  # nobody removed
    assert _names(db) == NAMES


def test_the_xlsx_template_offers_drop_downs_and_imports_when_filled(db, tmp_path):
    path = _template(db, tmp_path / "members.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book["Members"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:4] == ["email", "name", "role", "two_factor"]
    lists = [v.formula1 for v in sheet.data_validations.dataValidation]
    assert any("Account Owner" in f for f in lists)  # role
    assert any("unknown" in f for f in lists)  # two_factor
    assert any("full" in f and "view" in f for f in lists)  # per-server access
    # a drop-down covers its whole column: rows a person adds below the last get it too
    ranges = [str(v.sqref) for v in sheet.data_validations.dataValidation]
    assert ranges and all(r.endswith("1048576") for r in ranges), ranges
    for row in _filled_rows(header):
        sheet.append(row)
    book.save(path)
    _import(db, path)
    assert _names(db) == NAMES


@needs_soffice
def test_member_files_saved_by_libreoffice_as_utf8_csv_and_xlsx_import(db, tmp_path, lo_profile):
    header = next(csv.reader([_template(db, tmp_path / "t.csv").read_text("utf-8-sig")]))
    source = tmp_path / "members.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *_filled_rows(header)])
    profile = lo_profile
    (as_xlsx,) = soffice([source], "xlsx", tmp_path / "xlsx", profile, infilter=UTF8_IN)
    _import(db, as_xlsx)
    assert _names(db) == NAMES
    (as_csv,) = soffice([as_xlsx], UTF8_CSV, tmp_path / "csv", profile)
    _import(db, as_csv)
    assert _names(db) == NAMES
