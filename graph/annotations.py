"""Owners and purpose: a file a person keeps with the account, one row per resource or
credential (owner email, purpose, expected to exist until), imported as attested facts
with who and when. The review shows them on each row, suggests the resource's owner as
its reviewer, and a credential with no owner is a finding."""

from __future__ import annotations

import difflib
import hashlib
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .csvinput import EMAIL, InputInvalid, csv_writer, formula_problems, read_rows, safe_cell
from .store import Store
from .store import annotations as stored_annotations

COLUMNS = ["target", "kind", "name", "owner", "purpose", "expected_until"]
EDITABLE = ("owner", "purpose", "expected_until")
ROLES = ("resource", "credential")


class AnnotationsInvalid(InputInvalid):
    """The annotations file has problems, each named by file, row and column."""


def targets(store: Store) -> dict[str, tuple[str, str]]:
    """Id -> (kind, name) of every resource and credential of the latest complete run."""
    from .review import build_review

    context = build_review(store, lazy=True)
    return {
        ident: (str(data.get("kind", "")), context.name(ident))
        for role in ROLES
        for ident, data in context.nodes_with_role(role)
    }


def template_text(store: Store) -> str:
    """The annotations file: every resource and credential, filled from what is known."""
    known = stored_annotations.annotations(store.db.conn)
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(COLUMNS)
    for ident, (kind, name) in sorted(targets(store).items(), key=lambda t: (t[1][0], t[0])):
        facts = known.get(ident, {})
        cells = [ident, kind, name, *(facts.get(c) or "" for c in EDITABLE)]
        writer.writerow([safe_cell(c) for c in cells])
    return "\ufeff" + buffer.getvalue()


def _row_problems(where: str, record: dict[str, str], known: dict[str, Any]) -> list[str]:
    problems = formula_problems(where, record, list(EDITABLE))
    target = record["target"].strip()
    if target not in known:
        close = difflib.get_close_matches(target, list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            f"{where}: column 'target': {target!r} is no resource or credential of the "
            f"latest run{hint}"
        )
    owner = record["owner"].strip().lower()
    if owner and not EMAIL.match(owner):
        problems.append(f"{where}: column 'owner': {owner!r} is not an email address")
    until = record["expected_until"].strip()
    if until:
        try:
            date.fromisoformat(until)
        except ValueError:
            problems.append(
                f"{where}: column 'expected_until': {until!r} is not a date (YYYY-MM-DD)"
            )
    return problems


def parse_annotations(path: Path, store: Store) -> list[dict[str, str]]:
    """Every row with an owner, purpose or end date, validated whole: all problems at once."""
    name = str(path)
    rows = read_rows(path, sheet=None, error=AnnotationsInvalid)
    header = [cell.strip() for cell in rows[0]]
    missing = [c for c in ("target", *EDITABLE) if c not in header]
    if missing:
        raise AnnotationsInvalid([f"{name}: row 1: column {c!r} is missing" for c in missing])
    known = targets(store)
    problems: list[str] = []
    records = []
    for number, cells in enumerate(rows[1:], start=2):
        record = dict(zip(header, [*cells, *[""] * len(header)], strict=False))
        if not any(record[c].strip() for c in EDITABLE):
            continue
        problems += _row_problems(f"{name}: row {number}", record, known)
        records.append({c: record[c].strip() for c in ("target", *EDITABLE)})
    if not records and not problems:
        problems.append(f"{name}: no row has an owner, purpose or expected_until")
    if problems:
        raise AnnotationsInvalid(problems)
    return records


def import_annotations(store: Store, path: Path, *, annotated_by: str) -> dict[str, Any]:
    """Store the file's annotations (all or none), with who and when."""
    annotated_by = annotated_by.strip().lower()
    if not EMAIL.match(annotated_by):
        raise AnnotationsInvalid([f"--annotated-by: {annotated_by!r} is not an email address"])
    records = parse_annotations(path, store)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with store.db.atomic():
        stored_annotations.insert_annotations(
            store.db.conn,
            (
                {
                    **r,
                    "owner": r["owner"].lower(),
                    "annotated_by": annotated_by,
                    "annotated_at": now,
                    "file_sha256": digest,
                }
                for r in records
            ),
        )
    return {"annotations": len(records), "annotated_by": annotated_by, "annotated_at": now}
