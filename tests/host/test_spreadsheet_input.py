"""One reader for every file a person saves from a spreadsheet (graph/csvinput.py): each
save reads the same, a file in a wrong encoding or with two delimiters is refused saying
how to save it (tests/postmark/test_review_workbook.py: the review workbook, and member
and decision files read through this reader)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from idgraph.graph.csvinput import InputInvalid, cell_text, read_csv_rows, read_rows

ACCENTED = [
    ["email", "name", "role"],
    ["zoe@acme-corp.example", "Zoë Ångström", "User"],
    ["jose@acme-corp.example", "José Núñez; Jr.", "Account Owner"],
    ["renee@acme-corp.example", "Renée “Quote” Dubois…", "User"],
]


def csv_text(rows, delimiter=",", newline="\r\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name,data",
    [
        ("utf8", csv_text(ACCENTED).encode()),
        ("bom", b"\xef\xbb\xbf" + csv_text(ACCENTED).encode()),
        ("semicolon-bom-crlf", b"\xef\xbb\xbf" + csv_text(ACCENTED, ";").encode()),
        ("tab-lf", csv_text(ACCENTED, "\t", "\n").encode()),
        ("cr-only", csv_text(ACCENTED, ",", "\r").encode()),
        ("trailing-empty-columns", csv_text([r + ["", ""] for r in ACCENTED]).encode()),
        ("spaces", csv_text([[f"  {c} " for c in r] for r in ACCENTED], ";").encode()),
    ],
)
def test_every_spreadsheet_save_reads_the_same(tmp_path, name, data):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(data)
    assert read_rows(path) == ACCENTED


def test_cp1252_is_refused_naming_it_and_the_fix_then_read_when_named(tmp_path):
    path = tmp_path / "excel-plain.csv"
    path.write_bytes(csv_text(ACCENTED, ";").replace("“", '"').replace("”", '"').encode("cp1252"))
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
    path.write_bytes(csv_text(ACCENTED, "\t").encode("utf-16"))
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


def test_a_bom_garbled_by_a_western_import_is_named(tmp_path):
    """LibreOffice's default import of a UTF-8 file with a BOM (as Western text), saved: the
    header starts with "ï»¿". The error says what happened and how to open it instead."""
    from idgraph.graph.csvinput import InputInvalid, read_rows

    path = tmp_path / "review.csv"
    path.write_text("\u00ef\u00bb\u00bfrow_id,run\r\nr-1,2\r\n", encoding="utf-8")
    with pytest.raises(InputInvalid, match="opened as Western") as info:
        read_rows(path)
    assert "row 1" in str(info.value) and "UTF-8" in str(info.value)
