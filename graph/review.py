"""The access review: one row per access path of a complete run, with findings and changes."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .csvinput import FORMULA_START, RISKY_FIRST, safe_cell  # noqa: F401 - re-exported
from .interfaces import Finding
from .model import attrs_from_json
from .schema import SchemaRegistry, registry
from .store import Run, Store
from .view import gc_paused, load_graph

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

    @classmethod
    def from_values(
        cls, values: list[str], grant: str = "", flags: list[str] | None = None
    ) -> ReviewRow:
        """The row whose `values()` these are (the review keeps its rows as value lists);
        `flags`: the list the flags cell joins (else split at `;`)."""
        if flags is None:
            flags = values[13].split(";") if values[13] else []
        return cls(
            values[0],
            int(values[1]),
            *values[2:13],
            flags=list(flags),
            change_since_last_review=values[14],
            grant=grant,
        )


class ReviewContext:
    """Everything an exporter needs: a complete run's review rows and findings, and its graph.

    The rows and the checks read the store with SQL, kind by kind, when first asked for
    (`rows`, `findings`, `removed`, `row_values()`, `csv_row_values()`); the whole run is
    loaded into networkx only when something asks for `graph` (the graph exports, the
    report). The rows are kept as value lists in REVIEW_COLUMNS order; `rows` makes
    `ReviewRow`s of them on first use (they are then the rows).
    """

    def __init__(
        self,
        *,
        store: Store,
        run: Run,
        rows: list[ReviewRow] | None = None,
        findings: list[Finding] | None = None,
        options: Mapping[str, Any] | None = None,
        schema: SchemaRegistry | None = None,
        graph: nx.MultiDiGraph | None = None,
        nodes: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.run = run
        self.options: Mapping[str, Any] = options or {}
        self.schema = schema or registry()
        self.since: Run | None = None
        self._pending = rows is None  # the review is worked out on first use
        self._rows = rows
        self._values: list[list[str]] | None = None
        self._risky: set[int] = set()  # id() of the value lists with a cell to neutralise
        self._flag_lists: dict[str, list[str]] = {}  # flags cell -> the flags
        self._findings: list[Finding] = findings or []
        self._removed: list[ReviewRow] = []
        self._graph = graph
        self._nodes = nodes or {}  # id -> attributes of the nodes read so far
        self._by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._edges_by_kind: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}

    def work_out(self) -> ReviewContext:
        """The rows, findings and flags, now (once)."""
        if self._pending:
            self._pending = False
            with gc_paused():
                _work_out(self)
        return self

    @property
    def rows(self) -> list[ReviewRow]:
        """One `ReviewRow` per access path, sorted (humans first, then by principal)."""
        self.work_out()
        if self._rows is None:
            grants, lists = _grants(self.schema), self._flag_lists
            self._rows = [
                ReviewRow.from_values(v, grants.get(v[8], ""), lists.get(v[13]))
                for v in self._values or ()
            ]
            self._values = None
        return self._rows

    @property
    def findings(self) -> list[Finding]:
        self.work_out()
        return self._findings

    @property
    def removed(self) -> list[ReviewRow]:
        """With `since`: the rows of that run no longer in this one."""
        self.work_out()
        return self._removed

    @property
    def row_count(self) -> int:
        self.work_out()
        return len(self._values) if self._values is not None else len(self._rows or ())

    def row_values(self) -> list[list[str]]:
        """Each row's raw values in REVIEW_COLUMNS order (as `ReviewRow.values()`)."""
        self.work_out()
        if self._values is not None:
            return self._values
        return [row.values() for row in self._rows or ()]

    def csv_row_values(self) -> Iterator[list[str]]:
        """`row_values()` with every cell neutralised for CSV (`safe_cell`): only the rows
        with a risky first character anywhere are rewritten."""
        values = self.row_values()
        risky = self._risky if self._values is not None else None
        if risky is None:  # rows given or made: each tested
            yield from ([safe_cell(v) for v in row] for row in values)
        elif not risky:
            yield from values
        else:
            for row in values:
                yield [safe_cell(v) for v in row] if id(row) in risky else row

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
    (`9705615772979639` -> 9.70561577297964E+15, `522e003017105919` -> 1.79E+308).

    The kind is hashed without its `<connector>:` namespace (principal and resource ids
    carry the connector already), so a kind given its namespace later (the built-in
    connector's, in schema 5) keeps the row ids stored decisions and reviewers' files cite."""
    local_kind = kind.rpartition(":")[2]
    digest = hashlib.sha256(f"{principal}|{local_kind}|{resource}".encode()).hexdigest()[:16]
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


def _principal_facts(
    src: str,
    nodes: Mapping[str, dict[str, Any]],
    principal_types: Mapping[str, str],
    holders: Mapping[str, list[str]],
    name_of: Any,
    run: Run,
    run_times: Mapping[int, str],
) -> tuple[str, str, str, str, str, bool] | None:
    """What every review row of a principal shares: its name, type, evidence, last
    verification and holder path, and whether one of its cells (or the path, which starts
    with the holder or the principal) starts with a risky character; None if `src` is no
    principal."""
    principal = nodes.get(src)
    principal_type = principal_types.get(principal["kind"]) if principal else None
    if principal is None or principal_type is None:
        return None
    if principal.get("source") == "attested":
        verified = str(principal.get("attested_at", ""))
    else:
        verified = run_times.get(principal.get("last_seen") or run.id, "")
    holder = " | ".join(holders.get(src, ()))
    name, name_risky = name_of(src)
    same = (principal_type, _evidence(principal, run), verified, holder or src or " ")
    return (
        name,
        *same[:3],
        holder,
        name_risky or any(text[:1] in RISKY_FIRST for text in same),
    )


def access_values(
    store: Store,
    run: Run,
    run_times: Mapping[int, str],
    schema: SchemaRegistry,
    nodes: dict[str, dict[str, Any]] | None = None,
    by_kind: dict[str, list[tuple[str, dict[str, Any]]]] | None = None,
) -> tuple[list[list[str]], set[int]]:
    """`access_rows` without loading the run, as value lists in REVIEW_COLUMNS order (flags
    and change empty), sorted as `access_rows` sorts; and the `id()` of each list with a
    cell a CSV writer must neutralise (one starting with a RISKY_FIRST character).

    The principals, the nodes access reaches and the access and holder edges are each read
    with SQL by kind; nothing else of the run. `nodes` collects the nodes read (id ->
    attributes), `by_kind` the same by kind (as `ReviewContext.nodes_of_kind` gives them).
    """
    nodes = {} if nodes is None else nodes
    access = {k: e for k, e in schema.edges.items() if e.access}
    holding = schema.edge_kinds_with(holds=True)
    named_kinds = {k for k, n in schema.nodes.items() if n.role}
    if by_kind is not None:
        for kind in named_kinds:
            by_kind.setdefault(kind, [])
    last_seen = store.last_seen(run.id)
    for ident, kind, source, data in store.node_rows_of_kinds(run.id, named_kinds):
        if ident in nodes:  # a node of two scopes (a person): keep both's facts
            nodes[ident].update(data)
        else:
            data["last_seen"] = last_seen.get(data["scope"])
            _node_data(nodes, ident, kind, source, data, run)
        if by_kind is not None:
            by_kind[kind].append((ident, nodes[ident]))
    holders: dict[str, list[str]] = {}
    for src, dst, _disc, kind, _source, _attrs, _first in store.edge_cursor_of_kinds(
        run.id, holding
    ):
        holders.setdefault(dst, []).append(f"{src} -{kind}-> {dst}")
    risky_first = RISKY_FIRST
    # node -> (what a reviewer calls it, whether that or its id starts with a risky character)
    names: dict[str, tuple[str, bool]] = {}
    missing: set[str] = set()

    def name_of(node: str) -> tuple[str, bool]:
        known = names.get(node)
        if known is None:
            data = nodes.get(node)
            if data is None:
                missing.add(node)  # of a kind with no declared role, or gone: looked up below
                name = node
            else:
                name = _name_from(data, node, schema)
            known = names[node] = (name, name[:1] in risky_first or node[:1] in risky_first)
        return known

    principal_types = {k: n.principal for k, n in schema.nodes.items() if n.principal}
    per_principal: dict[str, tuple[str, str, str, str, str, bool] | None] = {}
    # (edge kind, source, attribute text) -> the access value, and whether the access,
    # access_kind or source cell starts with a risky character
    values: dict[tuple[str, str, str], tuple[str, bool]] = {}
    sha256 = hashlib.sha256
    run_text = str(run.id)
    rows: list[list[str]] = []
    risky: set[int] = set()
    last_src, facts = None, None
    for src, dst, _disc, kind, source, attrs, _first in store.edge_cursor_of_kinds(run.id, access):
        if src != last_src:  # an edge of another principal (a principal's edges mostly follow
            last_src = src  # one another)
            facts = per_principal.get(src, False)
            if facts is False:  # worked out once per principal
                facts = per_principal[src] = _principal_facts(
                    src, nodes, principal_types, holders, name_of, run, run_times
                )
        if facts is None:
            continue
        principal_name, principal_type, evidence, verified, holder, principal_risky = facts
        known = values.get((kind, source, attrs))
        if known is None:
            edge_kind = access[kind]
            value = str(attrs_from_json(attrs).get(edge_kind.access) or edge_kind.access)
            known = values[(kind, source, attrs)] = (
                value,
                any(text[:1] in risky_first for text in (value, kind, source)),
            )
        value, edge_risky = known
        resource_name, resource_risky = names.get(dst) or name_of(dst)
        step = f"{src} -{kind}-> {dst}"
        row = [
            ROW_ID_PREFIX  # _row_id's, inline: hashed without the kind's namespace
            + sha256(f"{src}|{kind.rpartition(':')[2]}|{dst}".encode()).hexdigest()[:16],
            run_text,
            src,
            principal_name,
            principal_type,
            dst,
            resource_name,
            value,
            kind,
            f"{holder} | {step}" if holder else step,
            source,
            evidence,
            verified,
            "",
            "",
            "",
            "",
            "",
            "",
        ]
        rows.append(row)
        if principal_risky or edge_risky or resource_risky:
            risky.add(id(row))
    if missing:
        for ident, kind, source, data in store.node_rows_with_ids(run.id, missing):
            _node_data(nodes, ident, kind, source, data, run)
        for row in rows:
            resource = row[5]
            if resource in missing:
                data = nodes.get(resource)
                row[6] = (
                    _name_from(data, resource, schema) if data else f"{resource} (not in this run)"
                )
                if row[6][:1] in risky_first:
                    risky.add(id(row))
    # (principal_type != "human", principal, access_kind, resource): sorted by the last
    # three, then the humans moved first (both stable)
    rows.sort(key=itemgetter(2, 8, 5))
    rows = [r for r in rows if r[4] == "human"] + [r for r in rows if r[4] != "human"]
    return rows, risky


def _grants(schema: SchemaRegistry) -> dict[str, str]:
    """Access edge kind -> its declared grant."""
    return {k: e.grant or "" for k, e in schema.edges.items() if e.access}


def _flag(context: ReviewContext) -> None:
    """Each row's flags: the checks found on its principal or its resource, and a stale
    attestation of the principal."""
    by_node: dict[str, set[str]] = {}
    for finding in context._findings:
        by_node.setdefault(finding.node, set()).add(finding.check)
    no_flags: frozenset[str] = frozenset()
    # principal -> its flags (and their cell text): most resources have no finding
    principal_flags: dict[str, tuple[frozenset[str], str]] = {}
    joined: dict[frozenset[str], str] = {}  # few distinct sets, each sorted and joined once
    lists = context._flag_lists

    def text_of(found: frozenset[str]) -> str:
        text = joined.get(found)
        if text is None:
            flags = sorted(found)
            text = joined[found] = ";".join(flags)
            lists[text] = flags
        return text

    values = context._values
    rows = values if values is not None else context._rows or []
    for row in rows:
        principal, resource = (
            (row[2], row[5]) if values is not None else (row.principal, row.resource)
        )
        known = principal_flags.get(principal)
        if known is None:
            found = frozenset(by_node.get(principal, no_flags))
            if context.node(principal).get("attestation_stale"):
                found = found | {"attestation-stale"}
            known = principal_flags[principal] = (found, text_of(found))
        on_resource = by_node.get(resource)
        text = known[1] if on_resource is None else text_of(known[0] | on_resource)
        if values is None:
            row.flags = list(lists[text])
        elif text:
            row[13] = text
            if text[:1] in RISKY_FIRST:
                context._risky.add(id(row))


def build_review(
    store: Store,
    run_id: int | None = None,
    *,
    since: int | None = None,
    options: Mapping[str, Any] | None = None,
    lazy: bool = False,
) -> ReviewContext:
    """The review of a complete run; with `since`, what changed since that complete run.

    `lazy`: the rows and the findings are worked out when first asked for (`rows`,
    `findings`, `row_values()`...), from the store, which must then still be open: the
    graph exports need neither."""
    run = store.complete_run(run_id)
    context = ReviewContext(store=store, run=run, options=options or {}, schema=registry())
    if since is not None:
        context.since = store.complete_run(since)
    return context if lazy else context.work_out()


def _work_out(context: ReviewContext) -> None:
    """The review's rows, every check's findings, the rows' flags and (with `since`) the
    changes: what `build_review` leaves for first use."""
    from .plugins import get_checks

    store, run, schema = context.store, context.run, context.schema
    run_times = {r.id: r.finished or "" for r in store.runs()}
    by_kind: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    values, risky = access_values(store, run, run_times, schema, context._nodes, by_kind)
    if context._graph is None:  # else nodes_of_kind reads the graph, as it would have
        context._by_kind.update(by_kind)
    context._values, context._risky, context._findings = values, risky, []
    for check in get_checks().values():
        context._findings.extend(check.run(context))
    context._findings.sort(key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.check, f.node))
    _flag(context)
    if context.since is not None:
        _changes(context, run_times)


def _changes(context: ReviewContext, run_times: Mapping[int, str]) -> None:
    since_run = context.since
    assert since_run is not None
    before = {
        v[0]: v for v in access_values(context.store, since_run, run_times, context.schema)[0]
    }
    values = context._values
    for row in values if values is not None else context.rows:
        row_id, access = (row[0], row[7]) if values is not None else (row.row_id, row.access)
        old = before.pop(row_id, None)
        if old is None:
            change = "added"
        elif old[7] != access:
            change = f"changed (was {old[7]})"
        else:
            continue
        if values is None:
            row.change_since_last_review = change
        else:
            row[14] = change  # "added" or "changed (...": a safe first character
    grants = _grants(context.schema)
    removed = []
    for old in sorted(before.values(), key=itemgetter(2, 5)):
        old[14] = f"removed since run {since_run.id}"
        removed.append(ReviewRow.from_values(old, grants.get(old[8], "")))
    context._removed = removed


SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1, "info": 0}
