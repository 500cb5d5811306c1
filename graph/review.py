"""The access review: one row per access path of a complete run, with findings and changes."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .csvinput import FORMULA_START, safe_cell  # noqa: F401 - re-exported
from .interfaces import Finding
from .model import attrs_from_json
from .schema import SchemaRegistry, registry
from .store import Run, Store
from .view import load_graph

if TYPE_CHECKING:
    import networkx as nx

REVIEW_COLUMNS = [
    "row_id",
    "run",
    "principal",
    "principal_name",
    "principal_type",
    "resource",
    "resource_name",
    "access",
    "access_kind",
    "path",
    "source",
    "evidence",
    "last_verified",
    "flags",
    "change_since_last_review",
    "decision",
    "reviewer",
    "review_date",
    "justification",
]
DECISION_COLUMNS = ("decision", "reviewer", "review_date", "justification")


@dataclass(slots=True)
class ReviewRow:
    row_id: str
    run: int
    principal: str
    principal_name: str
    principal_type: str
    resource: str
    resource_name: str
    access: str
    access_kind: str
    path: str
    source: str
    evidence: str
    last_verified: str
    flags: list[str] = field(default_factory=list)
    change_since_last_review: str = ""
    grant: str = ""  # the access edge's declared grant: role, resource, scope or send

    def values(self) -> list[Any]:
        """The row's values in REVIEW_COLUMNS order, raw (decision columns empty)."""
        return [
            self.row_id,
            str(self.run),
            self.principal,
            self.principal_name,
            self.principal_type,
            self.resource,
            self.resource_name,
            self.access,
            self.access_kind,
            self.path,
            self.source,
            self.evidence,
            self.last_verified,
            ";".join(self.flags),
            self.change_since_last_review,
            "",
            "",
            "",
            "",
        ]

    def cells(self) -> dict[str, str]:
        """Column -> neutralised cell text."""
        return dict(zip(REVIEW_COLUMNS, map(safe_cell, self.values()), strict=True))


class ReviewContext:
    """Everything an exporter needs: a complete run's review rows and findings, and its graph.

    The rows and the checks read the store with SQL, kind by kind; the whole run is loaded
    into networkx only when something asks for `graph` (the graph exports, the report).
    """

    def __init__(
        self,
        *,
        store: Store,
        run: Run,
        rows: list[ReviewRow],
        findings: list[Finding],
        options: Mapping[str, Any] | None = None,
        schema: SchemaRegistry | None = None,
        graph: nx.MultiDiGraph | None = None,
        nodes: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.run = run
        self.rows = rows
        self.findings = findings
        self.options: Mapping[str, Any] = options or {}
        self.schema = schema or registry()
        self.since: Run | None = None
        self.removed: list[ReviewRow] = []
        self._graph = graph
        self._nodes = nodes or {}  # id -> attributes of the nodes read so far
        self._by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._edges_by_kind: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}

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

    def nodes_of_kind(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, attributes) of every node of a kind, read once with SQL."""
        found = self._by_kind.get(kind)
        if found is None:
            if self._graph is not None:
                found = [(n, d) for n, d in self._graph._node.items() if d.get("kind") == kind]
            else:
                found = [
                    (ident, _node_data(self._nodes, ident, kind, source, data, self.run, self))
                    for ident, _k, source, data in self.store.node_rows_of_kinds(
                        self.run.id, [kind]
                    )
                ]
            self._by_kind[kind] = found
        return found

    def edges_of_kind(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(src, dst, attributes) of every edge of a kind, read once with SQL."""
        found = self._edges_by_kind.get(kind)
        if found is None:
            found = [
                (src, dst, {**attrs_from_json(attrs), "kind": k, "source": source})
                for src, dst, _disc, k, source, attrs, _first in self.store.edge_cursor_of_kinds(
                    self.run.id, [kind]
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

    def name(self, node: str) -> str:
        """What a reviewer calls a node."""
        data = self._nodes.get(node)
        if data is not None:
            return _name_from(data, node, self.schema)
        return node_name(self.graph, node, self.schema)


def _node_data(
    cache: dict[str, dict[str, Any]],
    ident: str,
    kind: str,
    source: str,
    data: dict[str, Any],
    run: Run,
    context: Any = None,
) -> dict[str, Any]:
    """A node's attributes as the graph holds them (kind, source, stale flag), cached."""
    known = cache.get(ident)
    if known is not None:
        return known
    data["kind"] = kind
    data["source"] = source
    data["sources"] = [source]
    if source == "attested" and "expires_at" in data:
        data["attestation_stale"] = data["expires_at"] < _now()
    cache[ident] = data
    return data


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def _name_from(data: Mapping[str, Any], node: str, schema: SchemaRegistry) -> str:
    kind = schema.node(data.get("kind", ""))
    label = data.get(kind.label if kind else "name")
    if kind and kind.label == "fingerprint":
        return f"{data.get('fingerprint')} (…{data.get('suffix', '')})"
    return str(label if label is not None else node)


def node_name(graph: nx.MultiDiGraph, node: str, schema: SchemaRegistry | None = None) -> str:
    """What a reviewer calls a node: its email, name, fingerprint or host."""
    return _name_from(graph._node[node], node, schema or registry())


ROW_ID_PREFIX = "r-"


def _row_id(principal: str, kind: str, resource: str) -> str:
    """`r-` + 16 hex: the letter keeps a spreadsheet from reading the id as a number
    (`9705615772979639` -> 9.70561577297964E+15, `522e003017105919` -> 1.79E+308)."""
    digest = hashlib.sha256(f"{principal}|{kind}|{resource}".encode()).hexdigest()[:16]
    return ROW_ID_PREFIX + digest


def _evidence(data: Mapping[str, Any], run: Run) -> str:
    if data.get("source") == "attested":
        parts = [f"attested by {data.get('attested_by')} on {data.get('attested_at')}"]
        if data.get("evidence"):
            parts.append(f"evidence {data['evidence']}")
        if data.get("evidence_sha256"):
            parts.append(f"evidence sha256:{data['evidence_sha256']}")
        parts.append(f"member file sha256:{data.get('file_sha256')}")
        return "; ".join(parts)
    return f"API, {data.get('scope')}, run {run.id}"


def access_rows(
    graph: nx.MultiDiGraph,
    run: Run,
    run_times: Mapping[int, str],
    schema: SchemaRegistry | None = None,
) -> list[ReviewRow]:
    """One row per access edge whose source is a principal (schema: principal / access).

    Walks each principal's out-edges in networkx's adjacency dicts; what is the same for
    all rows of a principal or a resource is worked out once.
    """
    schema = schema or registry()
    nodes, succ, pred = graph._node, graph._succ, graph._pred
    holding = schema.edge_kinds_with(holds=True)
    names: dict[str, str] = {}

    def name_of(node: str) -> str:
        known = names.get(node)
        if known is None:
            known = names[node] = node_name(graph, node, schema)
        return known

    rows = []
    for src, principal in nodes.items():
        principal_kind = schema.node(principal.get("kind", ""))
        if principal_kind is None or not principal_kind.principal:
            continue
        holder = [
            f"{u} -{d['kind']}-> {src}"
            for u, keys in pred[src].items()
            for d in keys.values()
            if d["kind"] in holding
        ]
        if principal.get("source") == "attested":
            verified = str(principal.get("attested_at", ""))
        else:
            verified = run_times.get(principal.get("last_seen") or run.id, "")
        evidence = _evidence(principal, run)
        principal_name = name_of(src)
        for dst, keys in succ[src].items():
            for data in keys.values():
                edge_kind = schema.edge(data["kind"])
                if edge_kind is None or not edge_kind.access:
                    continue
                access = data.get(edge_kind.access) or edge_kind.access
                rows.append(
                    ReviewRow(
                        row_id=_row_id(src, data["kind"], dst),
                        run=run.id,
                        principal=src,
                        principal_name=principal_name,
                        principal_type=principal_kind.principal,
                        resource=dst,
                        resource_name=name_of(dst),
                        access=str(access),
                        access_kind=data["kind"],
                        grant=edge_kind.grant or "",
                        path=" | ".join([*holder, f"{src} -{data['kind']}-> {dst}"]),
                        source=data.get("source", "api"),
                        evidence=evidence,
                        last_verified=verified,
                    )
                )
    rows.sort(key=lambda r: (r.principal_type != "human", r.principal, r.access_kind, r.resource))
    return rows


def access_rows_from_store(
    store: Store,
    run: Run,
    run_times: Mapping[int, str],
    schema: SchemaRegistry,
    nodes: dict[str, dict[str, Any]] | None = None,
) -> list[ReviewRow]:
    """`access_rows` without loading the run: the principals, the nodes access reaches and
    the access and holder edges, each read with SQL by kind; nothing else of the run."""
    nodes = {} if nodes is None else nodes
    access = {k: e for k, e in schema.edges.items() if e.access}
    holding = schema.edge_kinds_with(holds=True)
    named_kinds = {k for k, n in schema.nodes.items() if n.role}
    last_seen = store.last_seen(run.id)
    for ident, kind, source, data in store.node_rows_of_kinds(run.id, named_kinds):
        if ident in nodes:  # a node of two scopes (a person): keep both's facts
            nodes[ident].update(data)
            continue
        data["last_seen"] = last_seen.get(data["scope"])
        _node_data(nodes, ident, kind, source, data, run)
    holders: dict[str, list[str]] = {}
    for src, dst, _disc, kind, _source, _attrs, _first in store.edge_cursor_of_kinds(
        run.id, holding
    ):
        holders.setdefault(dst, []).append(f"{src} -{kind}-> {dst}")
    names: dict[str, str] = {}
    missing: set[str] = set()

    def name_of(node: str) -> str:
        known = names.get(node)
        if known is None:
            data = nodes.get(node)
            if data is None:
                missing.add(node)  # of a kind with no declared role, or gone: looked up below
                known = names[node] = node
            else:
                known = names[node] = _name_from(data, node, schema)
        return known

    principal_types = {k: n.principal for k, n in schema.nodes.items() if n.principal}
    per_principal: dict[str, tuple[str, str, str, str, str] | None] = {}
    values: dict[tuple[str, str], str] = {}  # (edge kind, attribute text) -> access value
    rows = []
    for src, dst, _disc, kind, source, attrs, _first in store.edge_cursor_of_kinds(run.id, access):
        facts = per_principal.get(src, False)
        if facts is False:  # worked out once per principal
            principal = nodes.get(src)
            principal_type = principal_types.get(principal["kind"]) if principal else None
            if principal_type is None:
                facts = None
            else:
                if principal.get("source") == "attested":
                    verified = str(principal.get("attested_at", ""))
                else:
                    verified = run_times.get(principal.get("last_seen") or run.id, "")
                facts = (
                    principal_type,
                    name_of(src),
                    _evidence(principal, run),
                    verified,
                    " | ".join(holders.get(src, ())),
                )
            per_principal[src] = facts
        if facts is None:
            continue
        principal_type, principal_name, evidence, verified, holder = facts
        edge_kind = access[kind]
        value = values.get((kind, attrs))
        if value is None:
            value = values[(kind, attrs)] = str(
                attrs_from_json(attrs).get(edge_kind.access) or edge_kind.access
            )
        step = f"{src} -{kind}-> {dst}"
        rows.append(
            ReviewRow(
                row_id=_row_id(src, kind, dst),
                run=run.id,
                principal=src,
                principal_name=principal_name,
                principal_type=principal_type,
                resource=dst,
                resource_name=name_of(dst),
                access=value,
                access_kind=kind,
                grant=edge_kind.grant or "",
                path=f"{holder} | {step}" if holder else step,
                source=source,
                evidence=evidence,
                last_verified=verified,
            )
        )
    if missing:
        for ident, kind, source, data in store.node_rows_with_ids(run.id, missing):
            _node_data(nodes, ident, kind, source, data, run)
        for row in rows:
            if row.resource in missing:
                data = nodes.get(row.resource)
                row.resource_name = (
                    _name_from(data, row.resource, schema)
                    if data
                    else f"{row.resource} (not in this run)"
                )
    rows.sort(key=lambda r: (r.principal_type != "human", r.principal, r.access_kind, r.resource))
    return rows


def _flag(context: ReviewContext) -> None:
    by_node: dict[str, set[str]] = {}
    for finding in context.findings:
        by_node.setdefault(finding.node, set()).add(finding.check)
    no_flags: frozenset[str] = frozenset()
    stale: dict[str, bool] = {}
    sorted_flags: dict[frozenset[str], list[str]] = {no_flags: []}  # few distinct sets
    for row in context.rows:
        principal = row.principal
        is_stale = stale.get(principal)
        if is_stale is None:
            is_stale = stale[principal] = bool(
                context.node(principal).get("attestation_stale")
            )
        found = frozenset(by_node.get(principal, no_flags) | by_node.get(row.resource, no_flags))
        if is_stale:
            found = found | {"attestation-stale"}
        flags = sorted_flags.get(found)
        if flags is None:
            flags = sorted_flags[found] = sorted(found)
        row.flags = list(flags)


def build_review(
    store: Store,
    run_id: int | None = None,
    *,
    since: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> ReviewContext:
    """The review of a complete run; with `since`, what changed since that complete run."""
    from .plugins import get_checks

    run = store.complete_run(run_id)
    run_times = {r.id: r.finished or "" for r in store.runs()}
    schema = registry()
    nodes: dict[str, dict[str, Any]] = {}
    rows = access_rows_from_store(store, run, run_times, schema, nodes)
    context = ReviewContext(
        store=store,
        run=run,
        rows=rows,
        findings=[],
        options=options or {},
        schema=schema,
        nodes=nodes,
    )
    for check in get_checks().values():
        context.findings.extend(check.run(context))
    context.findings.sort(key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.check, f.node))
    _flag(context)
    if since is not None:
        since_run = store.complete_run(since)
        before = {r.row_id: r for r in access_rows_from_store(store, since_run, run_times, schema)}
        for row in rows:
            old = before.pop(row.row_id, None)
            if old is None:
                row.change_since_last_review = "added"
            elif old.access != row.access:
                row.change_since_last_review = f"changed (was {old.access})"
        for old in before.values():
            old.change_since_last_review = f"removed since run {since_run.id}"
        context.since = since_run
        context.removed = sorted(before.values(), key=lambda r: (r.principal, r.resource))
    return context


SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1, "info": 0}
