"""The remediation loop: every revoke or modify decision is an item, opened at its import;
each later complete run of the item's scope (a sync for API-visible access, an attestation
for team members) marks it:

- **fixed**: the access is gone (revoke), or gone or changed (modify), with the run that
  showed it;
- **open**: still there as decided on;
- **reappeared**: fixed once, then back.

A later `keep` of an open item needs a justification and closes it (`waived`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .access import fold, read_access
from .store import remediation as stored_items

if TYPE_CHECKING:
    from .store import Store

STATUSES = ("open", "reappeared", "fixed", "waived")
STATE_TEXT = {
    "open": "still present",
    "reappeared": "gone, then back",
    "fixed": "done",
    "waived": "kept since, with a justification",
}


def label(item: Mapping[str, Any]) -> str:
    """An item's id as people cite it."""
    return f"R{item['id']}"


def describe(item: Mapping[str, Any]) -> str:
    """`R3: revoke decided in run 4, still present (seen in run 6)`."""
    state = STATE_TEXT.get(item["status"], item["status"])
    if item["status"] == "fixed":
        state = f"done (gone in run {item['fixed_run']})"
    elif item.get("evidence_run") and item["evidence_run"] != item["decided_run"]:
        state += f" (seen in run {item['evidence_run']})"
    return f"{label(item)}: {item['decision']} decided in run {item['decided_run']}, {state}"


def new_items(decided: Iterable[Any], run_id: int, now: str, known: Iterable[Mapping[str, Any]]):
    """The items a decision import opens: one per revoke or modify of a row that has no
    item still open. `decided`: the import's decisions (row cells, decision, reviewer...)."""
    open_rows = {i["row_id"] for i in known}
    for decision in decided:
        row = decision.row
        if decision.decision not in ("revoke", "modify") or row["row_id"] in open_rows:
            continue
        yield {
            "decided_run": run_id,
            "row_id": row["row_id"],
            "principal": row["principal"],
            "resource": row["resource"],
            "access": row["access"],
            "access_kind": row["access_kind"],
            "source": row["source"],
            "scope": row.get("scope", ""),
            "decision": decision.decision,
            "reviewer": decision.reviewer,
            "justification": decision.justification,
            "opened_at": now,
            "status": "open",
            "evidence_run": run_id,
            "evidence_at": now,
        }


def _state(item: Mapping[str, Any], now_access: str | None) -> str:
    """What the run shows of an item: `present` or `gone` (a modify: or changed)."""
    if now_access is None:
        return "gone"
    decided = item["access"].split("; ")[0]  # a credential's row: its scope part's access
    if item["decision"] == "modify" and fold(now_access) != fold(decided):
        return "gone"
    return "present"


def track(store: Store, run_id: int) -> None:
    """Mark the items of this complete run's scope by what the run shows (the caller holds
    the write lock). Quietly nothing when no item is tracked there."""
    from .schema import registry

    conn = store.db.conn
    tracked = stored_items.items(conn, stored_items.UNCLOSED)
    run = store.complete_run(run_id)
    tracked = [i for i in tracked if i["scope"] == run.scope and i["decided_run"] < run.id]
    if not tracked:
        return
    current = {r.row_id: r.access for r in read_access(store, run, registry()).explicit}
    at = run.finished or _now()
    with store.db.atomic():
        for item in tracked:
            gone = _state(item, current.get(item["row_id"])) == "gone"
            if gone and item["status"] != "fixed":
                stored_items.mark(
                    conn, item["id"], status="fixed", run=run.id, at=at, fixed_run=run.id
                )
            elif not gone and item["status"] == "fixed":
                stored_items.mark(conn, item["id"], status="reappeared", run=run.id, at=at)
            elif not gone:
                stored_items.mark(conn, item["id"], status=item["status"], run=run.id, at=at)


def track_quietly(store: Store, run_id: int) -> None:
    """`track`, after a run that stands whatever happens here (`review status` reads it)."""
    with contextlib.suppress(sqlite3.Error, OSError):
        track(store, run_id)


def still_open_line(store: Store) -> str | None:
    """The one line `sync` and `attest import` end with while items are still open."""
    found = stored_items.open_items(store.db.conn)
    if not found:
        return None
    oldest = min(i["decided_run"] for i in found)
    return (
        f"{len(found)} remediation item(s) still open (oldest decided in run {oldest}): "
        "idgraph review status"
    )


def open_line_of(db_path: Path) -> str | None:
    """`still_open_line` of the database at `db_path` (None if it cannot be read)."""
    from .store import Store

    try:
        store = Store(db_path, create=False)
    except Exception:  # noqa: BLE001 - a note only: the command has done its work
        return None
    try:
        return still_open_line(store)
    finally:
        store.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def age_days(item: Mapping[str, Any], today: datetime | None = None) -> int:
    """Days since the item was opened."""
    opened = datetime.fromisoformat(item["opened_at"])
    return ((today or datetime.now(UTC)) - opened).days


def status_rows(store: Store, today: datetime | None = None) -> list[dict[str, Any]]:
    """`idgraph review status`: each item with its age and the run that showed its state."""
    return [
        {
            "id": label(item),
            "status": item["status"],
            "decision": item["decision"],
            "principal": item["principal"],
            "resource": item["resource"],
            "access": item["access"],
            "decided_run": item["decided_run"],
            "opened_at": item["opened_at"],
            "age_days": age_days(item, today),
            "evidence_run": item["evidence_run"],
            "evidence_at": item["evidence_at"],
            "fixed_run": item["fixed_run"],
            "justification": item["justification"],
            "summary": describe(item),
        }
        for item in stored_items.items(store.db.conn)
    ]
