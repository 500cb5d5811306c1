"""The remediation loop's items: opened at a decision's import, marked by later runs
(graph/remediation.py says what each status means)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from .ledger import dict_rows

UNCLOSED = ("open", "reappeared", "fixed")  # still tracked by later runs
STILL_OPEN = ("open", "reappeared")


def items(conn: sqlite3.Connection, statuses: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Every item (or those of the statuses given), oldest first; [] before the table."""
    wanted = list(statuses)
    where = f" WHERE status IN ({', '.join('?' * len(wanted))})" if wanted else ""
    try:
        return list(
            dict_rows(conn.execute(f"SELECT * FROM remediation_items{where} ORDER BY id", wanted))
        )
    except sqlite3.OperationalError:  # a database no migration has reached yet
        return []


def open_items(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return items(conn, STILL_OPEN)


def insert_rows(conn: sqlite3.Connection, table: str, records: Iterable[Mapping[str, Any]]) -> None:
    for record in records:
        columns = list(record)
        conn.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [record[c] for c in columns],
        )


def insert_items(conn: sqlite3.Connection, records: Iterable[Mapping[str, Any]]) -> None:
    """New remediation items (the caller holds the transaction)."""
    insert_rows(conn, "remediation_items", records)


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
