"""The run ledger (one row per sync, attestation or recorded write) and the accounts: which
credential each account of a connector is known by."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RUN_STATUSES = ("running", "complete", "partial", "failed")


class RunNotFound(Exception):
    """The run asked for does not exist or did not complete."""


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Run:
    id: int
    kind: str
    connector: str
    scope: str
    account_label: str | None
    started: str
    finished: str | None
    status: str
    counts: dict[str, Any]
    errors: list[str]
    warnings: list[str]
    stats: dict[str, Any]
    plugin_versions: dict[str, str]
    credential: str | None = None  # the fingerprint of the credential the run used
    rotated_from: str | None = None  # the account's previous credential, if it changed
    ledger_digest: str | None = None  # its digest in the run ledger's chain (store/chain.py)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        def load(name: str, default: Any) -> Any:
            return json.loads(row[name]) if row.get(name) else default

        return cls(
            id=row["id"],
            kind=row["kind"],
            connector=row["connector"],
            scope=row["scope"],
            account_label=row["account_label"],
            started=row["started"],
            finished=row["finished"],
            status=row["status"],
            counts=load("counts", {}),
            errors=load("errors", []),
            warnings=load("warnings", []),
            stats=load("stats", {}),
            plugin_versions=load("plugin_versions", {}),
            credential=row.get("credential"),
            rotated_from=row.get("rotated_from"),
            ledger_digest=row.get("ledger_digest"),
        )


def dict_rows(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    """The rows of a cursor as dicts (as sqlite-utils' `query`)."""
    names = [column[0] for column in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


def fail_interrupted_runs(conn: sqlite3.Connection) -> None:
    """Runs still marked running while nobody holds the lock were killed mid-way."""
    conn.execute(
        "UPDATE runs SET status = 'failed', finished = ?, errors = ? WHERE status = 'running'",
        [utcnow(), json.dumps(["interrupted: the process ended before the run finished"])],
    )


def insert_run(conn: sqlite3.Connection, row: dict[str, Any]) -> int:
    """Add a run row; returns its id."""
    cursor = conn.execute(
        f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        list(row.values()),
    )
    return int(cursor.lastrowid or 0)


def record_run_end(
    conn: sqlite3.Connection,
    run_id: int,
    *,
    status: str,
    counts: dict[str, Any],
    errors: list[str],
    warnings: list[str],
    stats: dict[str, Any],
) -> None:
    conn.execute(
        "UPDATE runs SET status = ?, finished = ?, counts = ?, errors = ?, warnings = ?, "
        "stats = ? WHERE id = ?",
        [
            status,
            utcnow(),
            json.dumps(counts),
            json.dumps(errors),
            json.dumps(warnings),
            json.dumps(stats),
            run_id,
        ],
    )


def record_rotation(conn: sqlite3.Connection, run_id: int, previous_credential: str) -> None:
    """Note on a run that its account's credential was another one before."""
    conn.execute("UPDATE runs SET rotated_from = ? WHERE id = ?", [previous_credential, run_id])


def read_run(conn: sqlite3.Connection, run_id: int, path: Path) -> Run:
    rows = list(dict_rows(conn.execute("SELECT * FROM runs WHERE id = ?", [run_id])))
    if not rows:
        raise RunNotFound(f"there is no run {run_id} in {path}")
    return Run.from_row(rows[0])


def read_runs(conn: sqlite3.Connection, limit: int | None = None) -> list[Run]:
    """The runs, newest first."""
    sql = "SELECT * FROM runs ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
    return [Run.from_row(row) for row in dict_rows(conn.execute(sql))]


def latest_complete_run(conn: sqlite3.Connection, kind: str | None) -> Run | None:
    """The latest complete run (of `kind`; else of any kind but a recorded write)."""
    sql = "SELECT * FROM runs WHERE status = 'complete'"
    params: list[Any] = []
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    else:
        sql += " AND kind != 'write'"  # a recorded API write holds no graph
    rows = list(dict_rows(conn.execute(sql + " ORDER BY id DESC LIMIT 1", params)))
    return Run.from_row(rows[0]) if rows else None


def latest_run_per_scope(conn: sqlite3.Connection, run_id: int) -> dict[str, int]:
    """scope -> the latest complete run of that scope up to `run_id` (when each open
    version was last confirmed)."""
    return dict(
        conn.execute(
            "SELECT scope, MAX(id) FROM runs WHERE status = 'complete' AND id <= ? GROUP BY scope",
            [run_id],
        )
    )


def complete_runs_by_connector(conn: sqlite3.Connection) -> dict[str, list[int]]:
    """connector -> the ids of its complete runs, oldest first."""
    found: dict[str, list[int]] = {}
    for connector, run_id in conn.execute(
        "SELECT connector, id FROM runs WHERE status = 'complete' ORDER BY id"
    ):
        found.setdefault(connector, []).append(run_id)
    return found


def synced_account_labels(
    conn: sqlite3.Connection, connector: str, as_of: int | None = None
) -> list[str]:
    """The labels of a connector's accounts with a complete sync (up to run `as_of`), sorted."""
    sql = (
        "SELECT DISTINCT account_label FROM runs WHERE kind = 'sync' AND connector = ? "
        "AND status = 'complete' AND account_label IS NOT NULL"
    )
    params: list[Any] = [connector]
    if as_of is not None:
        sql += " AND id <= ?"
        params.append(as_of)
    return sorted(row[0] for row in conn.execute(sql, params))


# -- accounts --------------------------------------------------------------------------------


def known_accounts(conn: sqlite3.Connection, connector: str) -> dict[str, str]:
    """label -> the fingerprint of the credential of each account of a connector."""
    return dict(
        conn.execute("SELECT label, fingerprint FROM accounts WHERE connector = ?", [connector])
    )


def account_of_credential(conn: sqlite3.Connection, connector: str, credential: str) -> str | None:
    """The label of the account a credential (its fingerprint) is known as, if any: the one
    place an account is resolved from a credential."""
    return next(
        (label for label, known in known_accounts(conn, connector).items() if known == credential),
        None,
    )


def remember_account(
    conn: sqlite3.Connection, connector: str, label: str, fingerprint: str, run_id: int
) -> None:
    """Record (inside a run's transaction) that this credential is this account's now."""
    conn.execute(
        "INSERT INTO accounts (connector, label, fingerprint, first_run, last_run) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (connector, label) DO UPDATE SET "
        "fingerprint = excluded.fingerprint, last_run = excluded.last_run",
        [connector, label, fingerprint, run_id, run_id],
    )
