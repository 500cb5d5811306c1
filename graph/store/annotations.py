"""Owner, purpose and expected end of a resource or credential, as a person attested them
(`idgraph annotate import`): the latest row of a target stands."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from .ledger import dict_rows
from .remediation import insert_rows


def insert_annotations(conn: sqlite3.Connection, records: Iterable[Mapping[str, Any]]) -> None:
    """New annotations (the caller holds the transaction)."""
    insert_rows(conn, "annotations", records)


def annotations(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Target (a resource or credential id) -> its latest annotation."""
    try:
        cursor = conn.execute("SELECT * FROM annotations ORDER BY id")
    except sqlite3.OperationalError:
        return {}
    return {record["target"]: record for record in dict_rows(cursor)}
