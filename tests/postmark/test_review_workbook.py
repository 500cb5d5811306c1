"""The review workbook's structure, decisions imported from .xlsx and from a review.csv a
spreadsheet saved, and member files saved by spreadsheets: all read through the one reader
of tests/host/test_spreadsheet_input.py."""

from __future__ import annotations

import csv
import io

import pytest
from idgraph.graph.csvinput import InputInvalid
from idgraph.graph.review import DECISION_COLUMNS, REVIEW_COLUMNS
from idgraph.graph.store import Store

from ..host.test_spreadsheet_input import csv_text
from .fixtures import MEMBERS_FILE, attest_fixture, exported_pack, sync_fixture


def test_member_files_saved_by_spreadsheets_import(tmp_path, emulator):
    """The member import reads through the same reader: BOM and `;` files import."""
    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    rows = list(csv.reader(io.StringIO(MEMBERS_FILE.read_text(encoding="utf-8"))))
    rows[4][1] = "Sám Dév"  # accents survive
    for name, data in {
        "bom.csv": b"\xef\xbb\xbf" + csv_text(rows).encode(),
        "semicolon.csv": b"\xef\xbb\xbf"
        + csv_text([[f" {c}" for c in r] for r in rows], ";").encode(),
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
    return exported_pack(tmp_path, emulator)


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
    path.write_bytes(csv_text(rows, ";").encode("cp1252"))
    store = Store(db)
    with pytest.raises(InputInvalid, match="looks like cp1252"):
        import_decisions(store, path, reviewer="lead@acme-corp.example")
    result = import_decisions(store, path, reviewer="lead@acme-corp.example", encoding="cp1252")
    assert result["decisions"] == {"keep": 1, "revoke": 1, "modify": 0}
    stored = {d["decision"]: d for d in store.db["review_decisions"].rows}
    assert stored["revoke"]["justification"] == "Zoë left…"
    store.close()
