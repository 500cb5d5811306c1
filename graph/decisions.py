"""Filled review decisions back in: strict validation, one transaction, remediation steps."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from . import remediation
from .csvinput import EMAIL, InputInvalid, formula_problems, read_rows
from .files import StagedFile, check_writable, stage_file
from .interfaces import ConfigError
from .review import DECISION_COLUMNS, FORMULA_START, REVIEW_COLUMNS, build_review
from .store import Run, RunNotFound, Store
from .store import remediation as stored_items
from .text import terminal_text

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
    file_sha256: str = ""  # the file it came from


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
    records = _read_records(path, name, encoding)
    run_id, context = _review_of(store, name, records)
    review = context.review
    known = {row.row_id: row for row in review.rows}
    still_open = {
        (found.row_id if (found := review.find(item["row_id"])) else item["row_id"]): item
        for item in stored_items.open_items(store.db.conn)
    }
    problems: list[str] = []
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
            merged = review.aliases.get(row_id)
            problems.append(
                f"{where}: column 'row_id': {row_id} is part of row {merged} now (a credential "
                "is one row): export the review again"
                if merged
                else f"{where}: column 'row_id': {row_id!r} is not an access path of run {run_id}"
            )
            continue
        if row_id in seen:
            problems.append(
                f"{where}: column 'row_id': {row_id} already appears in row {seen[row_id]}"
            )
            continue
        seen[row_id] = number
        problems += _edited_problems(where, record, exported)
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
        found, row_problems = _decided_row(
            where,
            record,
            decision,
            exported,
            context,
            still_open.get(row_id),
            default_reviewer,
            latest_today,
        )
        problems += row_problems
        decisions.append(found)
    if not decisions and not problems:
        problems.append(
            f"{name}: no row has a decision ({undecided} rows undecided): fill the 'decision' "
            "column (keep, revoke or modify) before importing"
        )
    if problems:
        raise DecisionsInvalid(problems)
    return run_id, decisions


def _read_records(path: Path, name: str, encoding: str | None) -> list[tuple[int, dict[str, str]]]:
    """The file's rows that are not empty, each with its row number and its cells by column;
    raise if a column is missing, a row's cells do not fit the header, the rows are of more
    than one run, or there are none."""
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
    return records


def _review_of(
    store: Store, name: str, records: list[tuple[int, dict[str, str]]]
) -> tuple[int, Any]:
    """The run the file's rows name and its review, rebuilt from the store."""
    try:
        run_id = int(records[0][1]["run"])
        context = build_review(store, run_id)
    except ValueError:
        raise DecisionsInvalid(
            [f"{name}: row 2: column 'run': {records[0][1]['run']!r} is not a run number"]
        ) from None
    except RunNotFound as exc:
        raise DecisionsInvalid([f"{name}: row 2: column 'run': {exc}"]) from None
    return run_id, context


def _edited_problems(where: str, record: dict[str, str], exported: Any) -> list[str]:
    """A row's exported cells changed since the export, and formulas in its decision cells."""
    problems = []
    for column in ("principal", "resource", "access"):
        if _unneutralise(record[column]) != getattr(exported, column):
            problems.append(
                f"{where}: column {column!r}: was changed after the export "
                f"(expected {getattr(exported, column)!r})"
            )
    problems += formula_problems(where, record, list(DECISION_COLUMNS))
    return problems


def _decided_row(
    where: str,
    record: dict[str, str],
    decision: str,
    exported: Any,
    context: Any,
    item: Any,
    default_reviewer: str,
    latest_today: date,
) -> tuple[Decision, list[str]]:
    """A row with a decision: its reviewer, review_date and justification checked; `item`:
    the row's open remediation item, if any."""
    problems = []
    reviewer = record["reviewer"].strip().lower() or default_reviewer
    if not EMAIL.match(reviewer):
        problems.append(f"{where}: column 'reviewer': {reviewer!r} is not an email address")
    review_date = record["review_date"].strip()
    problems += _review_date_problems(where, review_date, context.run, latest_today)
    justification = record["justification"].strip()
    if decision in ("revoke", "modify") and not justification:
        problems.append(f"{where}: column 'justification': a {decision} needs one")
    if decision == "keep" and item and not justification:
        problems.append(
            f"{where}: column 'justification': row {record['row_id']} has remediation item "
            f"{remediation.describe(item)}: a keep of it needs a justification"
        )
    scope = str(context.node(exported.principal).get("scope", ""))
    found = Decision(
        exported.cells() | {"access_kind": exported.access_kind, "scope": scope},
        decision,
        reviewer,
        review_date,
        justification,
    )
    return found, problems


def _review_date_problems(where: str, text: str, run: Run, latest_today: date) -> list[str]:
    """A review_date must be a date between the run it reviews and today."""
    if not text:
        return []
    try:
        reviewed = date.fromisoformat(text)
    except ValueError:
        return [f"{where}: column 'review_date': {text!r} is not a date (YYYY-MM-DD)"]
    if reviewed > latest_today:
        return [f"{where}: column 'review_date': {text} is in the future"]
    # The run's UTC date, less a day: a reviewer at UTC-12 may date it the day before.
    earliest = datetime.fromisoformat(run.started).astimezone(UTC).date() - timedelta(days=1)
    if reviewed < earliest:
        return [
            f"{where}: column 'review_date': {text} is before run {run.id} it reviews "
            f"(started {run.started[:10]})"
        ]
    return []


def parse_files(
    paths: list[Path], store: Store, default_reviewer: str, *, encoding: str | None = None
) -> tuple[int, list[Decision]]:
    """`parse_decisions` of one file or several (one workbook per reviewer): one run, each
    row decided in one file only; every file's problems listed together."""
    problems: list[str] = []
    parsed: list[tuple[Path, int, list[Decision]]] = []
    for path in paths:
        try:
            run_id, decisions = parse_decisions(path, store, default_reviewer, encoding=encoding)
        except DecisionsInvalid as exc:
            problems += exc.problems
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for decision in decisions:
            decision.file_sha256 = digest
        parsed.append((path, run_id, decisions))
    runs = {run_id for _path, run_id, _d in parsed}
    if len(runs) > 1:
        problems.append(
            "the files review different runs ("
            + ", ".join(f"{path}: run {run_id}" for path, run_id, _d in parsed)
            + "): import one run's files together"
        )
    first: dict[str, Path] = {}
    for path, _run, decisions in parsed:
        for decision in decisions:
            row_id = decision.row["row_id"]
            if first.setdefault(row_id, path) != path:
                problems.append(f"{path}: row {row_id} is decided in {first[row_id]} too")
    if problems:
        raise DecisionsInvalid(problems)
    return parsed[0][1], [d for _path, _run, decisions in parsed for d in decisions]


def import_decisions(
    store: Store,
    path: Path | list[Path],
    *,
    reviewer: str,
    out_dir: Path | None = None,
    encoding: str | None = None,
    force: bool = False,
    sign_off: str | None = None,
) -> dict[str, Any]:
    """Store the decisions and write remediation.md, both or neither; returns a summary.
    An existing remediation.md is replaced only with `force` (see `graph/files.py`).
    `sign_off`: the statement the importer accepts, kept with each decision of the file.

    `path`: review.xlsx or a CSV, or several (one workbook per reviewer: remediation.md
    goes beside the first) (UTF-8 with or without BOM, `,` `;` or tab); `encoding`
    names a CSV's encoding when it is not UTF-8 (e.g. `cp1252`)."""
    if not EMAIL.match(reviewer.strip()):
        raise DecisionsInvalid([f"--reviewer: {reviewer!r} is not an email address"])
    if sign_off is not None and not sign_off.strip():
        raise DecisionsInvalid(["--sign-off: the statement is empty"])
    paths = [path] if isinstance(path, Path) else list(path)
    run_id, decisions = parse_files(paths, store, reviewer.strip().lower(), encoding=encoding)
    path = paths[0]
    # Where remediation.md goes is checked, and the steps worked out, before anything is
    # stored: a decision must not be committed with no steps written.
    target = out_dir or path.parent
    if not target.is_dir():
        raise DecisionsInvalid([f"--out {target}: no such folder (create it first)"])
    if not os.access(target, os.W_OK | os.X_OK):
        raise DecisionsInvalid([f"--out {target}: the folder is not writable"])
    remediation = target / "remediation.md"
    check_writable(remediation, force=force, database=store.path)  # before the graph loads
    steps = render_remediation(store, run_id, decisions)
    staged = stage_file(remediation, force=force, database=store.path)
    try:
        write_remediation(staged, steps)
        signed = (reviewer, sign_off.strip() if sign_off else None)
        _store_decisions(store, run_id, decisions, signed, staged)
    finally:
        staged.discard()
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
        "sign_off": sign_off,
        "decisions": counts,
        "remediation": str(remediation),
        "self_reviews": self_reviews,
    }


def write_remediation(staged: StagedFile, steps: str) -> None:
    """The steps on disk (fsynced) before any decision is stored: a full disk stores none."""
    try:
        staged.handle.write(steps)
        staged.finish()
    except OSError as exc:
        raise ConfigError(
            f"{staged.path}: cannot be written ({exc.strerror or exc}): nothing was imported"
        ) from None


def _store_decisions(
    store: Store,
    run_id: int,
    decisions: list[Decision],
    signed: tuple[str, str | None],
    staged: StagedFile,
) -> None:
    """One transaction; remediation.md is renamed into place as its last step, so the
    decisions and their steps are both there or neither. `signed`: who imports, and the
    sign-off statement they accepted."""
    reviewer, sign_off = signed
    now = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        with store.db.atomic():
            # A row decided again (the same file imported twice, or a corrected one)
            # replaces its earlier decision: one decision per (run, row).
            _open_and_waive(store, run_id, decisions, now)
            store.replace_decisions(
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
                    "file_sha256": d.file_sha256,
                    "sign_off": sign_off,
                }
                for d in decisions
            )
            staged.publish()
    except OSError as exc:  # the rename: rolled back, nothing stored
        raise ConfigError(
            f"{staged.path}: cannot be written ({exc.strerror or exc}): nothing was imported"
        ) from None
    except sqlite3.Error:
        if not staged.temporary.exists():  # renamed, but the decisions were not committed
            staged.path.unlink(missing_ok=True)
        raise


def _open_and_waive(store: Store, run_id: int, decisions: list[Decision], now: str) -> None:
    """Each revoke or modify opens a remediation item; a justified keep of a row with an
    item still open closes it (`waived`)."""
    conn = store.db.conn
    still_open = stored_items.open_items(conn)
    stored_items.insert_items(conn, remediation.new_items(decisions, run_id, now, still_open))
    kept = {d.row["row_id"]: d for d in decisions if d.decision == "keep"}
    for item in still_open:
        keep = kept.get(item["row_id"])
        if keep is not None:
            stored_items.mark(
                conn,
                item["id"],
                status="waived",
                run=run_id,
                at=now,
                closed_by=f"keep in run {run_id} by {keep.reviewer}: {keep.justification}",
            )


NO_GUIDANCE = "no automated guidance for this kind of access"


def decision_step(row: Mapping[str, str], decision: str, justification: str, graph: Any) -> str:
    """The step for a revoke or modify decision on a review row: the one text remediation.md
    and report.html both show. The remediators get the decision and its justification, so
    a modify reads as the change it asks for, never as a removal."""
    from .plugins import get_remediators

    decided = {**row, "decision": decision, "justification": justification}
    found = (step for remediator in get_remediators() if (step := remediator.steps(decided, graph)))
    # a name from the API or a reviewer's words never runs as CR, LF or a bidi override here
    return terminal_text(next(found, None) or NO_GUIDANCE)


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
        shown = {k: terminal_text(str(v)) for k, v in row.items()}  # no CR, LF or bidi runs
        lines += [
            f"## {number}. {item.decision}: {shown['principal_name']} -> "
            f"{shown['resource_name']} ({shown['resource']})",
            "",
            f"- access: {shown['access']} ({shown['access_kind']})",
            f"- decided by {item.reviewer} on {item.review_date or 'the import date'}: "
            f"{terminal_text(item.justification)}",
            f"- step: {decision_step(row, item.decision, item.justification, graph)}",
            "",
        ]
    return "\n".join(lines)
