"""The remediation loop closed: a revoke is an item, later syncs and attestations mark it
fixed (with the run), open or reappeared; `review status` lists them; the next quarter's
file carries the open ones; a bare keep of an open item is refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner
from idgraph.graph.cli import cli
from idgraph.graph.decisions import import_decisions
from idgraph.graph.host import write_review_pack

from .fixtures import MEMBERS_FILE, attest_fixture, sync_fixture
from .test_review_pack import _fill

LEE = "postmark:team_member:lee@agency-partner.example"
REVIEWER = "lead@acme-corp.example"


def _rows(pack: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((pack / "review.csv").open(encoding="utf-8-sig")))


def _status(db: Path, *extra: str):
    return CliRunner().invoke(cli, ["review", "status", "--db", str(db), *extra])


def _items(db: Path) -> dict[str, dict]:
    result = _status(db, "--format", "json")
    assert result.exit_code == 0, result.output
    return {item["principal"]: item for item in json.loads(result.stdout)}


def _sync_cli(db: Path, emulator) -> str:
    env = {"POSTMARK_ACCOUNT_TOKEN": emulator.account_tokens[0], "POSTMARK_API_URL": emulator.url}
    args = ["sync", "postmark", "--db", str(db), "--account-label", "acme"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    return result.output


def _attest_cli(db: Path, members: Path) -> str:
    args = ["attest", "import", "postmark", str(members), "--attested-by", "a@acme-corp.example"]
    result = CliRunner().invoke(cli, [*args, "--db", str(db), "--account-label", "acme"])
    assert result.exit_code == 0, result.output
    return result.output


def _first_quarter(store, emulator, folder: Path) -> tuple[int, list[dict[str, str]]]:
    """Synced, attested and exported to `folder`: the run and its review rows."""
    sync_fixture(store, emulator)
    run = attest_fixture(store)["run_id"]
    write_review_pack(store.path, folder, run_id=run, formats=["review-csv"])
    return run, _rows(folder)


def test_two_quarters_a_token_and_a_member_revoked_then_carried_out(store, emulator, tmp_path):
    db = store.path
    quarter_1, rows = _first_quarter(store, emulator, tmp_path / "q1")
    token = next(r for r in rows if r["principal"].startswith("postmark:server_token:"))
    lee = next(r for r in rows if r["principal"] == LEE and r["access_kind"].endswith("member_of"))

    def revoke(row):
        if row["row_id"] in (token["row_id"], lee["row_id"]):
            row.update(decision="revoke", justification="no longer needed")

    import_decisions(store, _fill(tmp_path / "q1", revoke), reviewer=REVIEWER)
    items = _items(db)
    assert {i["status"] for i in items.values()} == {"open"} and len(items) == 2

    # the next sync and attestation, nothing carried out: both still open, each line says so
    assert "2 remediation item(s) still open" in _sync_cli(db, emulator)
    assert "2 remediation item(s) still open" in _attest_cli(db, MEMBERS_FILE)
    items = _items(db)
    assert [i["status"] for i in items.values()] == ["open", "open"]
    assert items[LEE]["evidence_run"] > quarter_1
    failed = _status(db, "--fail-on", "open")
    assert failed.exit_code == 1 and "2 remediation item(s) open" in failed.output
    assert _status(db, "--fail-on", "overdue", "--due", "30").exit_code == 0

    # quarter 2's file marks both, and a bare keep of either is refused, naming the row
    write_review_pack(db, tmp_path / "q2", formats=["review-csv", "html"])
    marked = {r["row_id"]: r["open_item"] for r in _rows(tmp_path / "q2") if r["open_item"]}
    assert set(marked) == {token["row_id"], lee["row_id"]}
    assert all(f"revoke decided in run {quarter_1}, still present" in m for m in marked.values())
    report = (tmp_path / "q2" / "report.html").read_text()
    assert 'id="remediation"' in report and "2 open, 0 reappeared, 0 fixed" in report
    assert f"R1: revoke decided in run {quarter_1}, still present" in report

    def keep(row):
        if row["row_id"] == token["row_id"]:
            row.update(decision="keep")

    refused = CliRunner().invoke(
        cli,
        ["review", "import", str(_fill(tmp_path / "q2", keep)), "--reviewer", REVIEWER]
        + ["--db", str(db)],
    )
    assert refused.exit_code == 3
    assert f"row {token['row_id']} has remediation item R" in refused.output
    assert "a keep of it needs a justification" in refused.output

    # carried out: the token deleted in Postmark, lee gone from the UI
    server = next(
        s
        for s in emulator.account["Servers"]
        if any(token["principal"].endswith(_fingerprint_of(t)) for t in s["ApiTokens"])
    )
    server["ApiTokens"] = [
        t for t in server["ApiTokens"] if not token["principal"].endswith(_fingerprint_of(t))
    ]
    sync_output = _sync_cli(db, emulator)
    assert "1 remediation item(s) still open" in sync_output
    members = tmp_path / "members-q2.csv"
    lines = MEMBERS_FILE.read_text().splitlines()
    members.write_text("\n".join(line for line in lines if not line.startswith("lee@")) + "\n")
    attest_output = _attest_cli(db, members)
    assert "still open" not in attest_output
    items = _items(db)
    assert {i["status"] for i in items.values()} == {"fixed"}
    token_item, lee_item = items[token["principal"]], items[LEE]
    assert token_item["fixed_run"] < lee_item["fixed_run"]  # the sync, then the attestation
    assert token_item["evidence_run"] == token_item["fixed_run"]
    assert _status(db, "--fail-on", "open").exit_code == 0


def _fingerprint_of(token: str) -> str:
    from idgraph.graph.secrets import fingerprint

    return fingerprint(token)


def test_a_justified_keep_closes_an_open_item_and_a_revoke_that_comes_back_reappears(
    store, emulator, tmp_path
):
    db = store.path
    _run, rows = _first_quarter(store, emulator, tmp_path / "q1")
    sam = next(r for r in rows if r["principal"].endswith("sam.dev@acme-corp.example"))

    def revoke(row):
        if row["row_id"] == sam["row_id"]:
            row.update(decision="revoke", justification="left the team")

    import_decisions(store, _fill(tmp_path / "q1", revoke), reviewer=REVIEWER)
    lines = MEMBERS_FILE.read_text().splitlines()
    gone = tmp_path / "gone.csv"
    gone.write_text("\n".join(line for line in lines if not line.startswith("sam.dev@")) + "\n")
    fixed_in = attest_fixture(store, gone)["run_id"]
    (item,) = _items(db).values()
    assert item["status"] == "fixed" and item["fixed_run"] == fixed_in
    back = attest_fixture(store, MEMBERS_FILE)["run_id"]  # sam is back
    (item,) = _items(db).values()
    assert item["status"] == "reappeared" and item["evidence_run"] == back

    write_review_pack(db, tmp_path / "q2", formats=["review-csv"])

    def keep(row):
        if row["row_id"] == sam["row_id"]:
            row.update(decision="keep", justification="rehired on contract")

    import_decisions(store, _fill(tmp_path / "q2", keep), reviewer=REVIEWER)
    (item,) = _items(db).values()
    assert item["status"] == "waived"


def test_a_pack_exported_again_of_the_decided_run_marks_its_open_items(store, emulator, tmp_path):
    """The same run exported again after its decisions: the revoked rows carry their open
    item (the import of that file asks a justification to keep them, so it must say why)."""
    quarter_1, rows = _first_quarter(store, emulator, tmp_path / "q1")
    lee = next(r for r in rows if r["principal"] == LEE and r["access_kind"].endswith("member_of"))

    def revoke(row):
        if row["row_id"] == lee["row_id"]:
            row.update(decision="revoke", justification="left")

    import_decisions(store, _fill(tmp_path / "q1", revoke), reviewer=REVIEWER)
    write_review_pack(store.path, tmp_path / "again", run_id=quarter_1, formats=["review-csv"])
    again = {r["row_id"]: r for r in _rows(tmp_path / "again")}
    assert again[lee["row_id"]]["open_item"].startswith("R1")
    assert all(not r["open_item"] for k, r in again.items() if k != lee["row_id"])
