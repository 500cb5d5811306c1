"""The SQL of the remediation loop: its items, opened at a decision's import and marked by
later runs (graph/remediation.py says what each status means)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

UNCLOSED = ("open", "reappeared", "fixed")  # still tracked by later runs
STILL_OPEN = ("open", "reappeared")


def _records(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, values, strict=True)) for values in cursor]


def items(conn: sqlite3.Connection, statuses: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Every item (or those of the statuses given), oldest first; [] before the table."""
    wanted = list(statuses)
    where = f" WHERE status IN ({', '.join('?' * len(wanted))})" if wanted else ""
    try:
        return _records(conn.execute(f"SELECT * FROM remediation_items{where} ORDER BY id", wanted))
    except sqlite3.OperationalError:  # a database no migration has reached yet
        return []


def open_items(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return items(conn, STILL_OPEN)


def _insert(conn: sqlite3.Connection, table: str, records: Iterable[Mapping[str, Any]]) -> None:
    for record in records:
        columns = list(record)
        conn.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [record[c] for c in columns],
        )


def insert_items(conn: sqlite3.Connection, records: Iterable[Mapping[str, Any]]) -> None:
    """New remediation items (the caller holds the transaction)."""
    _insert(conn, "remediation_items", records)


def insert_annotations(conn: sqlite3.Connection, records: Iterable[Mapping[str, Any]]) -> None:
    """New annotations (the caller holds the transaction)."""
    _insert(conn, "annotations", records)


def mark(
    conn: sqlite3.Connection,
    ident: int,
    *,
    status: str,
    run: int,
    at: str,
    fixed_run: int | None = None,
    closed_by: str | None = None,
) -> None:
    """An item's status as a run (or a later decision) showed it."""
    conn.execute(
        "UPDATE remediation_items SET status = ?, evidence_run = ?, evidence_at = ?, "
        "fixed_run = COALESCE(?, fixed_run), closed_by = COALESCE(?, closed_by) WHERE id = ?",
        [status, run, at, fixed_run, closed_by, ident],
    )


def decisions_before(conn: sqlite3.Connection, run_id: int) -> dict[str, dict[str, Any]]:
    """Row id -> the latest decision stored on it in a review of a run before `run_id`."""
    try:
        cursor = conn.execute(
            "SELECT * FROM review_decisions WHERE run_id < ? ORDER BY run_id, id", [run_id]
        )
    except sqlite3.OperationalError:
        return {}
    return {record["row_id"]: record for record in _records(cursor)}


def annotations(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Target (a resource or credential id) -> its latest annotation."""
    try:
        cursor = conn.execute("SELECT * FROM annotations ORDER BY id")
    except sqlite3.OperationalError:
        return {}
    return {record["target"]: record for record in _records(cursor)}


def last_seen_of(conn: sqlite3.Connection, text: str) -> tuple[str, int, int] | None:
    """A node no longer in the graph that `text` names (its id, the key after its kind, or
    its email): (id, the last complete run of its scope that held it, the run it went in)."""
    row = conn.execute(
        "SELECT v.id, v.closed_run, (SELECT MAX(r.id) FROM runs r WHERE r.scope = v.scope "
        "AND r.status = 'complete' AND r.id < v.closed_run) FROM node_versions v "
        "WHERE v.closed_run IS NOT NULL AND (v.id = ?1 OR v.id LIKE '%:' || ?1 "
        "OR lower(json_extract(v.attrs, '$.email')) = lower(?1)) AND NOT EXISTS "
        "(SELECT 1 FROM node_versions o WHERE o.id = v.id AND o.closed_run IS NULL) "
        "ORDER BY v.closed_run DESC LIMIT 1",
        [text],
    ).fetchone()
    return (row[0], row[2], row[1]) if row else None
