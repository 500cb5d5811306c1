"""Reading a complete run back as a networkx graph."""

from __future__ import annotations

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
            merged = nodes[ident]
            merged.update(data)
            merged["sources"] = sorted(set(merged["sources"]) | {source})
            continue
        data["kind"] = one.setdefault(kind, kind)
        data["source"] = source
        data["sources"] = [source]
        data["scope"] = scope = one.setdefault(data["scope"], data["scope"])
        data["last_seen"] = last_seen.get(scope)
        if source == "attested" and "expires_at" in data:
            data["attestation_stale"] = data["expires_at"] < now
        nodes[ident] = data
        succ[ident] = {}
        pred[ident] = {}
    # Edges with the same attributes, kind, source and first run share one (read-only) data
    # dict: most edges of a large account are alike, and a dict per edge is most of the
    # memory of a 300,000-edge graph.
    shared: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    for src, dst, disc, kind, source, attrs, first_seen in store.edge_tuples(run.id):
        data = shared.get((attrs, kind, source, first_seen))
        if data is None:
            kind, source = one.setdefault(kind, kind), one.setdefault(source, source)
            data = {**attrs_from_json(attrs), "kind": kind, "source": source}
            data["first_seen"] = first_seen
            if len(shared) < 200_000:
                shared[(attrs, kind, source, first_seen)] = data
        src, dst = one.setdefault(src, src), one.setdefault(dst, dst)
        if src not in nodes or dst not in nodes:  # e.g. access to a server the API no longer shows
            for end in (src, dst):
                if end not in nodes:
                    nodes[end] = {"kind": "missing", "source": source, "sources": []}
                    succ[end] = {}
                    pred[end] = {}
        keydict = succ[src].get(dst)
        if keydict is None:
            keydict = succ[src][dst] = pred[dst][src] = {}
        keydict[f"{kind}|{disc}" if disc else one.setdefault(kind, kind)] = data
    return graph
