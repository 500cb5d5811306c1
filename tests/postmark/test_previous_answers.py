"""Last quarter's answers on every row (decision, reviewer, justification, and whether the
access changed since), and `export --scope changed`: only what is new or changed since the
baseline, plus every open remediation item."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner
from idgraph.graph.cli import cli
from idgraph.graph.decisions import import_decisions

from .fixtures import MEMBERS_FILE, attest_fixture
from .test_remediation_loop import REVIEWER, _first_quarter
from .test_review_pack import _fill

DANA = "postmark:team_member:dana.ops@acme-corp.example"
LEE = "postmark:team_member:lee@agency-partner.example"


def _quarter_2_members(folder: Path) -> Path:
    """Dana goes from full to view on Acme Production; a new hire joins."""
    lines = MEMBERS_FILE.read_text().splitlines()
    lines = [line.replace("Dana Ops,User,yes,full", "Dana Ops,User,yes,view") for line in lines]
    lines.append("new.hire@acme-corp.example,New Hire,User,yes,view,none,none,none,none")
    path = folder / "members-q2.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _export(db: Path, out: Path, *extra: str) -> list[dict[str, str]]:
    args = ["export", "--db", str(db), "--out", str(out), "--format", "review-csv", *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader((out / "review.csv").open(encoding="utf-8-sig")))


def test_each_row_carries_last_quarters_answer_and_scope_changed_keeps_what_moved(
    store, emulator, tmp_path
):
    db = store.path
    quarter_1, rows = _first_quarter(store, emulator, tmp_path / "q1")

    def decide(row):
        if row["principal"] == LEE and row["access_kind"].endswith("member_of"):
            row.update(decision="revoke", justification="agency contract ended")
        elif row["principal"] == DANA:
            row.update(decision="keep", reviewer="ops@acme-corp.example", justification="on call")
        elif row["principal_type"] == "credential":
            row.update(decision="keep")

    import_decisions(store, _fill(tmp_path / "q1", decide), reviewer=REVIEWER)
    attest_fixture(store, _quarter_2_members(tmp_path))
    rows = _export(db, tmp_path / "q2")
    dana = {r["resource"]: r for r in rows if r["principal"] == DANA}
    production = dana["postmark:server:11001"]
    assert production["previous_decision"] == "keep"
    assert production["previous_reviewer"] == "ops@acme-corp.example"
    assert production["previous_justification"] == "on call"
    assert production["changed_since_previous"] == "yes (was full)"
    assert production["change_since_last_review"] == "changed (was full)"
    assert dana["postmark:server:11002"]["changed_since_previous"] == "no"
    token = next(r for r in rows if r["principal"].startswith("postmark:server_token:"))
    assert token["previous_decision"] == "keep" and token["previous_reviewer"] == REVIEWER
    new_hire = [r for r in rows if r["principal"].endswith("new.hire@acme-corp.example")]
    assert new_hire and all(r["previous_decision"] == "" for r in new_hire)
    assert all(r["change_since_last_review"] == "added" for r in new_hire)

    changed = _export(db, tmp_path / "q2-changed", "--scope", "changed")
    kept = {(r["principal"], r["resource"]) for r in changed}
    assert (DANA, "postmark:server:11001") in kept
    assert {(r["principal"], r["resource"]) for r in new_hire} <= kept
    lee = [r for r in changed if r["principal"] == LEE]
    assert lee and lee[0]["open_item"].startswith("R1: revoke decided in run")
    assert all(r["change_since_last_review"] or r["open_item"] for r in changed)
    assert len(changed) < len(rows)
    assert quarter_1 < int(changed[0]["run"])
