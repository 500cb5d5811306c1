"""review.xlsx: the review as a workbook a reviewer fills in (Access, Findings, Instructions).

The Access sheet holds the rows of review.csv, every cell text, with a frozen header, an
autofilter, a keep / revoke / modify drop-down on `decision`, and sheet protection that
leaves only the four decision columns editable (ids and evidence stay as exported).
`idgraph review import review.xlsx` reads it back like the CSV.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from ..review import DECISION_COLUMNS, REVIEW_COLUMNS, AccessRow, ReviewContext
from ..spreadsheet import Column, Sheet, write_workbook

DECISIONS = ("keep", "revoke", "modify")
ACCESS_SHEET = "Access"

_WIDTHS = {
    "row_id": 10,  # ids narrow: printed one page wide, the names and decisions are read
    "run": 5,
    "principal": 16,
    "principal_name": 26,
    "principal_type": 10,
    "resource": 14,
    "resource_name": 24,
    "owner": 20,
    "purpose": 20,
    "access": 14,
    "access_kind": 12,
    "covers": 30,
    "path": 30,
    "source": 9,
    "evidence": 24,
    "last_verified": 12,
    "flags": 20,
    "risk": 6,
    "change_since_last_review": 14,
    "open_item": 24,
    "previous_decision": 10,
    "previous_reviewer": 20,
    "previous_justification": 24,
    "changed_since_previous": 12,
    "suggested_reviewer": 20,
    "decision": 11,
    "reviewer": 24,
    "review_date": 12,
    "justification": 36,
}
# row_id, run, principal and principal_name stay in view (screen) beside the header
FROZEN_COLUMNS = REVIEW_COLUMNS.index("principal_name") + 1
_PROMPTS = {
    "decision": "keep, revoke or modify; leave empty to decide later",
    "reviewer": "your email (empty: the --reviewer of the import)",
    "review_date": "YYYY-MM-DD (empty: the import date)",
    "justification": "why; required for revoke and modify",
}

INSTRUCTIONS = [
    "How to fill in this access review",
    "",
    "Each row of the Access sheet is one decision: who (principal) holds what access "
    "(access) to what (resource), and how idgraph knows (source, evidence, last_verified). "
    "A credential is one row whatever it can do (covers lists each part): a decision on it "
    "covers them all. People come first, then credentials, each riskiest first (risk).",
    "Only the yellow columns can be edited: decision, reviewer, review_date, justification. "
    "The others are locked so ids and evidence stay as exported (the sheet is protected "
    "without a password, against slips).",
    "",
    "decision = keep: the access is right; it stays. Nothing is changed.",
    "decision = revoke: the access must go. A justification is required. remediation.md, "
    "written by the import, gives the exact step for each revoke; nothing is executed.",
    "decision = modify: the access must change (e.g. full to view). A justification saying "
    "what it should become is required; remediation.md lists it.",
    "decision empty: not decided yet; the row is not stored. Import again when it is.",
    "",
    "Who may decide: the owner of the app's access (or a delegate they name); never the "
    "principal of the row itself. reviewer is the decider's email; when empty, the email "
    "given to `idgraph review import --reviewer` is recorded.",
    "review_date: YYYY-MM-DD; when empty, the import date is recorded.",
    "",
    "flags names the findings on the principal or the resource (see the Findings sheet); "
    "attestation-stale means the team-member list is older than allowed: re-attest first.",
    "change_since_last_review: added, changed (was ...) or unchanged since the last reviewed "
    "run (or --since); first review when there is none.",
    "open_item: a revoke or modify decided earlier and still present (idgraph review "
    "status); a keep of such a row needs a justification.",
    "previous_decision, previous_reviewer, previous_justification: last review's answer; "
    "changed_since_previous: whether the access changed since (yes (was ...) or no).",
    "owner and purpose: from the annotations (idgraph annotate import); suggested_reviewer: "
    "the owner of the row's resource.",
    "",
    "Bring the decisions back: idgraph review import review.xlsx --reviewer you@example.com",
    "(a CSV saved from this workbook works too). Every row is checked against the run it "
    "came from; on any problem each is listed by row and column and nothing is stored.",
]


def review_sheets(context: ReviewContext, rows: list[AccessRow] | None = None) -> list[Sheet]:
    """The workbook's three sheets for a review (of `rows`, default every review row)."""
    access = Sheet(
        ACCESS_SHEET,
        [
            Column(
                name,
                width=_WIDTHS.get(name, 16),
                locked=name not in DECISION_COLUMNS,
                choices=DECISIONS if name == "decision" else (),
                prompt=_PROMPTS.get(name, ""),
            )
            for name in REVIEW_COLUMNS
        ],
        [row.values() for row in (context.review_rows if rows is None else rows)],
        protect=True,
        frozen_columns=FROZEN_COLUMNS,
    )
    names = context.names(f.node for f in context.findings)
    findings = Sheet(
        "Findings",
        [
            Column("severity", 10),
            Column("check", 28),
            Column("node", 40),
            Column("name", 34),
            Column("message", 80),
        ],
        ([f.severity, f.check, f.node, names.get(f.node, ""), f.message] for f in context.findings),
        protect=True,
    )
    instructions = Sheet(
        "Instructions",
        [Column("Instructions", 120)],
        ([line] for line in INSTRUCTIONS),
        autofilter=False,
        wrap=True,
        protect=True,
    )
    return [access, findings, instructions]


def write_by_reviewer(context: ReviewContext, out_dir: Path, *, force: bool) -> list[Path]:
    """One workbook per suggested reviewer (`review-<email>.xlsx`; `review-unassigned.xlsx`
    for the rows no owner is known of)."""
    groups: dict[str, list[AccessRow]] = {}
    for row in context.review_rows:
        groups.setdefault(row.owner[2] or "unassigned", []).append(row)
    # the run's time, as review.xlsx: the same run exported twice is the same files
    when = datetime.fromisoformat(context.run.finished or context.run.started).astimezone(UTC)
    return [
        write_workbook(
            out_dir / f"review-{re.sub(r'[^A-Za-z0-9@._-]', '_', reviewer)}.xlsx",
            review_sheets(context, rows),
            force=force,
            when=when,
        )
        for reviewer, rows in sorted(groups.items())
    ]


class ReviewXlsxExporter:
    name = "review-xlsx"
    filename = "review.xlsx"
    description = (
        "The review as a workbook: Access (decision drop-down, ids locked), Findings, Instructions"
    )

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        # the run's time, not the clock's: the same run exported twice is the same file
        when = datetime.fromisoformat(context.run.finished or context.run.started)
        return write_workbook(
            out_dir / self.filename, review_sheets(context), when=when.astimezone(UTC)
        )
