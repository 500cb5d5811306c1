"""Owners and purpose: `idgraph annotate template|import`, kept with who and when, shown on
review rows and in the report; the resource's owner is the suggested reviewer; a credential
with no owner is a finding; a bad file lists every problem at once and stores nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from click.testing import CliRunner
from idgraph.graph.cli import cli
from idgraph.graph.review import build_review

from .fixtures import attest_fixture, sync_fixture

PRODUCTION = "postmark:server:11001"


def _cli(db: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "--db", str(db)])


def _template(db: Path) -> list[dict[str, str]]:
    result = _cli(db, "annotate", "template")
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_owners_and_purpose_reach_the_review_rows_and_the_report(store, emulator, tmp_path):
    sync_fixture(store, emulator)
    attest_fixture(store)
    db = store.path
    rows = _template(db)
    targets = {r["target"] for r in rows}
    assert PRODUCTION in targets
    token = next(r["target"] for r in rows if r["kind"] == "postmark:server_token")
    for row in rows:
        if row["target"] == PRODUCTION:
            row.update(owner="Prod.Owner@acme-corp.example", purpose="customer mail")
        elif row["target"] == token:
            row.update(
                owner="ops@acme-corp.example", purpose="billing app", expected_until="2027-06-30"
            )
    result = _cli(db, "annotate", "import", str(_write(tmp_path / "a.csv", rows)))
    assert result.exit_code == 2  # --annotated-by is required
    result = _cli(
        db,
        "annotate",
        "import",
        str(tmp_path / "a.csv"),
        "--annotated-by",
        "lead@acme-corp.example",
    )
    assert result.exit_code == 0, result.output
    assert "2 annotation(s) recorded by lead@acme-corp.example" in result.output

    context = build_review(store)
    members_on_production = [
        r for r in context.review_rows if r.resource == PRODUCTION and r.principal_type == "human"
    ]
    assert members_on_production
    for row in members_on_production:
        assert row.owner == (
            "prod.owner@acme-corp.example",
            "customer mail",
            "prod.owner@acme-corp.example",
        )
    (token_row,) = [r for r in context.review_rows if r.principal == token]
    assert token_row.owner[:2] == ("ops@acme-corp.example", "billing app")
    unowned = {f.node for f in context.findings if f.check == "credential-without-owner"}
    assert token not in unowned and unowned  # every other token is a finding
    assert _template(db)[0].keys() and any(
        r["owner"] == "ops@acme-corp.example" for r in _template(db)
    )  # the template is filled from what is known

    out = tmp_path / "pack"
    assert (
        _cli(
            db, "export", "--out", str(out), "--format", "html", "--format", "review-csv"
        ).exit_code
        == 0
    )
    review = list(csv.DictReader((out / "review.csv").open(encoding="utf-8-sig")))
    assert any(
        r["owner"] == "prod.owner@acme-corp.example" and r["purpose"] == "customer mail"
        for r in review
    )
    report = (out / "report.html").read_text()
    assert 'id="owners"' in report and "billing app" in report and "2027-06-30" in report


def test_a_bad_annotations_file_lists_every_problem_with_a_hint_and_stores_nothing(
    store, emulator, tmp_path
):
    sync_fixture(store, emulator)
    db = store.path
    rows = _template(db)
    rows[0].update(target=PRODUCTION + "9", owner="not-an-email")
    rows[1].update(purpose="x", expected_until="next year")
    rows[2].update(purpose="=cmd()")
    result = _cli(
        db, "annotate", "import", str(_write(tmp_path / "bad.csv", rows)),
        "--annotated-by", "lead@acme-corp.example",
    )  # fmt: skip
    assert result.exit_code == 3
    assert f"did you mean '{PRODUCTION}'?" in result.output
    assert "column 'owner': 'not-an-email' is not an email address" in result.output
    assert "column 'expected_until': 'next year' is not a date" in result.output
    assert "row 4: column 'purpose'" in result.output
    assert "nothing was imported" in result.output
    assert all(not r["owner"] for r in _template(db))


def test_export_by_reviewer_writes_a_workbook_per_owner_and_import_takes_them_all(
    store, emulator, tmp_path
):
    import openpyxl

    sync_fixture(store, emulator)
    attest_fixture(store)
    db = store.path
    rows = _template(db)
    for row in rows:
        if row["target"] == PRODUCTION:
            row.update(owner="prod.owner@acme-corp.example")
    annotated = _write(tmp_path / "a.csv", rows)
    assert (
        _cli(
            db, "annotate", "import", str(annotated), "--annotated-by", "l@acme-corp.example"
        ).exit_code
        == 0
    )
    out = tmp_path / "pack"
    result = _cli(db, "export", "--out", str(out), "--format", "review-csv", "--by-reviewer")
    assert result.exit_code == 0, result.output
    owner_book = out / "review-prod.owner@acme-corp.example.xlsx"
    rest_book = out / "review-unassigned.xlsx"
    assert str(owner_book) in result.output and str(rest_book) in result.output
    decided = []
    for book in (owner_book, rest_book):
        workbook = openpyxl.load_workbook(book)
        sheet = workbook["Access"]
        header = [c.value for c in sheet[1]]
        resources = {
            r[header.index("resource")] for r in sheet.iter_rows(min_row=2, values_only=True)
        }
        assert (resources == {PRODUCTION}) == (book == owner_book)
        sheet.cell(row=2, column=header.index("decision") + 1, value="keep")
        workbook.save(book)
        decided.append(sheet.cell(row=2, column=1).value)
    result = _cli(
        db, "review", "import", str(owner_book), str(rest_book), "--reviewer", "l@acme-corp.example"
    )
    assert result.exit_code == 0, result.output
    assert "2 keep" in result.output
    stored = {r["row_id"] for r in store.db["review_decisions"].rows}
    assert stored == set(decided)
