"""Issue 15, the review cycle: decisions stored once per (run, row), no future review dates,
an empty file says how many rows are undecided, self-review is flagged."""

import sqlite3
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from idgraph.graph.cli import EXIT_CONFIG, cli

from ..postmark.test_review_pack import _fill, pack  # noqa: F401 - the synced, exported pack fixture


def _import(db, filled, reviewer="lead@acme-corp.example", *extra):
    return CliRunner().invoke(
        cli, ["review", "import", str(filled), "--reviewer", reviewer, "--db", str(db), *extra]
    )


def _stored(db):
    connection = sqlite3.connect(db)
    try:
        return connection.execute(
            "SELECT run_id, row_id, decision FROM review_decisions ORDER BY row_id"
        ).fetchall()
    finally:
        connection.close()


def _keep_tokens(row):
    if row["principal"].startswith("postmark:server_token:") and row["access_kind"].startswith(
        "postmark:grants"
    ):
        row.update(decision="keep")


def test_importing_the_same_decisions_three_times_stores_them_once(pack):  # noqa: F811
    db, out, _summary = pack
    filled = _fill(out, _keep_tokens)
    for _ in range(3):
        result = _import(db, filled, "lead@acme-corp.example", "--force")  # remediation.md
        assert result.exit_code == 0, result.output
    stored = _stored(db)
    assert len(stored) == len({(run, row) for run, row, _d in stored}) > 0

    def revoke_one(row):  # a corrected file replaces the earlier decision of that row
        _keep_tokens(row)
        if row["decision"] == "keep" and not getattr(revoke_one, "done", False):
            row.update(decision="revoke", justification="unused")
            revoke_one.done = True

    assert _import(db, _fill(out, revoke_one), "lead@acme-corp.example", "--force").exit_code == 0
    again = _stored(db)
    assert len(again) == len(stored)
    assert sorted(d for _r, _i, d in again).count("revoke") == 1


def test_a_review_date_in_the_future_is_refused(pack):  # noqa: F811
    db, out, _summary = pack
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()

    def decide(row):
        _keep_tokens(row)
        if row["decision"]:
            row.update(review_date=future)

    result = _import(db, _fill(out, decide))
    assert result.exit_code == EXIT_CONFIG
    assert f"column 'review_date': {future} is in the future" in result.output
    assert _stored(db) == []


def test_a_file_with_no_decisions_says_how_many_rows_are_undecided(pack):  # noqa: F811
    db, out, summary = pack
    result = _import(db, _fill(out, lambda row: None))
    assert result.exit_code == EXIT_CONFIG
    assert f"no row has a decision ({summary['rows']} rows undecided)" in result.output
    assert "Traceback" not in result.output
    assert _stored(db) == []


def test_a_reviewer_deciding_on_their_own_access_is_flagged(pack):  # noqa: F811
    db, out, _summary = pack
    own: dict[str, str] = {}

    def decide(row):
        if row["principal"].startswith("postmark:team_member:") and not own:
            own.update(email=row["principal_name"], row_id=row["row_id"])
        if row["row_id"] == own.get("row_id"):
            row.update(decision="keep")

    filled = _fill(out, decide)
    result = _import(db, filled, reviewer=own["email"])
    assert result.exit_code == 0, result.output
    assert f"self-review: row {own['row_id']}: {own['email']} decided keep" in result.output
    other = _import(db, filled, reviewer="lead@acme-corp.example")
    assert "self-review" not in other.output
