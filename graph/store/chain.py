"""The tamper-evident run ledger: each complete run's content digest, chained.

When a run completes, inside its own transaction, idgraph digests what it recorded: its
`runs` row (the ledger columns aside), the version rows it opened (every column but
`closed_run`, which a later run sets), the version rows it closed (their keys) and its
attestation record, if any; and the digest of the run completed before it. The digest is
stored in `runs.ledger_digest` with the run's place in the chain (`ledger_seq`, 1, 2, ...).
Changing, adding or removing any of that afterwards, or removing a complete run, breaks the
chain from that run on: `idgraph verify --db` recomputes it and names the first run that no
longer matches. A pack's manifest carries the chain head, so a database can be checked
against the pack exported from it (docs/evidence.md, "The run ledger").

A later migration that rewrites stored rows (as m005 renamed edge kinds) changes what the
digests cover: it must chain the runs anew (`rechain`), or every database it migrates
fails `verify --db` from its first run.

The digest is SHA-256 over lines (each a JSON array, orjson's compact encoding):
`["idgraph-ledger", 1, previous digest or null]`, the run row, then per table each opened
row prefixed `"+"` and each closed row prefixed `"-"`, in key order, then the attestation.
Every SQL statement of the chain and of what the pack reads for its evidence is here.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

LEDGER_VERSION = 1
# The runs columns a run's digest covers (the ledger's own columns are not in it).
RUN_COLUMNS = (
    "id",
    "kind",
    "connector",
    "scope",
    "account_label",
    "started",
    "finished",
    "status",
    "counts",
    "errors",
    "warnings",
    "stats",
    "plugin_versions",
    "credential",
    "rotated_from",
)
_VERSION_TABLES = {
    "node_versions": ("id",),
    "edge_versions": ("key",),
}
_ATTESTATION_COLUMNS = (
    "run_id",
    "connector",
    "account_label",
    "file_name",
    "file_sha256",
    "attested_by",
    "attested_at",
    "expires_at",
    "evidence",
    "evidence_sha256",
    "members",
)


@dataclass(frozen=True)
class LedgerBreak:
    """Where a recomputed chain stops matching the stored one."""

    run_id: int | None
    message: str


def _lines(conn: sqlite3.Connection, run_id: int, previous: str | None) -> Iterator[bytes]:
    dumps = orjson.dumps
    yield dumps(["idgraph-ledger", LEDGER_VERSION, previous])
    row = conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = ?", [run_id])
    yield dumps(list(row.fetchone() or ()))
    for table, key in _VERSION_TABLES.items():
        columns = ("scope", *key)
        opened = conn.execute(
            f"SELECT * FROM {table} WHERE opened_run = ? ORDER BY {', '.join(columns)}", [run_id]
        )
        names = [d[0] for d in opened.description]
        kept = [i for i, name in enumerate(names) if name != "closed_run"]
        for version in opened:
            yield dumps(["+", table, *(version[i] for i in kept)])
        for version in conn.execute(
            f"SELECT {', '.join(columns)}, opened_run FROM {table} WHERE closed_run = ? "
            f"ORDER BY {', '.join(columns)}, opened_run",
            [run_id],
        ):
            yield dumps(["-", table, *version])
    if _has_table(conn, "attestations"):
        for attestation in conn.execute(
            f"SELECT {', '.join(_ATTESTATION_COLUMNS)} FROM attestations WHERE run_id = ?",
            [run_id],
        ):
            yield dumps(["attestation", *attestation])


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
    return found.fetchone() is not None


def run_digest(conn: sqlite3.Connection, run_id: int, previous: str | None) -> str:
    """The ledger digest of a run's stored content chained to `previous`."""
    digest = hashlib.sha256()
    for line in _lines(conn, run_id, previous):
        digest.update(line)
        digest.update(b"\n")
    return digest.hexdigest()


def chain_head(conn: sqlite3.Connection) -> tuple[int, int, str] | None:
    """(place in the chain, run id, digest) of the last run chained, or None."""
    row = conn.execute(
        "SELECT ledger_seq, id, ledger_digest FROM runs WHERE ledger_seq IS NOT NULL "
        "ORDER BY ledger_seq DESC LIMIT 1"
    ).fetchone()
    return (row[0], row[1], row[2]) if row else None


def chain_run(conn: sqlite3.Connection, run_id: int) -> str:
    """Digest a run that has just completed (inside its transaction) onto the chain."""
    head = chain_head(conn)
    seq, previous = (head[0] + 1, head[2]) if head else (1, None)
    digest = run_digest(conn, run_id, previous)
    conn.execute(
        "UPDATE runs SET ledger_seq = ?, ledger_digest = ? WHERE id = ?", [seq, digest, run_id]
    )
    return digest


def chain_existing_runs(conn: sqlite3.Connection) -> None:
    """Chain the complete runs of a database made before the ledger, in id order."""
    for (run_id,) in conn.execute(
        "SELECT id FROM runs WHERE status = 'complete' ORDER BY id"
    ).fetchall():
        chain_run(conn, run_id)


def rechain(conn: sqlite3.Connection) -> None:
    """Chain every complete run anew (after a migration rewrote stored rows)."""
    conn.execute("UPDATE runs SET ledger_seq = NULL, ledger_digest = NULL")
    chain_existing_runs(conn)


def ledger_digests(conn: sqlite3.Connection, run_ids: list[int]) -> dict[int, str | None]:
    """run id -> its stored ledger digest."""
    return {
        run_id: digest
        for run_id, digest in conn.execute(
            "SELECT id, ledger_digest FROM runs WHERE id IN (SELECT value FROM json_each(?))",
            [orjson.dumps(run_ids).decode()],
        )
    }


def verify_chain(conn: sqlite3.Connection) -> tuple[int, LedgerBreak | None]:
    """Recompute the chain: (runs checked, the first break or None)."""
    rows = conn.execute(
        "SELECT id, status, ledger_seq, ledger_digest FROM runs "
        "WHERE ledger_seq IS NOT NULL OR status = 'complete' ORDER BY ledger_seq IS NULL, "
        "ledger_seq, id"
    ).fetchall()
    previous: str | None = None
    for place, (run_id, status, seq, stored) in enumerate(rows, start=1):
        if seq is None:
            return place - 1, LedgerBreak(
                run_id, f"run {run_id} is complete but not in the ledger (added afterwards?)"
            )
        if seq != place:
            return place - 1, LedgerBreak(
                run_id,
                f"run {run_id} is ledger entry {seq} but entry {place} is missing "
                "(a run was removed)",
            )
        if status != "complete":
            return place - 1, LedgerBreak(
                run_id, f"run {run_id} is in the ledger but its status is now {status!r}"
            )
        if run_digest(conn, run_id, previous) != stored:
            return place - 1, LedgerBreak(
                run_id,
                f"run {run_id}: its stored content no longer matches its ledger digest "
                "(a row it opened or closed, its run record or its attestation was changed, "
                "added or removed, or an earlier entry's digest was)",
            )
        previous = stored
    return len(rows), None


# -- what a pack's manifest and summary read -------------------------------------------------


def population_counts(conn: sqlite3.Connection, run_id: int) -> dict[str, int]:
    """kind -> how many nodes of it the graph holds as of a run."""
    return dict(
        conn.execute(
            "SELECT kind, COUNT(*) FROM node_versions "
            "WHERE opened_run <= ? AND (closed_run IS NULL OR closed_run > ?) "
            "GROUP BY kind ORDER BY kind",
            [run_id, run_id],
        ).fetchall()
    )


def decisions_of_run(conn: sqlite3.Connection, run_id: int) -> list[dict[str, Any]]:
    """The decisions standing for a run's rows (a row decided again: the later import)."""
    cursor = conn.execute("SELECT * FROM review_decisions WHERE run_id = ? ORDER BY id", [run_id])
    names = [d[0] for d in cursor.description]
    latest: dict[str, dict[str, Any]] = {}
    for values in cursor:
        record = dict(zip(names, values, strict=True))
        record.pop("id")
        latest[record["row_id"]] = record
    return [latest[key] for key in sorted(latest)]


def latest_decided_run(conn: sqlite3.Connection, run_id: int) -> int | None:
    """The latest run up to `run_id` with review decisions imported, if any."""
    found = conn.execute(
        "SELECT MAX(run_id) FROM review_decisions WHERE run_id <= ?", [run_id]
    ).fetchone()
    return found[0] if found else None
