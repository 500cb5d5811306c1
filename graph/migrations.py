"""The schema's migrations (sqlite-utils), for a database made by an older idgraph.

A new file gets `store.NEW_SCHEMA`, the schema these migrations make, written without
importing sqlite-utils (a tenth of a second that a sync's first request would wait for);
tests/test_store_schema.py checks that the two agree.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

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
