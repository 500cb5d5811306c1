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

At write time the digest is taken from the rows the run has just written, as
`versions.apply_versions` recorded them (`Written`), not read back from the tables: the
same lines, since a row reads back as written (a text column holding a text or NULL, an
integer column an integer; a row of any other type, or a table whose columns are in
another order, is read back from SQL instead). `verify_chain` always reads the tables.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
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


@dataclass
class Written:
    """What a run's write opened and closed, table by table, as `apply_versions` wrote it:
    an opened row is every column but `closed_run` in the table's order, a closed one
    (scope, key, opened_run)."""

    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # of an opened row
    opened: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    closed: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)


@dataclass(frozen=True)
class LedgerBreak:
    """Where a recomputed chain stops matching the stored one."""

    run_id: int | None
    message: str


def _lines(
    conn: sqlite3.Connection, run_id: int, previous: str | None, written: Written | None = None
) -> Iterator[bytes]:
    """The digest's lines, each ending in a newline; several to a chunk where they come
    from `written`."""
    dumps = orjson.dumps
    yield dumps(["idgraph-ledger", LEDGER_VERSION, previous]) + b"\n"
    row = conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = ?", [run_id])
    yield dumps(list(row.fetchone() or ())) + b"\n"
    for table, key in _VERSION_TABLES.items():
        if written is not None and _as_read_back(conn, table, written):
            yield from _written_lines(table, written)
            continue
        columns = ("scope", *key)
        opened = conn.execute(
            f"SELECT * FROM {table} WHERE opened_run = ? ORDER BY {', '.join(columns)}", [run_id]
        )
        names = [d[0] for d in opened.description]
        kept = [i for i, name in enumerate(names) if name != "closed_run"]
        for version in opened:
            yield dumps(["+", table, *(version[i] for i in kept)]) + b"\n"
        for version in conn.execute(
            f"SELECT {', '.join(columns)}, opened_run FROM {table} WHERE closed_run = ? "
            f"ORDER BY {', '.join(columns)}, opened_run",
            [run_id],
        ):
            yield dumps(["-", table, *version]) + b"\n"
    if _has_table(conn, "attestations"):
        for attestation in conn.execute(
            f"SELECT {', '.join(_ATTESTATION_COLUMNS)} FROM attestations WHERE run_id = ?",
            [run_id],
        ):
            yield dumps(["attestation", *attestation]) + b"\n"


def _as_read_back(conn: sqlite3.Connection, table: str, written: Written) -> bool:
    """Whether `written`'s rows of `table` are what SQL would read back: in the table's
    column order, each text column a str or None and each integer column an int."""
    opened, closed = written.opened.get(table), written.closed.get(table)
    columns = written.columns.get(table, ())
    if opened is None or closed is None:
        return False
    names = [d[0] for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
    if [n for n in names if n != "closed_run"] != list(columns):
        return False
    keys, texts, integers = {str}, {str, type(None)}, {int}  # keys: sorted as SQL sorts them
    if len({*map(itemgetter(0), opened), *map(itemgetter(0), closed)}) > 1:
        return False  # more than one scope (never from one write)
    for at, name in enumerate(columns):
        types = set(map(type, map(itemgetter(at), opened)))
        if at < 2:
            allowed = keys
        else:
            allowed = integers if name in ("first_seen", "opened_run") else texts
        if not types <= allowed:
            return False
    return all(
        set(map(type, map(itemgetter(at), closed))) <= types
        for at, types in enumerate((keys, keys, integers))
    )


def _written_lines(table: str, written: Written, size: int = 10_000) -> Iterator[bytes]:
    """The lines of `table`'s opened then closed rows, in key order, a chunk at a time."""
    dumps = orjson.dumps
    # one write is of one scope, each key once: the key alone orders its rows
    for sign, rows in (
        ("+", sorted(written.opened[table], key=itemgetter(1))),
        ("-", sorted(written.closed[table], key=itemgetter(1))),
    ):
        prefix = dumps([sign, table])[:-1] + b","  # '["+","node_versions",'
        lines: Iterable[bytes] = (prefix + dumps(row)[1:] for row in rows)
        while chunk := list(islice(lines, size)):
            yield b"\n".join(chunk) + b"\n"


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
    return found.fetchone() is not None


def run_digest(
    conn: sqlite3.Connection, run_id: int, previous: str | None, written: Written | None = None
) -> str:
    """The ledger digest of a run's stored content chained to `previous` (its version rows
    taken from `written`, the run's write, when given and as SQL reads them back)."""
    digest = hashlib.sha256()
    for lines in _lines(conn, run_id, previous, written):
        digest.update(lines)
    return digest.hexdigest()


def chain_head(conn: sqlite3.Connection) -> tuple[int, int, str] | None:
    """(place in the chain, run id, digest) of the last run chained, or None."""
    row = conn.execute(
        "SELECT ledger_seq, id, ledger_digest FROM runs WHERE ledger_seq IS NOT NULL "
        "ORDER BY ledger_seq DESC LIMIT 1"
    ).fetchone()
    return (row[0], row[1], row[2]) if row else None


def chain_run(conn: sqlite3.Connection, run_id: int, written: Written | None = None) -> str:
    """Digest a run that has just completed (inside its transaction) onto the chain;
    `written`: every version row the run opened and closed, as its write recorded them."""
    head = chain_head(conn)
    seq, previous = (head[0] + 1, head[2]) if head else (1, None)
    digest = run_digest(conn, run_id, previous, written)
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
