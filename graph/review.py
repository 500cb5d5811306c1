"""The access review: one row per access path of a complete run, with findings and changes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .csvinput import FORMULA_START, safe_cell  # noqa: F401 - re-exported
from .interfaces import Finding
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
            self.run,
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


@dataclass
class ReviewContext:
    """Everything an exporter needs: a complete run's graph, its review rows and findings."""

    store: Store
    run: Run
    graph: nx.MultiDiGraph
    rows: list[ReviewRow]
    findings: list[Finding]
    since: Run | None = None
    removed: list[ReviewRow] = field(default_factory=list)
    options: Mapping[str, Any] = field(default_factory=dict)
    schema: SchemaRegistry = field(default_factory=registry)
    _by_kind: dict[str, list[tuple[str, dict[str, Any]]]] | None = None

    def nodes_of_kind(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, attributes) of every node of a kind; indexed once for all the checks."""
        if self._by_kind is None:
            self._by_kind = {}
            for node, data in self.graph._node.items():
                self._by_kind.setdefault(data.get("kind", ""), []).append((node, data))
        return self._by_kind.get(kind, [])

    def nodes_with_role(self, role: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, attributes) of every node whose kind the schema declares with `role`."""
        return [
            item
            for kind in sorted(self.schema.node_kinds_with_role(role))
            for item in self.nodes_of_kind(kind)
        ]

    def name(self, node: str) -> str:
        """What a reviewer calls a node."""
        return node_name(self.graph, node, self.schema)


def node_name(graph: nx.MultiDiGraph, node: str, schema: SchemaRegistry | None = None) -> str:
    """What a reviewer calls a node: its email, name, fingerprint or host."""
    data = graph._node[node]
    kind = (schema or registry()).node(data.get("kind", ""))
    label = data.get(kind.label if kind else "name")
    if kind and kind.label == "fingerprint":
        return f"{data.get('fingerprint')} (…{data.get('suffix', '')})"
    return str(label if label is not None else node)


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


def _flag(rows: Iterable[ReviewRow], graph: nx.MultiDiGraph, findings: list[Finding]) -> None:
    by_node: dict[str, set[str]] = {}
    for finding in findings:
        by_node.setdefault(finding.node, set()).add(finding.check)
    for row in rows:
        flags = by_node.get(row.principal, set()) | by_node.get(row.resource, set())
        if graph.nodes[row.principal].get("attestation_stale"):
            flags.add("attestation-stale")
        row.flags = sorted(flags)


def build_review(
    store: Store,
    run_id: int | None = None,
    *,
    since: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> ReviewContext:
    """The review of a complete run; with `since`, what changed since that complete run."""
    from .plugins import get_checks

    run, graph = load_graph(store, run_id)
    run_times = {r.id: r.finished or "" for r in store.runs()}
    schema = registry()
    rows = access_rows(graph, run, run_times, schema)
    context = ReviewContext(
        store=store,
        run=run,
        graph=graph,
        rows=rows,
        findings=[],
        options=options or {},
        schema=schema,
    )
    for check in get_checks().values():
        context.findings.extend(check.run(context))
    context.findings.sort(key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.check, f.node))
    _flag(rows, graph, context.findings)
    if since is not None:
        since_run, since_graph = load_graph(store, since)
        before = {r.row_id: r for r in access_rows(since_graph, since_run, run_times, schema)}
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
