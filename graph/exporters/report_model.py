"""What report.html shows, worked out from a review context and the schema registry only.

Everything here is plain data (dicts, lists, strings, numbers); the Jinja2 templates in
templates/ turn it into HTML with autoescape on. No connector is named: node roles, edge
grants, levels and `spans_account` come from the schema each connector declares.
"""

from __future__ import annotations

import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import orjson

from ..access import AccessRow, run_time, spans
from ..review import SEVERITY_RANK, ReviewContext, node_name
from ..text import bidi_isolated
from .report_evidence import evidence_summary

PICTURE_MAX_NODES = 150  # above this the graph picture is replaced by the matrix
MATRIX_MAX_COLUMNS = 12  # more resources than this: one row per resource, people as columns
LAYER_OF_ROLE = {"member": 0, "credential": 0, "account": 1, "resource": 2, None: 3}
LAYER_OF_ROLE |= {"identity": 4, "endpoint": 4}
PALETTE = [
    "#6a4c93", "#1f77b4", "#2a9d8f", "#e9a23b", "#d1495b", "#8c564b", "#17becf",
    "#7f7f7f", "#bcbd22", "#e377c2", "#3d5a80", "#9c6644", "#5e8c31", "#b5838d",
]  # fmt: skip


def kind_label(kind: str) -> str:
    """A kind as a reader says it: its last part, underscores as spaces."""
    return kind.rsplit(":", 1)[-1].replace("_", " ") or "node"


class Names:
    """Node names looked up once: the graph's, else an earlier graph's, else the id.
    `graph`: what the report reads of the run (default: the whole run, `context.graph`)."""

    def __init__(self, context: ReviewContext, *others: Any, graph: Any = None) -> None:
        self.graph = graph if graph is not None else context.graph
        self.graphs = [self.graph, *others]
        self.schema = context.schema
        self.cache: dict[str, str] = {}

    def __call__(self, node: str) -> str:
        known = self.cache.get(node)
        if known is None:
            known = node
            for graph in self.graphs:
                if node in graph:
                    known = node_name(graph, node, self.schema)
                    if known == node:  # no label property: something more telling
                        data = graph.nodes[node]
                        known = next(
                            (str(data[p]) for p in ("name", "url", "host", "email") if data.get(p)),
                            node,
                        )
                    break
            self.cache[node] = known
        return known

    def ref(self, node: str) -> dict[str, str]:
        return {"id": node, "name": self(node)}


class _NodeView(Mapping[str, dict[str, Any]]):
    """`graph.nodes` as the report reads it: `nodes[node]` (a dict of its attributes, made
    when asked), and `nodes(data=True)`. A node is held as a tuple: the names of its
    attributes (one tuple shared by the nodes alike), then their values; a dict per node
    was about 15 MB at 100,000 nodes."""

    def __init__(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._held: dict[str, tuple[Any, ...]] = {}
        for node, data in items:
            keys = tuple(data)
            self._held[node] = (shapes.setdefault(keys, keys), *data.values())

    def __getitem__(self, node: str) -> dict[str, Any]:
        keys, *values = self._held[node]
        return dict(zip(keys, values, strict=True))

    def __contains__(self, node: object) -> bool:
        return node in self._held

    def __iter__(self) -> Iterator[str]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)

    def __call__(self, data: bool = False) -> Any:
        return self.items() if data else self.keys()


class _LeanGraph:
    """What the report reads of a large run, in networkx's shapes, without networkx's graph
    of the whole run (hundreds of megabytes at 100,000 nodes): every node with only the
    attributes a name, a kind or a cell shows, and the edges (their kinds) out of and into
    the nodes the report asks for, each read with one scan of the run's edges."""

    KEPT = {"kind", "attestation_stale", "last_seen", "name", "url", "host", "email"}
    KEPT |= {"fingerprint", "suffix"}

    def __init__(self, context: ReviewContext) -> None:
        self.context = context
        kept = self.KEPT | {kind.label for kind in context.schema.nodes.values()}
        self._node = self.nodes = _NodeView(
            (node, {k: v for k, v in data.items() if k in kept})
            for node, data in context.graph_nodes()
        )
        self._succ: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        self._pred: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        # the keys of the edges between two nodes, read-only and shared by the pairs alike
        # (most are one edge of a common kind): a dict or two per edge was most of it
        self._alike: dict[tuple[tuple[str, str], ...], dict[str, dict[str, str]]] = {}

    def _keys(self, kinds: Iterable[tuple[str, str]]) -> dict[str, dict[str, str]]:
        items = tuple(kinds)
        found = self._alike.get(items)
        if found is None:
            found = self._alike[items] = {key: {"kind": kind} for key, kind in items}
        return found

    def __contains__(self, node: object) -> bool:
        return node in self._node

    def __len__(self) -> int:
        return len(self._node)

    def number_of_edges(self) -> int:
        return self.context.store.edge_count(self.context.run.id)

    def read_out_edges(self, nodes: Iterable[str]) -> None:
        from ..view import out_edge_kinds

        found = out_edge_kinds(self.context.store, self.context.run, set(nodes) - set(self._succ))
        for node, succ in found.items():
            self._succ[node] = {v: self._keys(keys) for v, keys in succ.items()}

    def last_readers(self, nodes: Iterable[str]) -> dict[str, int]:
        """Each of `nodes` and of their successors -> the index in `nodes` of the last one
        whose section reads its out-edges (itself, or one of its parents)."""
        last: dict[str, int] = {}
        for index, node in enumerate(nodes):
            last[node] = index
            for child in self._succ.get(node, ()):
                last[child] = index
        return last

    def let_go(self, node: str, index: int, last: dict[str, int]) -> None:
        """Forget the out-edges of `node` and its successors that no later section reads."""
        for each in (node, *self._succ.get(node, ())):
            if last.get(each) == index:
                self._succ.pop(each, None)

    def read_in_edges(self, nodes: Iterable[str]) -> None:
        for node, pred in self.context.in_edge_kinds(set(nodes) - set(self._pred)).items():
            self._pred[node] = {
                u: self._keys((str(i), kind) for i, kind in enumerate(kinds))
                for u, kinds in pred.items()
            }


def _report_graph(context: ReviewContext, *, changed: bool) -> Any:
    """The run's graph for the report: networkx's, loaded, for a picture (a small run) or
    what changed since a baseline (both runs' graphs compared); else a `_LeanGraph`."""
    if changed or context._graph is not None:
        return context.graph
    lean = _LeanGraph(context)
    return context.graph if len(lean) <= PICTURE_MAX_NODES else lean


def _role(context: ReviewContext, graph: Any, node: str) -> str | None:
    kind = context.schema.node(graph.nodes[node].get("kind", "")) if node in graph else None
    return kind.role if kind else None


# -- who has access to what -----------------------------------------------------------------


def _member_resource_kinds(context: ReviewContext) -> set[str]:
    """The kinds members are granted access on (each member format's resource kind), from
    the resources the API listed: before any attestation, or with admins only, the matrix
    still has a column per server, never "0 resources"."""
    from ..plugins import get_member_formats

    kinds = {fmt.resource_kind for fmt in get_member_formats().values()}
    return {kind for kind in kinds if context.nodes_of_kind(kind)}


class _CellKinds:
    """The matrix's kinds of cell, each a read-only dict shared by every cell alike (a few
    kinds, where 500 people x 15,000 servers would be 7.5 million dicts: gigabytes), and
    each person's row as one byte per cell naming its kind (`CellRow`)."""

    def __init__(self, implied_value: str) -> None:
        self.implied_value = implied_value
        self.kinds: list[dict[str, Any]] = []
        self.index: dict[tuple[str, bool], int] = {}

    def code(self, value: str, implied: bool) -> int:
        found = self.index.get((value, implied))
        if found is None:
            strong = value != "none" and (implied or value == self.implied_value)
            code = "" if value == "none" else "i" if implied else "s" if strong else "w"
            found = self.index[value, implied] = len(self.kinds)
            self.kinds.append({"value": value, "implied": implied, "strong": strong, "code": code})
        return found


class CellRow(Sequence[dict[str, Any]]):
    """A person's row of the matrix: a byte per cell, the index of its kind of cell in the
    table every row shares. 500 people x 15,000 servers are 7.5 MB here; a list of the
    shared cells was 60 MB of references."""

    __slots__ = ("codes", "kinds")

    def __init__(self, kinds: list[dict[str, Any]], codes: bytearray) -> None:
        self.kinds, self.codes = kinds, codes  # a bytearray: at most 256 kinds of cell

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self.kinds[code] for code in self.codes[index]]
        return self.kinds[self.codes[index]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self.kinds.__getitem__, self.codes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CellRow) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def access_matrix(context: ReviewContext, names: Names) -> dict[str, Any]:
    """People x resources: each cell the effective access the engine gives (an account-wide
    role's implied level, else the explicit grant, else none)."""
    graph, schema = names.graph, context.schema
    access = context.access
    effective = access.effective()
    roles: dict[str, dict[str, Any]] = {}
    resource_kinds: set[str] = set()
    implied_value = ""
    for row in access.explicit:
        if row.principal_type != "human":
            continue
        if row.grant == "role":
            known = roles.setdefault(row.principal, {"roles": [], "spans": False})
            known["roles"].append(row.access)
            known["spans"] |= spans(schema, row.access_kind, row.access)
        elif row.grant == "resource" and row.resource in graph:
            resource_kinds.add(graph.nodes[row.resource].get("kind", ""))
    implied_cells = {
        (r.principal, r.resource) for r in access.implied if r.principal_type == "human"
    }
    for row in access.implied:
        implied_value = implied_value or row.access
    resource_kinds |= _member_resource_kinds(context)
    resources = sorted(
        (
            node
            for kind in resource_kinds
            if (declared := schema.node(kind)) is not None and declared.role == "resource"
            for node, _data in context.nodes_of_kind(kind)
        ),
        key=lambda n: (names(n).lower(), n),
    )
    cells = _CellKinds(implied_value)
    members = {node for node, _data in context.nodes_with_role("member")}
    members |= {r.principal for r in access.explicit if r.principal_type == "human"}
    people = []
    for person in sorted(members, key=lambda n: (not roles.get(n, {}).get("spans"), names(n))):
        role = roles.get(person, {"roles": [], "spans": False})
        data = graph.nodes[person] if person in graph else {}
        row_cells = CellRow(cells.kinds, bytearray())
        for resource in resources:
            value = effective.get((person, resource), "none")
            row_cells.codes.append(cells.code(value, (person, resource) in implied_cells))
        people.append(
            {
                **names.ref(person),
                "role": ", ".join(role["roles"]) or "no role",
                "spans": role["spans"],
                "stale": bool(data.get("attestation_stale")),
                "cells": row_cells,
                "count": sum(1 for c in row_cells if c["value"] != "none"),
            }
        )
    columns = [
        {**names.ref(r), "count": sum(1 for p in people if p["cells"][i]["value"] != "none")}
        for i, r in enumerate(resources)
    ]
    return {
        "people": people,
        "resources": columns,
        "resource_kind": ", ".join(sorted(kind_label(k) for k in resource_kinds)) or "resource",
        "implied": implied_value or "all",
        "transposed": len(columns) > MATRIX_MAX_COLUMNS,
    }


def resource_sections(
    context: ReviewContext, names: Names, matrix: dict[str, Any], run_times: dict[int, str]
) -> Iterator[dict[str, Any]]:
    """Per matrix resource, one at a time: who has access, the credentials it holds, its
    other children. Made as the page's data asks for them (`drawn_when_opened`), so a large
    account never holds every section at once."""
    graph, schema = names.graph, context.schema
    last_readers: dict[str, int] | None = None
    if isinstance(graph, _LeanGraph):  # the edges out of the resources, then of their parts
        graph.read_out_edges(column["id"] for column in matrix["resources"])
        graph.read_out_edges(
            child for column in matrix["resources"] for child in graph._succ[column["id"]]
        )
        last_readers = graph.last_readers(column["id"] for column in matrix["resources"])
    holding = schema.edge_kinds_with(holds=True)
    rows_to: dict[str, list[AccessRow]] = defaultdict(list)
    for row in context.rows:
        rows_to[row.resource].append(row)
    # a person's entry, read-only and shared by every resource with the same cell: 500
    # people x 15,000 servers were hundreds of thousands of alike dicts
    entries: dict[tuple[int, int], dict[str, Any]] = {}
    for index, column in enumerate(matrix["resources"]):
        node = column["id"]
        members = [
            _member_entry(entries, person, p, p["cells"][index])
            for person, p in enumerate(matrix["people"])
            if p["cells"][index]["value"] != "none"
        ]
        credentials: dict[str, dict[str, Any]] = {}
        children = []
        for child, keys in sorted(graph._succ.get(node, {}).items()):
            for data in keys.values():
                if data["kind"] in holding or _role(context, graph, child) == "credential":
                    credentials.setdefault(child, _credential(context, names, child, run_times))
                    continue
                children.append(
                    {
                        "edge": data["kind"],
                        "kind": kind_label(graph.nodes[child].get("kind", "")),
                        **names.ref(child),
                        "out": [
                            {"edge": d["kind"], **names.ref(target)}
                            for target, k in sorted(graph._succ[child].items())
                            for d in k.values()
                        ],
                    }
                )
        for row in rows_to.pop(node, ()):  # each resource's rows let go with its section
            if row.principal_type == "credential" and row.principal not in credentials:
                credentials[row.principal] = _credential(context, names, row.principal, run_times)
        children.sort(key=lambda c: (c["edge"], c["name"]))
        if last_readers is not None:  # the edges only this section reads go with it
            graph.let_go(node, index, last_readers)
        yield {
            **column,
            "members": members,
            "credentials": sorted(credentials.values(), key=lambda c: c["name"]),
            "children": children,
        }


def _member_entry(
    entries: dict[tuple[int, int], dict[str, Any]],
    person: int,
    p: dict[str, Any],
    cell: dict[str, Any],
) -> dict[str, Any]:
    """A person's entry in a resource's section: one per person and kind of cell (cells
    alike are one shared dict, `_CellKinds`, so its id names its kind)."""
    entry = entries.get((person, id(cell)))
    if entry is None:
        entry = entries[person, id(cell)] = {
            "id": p["id"],
            "name": p["name"],
            "access": cell["value"],
            "implied": cell["implied"],
            "role": p["role"],
        }
    return entry


def _credential(
    context: ReviewContext, names: Names, node: str, run_times: dict[int, str]
) -> dict[str, Any]:
    data = names.graph.nodes[node] if node in names.graph else {}
    last = data.get("last_seen")
    return {
        **names.ref(node),
        "kind": kind_label(data.get("kind", "")),
        "last_seen": run_times.get(last, "") if isinstance(last, int) else "",
        "last_seen_run": last,
        "access": [],
    }


def credential_principals(
    context: ReviewContext, names: Names, run_times: dict[int, str]
) -> dict[str, Any]:
    """Tokens as principals: what each may do, who holds it; and the account-wide rights."""
    graph, schema = names.graph, context.schema
    if isinstance(graph, _LeanGraph):
        graph.read_in_edges({r.principal for r in context.rows if r.principal_type == "credential"})
    holding = schema.edge_kinds_with(holds=True)
    creds: dict[str, dict[str, Any]] = {}
    send_targets: Counter[str] = Counter()
    for row in context.rows:
        if row.principal_type != "credential":
            continue
        cred = creds.get(row.principal)
        if cred is None:
            cred = creds[row.principal] = _credential(context, names, row.principal, run_times)
            cred["holders"] = [
                names.ref(u)
                for u, keys in graph._pred.get(row.principal, {}).items()
                if any(d["kind"] in holding for d in keys.values())
            ]
            cred["account_wide"] = False
            cred["sends"] = []
        if row.grant == "send":
            cred["sends"].append(names.ref(row.resource))
            send_targets[row.resource] += 1
        else:
            cred["access"].append({"access": row.access, **names.ref(row.resource)})
        if _role(context, graph, row.resource) == "account":
            cred["account_wide"] = True
    if isinstance(graph, _LeanGraph):
        graph._pred.clear()  # read by nothing after the credentials: let go before the rest
    one_target = len(send_targets) == 1
    listed = sorted(creds.values(), key=lambda c: (not c["account_wide"], c["name"]))
    return {
        "credentials": listed,
        "account_wide": [c for c in listed if c["account_wide"]],
        "send_target": names.ref(next(iter(send_targets))) if one_target else None,
        "senders": sum(1 for c in listed if c["sends"]),
    }


# -- what changed ---------------------------------------------------------------------------


CHANGE_KINDS = [
    ("access_added", "access added"),
    ("access_removed", "access removed"),
    ("access_changed", "access changed"),
    ("credentials_created", "credentials created"),
    ("credentials_rotated", "credentials rotated"),
    ("credentials_removed", "credentials removed"),
    ("resources_added", "resources added"),
    ("resources_removed", "resources removed"),
    ("resources_renamed", "resources renamed"),
    ("members_added", "members added"),
    ("members_removed", "members removed"),
]


def changes_since(
    context: ReviewContext, run_times: dict[int, str]
) -> tuple[dict[str, Any] | None, Any]:
    """What changed since `--since` (or the last reviewed run): each kind with names. The
    access changes are the review's own (`context.changes`, from the access engine)."""
    from ..view import load_graph

    changes = context.changes
    if changes is None:
        return None, None
    before_run, before = load_graph(context.store, changes.since.id)
    graph, schema = context.graph, context.schema
    names = Names(context, before)
    items: dict[str, list[dict[str, Any]]] = {key: [] for key, _label in CHANGE_KINDS}
    gone_creds = _credential_changes(items, names, schema, graph, before)
    _access_changes(items, names, changes, gone_creds)
    _node_changes(items, names, schema, graph, before)
    for key in ("access_added", "access_removed", "access_changed"):
        items[key].sort(key=lambda i: (i["principal_type"] != "human", i["principal"]["name"]))
    kinds = [
        {"key": key, "label": label, "count": len(items[key]), "items": items[key]}
        for key, label in CHANGE_KINDS
    ]
    return {
        "since": before_run.id,
        "since_finished": before_run.finished or "",
        "explicit": context.since is not None,
        "kinds": kinds,
        "total": sum(k["count"] for k in kinds),
    }, before


def _of_role(schema: Any, g: Any, role: str) -> set[str]:
    kinds = schema.node_kinds_with_role(role)
    return {n for n, d in g._node.items() if d.get("kind") in kinds}


def _credential_changes(
    items: dict[str, list[dict[str, Any]]], names: Names, schema: Any, graph: Any, before: Any
) -> set[str]:
    """Credentials created, removed and rotated (a removal and a creation by one holder);
    returns the credentials whose access rows these changes tell."""
    creds_now = _of_role(schema, graph, "credential")
    creds_then = _of_role(schema, before, "credential")
    created, removed = creds_now - creds_then, creds_then - creds_now
    holding = schema.edge_kinds_with(holds=True)

    def holder(g: Any, node: str) -> str | None:
        return next(
            (
                u
                for u, keys in sorted(g._pred.get(node, {}).items())
                if any(d["kind"] in holding for d in keys.values())
            ),
            None,
        )

    gained: dict[str | None, list[str]] = defaultdict(list)
    for node in sorted(created):
        gained[holder(graph, node)].append(node)
    for node in sorted(removed):
        by = holder(before, node)
        if by is not None and gained.get(by):
            new = gained[by].pop(0)
            items["credentials_rotated"].append(
                {"holder": names.ref(by), "old": names.ref(node), "new": names.ref(new)}
            )
        else:
            items["credentials_removed"].append(
                {**names.ref(node), "holder": names.ref(by) if by else None}
            )
    for by, nodes in gained.items():
        for node in nodes:
            items["credentials_created"].append(
                {**names.ref(node), "holder": names.ref(by) if by else None}
            )
    return created | removed  # their rows are told as credential changes


def _access_changes(
    items: dict[str, list[dict[str, Any]]], names: Names, changes: Any, gone_creds: set[str]
) -> None:
    """The review's own access changes, but for the credentials told as credential changes."""

    def access_item(row: AccessRow, was: str | None = None) -> dict[str, Any]:
        return {
            "principal": names.ref(row.principal),
            "principal_type": row.principal_type,
            "resource": names.ref(row.resource),
            "access": row.access,
            "was": was,
        }

    for row in changes.added:
        if row.principal not in gone_creds:
            items["access_added"].append(access_item(row))
    for row, was in changes.changed:
        items["access_changed"].append(access_item(row, was))
    for old in changes.removed:
        if old.principal not in gone_creds:
            items["access_removed"].append(access_item(old))


def _node_changes(
    items: dict[str, list[dict[str, Any]]], names: Names, schema: Any, graph: Any, before: Any
) -> None:
    """Resources and members added and removed, and resources renamed."""
    for role, added_key, removed_key in (
        ("resource", "resources_added", "resources_removed"),
        ("member", "members_added", "members_removed"),
    ):
        now, then = _of_role(schema, graph, role), _of_role(schema, before, role)
        for node in sorted(now - then, key=names):
            items[added_key].append(
                {**names.ref(node), "kind": kind_label(graph.nodes[node].get("kind", ""))}
            )
        for node in sorted(then - now, key=names):
            items[removed_key].append(
                {**names.ref(node), "kind": kind_label(before.nodes[node].get("kind", ""))}
            )
        if role == "resource":
            for node in sorted(now & then, key=names):
                old_name = node_name(before, node, schema)
                if old_name != node_name(graph, node, schema):
                    items["resources_renamed"].append(
                        {
                            **names.ref(node),
                            "was": old_name,
                            "kind": kind_label(graph.nodes[node].get("kind", "")),
                        }
                    )


# -- what is risky --------------------------------------------------------------------------


def finding_groups(context: ReviewContext, names: Names) -> dict[str, Any]:
    """Findings grouped by check: count, worst severity, why it matters, the items."""
    from ..plugins import get_checks

    checks = get_checks()

    own = {
        name: text
        for registered in checks.values()
        for name, text in (getattr(registered, "descriptions", None) or {}).items()
    }

    def description(check: str) -> str:
        if check in own:  # a check that makes several findings describes each
            return own[check]
        if check in checks:
            return checks[check].description
        parents = [name for name in checks if check.startswith(name + "-")]
        return checks[max(parents, key=len)].description if parents else ""

    groups: dict[str, dict[str, Any]] = {}
    for finding in context.findings:
        group = groups.setdefault(
            finding.check,
            {"check": finding.check, "severity": finding.severity, "items": []},
        )
        if SEVERITY_RANK.get(finding.severity, 0) > SEVERITY_RANK.get(group["severity"], 0):
            group["severity"] = finding.severity
        group["items"].append(
            {**names.ref(finding.node), "severity": finding.severity, "message": finding.message}
        )
    ordered = sorted(
        groups.values(),
        key=lambda g: (-SEVERITY_RANK.get(g["severity"], 0), -len(g["items"]), g["check"]),
    )
    for group in ordered:
        group["description"] = description(group["check"])
        group["count"] = len(group["items"])
        group["common"] = _factor_common_tail(group["items"])
    severities = Counter(f.severity for f in context.findings)
    return {
        "groups": ordered,
        "total": len(context.findings),
        "by_severity": [
            {"severity": s, "count": severities.get(s, 0)} for s in ("high", "medium", "low")
        ]
        + ([{"severity": "info", "count": severities["info"]}] if severities.get("info") else []),
    }


def _factor_common_tail(items: list[dict[str, Any]]) -> str:
    """The long tail every message of a group shares (an allow-list, say), told once."""
    messages = [i["message"] for i in items]
    if len(messages) < 2:
        return ""
    shortest = min(map(len, messages))
    size = 0
    while size < shortest and len({m[len(m) - size - 1] for m in messages}) == 1:
        size += 1
    tail = messages[0][len(messages[0]) - size :] if size else ""
    cut = tail.find(" ")  # start the shared part at a word
    tail = tail[cut:] if cut > 0 else tail
    if len(tail) < 60:
        return ""
    for item in items:
        item["message"] = item["message"][: len(item["message"]) - len(tail)] + " …"
    return tail.strip()


# -- decisions ------------------------------------------------------------------------------

_EMPHASIS = re.compile(r"\*{1,2}([^*]+)\*{1,2}")  # markdown emphasis, shown as plain text


def decisions(context: ReviewContext, names: Names) -> dict[str, Any] | None:
    """The latest imported decisions up to this run: each, open steps, and the sign-off."""
    from ..decisions import decision_step

    run_id = context.store.latest_reviewed_run(context.run.id)
    if run_id is None:
        return None
    latest: dict[str, dict[str, Any]] = {}
    for record in context.store.decisions_of_run(run_id):
        latest[record["row_id"]] = record  # a later import of the same row stands
    review = context.review
    items = []
    for record in sorted(
        latest.values(),
        key=lambda r: (r["decision"] == "keep", names(r["principal"]), names(r["resource"])),
    ):
        row = review.find(record["row_id"])
        still = row is not None and record["access"] in (row.access, *(p.access for p in row.parts))
        open_step = None
        if record["decision"] in ("revoke", "modify") and still:
            assert row is not None
            cells = row.cells() | {"access_kind": row.access_kind}
            open_step = decision_step(
                cells, record["decision"], record["justification"], context.graph
            )
        items.append(
            {
                "principal": names.ref(record["principal"]),
                "resource": names.ref(record["resource"]),
                "access": record["access"],
                "decision": record["decision"],
                "reviewer": record["reviewer"],
                "review_date": record["review_date"],
                "justification": record["justification"],
                "imported_at": record["imported_at"],
                "status": (
                    "kept"
                    if record["decision"] == "keep"
                    else "open"
                    if still
                    else "done (no longer in this run)"
                ),
                "step": _EMPHASIS.sub(r"\1", open_step) if open_step else None,
            }
        )
    counts = Counter(i["decision"] for i in items)
    undecided = len(review.rows) - len(latest) if run_id == context.run.id else None
    return {
        "run": run_id,
        "same_run": run_id == context.run.id,
        "items": items,
        "counts": [
            {"decision": d, "count": counts.get(d, 0)} for d in ("keep", "revoke", "modify")
        ],
        "undecided": undecided,
        "open": sum(1 for i in items if i["status"] == "open"),
        "reviewers": sorted({i["reviewer"] for i in items}),
        "imported_by": sorted({r["imported_by"] for r in latest.values()}),
        "imported_at": max((r["imported_at"] for r in latest.values()), default=""),
        "review_dates": sorted({i["review_date"] for i in items}),
        "files": sorted({r["file_sha256"] for r in latest.values()}),
    }


def remediation_items(context: ReviewContext, names: Names) -> dict[str, Any]:
    """Every remediation item decided before or in this run, and its state as the later
    runs showed it (`idgraph review status`)."""
    from .. import remediation
    from ..store.remediation import items

    found = [item for item in items(context.store.db.conn) if item["decided_run"] <= context.run.id]
    return {
        "items": [
            {
                "id": remediation.label(item),
                "status": item["status"],
                "summary": remediation.describe(item),
                "principal": names.ref(item["principal"]),
                "resource": names.ref(item["resource"]),
                "access": item["access"],
                "evidence_run": item["evidence_run"],
                "age_days": remediation.age_days(item),
            }
            for item in found
        ],
        "counts": Counter(item["status"] for item in found),
    }


def owners(context: ReviewContext, names: Names) -> list[dict[str, Any]]:
    """The annotations (owner, purpose, expected end) of this run's resources and
    credentials, with who recorded them when."""
    from ..store.annotations import annotations

    return [
        {**names.ref(target), **{k: record[k] or "" for k in record if k != "target"}}
        for target, record in sorted(annotations(context.store.db.conn).items())
        if context.node_exists(target) or target in names.graph
    ]


# -- the picture ----------------------------------------------------------------------------


def picture(context: ReviewContext, names: Names) -> dict[str, Any]:
    """A layered layout (principals, account, resources, their parts, identities and
    endpoints), grouped by kind, with a legend and edge labels where they fit."""
    if len(names.graph) > PICTURE_MAX_NODES or len(names.graph) == 0:
        return {"shown": False, "nodes": len(names.graph), "limit": PICTURE_MAX_NODES}
    graph = context.graph
    kinds = sorted({d.get("kind", "") for _n, d in graph.nodes(data=True)})
    colour = {kind: PALETTE[i % len(PALETTE)] for i, kind in enumerate(kinds)}
    layers: dict[int, list[str]] = defaultdict(list)
    for node in sorted(graph, key=lambda n: (graph.nodes[n].get("kind", ""), names(n).lower(), n)):
        layers[LAYER_OF_ROLE.get(_role(context, graph, node), 3)].append(node)
    tallest = max(len(column) for column in layers.values())
    width, row, margin = 1180, 22, 14
    height = max(tallest * row + 2 * margin, 200)
    step = (width - 230) / max(max(layers), 1)
    points: dict[str, tuple[float, float]] = {}
    for layer, column in layers.items():
        gap = (height - 2 * margin) / len(column)  # spread each layer over the full height
        for index, node in enumerate(column):
            points[node] = (round(margin + layer * step, 1), round(margin + (index + 0.5) * gap, 1))
    nodes = [
        {
            "x": x,
            "y": y,
            "colour": colour[graph.nodes[node].get("kind", "")],
            "kind": kind_label(graph.nodes[node].get("kind", "")),
            **names.ref(node),
        }
        for node, (x, y) in points.items()
    ]
    edge_kinds = sorted({d["kind"] for _u, _v, d in graph.edges(data=True)})
    edge_colour = {k: PALETTE[(i * 5 + 3) % len(PALETTE)] for i, k in enumerate(edge_kinds)}
    taken: set[tuple[int, int]] = set()
    edges = []
    for u, v, data in sorted(graph.edges(data=True), key=lambda e: (e[2]["kind"], e[0], e[1])):
        (x1, y1), (x2, y2) = points[u], points[v]
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        cell = (int(mx // 90), int(my // 12))
        label = cell not in taken
        if label:
            taken.add(cell)
        edges.append(
            {
                "x1": x1, "y1": y1, "x2": x2, "y2": y2, "mx": round(mx, 1), "my": round(my, 1),
                "kind": data["kind"], "colour": edge_colour[data["kind"]], "label": label,
                "title": f"{bidi_isolated(names(u))} -{data['kind']}-> {bidi_isolated(names(v))}",
            }
        )  # fmt: skip
    node_counts = Counter(d.get("kind", "") for _n, d in graph.nodes(data=True))
    edge_counts = Counter(d["kind"] for _u, _v, d in graph.edges(data=True))
    return {
        "shown": True,
        "width": width,
        "height": height,
        "nodes": nodes,
        "edges": edges,
        "node_legend": [
            {"kind": kind_label(k), "colour": colour[k], "count": node_counts[k]} for k in kinds
        ],
        "edge_legend": [
            {"kind": k, "colour": edge_colour[k], "count": edge_counts[k]} for k in edge_kinds
        ],
    }


# -- the parts the page draws when opened ----------------------------------------------------


class _Strings:
    """Each distinct string once: the page's data names a string by its index in the table
    (a name, a role or a timestamp repeated thousands of times is stored once)."""

    def __init__(self) -> None:
        self.table: list[str] = []
        self.index: dict[str, int] = {}

    def __call__(self, text: Any) -> int:
        text = "" if text is None else str(text)
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.table)
            self.table.append(text)
        return found

    def ref(self, node: dict[str, Any]) -> list[int]:
        return [self(node["name"]), self(node["id"])]


def _json_array(items: Iterable[Any]) -> orjson.Fragment:
    """A JSON array of the items, each serialised by orjson as it comes into one buffer.
    Not a bytes object per item: orjson gives each result an allocation of several KB, so
    tens of thousands of small blocks kept apart held hundreds of MB."""
    out = io.BytesIO()
    out.write(b"[")
    for count, item in enumerate(items):
        if count:
            out.write(b",")
        out.write(orjson.dumps(item))
    out.write(b"]")
    return orjson.Fragment(out.getvalue())  # BytesIO hands over its buffer: no second copy


def drawn_when_opened(model: dict[str, Any]) -> dict[str, Any]:
    """The per-resource blocks, the findings' items and the credentials as compact JSON for
    report.js, which draws each when its <details> is first opened (a 3,000-server account
    would otherwise be megabytes of markup that is mostly never opened). Positional lists of
    string indexes; report.js reads them in this order. Each block is serialised as it is
    made (`_json_array`): `model["resources"]` may be a generator (the report's is), so no
    section, and no Python list of a block, outlives its turn."""
    s = _Strings()
    resources = _json_array(
        [
            s.ref(r),
            [[*s.ref(p), s(p["access"]), int(p["implied"]), s(p["role"])] for p in r["members"]],
            [[s(c["name"]), s(c["kind"]), s(c["last_seen"])] for c in r["credentials"]],
            [
                [
                    s(c["edge"]),
                    s(c["kind"]),
                    s(c["name"]),
                    [[s(o["edge"]), s(o["name"])] for o in c["out"]],
                ]
                for c in r["children"]
            ],
        ]
        for r in model["resources"]
    )
    findings = _json_array(
        [
            [
                *s.ref(i),
                s(i["message"]),
                *([s(i["severity"])] if i["severity"] != g["severity"] else []),
            ]
            for i in g["items"]
        ]
        for g in model["findings"]["groups"]
    )
    creds = model["creds"]
    credentials = _json_array(
        [
            s(c["name"]),
            s(c["kind"]),
            [s.ref(h) for h in c["holders"]],
            [[s(a["access"]), s(a["name"])] for a in c["access"]],
            1 if creds["send_target"] and c["sends"] else [s(t["name"]) for t in c["sends"]],
            s(c["last_seen"]),
        ]
        for c in creds["credentials"]
    )
    return {"s": s.table, "r": resources, "f": findings, "c": credentials}


# -- all of it ------------------------------------------------------------------------------


def attestation_state(context: ReviewContext, accounts: int) -> str | None:
    """What the summary says of team members with no valid attestation as of this run
    ("not attested", "attestation 4 expired on ..."), naming the account when the report
    covers several; None when every account's is valid."""
    from datetime import datetime

    from ..attestation import unattested

    as_of = datetime.fromisoformat(run_time(context.run))  # the run's, never the clock's
    missing = unattested(context.store, context.run.id, now=as_of)
    if not missing:
        return None
    return "; ".join(
        row["state"] + (f" ({row['account_label']})" if accounts > 1 else "") for row in missing
    )


def report_model(context: ReviewContext) -> dict[str, Any]:
    run_times = {r.id: r.finished or "" for r in context.store.runs()}
    changes, before = changes_since(context, run_times)
    graph = _report_graph(context, changed=before is not None)
    names = Names(context, *([before] if before is not None else []), graph=graph)
    matrix = access_matrix(context, names)
    creds = credential_principals(context, names, run_times)
    node_counts = Counter(d.get("kind", "") for _n, d in graph.nodes(data=True))
    accounts = [names.ref(n) for n, _d in context.nodes_with_role("account")]
    people = matrix["people"]
    model = {
        "run": {
            "id": context.run.id,
            "kind": context.run.kind,
            "scope": context.run.scope,
            "finished": context.run.finished or "",
        },
        "accounts": accounts,
        "summary": {
            "people": len(people),
            "attestation": attestation_state(context, len(accounts)),
            "account_wide_people": sum(1 for p in people if p["spans"]),
            "credentials": len(creds["credentials"]),
            "resources": len(matrix["resources"]),
            "resource_kind": matrix["resource_kind"],
            "access_paths": len(context.rows),
            "nodes": len(graph),
            "edges": graph.number_of_edges(),
        },
        "kinds": [
            {
                "kind": kind,
                "label": kind_label(kind),
                "count": count,
                "description": (context.schema.node(kind).description)
                if context.schema.node(kind)
                else "",
            }
            for kind, count in sorted(node_counts.items())
        ],
        "matrix": matrix,
        "creds": creds,
        "changes": changes,
        "findings": finding_groups(context, names),
        "decisions": decisions(context, names),
        "remediation": remediation_items(context, names),
        "owners": owners(context, names),
        "picture": picture(context, names),
        "evidence": evidence_summary(context),
    }
    # the sections only as the page's data is made: one at a time, each let go once packed
    sections = resource_sections(context, names, matrix, run_times)
    return model | {"lazy": drawn_when_opened(model | {"resources": sections})}
