"""The access review: a complete run's access rows (from the access engine), the checks'
findings on them, each row's flags, and what changed since the review's baseline."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .access import (
    FIRST_REVIEW,
    REVIEW_COLUMNS,
    ROW_ID_PREFIX,
    UNCHANGED,
    Access,
    AccessRow,
    Changes,
    ReviewRows,
    changes_between,
    name_from,
    node_data,
    read_access,
    review_rows,
    run_time,
    sort_review_rows,
)
from .csvinput import FORMULA_START, RISKY_FIRST, safe_cell  # noqa: F401 - re-exported
from .interfaces import Finding
from .memory import gc_paused
from .model import attrs_from_json
from .schema import SchemaRegistry, registry
from .store import Run, Store
from .view import graph_edges, graph_nodes, in_edge_kinds, load_graph, nodes_of

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["REVIEW_COLUMNS", "ROW_ID_PREFIX", "AccessRow", "ReviewContext", "build_review"]
DECISION_COLUMNS = ("decision", "reviewer", "review_date", "justification")


class ReviewContext:
    """Everything an exporter needs: a complete run's access rows and findings, its graph.

    The rows (`graph.access`) and the checks read the store with SQL, kind by kind, when
    first asked for (`rows`, `findings`, `changes`); the whole run is loaded into networkx
    only when something asks for `graph` (the graph exports, the report).
    """

    def __init__(
        self,
        *,
        store: Store,
        run: Run,
        options: Mapping[str, Any] | None = None,
        schema: SchemaRegistry | None = None,
        graph: nx.MultiDiGraph | None = None,
    ) -> None:
        self.store = store
        self.run = run
        self.options: Mapping[str, Any] = options or {}
        self.schema = schema or registry()
        self.since: Run | None = None  # the baseline asked for (--since)
        self.evidence: Any = None  # the pack manifest's predicate (graph/evidence.py)
        self._pending = True  # the review is worked out on first use
        self._access: Access | None = None
        self._changes: Changes | None = None
        self._review: ReviewRows | None = None
        self._findings: list[Finding] = []
        self._graph = graph
        self._nodes: dict[str, dict[str, Any]] = {}  # id -> attributes of the nodes read
        self._by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._edges_by_kind: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        self._released_rows: int | None = None  # the row count, once the rows were let go

    def work_out(self) -> ReviewContext:
        """The rows, findings, flags and changes, now (once)."""
        if self._pending:
            self._pending = False
            with gc_paused(freeze=True):  # the rows make no cycle
                _work_out(self)
        return self

    @property
    def access(self) -> Access:
        """The run's access (explicit and implied rows), from the access engine (worked out
        again if `release_rows` let them go)."""
        if self._released_rows is not None:
            self._released_rows, self._pending = None, True
        self.work_out()
        assert self._access is not None
        return self._access

    @property
    def rows(self) -> list[AccessRow]:
        """The review's rows: one per explicit access path, people first."""
        return self.access.explicit

    @property
    def review(self) -> ReviewRows:
        """The rows a person decides on (one per credential, one per member and resource),
        grouped and sorted by risk, with the per-edge ids a merged row stands for."""
        self.work_out()
        assert self._review is not None
        return self._review

    @property
    def review_rows(self) -> list[AccessRow]:
        """review.csv's and review.xlsx's rows: see `review`."""
        return self.review.rows

    @property
    def findings(self) -> list[Finding]:
        self.work_out()
        return self._findings

    @property
    def changes(self) -> Changes | None:
        """What changed since the baseline (`since`, else the last reviewed run), if any."""
        self.work_out()
        return self._changes

    @property
    def removed(self) -> list[AccessRow]:
        """The baseline's rows no longer in this run."""
        return self.changes.removed if self.changes else []

    @property
    def row_count(self) -> int:
        """How many rows the reviewer decides on."""
        if self._released_rows is not None:
            return self._released_rows
        return len(self.review_rows)

    def release_rows(self) -> None:
        """Let the access rows and the node attributes read for them go, once the files
        that read them are written (the graph exports that follow need only the graph).
        The findings, the changes and the row count stay."""
        if self._access is None:
            return
        self._released_rows = len(self.review_rows)
        self._access = None  # the review's own rows (one per decision) stay: --by-reviewer
        self._nodes = {}
        self._by_kind.clear()
        self._edges_by_kind.clear()

    def release_graph(self) -> None:
        """Let the graph go (it is loaded again if asked for)."""
        self._graph = None
        self._by_kind.clear()  # may hold the graph's node dicts

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The whole run as a networkx graph, loaded on first use."""
        if self._graph is None:
            try:
                _run, self._graph = load_graph(self.store, self.run.id)
            except sqlite3.ProgrammingError:  # the caller closed the store: read it anew
                store = Store(self.store.path)
                try:
                    _run, self._graph = load_graph(store, self.run.id)
                finally:
                    store.close()
        return self._graph

    def graph_nodes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, attributes) of every node of `graph`, in its order, streamed from the store
        unless the graph is loaded: a whole-graph file without the graph in memory."""
        if self._graph is not None:
            return iter(self._graph._node.items())
        return graph_nodes(self.store, self.run)

    def graph_edges(self) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """(tail, head, key, attributes) of every edge of `graph`, in its order, streamed
        as `graph_nodes` (attributes may be shared between edges: read only)."""
        if self._graph is not None:
            return iter(self._graph.edges(keys=True, data=True))
        return graph_edges(self.store, self.run)

    def in_edge_kinds(self, nodes: Iterable[str]) -> dict[str, dict[str, list[str]]]:
        """node -> predecessor -> kinds of the edges between them, for `nodes`, in the
        graph's order (`graph._pred`), without loading the graph."""
        if self._graph is not None:
            pred = self._graph._pred
            return {
                node: {
                    u: [d["kind"] for d in keys.values()] for u, keys in pred.get(node, {}).items()
                }
                for node in nodes
            }
        return in_edge_kinds(self.store, self.run, nodes)

    def nodes_of_kind(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, attributes) of every node of a kind, read once with SQL."""
        found = self._by_kind.get(kind)
        if found is None:
            if self._graph is not None:
                found = [(n, d) for n, d in self._graph._node.items() if d.get("kind") == kind]
            else:
                as_of = run_time(self.run)
                found = [
                    (ident, node_data(self._nodes, ident, kind, source, data, as_of=as_of))
                    for ident, _k, source, data in self.store.node_tuples(self.run.id, kinds=[kind])
                ]
            self._by_kind[kind] = found
        return found

    def edges_of_kind(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(src, dst, attributes) of every edge of a kind, read once with SQL."""
        found = self._edges_by_kind.get(kind)
        if found is None:
            found = [
                (src, dst, {**attrs_from_json(attrs), "kind": k, "source": source})
                for src, dst, _disc, k, source, attrs, _first in self.store.edge_tuples(
                    self.run.id, kinds=[kind]
                )
            ]
            self._edges_by_kind[kind] = found
        return found

    def nodes_with_role(self, role: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, attributes) of every node whose kind the schema declares with `role`."""
        return [
            item
            for kind in sorted(self.schema.node_kinds_with_role(role))
            for item in self.nodes_of_kind(kind)
        ]

    def node(self, ident: str) -> dict[str, Any]:
        """A node's attributes (read so far, else from the graph); {} if absent."""
        data = self._nodes.get(ident)
        if data is None:
            data = self.graph._node.get(ident, {})
        return data

    def node_exists(self, ident: str) -> bool:
        """Whether the run holds this node (a resource of a declared role, or any node once
        the graph is loaded)."""
        if ident in self._nodes:
            return True
        return self._graph is not None and ident in self._graph._node

    def names(self, nodes: Iterable[str]) -> dict[str, str]:
        """What a reviewer calls each of `nodes` the run holds (others are left out), read
        for these alone unless the graph is loaded."""
        wanted = set(nodes)
        named = {n: name_from(self._nodes[n], n, self.schema) for n in wanted if n in self._nodes}
        rest = wanted - named.keys()
        if self._graph is not None:
            found = {n: self._graph._node[n] for n in rest if n in self._graph._node}
        else:
            found = nodes_of(self.store, self.run, rest) if rest else {}
        named.update((n, name_from(data, n, self.schema)) for n, data in found.items())
        return named

    def name(self, node: str) -> str:
        """What a reviewer calls a node."""
        data = self._nodes.get(node)
        if data is not None:
            return name_from(data, node, self.schema)
        return node_name(self.graph, node, self.schema)


def node_name(graph: nx.MultiDiGraph, node: str, schema: SchemaRegistry | None = None) -> str:
    """What a reviewer calls a node: its email, name, fingerprint or host."""
    return name_from(graph._node[node], node, schema or registry())


def _flag(context: ReviewContext, rows: list[AccessRow]) -> None:
    """Each row's flags: the checks found on its principal or its resource, and a stale
    attestation of the principal."""
    by_node: dict[str, set[str]] = {}
    for finding in context._findings:
        by_node.setdefault(finding.node, set()).add(finding.check)
    on_principal: dict[str, frozenset[str]] = {}
    lists: dict[frozenset[str], list[str]] = {}  # few distinct sets, each sorted once
    for row in rows:
        found = on_principal.get(row.who.ident)
        if found is None:
            principal = row.who.ident
            found = frozenset(by_node.get(principal, ()))
            if context.node(principal).get("attestation_stale"):
                found = found | {"attestation-stale"}
            on_principal[principal] = found
        if by_node:
            on_resource = by_node.get(row.on.ident)
            if on_resource:
                found = found | on_resource
        if found:
            flags = lists.get(found)
            if flags is None:
                flags = lists[found] = sorted(found)
            row.flags = flags


def default_baseline(store: Store, run: Run) -> int | None:
    """The last run before this one whose review decisions were imported, if any."""
    return store.latest_reviewed_run(run.id - 1)


def build_review(
    store: Store,
    run_id: int | None = None,
    *,
    since: int | None = None,
    options: Mapping[str, Any] | None = None,
    lazy: bool = False,
) -> ReviewContext:
    """The review of a complete run; with `since`, what changed since that complete run
    (else since the last reviewed run, if any).

    `lazy`: the rows and the findings are worked out when first asked for, from the store,
    which must then still be open: the graph exports need neither."""
    run = store.complete_run(run_id)
    context = ReviewContext(store=store, run=run, options=options or {}, schema=registry())
    if since is not None:
        context.since = store.complete_run(since)
    return context if lazy else context.work_out()


def _work_out(context: ReviewContext) -> None:
    """The access rows, every check's findings, the rows' flags and the changes since the
    baseline: what `build_review` leaves for first use."""
    from .plugins import get_checks

    store, run, schema = context.store, context.run, context.schema
    run_times = {r.id: r.finished or "" for r in store.runs()}
    by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    context._access = read_access(
        store, run, schema, run_times, nodes=context._nodes, by_kind=by_kind
    )
    if context._graph is None:  # else nodes_of_kind reads the graph, as it would have
        context._by_kind.update(by_kind)
    context._findings = []
    for check in get_checks().values():
        context._findings.extend(check.run(context))
    context._findings.sort(key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.check, f.node))
    _flag(context, context._access.explicit)  # implied rows are shown, never flagged
    baseline_id = context.since.id if context.since else default_baseline(store, run)
    if baseline_id is not None:
        baseline = store.complete_run(baseline_id)
        before = read_access(store, baseline, schema, run_times).explicit
        changes = context._changes = changes_between(before, context.rows, baseline)
        for row in context.rows:
            row.change = changes.label(row)
    else:  # the change column is never empty: with no baseline, every row is a first review
        for row in context.rows:
            row.change = FIRST_REVIEW
    context._review = review_rows(context._access.explicit)
    _risk(context, context._review.rows)
    for row in context._review.rows:
        if row.parts:
            row.change = _merged_change(row.parts)
    _open_items(context, context._review)
    _previous_answers(context, context._review)
    _owners(context, context._review)
    if context.options.get("scope") == "changed" and context._changes is not None:
        context._review.rows = [
            r for r in context._review.rows if r.change != UNCHANGED or r.open_item
        ]
    sort_review_rows(context._review.rows)


def _owners(context: ReviewContext, review: ReviewRows) -> None:
    """Each row's owner, purpose and suggested reviewer, from the annotations."""
    from .store.annotations import annotations

    known = annotations(context.store.db.conn)
    if known:
        for row in review.rows:
            row.owner = owner_facts(known, row)


def owner_facts(known: dict[str, dict[str, Any]], row: Any) -> tuple[str, str, str]:
    """A review row's owner and purpose (the credential's own, else its resource's) and its
    suggested reviewer (the resource's owner, else the credential's)."""
    own = known.get(row.principal, {}) if row.principal_type == "credential" else {}
    resource = known.get(row.resource, {})
    owner = own.get("owner") or resource.get("owner") or ""
    purpose = own.get("purpose") or resource.get("purpose") or ""
    return owner, purpose, resource.get("owner") or owner


def _previous_answers(context: ReviewContext, review: ReviewRows) -> None:
    """Each row's answer in the last review before this run: decision, reviewer,
    justification, and whether its access changed since (`yes (was ...)` or `no`)."""
    from .store.reviews import decisions_before

    for row_id, record in decisions_before(context.store.db.conn, context.run.id).items():
        row = review.find(row_id)
        if row is None:
            continue
        was = record["access"]
        same = was == row.access or was in (p.access for p in row.parts)
        row.previous = (
            record["decision"],
            record["reviewer"],
            record["justification"],
            "no" if same else f"yes (was {was})",
        )


def _open_items(context: ReviewContext, review: ReviewRows) -> None:
    """Each row's remediation item still open, as review.csv carries it into the next
    quarter ("R3: revoke decided in run 4, still present"), and into a pack exported again
    of the decided run itself (whose import asks a justification to keep it)."""
    from . import remediation
    from .store.remediation import open_items

    for item in open_items(context.store.db.conn):
        row = review.find(item["row_id"])
        if row is not None and item["decided_run"] <= context.run.id:
            row.open_item = "; ".join(filter(None, [row.open_item, remediation.describe(item)]))


def _merged_change(parts: list[AccessRow]) -> str:
    """A merged row's change: its parts' one label, else each changed part's."""
    labels = [p.change for p in parts]
    if len(set(labels)) == 1:
        return labels[0]
    changed = [p for p in parts if p.change != UNCHANGED]
    return "; ".join(f"{p.access_kind.rpartition(':')[2]} {p.change}" for p in changed)


WRITE_PERMISSIONS = frozenset({"DataWrite", "MetadataWrite"})


def _risk(context: ReviewContext, rows: list[AccessRow]) -> None:
    """Each review row's risk: high with a high finding on its principal or resource, or
    access that spans the account; medium with a medium finding or a write permission;
    else low."""
    worst: dict[str, int] = {}
    for finding in context._findings:
        rank = SEVERITY_RANK.get(finding.severity, 0)
        worst[finding.node] = max(rank, worst.get(finding.node, 0))
    by_access: dict[tuple[str, str], tuple[bool, bool]] = {}  # few distinct: each once

    def weight(kind: str, access: str) -> tuple[bool, bool]:
        known = by_access.get((kind, access))
        if known is None:
            edge = context.schema.edge(kind)
            known = by_access[(kind, access)] = (
                bool(edge and edge.spans(access)),
                bool(edge and WRITE_PERMISSIONS & set(edge.levels.get(access, ()))),
            )
        return known

    high, medium = SEVERITY_RANK["high"], SEVERITY_RANK["medium"]
    # the verdict of each (finding rank, spanning, writes): few distinct, each worked out once
    verdicts: dict[tuple[int, bool, bool], str] = {}
    for row in rows:
        found = worst.get(row.who.ident, 0)
        on_resource = worst.get(row.on.ident, 0)
        if on_resource > found:
            found = on_resource
        if row.parts:
            weights = [weight(p.edge[0], p.access) for p in row.parts]
            spanning, writes = any(w[0] for w in weights), any(w[1] for w in weights)
        else:
            spanning, writes = by_access.get((row.edge[0], row.access)) or weight(
                row.edge[0], row.access
            )
        key = (found, spanning, writes)
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = (
                "high"
                if found >= high or spanning
                else "medium"
                if found >= medium or writes
                else "low"
            )
        row.risk = verdict


SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1, "info": 0}
