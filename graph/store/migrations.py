"""The schema's migrations (sqlite-utils), for a database made by an older idgraph.

A new file gets `upgrade.NEW_SCHEMA`, the schema these migrations make, written without
importing sqlite-utils (a tenth of a second that a sync's first request would wait for);
tests/host/test_store_schema.py checks that the two agree.
"""

from __future__ import annotations

import json
import sqlite3

import sqlite_utils
from sqlite_utils.migrations import Migrations

from ..model import content_hash

migrations = Migrations("idgraph")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["runs"].create(
        {
            "id": int,
            "kind": str,
            "connector": str,
            "scope": str,
            "account_label": str,
            "started": str,
            "finished": str,
            "status": str,
            "counts": str,
            "errors": str,
            "warnings": str,
            "stats": str,
            "plugin_versions": str,
        },
        pk="id",
    )
    for table, key_columns in (
        ("node_versions", {"id": str}),
        ("edge_versions", {"key": str, "src": str, "dst": str, "discriminator": str}),
    ):
        db[table].create(
            {
                "scope": str,
                **key_columns,
                "kind": str,
                "source": str,
                "attrs": str,
                "hash": str,
                "first_seen": int,
                "opened_run": int,
                "closed_run": int,
            },
            pk=("scope", next(iter(key_columns)), "opened_run"),
        )
        db[table].create_index(["opened_run"])
        db[table].create_index(["closed_run"])


@migrations()
def m002_attestations(db: sqlite_utils.Database) -> None:
    db["attestations"].create(
        {
            "run_id": int,
            "connector": str,
            "account_label": str,
            "file_name": str,
            "file_sha256": str,
            "attested_by": str,
            "attested_at": str,
            "expires_at": str,
            "evidence": str,
            "evidence_sha256": str,
            "members": int,
        },
        pk="run_id",
        foreign_keys=[("run_id", "runs", "id")],
    )


@migrations()
def m003_review_decisions(db: sqlite_utils.Database) -> None:
    db["review_decisions"].create(
        {
            "id": int,
            "run_id": int,
            "row_id": str,
            "principal": str,
            "resource": str,
            "access": str,
            "access_kind": str,
            "decision": str,
            "reviewer": str,
            "review_date": str,
            "justification": str,
            "imported_at": str,
            "imported_by": str,
            "file_sha256": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["review_decisions"].create_index(["run_id", "row_id"])


@migrations()
def m004_accounts(db: sqlite_utils.Database) -> None:
    # Which credential belongs to which account label: a sync without --account-label finds
    # its account by the token's fingerprint, and a new token for a known label is a rotation.
    db["accounts"].create(
        {
            "connector": str,
            "label": str,
            "fingerprint": str,
            "first_run": int,
            "last_run": int,
        },
        pk=("connector", "label"),
    )
    db["runs"].add_column("credential", str)
    db["runs"].add_column("rotated_from", str)


# The host's shared edge kinds: every connector uses them bare (graph/schema.py SHARED).
SHARED_EDGE_KINDS = ("is",)


@migrations()
def m005_namespaced_edge_kinds(db: sqlite_utils.Database) -> None:
    # A connector's own edge kinds carry its namespace from schema 5 on (the built-in
    # connector's were bare: `grants` is now `<connector>:grants`). Each stored bare kind but
    # the shared ones takes the namespace of the connector of the run that wrote it, wherever
    # a kind is kept: the edge versions (kind, key, hash), the decisions' access kind, the
    # runs' counts and the query views' kind facts. Review row ids do not change: they hash
    # the kind without its namespace (graph/review.py `_row_id`).
    conn = db.conn
    shared = ", ".join("?" * len(SHARED_EDGE_KINDS))
    renamed: dict[str, set[str]] = {}
    updates = []
    for rowid, src, dst, discriminator, kind, source, attrs, connector in conn.execute(
        "SELECT e.rowid, e.src, e.dst, e.discriminator, e.kind, e.source, e.attrs, r.connector "
        "FROM edge_versions e JOIN runs r ON r.id = e.opened_run "
        f"WHERE instr(e.kind, ':') = 0 AND e.kind NOT IN ({shared})",
        SHARED_EDGE_KINDS,
    ).fetchall():
        new = f"{connector}:{kind}"
        renamed.setdefault(kind, set()).add(new)
        key = f"{src}|{new}|{dst}" + (f"|{discriminator}" if discriminator else "")
        updates.append((new, key, content_hash(new, source, attrs), rowid))
    conn.executemany(
        "UPDATE edge_versions SET kind = ?, key = ?, hash = ? WHERE rowid = ?", updates
    )
    conn.execute(
        "UPDATE review_decisions SET access_kind = (SELECT r.connector || ':' || "
        "review_decisions.access_kind FROM runs r WHERE r.id = review_decisions.run_id) "
        f"WHERE instr(access_kind, ':') = 0 AND access_kind NOT IN ({shared})",
        SHARED_EDGE_KINDS,
    )
    _namespace_run_counts(conn)
    if db["kind_facts"].exists():
        for kind, new in renamed.items():
            if len(new) == 1:
                conn.execute(
                    "UPDATE OR REPLACE kind_facts SET kind = ? WHERE what = 'edge' AND kind = ?",
                    [next(iter(new)), kind],
                )
            else:  # one bare kind of two connectors: the next refresh writes both
                conn.execute("DELETE FROM kind_facts WHERE what = 'edge' AND kind = ?", [kind])


def _namespace_run_counts(conn: sqlite3.Connection) -> None:
    """The per-kind edge counts of each run, under the namespaced kinds."""
    updates = []
    for run_id, connector, text in conn.execute(
        "SELECT id, connector, counts FROM runs WHERE counts LIKE '%\"edges\"%'"
    ).fetchall():
        counts = json.loads(text)
        for change, by_kind in counts.get("edges", {}).items():
            counts["edges"][change] = {
                kind if ":" in kind or kind in SHARED_EDGE_KINDS else f"{connector}:{kind}": n
                for kind, n in by_kind.items()
            }
        updates.append((json.dumps(counts), run_id))
    conn.executemany("UPDATE runs SET counts = ? WHERE id = ?", updates)


@migrations()
def m006_evidence(db: sqlite_utils.Database) -> None:
    # The sign-off statement a reviewer accepted at `review import`, kept with the decisions.
    db["review_decisions"].add_column("sign_off", str)
    # The tamper-evident run ledger (graph/store/chain.py): each complete run's content
    # digest, chained. A database made before it gets the chain of its complete runs now,
    # in id order: from here on, a change to what they recorded is seen.
    from .chain import chain_existing_runs

    db["runs"].add_column("ledger_seq", int)
    db["runs"].add_column("ledger_digest", str)
    chain_existing_runs(db.conn)


@migrations()
def m007_remediation_items(db: sqlite_utils.Database) -> None:
    # Each revoke or modify decision opens an item; later runs mark it fixed, open or
    # reappeared, with the run that showed it (graph/remediation.py).
    db["remediation_items"].create(
        {
            "id": int,
            "decided_run": int,
            "row_id": str,
            "principal": str,
            "resource": str,
            "access": str,
            "access_kind": str,
            "source": str,
            "scope": str,
            "decision": str,
            "reviewer": str,
            "justification": str,
            "opened_at": str,
            "status": str,
            "evidence_run": int,
            "evidence_at": str,
            "fixed_run": int,
            "closed_by": str,
        },
        pk="id",
        foreign_keys=[("decided_run", "runs", "id")],
    )
    db["remediation_items"].create_index(["row_id"])


@migrations()
def m008_annotations(db: sqlite_utils.Database) -> None:
    # Owner, purpose and expected end of a resource or credential, as a person attested
    # them (`idgraph annotate import`): the latest row of a target stands.
    db["annotations"].create(
        {
            "id": int,
            "target": str,
            "owner": str,
            "purpose": str,
            "expected_until": str,
            "annotated_by": str,
            "annotated_at": str,
            "file_sha256": str,
        },
        pk="id",
    )
    db["annotations"].create_index(["target"])
