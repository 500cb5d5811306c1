"""Reading a complete run back as a networkx graph."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .memory import gc_paused
from .model import attrs_from_json
from .store import Run, Store

if TYPE_CHECKING:
    import networkx as nx


def load_graph(store: Store, run_id: int | None = None) -> tuple[Run, nx.MultiDiGraph]:
    """The graph as of a complete run (default: the latest), with first/last seen per node.

    Built straight into networkx's adjacency dicts (the structure `add_edge` fills), because
    one `add_edge` call per edge is most of the load time of a large graph.
    """
    run = store.complete_run(run_id)
    with gc_paused():
        return run, _build(store, run)


def _build(store: Store, run: Run) -> nx.MultiDiGraph:
    import networkx as nx  # imported when needed: it slows the CLI's start

    last_seen = store.latest_run_per_scope(run.id)
    now = run.finished or run.started  # stale as of the run (access.run_time), not the clock
    graph = nx.MultiDiGraph()
    nodes, succ, pred = graph._node, graph._succ, graph._pred
    # One string object per distinct id, kind, source and scope: SQLite hands out a new one
    # per row, and an edge's ends are keys of two adjacency dicts (a third of the memory of
    # a 300,000-edge graph went to copies of the same ids).
    one: dict[str, str] = {}
    for ident, kind, source, data in store.node_tuples(run.id):
        ident = one.setdefault(ident, ident)
        source = one.setdefault(source, source)
        if ident in nodes:  # the same node from two scopes (a person): keep both's facts
            _merge_node(nodes[ident], data, source)
            continue
        nodes[ident] = _node_data(data, one.setdefault(kind, kind), source, last_seen, now, one)
        succ[ident] = {}
        pred[ident] = {}
    # Edges with the same attributes, kind, source and first run share one (read-only) data
    # dict: most edges of a large account are alike, and a dict per edge is most of the
    # memory of a 300,000-edge graph.
    shared: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    for src, dst, disc, kind, source, attrs, first_seen in store.edge_tuples(run.id):
        data = _edge_data(shared, one, attrs, kind, source, first_seen)
        src, dst = one.setdefault(src, src), one.setdefault(dst, dst)
        if src not in nodes or dst not in nodes:  # e.g. access to a server the API no longer shows
            for end in (src, dst):
                if end not in nodes:
                    nodes[end] = _missing_node(source)
                    succ[end] = {}
                    pred[end] = {}
        keydict = succ[src].get(dst)
        if keydict is None:
            keydict = succ[src][dst] = pred[dst][src] = {}
        keydict[_edge_key(kind, disc, one)] = data
    return graph


def _node_data(
    data: dict[str, Any],
    kind: str,
    source: str,
    last_seen: dict[str, int],
    now: str | None,
    one: dict[str, str],
) -> dict[str, Any]:
    """A node's attributes in the graph: its stored ones with its kind, sources, scope, when
    its scope was last seen, and whether its attestation is stale as of the run."""
    data["kind"] = kind
    data["source"] = source
    data["sources"] = [source]
    data["scope"] = scope = one.setdefault(data["scope"], data["scope"])
    data["last_seen"] = last_seen.get(scope)
    if source == "attested" and "expires_at" in data:
        data["attestation_stale"] = data["expires_at"] < now
    return data


def _merge_node(merged: dict[str, Any], data: dict[str, Any], source: str) -> None:
    merged.update(data)
    merged["sources"] = sorted(set(merged["sources"]) | {source})


def _missing_node(source: str) -> dict[str, Any]:
    return {"kind": "missing", "source": source, "sources": []}


def _edge_key(kind: str, disc: str | None, one: dict[str, str]) -> str:
    return f"{kind}|{disc}" if disc else one.setdefault(kind, kind)


def _edge_data(
    shared: dict[tuple[str, str, str, int], dict[str, Any]],
    one: dict[str, str],
    attrs: str,
    kind: str,
    source: str,
    first_seen: int,
    room: int = 200_000,
) -> dict[str, Any]:
    """An edge's attributes, one (read-only) dict shared by the edges alike (`room`: how
    many distinct ones `shared` may keep)."""
    data = shared.get((attrs, kind, source, first_seen))
    if data is None:
        kind, source = one.setdefault(kind, kind), one.setdefault(source, source)
        data = {**attrs_from_json(attrs), "kind": kind, "source": source}
        data["first_seen"] = first_seen
        if len(shared) < room:
            shared[(attrs, kind, source, first_seen)] = data
    return data


def graph_nodes(store: Store, run: Run) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, attributes) of each node of `load_graph`'s graph of a complete run, in its
    order, read with SQL as it goes: a file of the whole graph without the graph in memory.
    Each attributes dict is the caller's."""
    last_seen = store.latest_run_per_scope(run.id)
    now = run.finished or run.started
    one: dict[str, str] = {}
    held: tuple[str, dict[str, Any]] | None = None  # a node: the next row may be more of it
    for ident, kind, source, data in store.node_tuples_in_graph_order(run.id):
        if held is not None and held[0] == ident:
            _merge_node(held[1], data, source)
            continue
        if held is not None:
            yield held
        held = ident, _node_data(data, kind, source, last_seen, now, one)
    if held is not None:
        yield held
    for ident, source in store.missing_ends(run.id):
        yield ident, _missing_node(source)


def nodes_of(store: Store, run: Run, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The attributes `load_graph`'s graph of a complete run gives each of `ids` it holds,
    read for these alone (a few findings' nodes without the whole graph in memory)."""
    wanted = set(ids)
    last_seen = store.latest_run_per_scope(run.id)
    now = run.finished or run.started
    one: dict[str, str] = {}
    found: dict[str, dict[str, Any]] = {}
    for ident, kind, source, data in store.node_tuples(run.id, ids=wanted):
        if ident in found:
            _merge_node(found[ident], data, source)
        else:
            found[ident] = _node_data(data, kind, source, last_seen, now, one)
    if not wanted <= found.keys():  # an edge's end that is no node is one in the graph
        for ident, source in store.missing_ends(run.id):
            if ident in wanted and ident not in found:
                found[ident] = _missing_node(source)
    return found


def graph_edges(store: Store, run: Run) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(tail, head, key, attributes) of each edge of `load_graph`'s graph of a complete run,
    in its order, read with SQL as it goes. Attributes dicts may be shared: read only."""
    one: dict[str, str] = {}
    shared: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    pair: tuple[str, str] | None = None
    keys: dict[str, dict[str, Any]] = {}  # the pair's edges: a key seen twice keeps its place
    for src, dst, disc, kind, source, attrs, first_seen in store.edge_tuples_in_graph_order(run.id):
        if (src, dst) != pair:
            if pair is not None:
                yield from ((*pair, key, data) for key, data in keys.items())
            pair, keys = (src, dst), {}
        # a few shared dicts spare decoding the edges alike; none is held for long
        keys[_edge_key(kind, disc, one)] = _edge_data(
            shared, one, attrs, kind, source, first_seen, room=1000
        )
    if pair is not None:
        yield from ((*pair, key, data) for key, data in keys.items())


def in_edge_kinds(store: Store, run: Run, nodes: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """node -> predecessor -> the kinds of its edges to the node, for `nodes` only, the
    predecessors in `load_graph`'s order (`graph._pred`): one scan of the run's edges, no
    attributes decoded, no graph."""
    wanted: dict[str, dict[str, list[str]]] = {node: {} for node in nodes}
    for src, dst, _disc, kind, *_rest in store.edge_tuples(run.id):
        into = wanted.get(dst)
        if into is not None:
            into.setdefault(src, []).append(kind)
    return wanted


def out_edge_kinds(
    store: Store, run: Run, nodes: Iterable[str]
) -> dict[str, dict[str, tuple[tuple[str, str], ...]]]:
    """node -> successor -> its edges' (key, kind), for `nodes` only, in `load_graph`'s
    order (`graph._succ`, a key seen twice once): one scan of the run's edges, no attributes
    decoded, no graph. Tuples alike are one object (most pairs are one edge of a kind)."""
    wanted: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {node: {} for node in nodes}
    one: dict[str, str] = {}
    alike: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
    for src, dst, disc, kind, *_rest in store.edge_tuples(run.id):
        out = wanted.get(src)
        if out is not None:
            keys = dict(out.get(dst, ()))
            keys[_edge_key(kind, disc, one)] = one.setdefault(kind, kind)
            items = tuple(keys.items())
            out[dst] = alike.setdefault(items, items)
    return wanted
