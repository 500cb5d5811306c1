"""What reviews add to a run: the imported review decisions and the attestations of team
members read off a web UI."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .ledger import dict_rows

if TYPE_CHECKING:
    import sqlite_utils


def latest_reviewed_run(conn: sqlite3.Connection, up_to: int) -> int | None:
    """The latest run up to `up_to` (inclusive) whose review decisions were imported, if
    any (None also when the file has no decisions table)."""
    try:
        row = conn.execute(
            "SELECT MAX(run_id) FROM review_decisions WHERE run_id <= ?", [up_to]
        ).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row and row[0] is not None else None


def decisions_of_run(conn: sqlite3.Connection, run_id: int) -> list[dict[str, Any]]:
    """The decisions imported for a run, in the order they were imported."""
    return list(
        dict_rows(
            conn.execute("SELECT * FROM review_decisions WHERE run_id = ? ORDER BY id", [run_id])
        )
    )


def replace_decisions(db: sqlite_utils.Database, records: Iterable[dict[str, Any]]) -> None:
    """Store decisions, each replacing an earlier one of its (run, row): inside the
    caller's transaction."""
    records = list(records)
    db.conn.executemany(
        "DELETE FROM review_decisions WHERE run_id = ? AND row_id = ?",
        [(record["run_id"], record["row_id"]) for record in records],
    )
    db["review_decisions"].insert_all(records)


def record_attestation(db: sqlite_utils.Database, record: dict[str, Any]) -> None:
    """Add an attestation's record (inside the transaction of its run's finish)."""
    db["attestations"].insert(record)


def attestations(
    conn: sqlite3.Connection, account_label: str | None = None
) -> list[dict[str, Any]]:
    """Attestations of complete runs, newest first."""
    sql = (
        "SELECT a.* FROM attestations a JOIN runs r ON r.id = a.run_id WHERE r.status = 'complete'"
    )
    params: list[Any] = []
    if account_label is not None:
        sql += " AND a.account_label = ?"
        params.append(account_label)
    return list(dict_rows(conn.execute(sql + " ORDER BY a.run_id DESC", params)))


def decisions_before(conn: sqlite3.Connection, run_id: int) -> dict[str, dict[str, Any]]:
    """Row id -> the latest decision stored on it in a review of a run before `run_id`."""
    try:
        cursor = conn.execute(
            "SELECT * FROM review_decisions WHERE run_id < ? ORDER BY run_id, id", [run_id]
        )
    except sqlite3.OperationalError:
        return {}
    return {record["row_id"]: record for record in dict_rows(cursor)}
