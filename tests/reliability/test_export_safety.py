"""Formula injection in every CSV we write; the HTML report escapes and loads nothing."""

import csv
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.members import MEMBER_FORMAT
from idgraph.graph.attestation import write_template
from idgraph.graph.cli import cli
from idgraph.graph.store import Store

from ..postmark.fixtures import sync_fixture

MEMBERS = Path(__file__).resolve().parents[2] / "connector/postmark/emulator/fixtures/members.csv"
DATA_BLOCK = '<script type="application/gzip+base64" id="report-data">'  # report.js's data
STARTS = ["=", "+", "-", "@", "\t", "\r"]


@pytest.mark.parametrize("start", STARTS, ids=repr)
def test_no_csv_cell_starts_a_formula(tmp_path, emulator, start):
    evil = f"{start}cmd|' /C calc'!A0"
    emulator.server(11003)["Name"] = evil + " server"
    emulator.account["SenderSignatures"][0]["Name"] = evil
    emulator.server(11001)["Webhooks"][0]["Url"] = f"{start}https://x.example/h"
    emulator.account["Domains"][0]["Name"] = evil + ".example"
    db = tmp_path / "idgraph.db"
    store = Store(db)
    sync_fixture(store, emulator)
    template = write_template(store, MEMBER_FORMAT, "acme")
    store.close()
    pack = tmp_path / "pack"
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(pack)])
    assert result.exit_code == 0, result.output
    texts = {"template": template}
    for path in pack.rglob("*.csv"):
        with path.open(newline="", encoding="utf-8-sig") as handle:  # keep a CR inside a cell
            texts[str(path)] = handle.read()
    assert len(texts) >= 3  # the member template, review.csv, baton-file.csv
    from openpyxl import load_workbook

    workbook = load_workbook(pack / "review.xlsx")
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate)
                assert not str(cell.value or "").startswith(tuple(STARTS)), cell.value
    neutralised = 0
    for name, text in texts.items():
        for row in csv.reader(io.StringIO(text, newline="")):
            for cell in row:
                assert not cell.startswith(tuple(STARTS)), (name, cell)
                neutralised += cell.startswith("'" + start)
    assert neutralised >= 2


def test_html_report_escapes_every_string_and_loads_nothing(tmp_path, emulator):
    emulator.server(11001)["Name"] = "<script>alert(1)</script>"
    emulator.account["SenderSignatures"][0]["Name"] = '"><img src=x onerror=alert(2)>'
    emulator.server(11001)["Webhooks"][1]["Url"] = "http://x.example/<b>bold</b>"  # a finding
    db = tmp_path / "idgraph.db"
    store = Store(db)
    sync_fixture(store, emulator)
    store.close()
    pack = tmp_path / "pack"
    CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(pack), "--format", "html"])
    html = (pack / "report.html").read_text()
    # one script, the page's own, inline, and the data it draws from (inert, base64); no name
    # became a tag
    assert re.findall(r"<script[^>]*>", html, re.I) == [DATA_BLOCK, "<script>"]
    assert "<script>\n/* The filter box" in html
    assert "<img" not in html.lower()
    # the URL reader (WHATWG) percent-encodes `<` and `>` in a path, as a browser sends it
    assert "<b>bold" not in html and "%3Cb%3Ebold" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # no tag loads anything: no link, frame, import, src=, no url(), and every href= is a
    # link within the page (#section)
    assert not re.search(r"<link|<iframe|@import|<[^>]*\ssrc\s*=|url\(", html, re.I)
    assert not re.search(r"<[^>]*\shref\s*=\s*(?![\"']?#)", html, re.I)
