"""Asking the graph in SQL: views over the version tables, a kind-facts table generated
from the schema registry, and a full-text index of node names.

The views never name a connector's kinds: what they need per kind (which node kinds are
principals, which edge property holds the access, which access values span an account)
lives in `kind_facts`, written from the loaded schemas after each complete run and before
each query command. `current_*` views read the latest complete run of each scope; the same
SQL with a run number (`as_of_views`) gives the graph as of a past complete run, as
temporary views that shadow the stored ones on one connection.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils

VIEW_NAMES = (
    "current_nodes",
    "current_edges",
    "access_paths",
    "reachable",
    "team_members",
    "tokens",
    "changes",
)

VIEW_DESCRIPTIONS = {
    "current_nodes": "Every node as of the latest complete run of its scope: id, kind, scope, "
    "source, name (its declared label), email, role, first and last seen (run and time), "
    "and its attributes as JSON.",
    "current_edges": "Every edge as of the latest complete run of its scope, with the access "
    "value of access edges read from the property the schema declares for its kind.",
    "access_paths": "One row per current access edge whose source is a principal (a member or "
    "a credential): who, on what, how much, by which edge kind and grant, api or attested.",
    "reachable": "access_paths plus what an account-wide access implies: a principal whose "
    "access value spans the account (e.g. an admin role, in any case) reaches every resource "
    "of it, with the strongest per-resource level (the access engine's rows, in SQL).",
    "team_members": "Current principals of role member (people): email, name, role, "
    "two-factor, who attested them and when that attestation expires.",
    "tokens": "Current credentials: fingerprint, last 4 characters, the resources they are "
    "granted on, first and last seen.",
    "changes": "Every version opened or closed, per run, with the run's times: what a "
    "complete run created, changed (closed + opened) or removed.",
}


def _alive(alias: str, as_of: int | None) -> str:
    if as_of is None:
        return f"{alias}.closed_run IS NULL"
    n = int(as_of)
    return f"{alias}.opened_run <= {n} AND ({alias}.closed_run IS NULL OR {alias}.closed_run > {n})"


def _last_seen(alias: str, as_of: int | None) -> str:
    upto = "" if as_of is None else f" AND ls.id <= {int(as_of)}"
    return (
        "(SELECT MAX(ls.id) FROM runs ls WHERE ls.status = 'complete' "
        f"AND ls.scope = {alias}.scope{upto})"
    )


_NAME_SQL = (  # a node's declared label, else the first of its usual names
    "CASE WHEN k.label = 'fingerprint' THEN json_extract(n.attrs, '$.fingerprint') "
    "|| ' (…' || COALESCE(json_extract(n.attrs, '$.suffix'), '') || ')' "
    "ELSE COALESCE(json_extract(n.attrs, '$.\"' || COALESCE(k.label, 'name') || '\"'), "
    "json_extract(n.attrs, '$.name'), json_extract(n.attrs, '$.email'), "
    "json_extract(n.attrs, '$.label'), json_extract(n.attrs, '$.fingerprint'), "
    "json_extract(n.attrs, '$.host'), n.id) END"
)

_ACCESS_SQL = (  # an access edge's value, read from the property its kind declares
    "CASE WHEN k.access IS NULL THEN NULL ELSE COALESCE(NULLIF(CAST(json_extract(e.attrs, "
    "'$.\"' || k.access || '\"') AS TEXT), ''), k.access) END"
)


def _current_view_sql(as_of: int | None) -> dict[str, str]:
    """current_nodes and current_edges: the versions alive at `as_of` (None: the latest)."""
    return {
        "current_nodes": f"""
SELECT n.id, n.kind, n.scope, n.source, {_NAME_SQL} AS name,
  json_extract(n.attrs, '$.email') AS email, k.role AS role, k.principal AS principal,
  n.first_seen AS first_seen_run, fr.finished AS first_seen,
  {_last_seen("n", as_of)} AS last_seen_run, n.opened_run, n.attrs
FROM node_versions n
LEFT JOIN kind_facts k ON k.what = 'node' AND k.kind = n.kind
LEFT JOIN runs fr ON fr.id = n.first_seen
WHERE {_alive("n", as_of)}""",
        "current_edges": f"""
SELECT e.key, e.src, e.dst, e.kind, e.scope, e.source, e.discriminator,
  k.access AS access_property, k."grant" AS "grant", {_ACCESS_SQL} AS access,
  e.first_seen AS first_seen_run, fr.finished AS first_seen, e.opened_run, e.attrs
FROM edge_versions e
LEFT JOIN kind_facts k ON k.what = 'edge' AND k.kind = e.kind
LEFT JOIN runs fr ON fr.id = e.first_seen
WHERE {_alive("e", as_of)}""",
    }


_DERIVED_VIEW_SQL = {  # views over the two above: the same SQL at any run
    "access_paths": """
SELECT e.src AS principal, p.name AS principal_name, p.principal AS principal_type,
  p.kind AS principal_kind, e.dst AS resource, COALESCE(r.name, e.dst) AS resource_name,
  r.kind AS resource_kind, e.access AS access, e.kind AS access_kind, e."grant" AS "grant",
  e.source AS source, e.scope AS scope
FROM current_edges e
JOIN (SELECT id, MIN(name) AS name, MIN(kind) AS kind, MIN(principal) AS principal
      FROM current_nodes GROUP BY id) p ON p.id = e.src
LEFT JOIN (SELECT id, MIN(name) AS name, MIN(kind) AS kind FROM current_nodes GROUP BY id) r
  ON r.id = e.dst
WHERE e.access_property IS NOT NULL AND p.principal IS NOT NULL""",
    "reachable": """
SELECT principal, principal_name, principal_type, principal_kind, resource, resource_name,
  resource_kind, access, access_kind, "grant", 'direct' AS how, source
FROM access_paths
UNION ALL
SELECT a.principal, a.principal_name, a.principal_type, a.principal_kind, r.id, r.name,
  r.kind, COALESCE(k.implies, a.access), a.access_kind, a."grant",
  'implied: ' || a.access_kind || ' ' || a.access || ' spans ' || a.resource AS how, a.source
FROM access_paths a
JOIN kind_facts k ON k.what = 'edge' AND k.kind = a.access_kind
JOIN (SELECT id, MIN(scope) AS scope FROM current_nodes GROUP BY id) acct
  ON acct.id = a.resource
JOIN current_nodes r ON r.scope = acct.scope AND r.role = 'resource'
WHERE EXISTS (SELECT 1 FROM json_each(k.spans_account) WHERE value = lower(trim(a.access)))""",
    "team_members": """
SELECT n.id, n.email, json_extract(n.attrs, '$.name') AS name,
  json_extract(n.attrs, '$.role') AS role, json_extract(n.attrs, '$.two_factor') AS two_factor,
  json_extract(n.attrs, '$.attested_by') AS attested_by,
  json_extract(n.attrs, '$.attested_at') AS attested_at,
  json_extract(n.attrs, '$.expires_at') AS expires_at, n.kind, n.scope, n.source
FROM current_nodes n WHERE n.role = 'member'""",
    "tokens": """
SELECT n.id, json_extract(n.attrs, '$.fingerprint') AS fingerprint,
  json_extract(n.attrs, '$.suffix') AS suffix, n.kind,
  (SELECT group_concat(a.resource, ' ') FROM access_paths a
   WHERE a.principal = n.id AND a."grant" = 'scope') AS resource,
  n.first_seen, (SELECT finished FROM runs WHERE id = n.last_seen_run) AS last_seen,
  n.scope, n.source
FROM current_nodes n WHERE n.role = 'credential'""",
    "changes": """
SELECT r.id AS run, r.kind AS run_kind, r.scope AS run_scope, r.started, r.finished,
  v.what, v.id, v.kind, v.source, v.change
FROM (
  SELECT 'node' AS what, id, kind, source, scope, opened_run AS run, 'opened' AS change
  FROM node_versions
  UNION ALL SELECT 'node', id, kind, source, scope, closed_run, 'closed'
  FROM node_versions WHERE closed_run IS NOT NULL
  UNION ALL SELECT 'edge', key, kind, source, scope, opened_run, 'opened' FROM edge_versions
  UNION ALL SELECT 'edge', key, kind, source, scope, closed_run, 'closed'
  FROM edge_versions WHERE closed_run IS NOT NULL
) v JOIN runs r ON r.id = v.run""",
}


def view_sql(as_of: int | None = None) -> dict[str, str]:
    """name -> SELECT of each view; `as_of` a complete run, or None for the latest."""
    return {**_current_view_sql(as_of), **_DERIVED_VIEW_SQL}


def ensure_objects(db: sqlite_utils.Database) -> None:
    """Create what is missing (kind_facts, node_search and its index) and (re)create each
    view whose definition differs. Not a migration: it runs inside a complete run's
    transaction, under the run's write lock, so two processes opening one new database
    never race to create them."""
    if not db["kind_facts"].exists():
        create_kind_facts(db)
    elif "implies" not in db["kind_facts"].columns_dict:  # made before the access engine
        db["kind_facts"].add_column("implies", str)
    if not db["node_search"].exists():
        create_search(db)
    stored = dict(db.execute("SELECT name, sql FROM main.sqlite_master WHERE type = 'view'"))
    for view, sql in view_sql().items():
        wanted = f"CREATE VIEW {view} AS {sql}"
        if stored.get(view) != wanted:
            db.execute(f"DROP VIEW IF EXISTS main.{view}")
            db.execute(wanted)


def as_of_views(conn: sqlite3.Connection, run_id: int) -> None:
    """On this connection, shadow the stored views with the graph as of complete run
    `run_id` (temporary views; the stored ones are untouched)."""
    for view, sql in view_sql(run_id).items():
        conn.execute(f"DROP VIEW IF EXISTS temp.{view}")
        conn.execute(f"CREATE TEMP VIEW {view} AS {sql}")


def create_kind_facts(db: sqlite_utils.Database) -> None:
    db["kind_facts"].create(
        {
            "what": str,
            "kind": str,
            "role": str,
            "label": str,
            "principal": str,
            "access": str,
            "grant": str,
            "spans_account": str,
            "holds": int,
            "implies": str,
        },
        pk=("what", "kind"),
    )


def refresh_kind_facts(db: sqlite_utils.Database, wanted: list[dict[str, Any]]) -> bool:
    """Write the per-kind facts (`access.kind_fact_rows` of the loaded schemas); returns
    whether anything changed."""
    ensure_objects(db)
    have = list(db.query("SELECT * FROM kind_facts ORDER BY what, kind"))
    if have == sorted(wanted, key=lambda r: (r["what"], r["kind"])):
        return False
    with db.atomic():  # a savepoint inside a run's finish
        db.execute("DELETE FROM kind_facts")
        db["kind_facts"].insert_all(wanted)
    return True


# -- full-text search over current node names ------------------------------------------------


def create_search(db: sqlite_utils.Database) -> None:
    db["node_search"].create(
        {"id": str, "kind": str, "scope": str, "name": str, "email": str}, pk=("scope", "id")
    )
    db["node_search"].enable_fts(["id", "name", "email"], create_triggers=True)


def refresh_search(db: sqlite_utils.Database) -> int:
    """Bring the search table in line with current_nodes, touching only the rows that
    differ (a run that renames one server rewrites one row, not the index); returns its
    row count."""
    with db.atomic():  # a savepoint inside a run's finish
        db.execute(
            "DELETE FROM node_search WHERE NOT EXISTS (SELECT 1 FROM main.current_nodes c "
            "WHERE c.scope = node_search.scope AND c.id = node_search.id "
            "AND c.kind IS node_search.kind AND CAST(c.name AS TEXT) IS node_search.name "
            "AND c.email IS node_search.email)"
        )
        db.execute(
            "INSERT INTO node_search (id, kind, scope, name, email) "
            "SELECT c.id, c.kind, c.scope, CAST(c.name AS TEXT), c.email "
            "FROM main.current_nodes c WHERE NOT EXISTS (SELECT 1 FROM node_search s "
            "WHERE s.scope = c.scope AND s.id = c.id)"
        )
    return db["node_search"].count


def fts_query(text: str) -> str:
    """A user's words as an FTS5 query: every word, as a quoted prefix."""
    words = [w.replace('"', '""') for w in text.split()]
    return " ".join(f'"{w}"*' for w in words)


# -- what the query commands ask the views ---------------------------------------------------


def node_candidates(conn: sqlite3.Connection, principals: bool) -> list[dict[str, Any]]:
    """One row per current node id, principals or not: id, name, email, kind, fingerprint,
    suffix (what a user may name a node by)."""
    from .ledger import dict_rows

    where = "principal IS NOT NULL" if principals else "principal IS NULL"
    return list(
        dict_rows(
            conn.execute(
                "SELECT id, MIN(CAST(name AS TEXT)) AS name, MIN(email) AS email, "
                "MIN(kind) AS kind, MIN(json_extract(attrs, '$.fingerprint')) AS fingerprint, "
                "MIN(json_extract(attrs, '$.suffix')) AS suffix "
                f"FROM current_nodes WHERE {where} GROUP BY id ORDER BY id"
            )
        )
    )


def find_nodes(
    db: sqlite_utils.Database, *, kinds: tuple[str, ...], text: str | None, search_index: bool
) -> list[dict[str, Any]]:
    """Current nodes (as the views read them) of `kinds`, with `text` in their names: through
    the full-text index (brought up to date first) with `search_index`, else by LIKE."""
    sql = "SELECT id, kind, name, email, scope, source, first_seen FROM current_nodes n"
    where, params = [], []
    if kinds:
        where.append(f"kind IN ({', '.join('?' * len(kinds))})")
        params += list(kinds)
    if text and search_index:
        refresh_search(db)
        where.append(
            "EXISTS (SELECT 1 FROM node_search s WHERE s.scope = n.scope AND s.id = n.id "
            "AND s.rowid IN (SELECT rowid FROM node_search_fts "
            "WHERE node_search_fts MATCH ?))"
        )
        params.append(fts_query(text))
    elif text:
        where.append("(name LIKE ? OR email LIKE ? OR id LIKE ?)")
        params += [f"%{text}%"] * 3
    if where:
        sql += " WHERE " + " AND ".join(where)
    return list(db.query(sql + " ORDER BY kind, id, scope", params))
