"""Datasette metadata for an idgraph database of any file name: Datasette keys a
database's metadata by its file's stem, so `idgraph datasette-metadata --db q4.db` writes
it under `q4` (docs/datasette-metadata.json is this for `idgraph.db`; a test keeps them
equal)."""

from __future__ import annotations

from typing import Any

from .store.views import VIEW_DESCRIPTIONS

TITLES = {
    "current_nodes": "Current nodes",
    "current_edges": "Current edges",
    "access_paths": "Access paths",
    "reachable": "Who reaches what",
    "team_members": "Team members",
    "tokens": "Tokens",
    "changes": "Changes per run",
    "node_search": "Node search",
    "kind_facts": "Kind facts",
}
OTHER_TABLES = {
    "node_search": {
        "description": "Current node ids, names and emails, full-text searchable (FTS5).",
        "fts_table": "node_search_fts",
        "fts_pk": "rowid",
    },
    "kind_facts": {
        "description": "Per node and edge kind, what the loaded schemas declare: role, label, "
        "principal type, access property, grant, account-wide access values.",
    },
}


def datasette_metadata(database: str) -> dict[str, Any]:
    """The metadata of the views and tables, for the database Datasette names `database`."""
    tables = {name: {"description": text} for name, text in VIEW_DESCRIPTIONS.items()}
    tables.update(OTHER_TABLES)
    return {
        "title": "idgraph",
        "description": "The identity graph: runs, versioned nodes and edges, and views to ask "
        "who can reach what (docs/graph-schema.md).",
        "databases": {
            database: {
                "tables": {name: {"title": TITLES[name], **facts} for name, facts in tables.items()}
            }
        },
    }
