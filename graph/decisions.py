"""Filled review decisions back in: strict validation, one transaction, remediation steps."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .csvinput import EMAIL, InputInvalid, formula_problems, read_rows
from .review import DECISION_COLUMNS, FORMULA_START, REVIEW_COLUMNS, build_review
from .store import RunNotFound, Store

DECISIONS = ("keep", "revoke", "modify")


class DecisionsInvalid(InputInvalid):
    """The filled review file has problems, each named by file, row and column."""


@dataclass
class Decision:
    row: dict[str, str]
    decision: str
    reviewer: str
    review_date: str
    justification: str


def _unneutralise(value: str) -> str:
    """Undo the `'` that the export put before a formula-looking cell."""
    if value.startswith("'") and value[1:].lstrip(" ").startswith(FORMULA_START):
        return value[1:]
    return value


def parse_decisions(
    path: Path, store: Store, default_reviewer: str, *, encoding: str | None = None
) -> tuple[int, list[Decision]]:
    """Validate the whole file (review.xlsx's Access sheet, or a CSV as any spreadsheet saves
    it) against the run it was exported from; raise on any problem."""
    name = str(path)
    rows = read_rows(path, encoding=encoding, sheet="Access", error=DecisionsInvalid)
    header = rows[0]
    missing = [c for c in REVIEW_COLUMNS if c not in header]
    if missing:
        hint = " (is it comma-separated?)" if len(header) == 1 else ""
        raise DecisionsInvalid([f"{name}: row 1: column {c!r} is missing{hint}" for c in missing])
    problems: list[str] = []
    records = []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            problems.append(
                f"{name}: row {number}: has {len(cells)} cells, the header has {len(header)}"
            )
            continue
        records.append((number, dict(zip(header, cells, strict=True))))
    for number, record in records[1:]:
        if record["run"] != records[0][1]["run"]:
            problems.append(
                f"{name}: row {number}: column 'run': {record['run']!r} differs from row "
                f"{records[0][0]}'s {records[0][1]['run']!r}: one file holds one run's review"
            )
    if not records and not problems:
        problems.append(f"{name}: the file has no rows")
    if problems:
        raise DecisionsInvalid(problems)
    try:
        run_id = int(records[0][1]["run"])
        context = build_review(store, run_id)
    except ValueError:
        raise DecisionsInvalid(
            [f"{name}: row 2: column 'run': {records[0][1]['run']!r} is not a run number"]
        ) from None
    except RunNotFound as exc:
        raise DecisionsInvalid([f"{name}: row 2: column 'run': {exc}"]) from None
    known = {row.row_id: row for row in context.rows}
    seen: dict[str, int] = {}
    decisions = []
    undecided = 0
    # The latest calendar date anywhere now (UTC+14): a later review_date has not happened.
    latest_today = (datetime.now(UTC) + timedelta(hours=14)).date()
    for number, record in records:
        where = f"{name}: row {number}"
        row_id = record["row_id"]
        exported = known.get(row_id)
        if exported is None:
            problems.append(
                f"{where}: column 'row_id': {row_id!r} is not an access path of run {run_id}"
            )
            continue
        if row_id in seen:
            problems.append(
                f"{where}: column 'row_id': {row_id} already appears in row {seen[row_id]}"
            )
            continue
        seen[row_id] = number
        for column in ("principal", "resource", "access"):
            if _unneutralise(record[column]) != getattr(exported, column):
                problems.append(
                    f"{where}: column {column!r}: was changed after the export "
                    f"(expected {getattr(exported, column)!r})"
                )
        problems += formula_problems(where, record, list(DECISION_COLUMNS))
        decision = record["decision"].strip().lower()
        if decision == "":
            undecided += 1
            continue
        if decision not in DECISIONS:
            problems.append(
                f"{where}: column 'decision': {record['decision']!r} is not one of "
                "keep, revoke, modify (or empty)"
            )
            continue
        reviewer = record["reviewer"].strip().lower() or default_reviewer
        if not EMAIL.match(reviewer):
            problems.append(f"{where}: column 'reviewer': {reviewer!r} is not an email address")
        review_date = record["review_date"].strip()
        if review_date:
            try:
                if date.fromisoformat(review_date) > latest_today:
                    problems.append(
                        f"{where}: column 'review_date': {review_date} is in the future"
                    )
            except ValueError:
                problems.append(
                    f"{where}: column 'review_date': {review_date!r} is not a date (YYYY-MM-DD)"
                )
        justification = record["justification"].strip()
        if decision in ("revoke", "modify") and not justification:
            problems.append(f"{where}: column 'justification': a {decision} needs one")
        decisions.append(
            Decision(
                exported.cells() | {"access_kind": exported.access_kind},
                decision,
                reviewer,
                review_date,
                justification,
            )
        )
    if not decisions and not problems:
        problems.append(
            f"{name}: no row has a decision ({undecided} rows undecided): fill the 'decision' "
            "column (keep, revoke or modify) before importing"
        )
    if problems:
        raise DecisionsInvalid(problems)
    return run_id, decisions


def import_decisions(
    store: Store,
    path: Path,
    *,
    reviewer: str,
    out_dir: Path | None = None,
    encoding: str | None = None,
) -> dict[str, Any]:
    """Store the decisions (all or nothing) and write remediation.md; returns a summary.

    `path`: review.xlsx or a CSV (UTF-8 with or without BOM, `,` `;` or tab); `encoding`
    names a CSV's encoding when it is not UTF-8 (e.g. `cp1252`)."""
    if not EMAIL.match(reviewer.strip()):
        raise DecisionsInvalid([f"--reviewer: {reviewer!r} is not an email address"])
    run_id, decisions = parse_decisions(path, store, reviewer.strip().lower(), encoding=encoding)
    # Where remediation.md goes is checked, and the steps worked out, before anything is
    # stored: a decision must not be committed with no steps written.
    target = out_dir or path.parent
    if not target.is_dir():
        raise DecisionsInvalid([f"--out {target}: no such folder (create it first)"])
    if not os.access(target, os.W_OK | os.X_OK):
        raise DecisionsInvalid([f"--out {target}: the folder is not writable"])
    remediation = target / "remediation.md"
    if remediation.is_dir():
        raise DecisionsInvalid([f"{remediation}: is a folder; remediation.md cannot be written"])
    steps = render_remediation(store, run_id, decisions)
    file_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with store.db.atomic():
        # A row decided again (the same file imported twice, or a corrected one) replaces
        # its earlier decision: one decision per (run, row).
        store.db.conn.executemany(
            "DELETE FROM review_decisions WHERE run_id = ? AND row_id = ?",
            [(run_id, d.row["row_id"]) for d in decisions],
        )
        store.db["review_decisions"].insert_all(
            {
                "run_id": run_id,
                "row_id": d.row["row_id"],
                "principal": d.row["principal"],
                "resource": d.row["resource"],
                "access": d.row["access"],
                "access_kind": d.row["access_kind"],
                "decision": d.decision,
                "reviewer": d.reviewer,
                "review_date": d.review_date or now[:10],
                "justification": d.justification,
                "imported_at": now,
                "imported_by": reviewer.strip().lower(),
                "file_sha256": file_sha256,
            }
            for d in decisions
        )
    remediation.write_text(steps, encoding="utf-8")
    counts = {name: sum(1 for d in decisions if d.decision == name) for name in DECISIONS}
    # A reviewer deciding on their own access is allowed but flagged (four-eyes principle).
    self_reviews = [
        f"row {d.row['row_id']}: {d.reviewer} decided {d.decision} on their own access "
        f"({d.row['access']} on {d.row['resource_name']})"
        for d in decisions
        if d.reviewer
        in (d.row["principal_name"].strip().lower(), d.row["principal"].rpartition(":")[2].lower())
    ]
    return {
        "run_id": run_id,
        "decisions": counts,
        "remediation": str(remediation),
        "self_reviews": self_reviews,
    }


NO_GUIDANCE = "no automated guidance for this kind of access"


def decision_step(row: Mapping[str, str], decision: str, justification: str, graph: Any) -> str:
    """The step for a revoke or modify decision on a review row: the one text remediation.md
    and report.html both show. The remediators get the decision and its justification, so
    a modify reads as the change it asks for, never as a removal."""
    from .plugins import get_remediators

    decided = {**row, "decision": decision, "justification": justification}
    found = (step for remediator in get_remediators() if (step := remediator.steps(decided, graph)))
    return next(found, None) or NO_GUIDANCE


def render_remediation(store: Store, run_id: int, decisions: list[Decision]) -> str:
    from .view import load_graph

    _run, graph = load_graph(store, run_id)
    lines = [
        f"# Remediation for the access review of run {run_id}",
        "",
        "Nothing here was executed: each step is for a person to carry out.",
        "",
    ]
    todo = [d for d in decisions if d.decision in ("revoke", "modify")]
    if not todo:
        lines.append("No revoke or modify decisions.")
    for number, item in enumerate(todo, start=1):
        row = item.row
        lines += [
            f"## {number}. {item.decision}: {row['principal_name']} -> {row['resource_name']}",
            "",
            f"- access: {row['access']} ({row['access_kind']})",
            f"- decided by {item.reviewer} on {item.review_date or 'the import date'}: "
            f"{item.justification}",
            f"- step: {decision_step(row, item.decision, item.justification, graph)}",
            "",
        ]
    return "\n".join(lines)
