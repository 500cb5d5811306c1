"""The versions of nodes and edges: applying a complete run (open new or changed versions,
close changed and missing ones, within the run's scope) and reading the graph as of a run.

A version is open from `opened_run` until `closed_run` (exclusive; NULL = still open), so
"the graph as of run N" is `opened_run <= N AND (closed_run IS NULL OR closed_run > N)`."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from ..model import Edge, Node, attrs_from_json, attrs_json, content_hash
from .chain import Written
from .ledger import dict_rows

AS_OF = "opened_run <= ? AND (closed_run IS NULL OR closed_run > ?)"
NodeTuple = tuple[str, str, str, dict[str, Any]]
"""(id, kind, source, attributes with first_seen and scope)."""
EdgeTuple = tuple[str, str, str | None, str, str, str, int]
"""(src, dst, discriminator, kind, source, attributes as JSON text, first_seen)."""


def apply_versions(
    conn: sqlite3.Connection,
    table: str,
    key: str,
    scope: str,
    run_id: int,
    rows: Iterable[tuple[Any, ...]],
    close_missing: bool,
    written: Written | None = None,
) -> dict[str, dict[str, int]]:
    """Open versions for new or changed rows, close changed and missing ones; `written`
    records the rows opened and closed, for the run's ledger digest (`chain.Written`).

    `rows` are tuples in `COLUMNS[table]` order; kind is the column after the key
    columns, hash the last one.
    """
    current = {
        row[0]: (row[1], row[2], row[3], row[4])
        for row in conn.execute(
            f"SELECT {key}, hash, first_seen, kind, opened_run FROM {table} "
            "WHERE scope = ? AND closed_run IS NULL",
            [scope],
        )
    }
    kind_at = COLUMNS[table].index("kind")
    inserts: list[tuple[Any, ...]] = []
    closes: list[tuple[int, str, str]] = []
    counts: dict[str, Counter] = {
        "created": Counter(),
        "changed": Counter(),
        "removed": Counter(),
    }
    seen: set[str] = set()
    for row in rows:
        ident = row[0]
        if ident in seen:
            continue  # the same node from two paths: the first one stands
        seen.add(ident)
        previous = current.get(ident)
        if previous is None:
            first_seen = run_id
            counts["created"][row[kind_at]] += 1
        elif previous[0] != row[-1]:
            first_seen = previous[1]
            closes.append((run_id, scope, ident))
            counts["changed"][row[kind_at]] += 1
        else:
            continue
        inserts.append((scope, *row, first_seen, run_id))
    if close_missing:
        for ident, (_hash, _first, kind, _opened) in current.items():
            if ident not in seen:
                closes.append((run_id, scope, ident))
                counts["removed"][kind] += 1
    conn.executemany(
        f"UPDATE {table} SET closed_run = ? WHERE scope = ? AND {key} = ? AND closed_run IS NULL",
        closes,
    )
    columns = ("scope", *COLUMNS[table], "first_seen", "opened_run")
    conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        inserts,
    )
    if written is not None:
        written.columns[table] = columns
        written.opened[table] = inserts
        written.closed[table] = [(scope, i, current[i][3]) for _run, _scope, i in closes]
    return {name: dict(counter) for name, counter in counts.items()}


def node_tuples(
    conn: sqlite3.Connection,
    run_id: int,
    *,
    kinds: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
) -> Iterator[NodeTuple]:
    """Each node at a run (only of `kinds`, only with `ids`, when given): SQL filters, JSON
    is decoded only for what is kept."""
    sql = (
        "SELECT id, kind, source, attrs, first_seen, scope FROM node_versions NOT INDEXED "
        f"WHERE {AS_OF}"
    )
    params: list[Any] = [run_id, run_id]
    if kinds is not None:
        kinds = sorted(set(kinds))
        if not kinds:
            return
        sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
        params += kinds
    if ids is not None:
        sql += " AND id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(set(ids))))
    loads = attrs_from_json
    for ident, kind, source, attrs, first_seen, scope in conn.execute(sql, params):
        data = loads(attrs)
        data["first_seen"] = first_seen
        data["scope"] = scope
        yield ident, kind, source, data


def edge_tuples(
    conn: sqlite3.Connection, run_id: int, *, kinds: Iterable[str] | None = None
) -> sqlite3.Cursor:
    """Each edge at a run (only of `kinds`, when given) as an `EdgeTuple`, undecoded."""
    sql = (
        "SELECT src, dst, discriminator, kind, source, attrs, first_seen "
        "FROM edge_versions NOT INDEXED "  # a full scan beats the index for a whole run
        f"WHERE {AS_OF}"
    )
    params: list[Any] = [run_id, run_id]
    if kinds is not None:
        kinds = sorted(set(kinds)) or [""]
        sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
        params += kinds
    return conn.execute(sql, params)


def access_edges(conn: sqlite3.Connection, run_id: int, kinds: Iterable[str]) -> sqlite3.Cursor:
    """(src, dst, kind, source, attributes JSON) of each edge of `kinds` at a run: the
    columns the access rows read, no more (two fewer strings made per row)."""
    kinds = sorted(set(kinds)) or [""]
    return conn.execute(
        "SELECT src, dst, kind, source, attrs FROM edge_versions NOT INDEXED "
        f"WHERE {AS_OF} AND kind IN ({', '.join('?' * len(kinds))})",
        [run_id, run_id, *kinds],
    )


def nodes(conn: sqlite3.Connection, run_id: int) -> list[Node]:
    """The nodes at a run, as records."""
    return [Node(id=i, kind=k, source=s, attrs=a) for i, k, s, a in node_tuples(conn, run_id)]


def node_kinds(conn: sqlite3.Connection, run_id: int) -> set[str]:
    """The node kinds present at a run."""
    return {
        row[0]
        for row in conn.execute(
            f"SELECT DISTINCT kind FROM node_versions WHERE {AS_OF}", [run_id, run_id]
        )
    }


def versions_changed_between(
    conn: sqlite3.Connection, table: str, run_a: int, run_b: int
) -> list[dict[str, Any]]:
    """Version rows of `table` opened or closed in (run_a, run_b]."""
    return list(
        dict_rows(
            conn.execute(
                f"SELECT * FROM {table} WHERE (opened_run > :a AND opened_run <= :b) "
                "OR (closed_run > :a AND closed_run <= :b)",
                {"a": run_a, "b": run_b},
            )
        )
    )


def node_history(conn: sqlite3.Connection, ident: str) -> list[dict[str, Any]]:
    """Every version of a node, oldest first."""
    return list(
        dict_rows(
            conn.execute("SELECT * FROM node_versions WHERE id = ? ORDER BY opened_run", [ident])
        )
    )


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows in the ledger and version tables."""
    return {
        name: conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
        for name in ("runs", "node_versions", "edge_versions")
    }


COLUMNS = {
    "node_versions": ("id", "kind", "source", "attrs", "hash"),
    "edge_versions": ("key", "src", "dst", "discriminator", "kind", "source", "attrs", "hash"),
}


def node_rows(nodes: Iterable[Node]) -> Iterator[tuple[Any, ...]]:
    for node in nodes:
        text = attrs_json(node.attrs)
        yield node.id, node.kind, node.source, text, content_hash(node.kind, node.source, text)


def edge_rows(edges: Iterable[Edge]) -> Iterator[tuple[Any, ...]]:
    # most edges carry no attributes: their hash depends on kind and source alone
    bare: dict[tuple[str, str], str] = {}
    for edge in edges:
        text = attrs_json(edge.attrs)
        if text == "{}":
            digest = bare.get((edge.kind, edge.source))
            if digest is None:
                digest = bare[edge.kind, edge.source] = content_hash(edge.kind, edge.source, text)
        else:
            digest = content_hash(edge.kind, edge.source, text)
        yield (
            edge.key,
            edge.src,
            edge.dst,
            edge.discriminator,
            edge.kind,
            edge.source,
            text,
            digest,
        )


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


def node_tuples_in_graph_order(conn: sqlite3.Connection, run_id: int) -> Iterator[NodeTuple]:
    """`node_tuples` of a run, the versions of one id (a node seen from two scopes) next to
    each other, the ids in the order a plain scan first meets them (networkx's node order
    once the run is loaded, `view.load_graph`): a reader can stream the graph in that order."""
    sql = (
        "SELECT id, kind, source, attrs, first_seen, scope FROM ("
        "SELECT rowid AS r, MIN(rowid) OVER (PARTITION BY id) AS pos, * "
        f"FROM node_versions NOT INDEXED WHERE {AS_OF}) ORDER BY pos, r"
    )
    loads = attrs_from_json
    for ident, kind, source, attrs, first_seen, scope in conn.execute(sql, [run_id, run_id]):
        data = loads(attrs)
        data["first_seen"] = first_seen
        data["scope"] = scope
        yield ident, kind, source, data


_RUN_EDGES = (
    "edges AS (SELECT rowid AS r, src, dst, discriminator, kind, source, attrs, first_seen "
    f"FROM edge_versions NOT INDEXED WHERE {AS_OF}), "
    "nodes AS (SELECT id, MIN(rowid) AS pos "
    f"FROM node_versions NOT INDEXED WHERE {AS_OF} GROUP BY id), "
    # a missing end (an edge to a node the run lacks) comes after every node, in the order
    # the edges name it (tail before head)
    "ends AS (SELECT id, MIN(p) AS p FROM (SELECT src AS id, r * 2 AS p FROM edges "
    "UNION ALL SELECT dst, r * 2 + 1 FROM edges) GROUP BY id) "
)


def missing_ends(conn: sqlite3.Connection, run_id: int) -> sqlite3.Cursor:
    """(id, source of the first edge naming it) of each end of an edge at a run that is no
    node at that run, in the order the edges first name them."""
    sql = (
        f"WITH {_RUN_EDGES}"
        "SELECT ends.id, edges.source FROM ends JOIN edges ON edges.r = ends.p / 2 "
        "WHERE ends.id NOT IN (SELECT id FROM nodes) ORDER BY ends.p"
    )
    return conn.execute(sql, [run_id] * 4)


def edge_tuples_in_graph_order(conn: sqlite3.Connection, run_id: int) -> sqlite3.Cursor:
    """`edge_tuples` of a run in networkx's edge order once the run is loaded: by their
    tail's place among the nodes (`node_tuples_in_graph_order`, then `missing_ends`), then
    by the head each tail first names, then as stored."""
    sql = (
        f"WITH {_RUN_EDGES}"
        "SELECT src, dst, discriminator, kind, source, attrs, first_seen FROM ("
        "SELECT edges.*, COALESCE(nodes.pos, (1 << 62) + ends.p) AS tail_pos, "
        "MIN(edges.r) OVER (PARTITION BY edges.src, edges.dst) AS pair_pos "
        "FROM edges LEFT JOIN nodes ON nodes.id = edges.src "
        "JOIN ends ON ends.id = edges.src) ORDER BY tail_pos, pair_pos, r"
    )
    return conn.execute(sql, [run_id] * 4)


def edge_count(conn: sqlite3.Connection, run_id: int) -> int:
    """How many edges the run's graph has (`load_graph`'s: one per tail, head and key)."""
    sql = (
        "SELECT COUNT(*) FROM (SELECT DISTINCT src, dst, kind, COALESCE(discriminator, '') "
        f"FROM edge_versions NOT INDEXED WHERE {AS_OF})"
    )
    return conn.execute(sql, [run_id, run_id]).fetchone()[0]
