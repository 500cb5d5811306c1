"""One reader for every file a person saves from a spreadsheet (graph/csvinput.py), the
review workbook's structure, and decisions imported from .xlsx."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from idgraph.graph.csvinput import InputInvalid, cell_text, read_csv_rows, read_rows
from idgraph.graph.review import DECISION_COLUMNS, REVIEW_COLUMNS
from idgraph.graph.store import Store

from .conftest import MEMBERS_FILE, attest_fixture, sync_fixture

ACCENTED = [
    ["email", "name", "role"],
    ["zoe@acme-corp.example", "Zoë Ångström", "User"],
    ["jose@acme-corp.example", "José Núñez; Jr.", "Account Owner"],
    ["renee@acme-corp.example", "Renée “Quote” Dubois…", "User"],
]


def _csv(rows, delimiter=",", newline="\r\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name,data",
    [
        ("utf8", _csv(ACCENTED).encode()),
        ("bom", b"\xef\xbb\xbf" + _csv(ACCENTED).encode()),
        ("semicolon-bom-crlf", b"\xef\xbb\xbf" + _csv(ACCENTED, ";").encode()),
        ("tab-lf", _csv(ACCENTED, "\t", "\n").encode()),
        ("cr-only", _csv(ACCENTED, ",", "\r").encode()),
        ("trailing-empty-columns", _csv([r + ["", ""] for r in ACCENTED]).encode()),
        ("spaces", _csv([[f"  {c} " for c in r] for r in ACCENTED], ";").encode()),
    ],
)
def test_every_spreadsheet_save_reads_the_same(tmp_path, name, data):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(data)
    assert read_rows(path) == ACCENTED


def test_cp1252_is_refused_naming_it_and_the_fix_then_read_when_named(tmp_path):
    path = tmp_path / "excel-plain.csv"
    path.write_bytes(_csv(ACCENTED, ";").replace("“", '"').replace("”", '"').encode("cp1252"))
    with pytest.raises(InputInvalid) as info:
        read_rows(path)
    message = str(info.value)
    assert "row 2: byte" in message and "is not UTF-8" in message
    assert "looks like cp1252" in message
    assert '"CSV UTF-8 (Comma delimited)" in Excel' in message
    assert '"Text CSV, Character set: Unicode (UTF-8)" in LibreOffice' in message
    rows = read_rows(path, encoding="cp1252")
    assert rows[1][1] == "Zoë Ångström" and rows[3][1].endswith("…")
    # the old entry point reads the same, BOM or not, whatever allow_bom says
    assert read_csv_rows(path, allow_bom=False, encoding="cp1252") == rows


def test_utf16_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "unicode-text.csv"
    path.write_bytes(_csv(ACCENTED, "\t").encode("utf-16"))
    with pytest.raises(InputInvalid, match="UTF-16.*CSV UTF-8 \\(Comma delimited\\)"):
        read_rows(path)


def test_an_ambiguous_delimiter_is_named(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("a,b;c\n1,2;3\n", encoding="utf-8")
    with pytest.raises(InputInvalid) as info:
        read_rows(path)
    assert "comma (',') and semicolon (';')" in str(info.value)


def test_xlsx_cells_come_back_as_the_text_typed(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["id", "run", "when", "ratio", "formula", "big", ""])
    sheet.append(["r-0001", 7, datetime(2026, 11, 20), 0.5, "=1+1", 970561577297963, None])
    sheet.append([" spaced ", 7.0, datetime(2026, 11, 20, 9, 30), 1e300, " =A1", None, None])
    path = tmp_path / "book.xlsx"
    workbook.save(path)
    assert read_rows(path) == [
        ["id", "run", "when", "ratio", "formula", "big"],
        ["r-0001", "7", "2026-11-20", "0.5", "=1+1", "970561577297963"],
        ["spaced", "7", "2026-11-20T09:30:00", "1e+300", "=A1", ""],
    ]
    assert cell_text(True) == "TRUE" and cell_text(None) == ""


def test_member_files_saved_by_spreadsheets_import(tmp_path, emulator):
    """The member import reads through the same reader: BOM and `;` files import."""
    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    rows = list(csv.reader(io.StringIO(MEMBERS_FILE.read_text(encoding="utf-8"))))
    rows[4][1] = "Sám Dév"  # accents survive
    for name, data in {
        "bom.csv": b"\xef\xbb\xbf" + _csv(rows).encode(),
        "semicolon.csv": b"\xef\xbb\xbf" + _csv([[f" {c}" for c in r] for r in rows], ";").encode(),
    }.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = attest_fixture(store, path)
        assert result["members"] == len(rows) - 1, name
    from idgraph.graph.view import load_graph

    _run, graph = load_graph(store)
    names = {d.get("name") for _n, d in graph.nodes(data=True) if d.get("source") == "attested"}
    assert "Sám Dév" in names
    store.close()


# -- the review workbook -----------------------------------------------------------------------


@pytest.fixture
def exported(tmp_path, emulator):
    from click.testing import CliRunner
    from idgraph.graph.cli import cli

    db = tmp_path / "idgraph.db"
    store = Store(db)
    sync_fixture(store, emulator)
    attest_fixture(store)
    store.close()
    out = tmp_path / "pack"
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return db, out


def test_review_workbook_structure(exported):
    from openpyxl import load_workbook

    _db, out = exported
    workbook = load_workbook(out / "review.xlsx")
    assert workbook.sheetnames == ["Access", "Findings", "Instructions"]
    access = workbook["Access"]
    header = [c.value for c in access[1]]
    assert header == REVIEW_COLUMNS
    # the people stay in view beside the header; printed: landscape, one page wide, the
    # header row on every page
    assert access.freeze_panes == "E2"
    assert access.page_setup.orientation == "landscape"
    assert (access.page_setup.fitToWidth, access.page_setup.fitToHeight) == (1, 0)
    assert access.sheet_properties.pageSetUpPr.fitToPage
    assert access.print_title_rows == "$1:$1"
    assert access.column_dimensions["A"].width <= 10  # ids narrow
    from openpyxl.utils import get_column_letter

    last = get_column_letter(len(REVIEW_COLUMNS))
    assert access.auto_filter.ref == f"A1:{last}{access.max_row}"
    assert access.protection.sheet and not access.protection.autoFilter
    rows = list(access.iter_rows(min_row=2))
    assert rows and all(c.data_type == "s" for row in rows for c in row if c.value is not None)
    assert all(row[0].value.startswith("r-") for row in rows)
    for row in rows:
        for name, cell in zip(header, row, strict=True):
            assert cell.protection.locked == (name not in DECISION_COLUMNS), name
    validations = access.data_validations.dataValidation
    decision = next(v for v in validations if v.type == "list")
    assert decision.formula1 == '"keep,revoke,modify"'
    column = get_column_letter(REVIEW_COLUMNS.index("decision") + 1)
    assert str(decision.sqref) == f"{column}2:{column}{access.max_row}"
    findings = workbook["Findings"]
    assert [c.value for c in findings[1]] == ["severity", "check", "node", "name", "message"]
    assert findings.max_row > 1
    text = " ".join(str(c.value) for c in workbook["Instructions"]["A"])
    for phrase in ("keep", "revoke", "modify", "Who may decide", "justification"):
        assert phrase in text
    # the CSV: a BOM, the same ids
    raw = (out / "review.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    ids = [r["row_id"] for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))]
    assert ids == [row[0].value for row in rows]


def test_decisions_import_from_the_workbook_and_formulas_are_refused(exported):
    from click.testing import CliRunner
    from idgraph.graph.cli import cli
    from openpyxl import load_workbook

    db, out = exported
    workbook = load_workbook(out / "review.xlsx")
    sheet = workbook["Access"]
    header = [c.value for c in sheet[1]]
    col = {name: header.index(name) for name in DECISION_COLUMNS}
    for row in sheet.iter_rows(min_row=2):
        row[col["decision"]].value = " keep "
    filled = out / "filled.xlsx"
    workbook.save(filled)
    result = CliRunner().invoke(
        cli,
        [
            "review",
            "import",
            str(filled),
            "--reviewer",
            "lead@acme-corp.example",
            "--db",
            str(db),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    store = Store(db)
    assert store.db["review_decisions"].count == sheet.max_row - 1
    store.close()
    second = next(sheet.iter_rows(min_row=2, max_row=2))
    second[col["decision"]].value = "revoke"
    second[col["justification"]].value = ' =HYPERLINK("http://evil.example")'
    workbook.save(filled)
    result = CliRunner().invoke(
        cli,
        ["review", "import", str(filled), "--reviewer", "lead@acme-corp.example", "--db", str(db)],
    )
    assert result.exit_code == 3
    assert "row 2: column 'justification': starts with '='" in result.output


def test_review_csv_saved_with_semicolons_and_cp1252_imports(exported):
    from idgraph.graph.decisions import import_decisions

    db, out = exported
    text = (out / "review.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    rows[1][REVIEW_COLUMNS.index("decision")] = "keep"
    rows[2][REVIEW_COLUMNS.index("decision")] = "revoke"
    rows[2][REVIEW_COLUMNS.index("justification")] = "Zoë left…"
    path = out / "excel-fr.csv"
    path.write_bytes(_csv(rows, ";").encode("cp1252"))
    store = Store(db)
    with pytest.raises(InputInvalid, match="looks like cp1252"):
        import_decisions(store, path, reviewer="lead@acme-corp.example")
    result = import_decisions(store, path, reviewer="lead@acme-corp.example", encoding="cp1252")
    assert result["decisions"] == {"keep": 1, "revoke": 1, "modify": 0}
    stored = {d["decision"]: d for d in store.db["review_decisions"].rows}
    assert stored["revoke"]["justification"] == "Zoë left…"
    store.close()


def test_a_bom_garbled_by_a_western_import_is_named(tmp_path):
    """LibreOffice's default import of a UTF-8 file with a BOM (as Western text), saved: the
    header starts with "ï»¿". The error says what happened and how to open it instead."""
    from idgraph.graph.csvinput import InputInvalid, read_rows

    path = tmp_path / "review.csv"
    path.write_text("\u00ef\u00bb\u00bfrow_id,run\r\nr-1,2\r\n", encoding="utf-8")
    with pytest.raises(InputInvalid, match="opened as Western") as info:
        read_rows(path)
    assert "row 1" in str(info.value) and "UTF-8" in str(info.value)
