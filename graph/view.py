"""Reading a complete run back as a networkx graph."""

from __future__ import annotations

from datetime import UTC, datetime

import networkx as nx

from .store import Run, Store


def load_graph(store: Store, run_id: int | None = None) -> tuple[Run, nx.MultiDiGraph]:
    """The graph as of a complete run (default: the latest), with first/last seen per node."""
    run = store.complete_run(run_id)
    last_seen = store.last_seen(run.id)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    graph = nx.MultiDiGraph()
    nodes = graph._node  # networkx's own node-attribute dict: filled directly, in bulk
    for ident, kind, source, data in store.node_rows_as_of(run.id):
        if ident in nodes:  # the same node from two scopes (a person): keep both's facts
            merged = nodes[ident]
            merged.update(data)
            merged["sources"] = sorted(set(merged["sources"]) | {source})
            continue
        data["kind"] = kind
        data["source"] = source
        data["sources"] = [source]
        data["last_seen"] = last_seen.get(data["scope"])
        if source == "attested" and "expires_at" in data:
            data["attestation_stale"] = data["expires_at"] < now
        graph.add_node(ident)
        nodes[ident] = data
    for src, dst, key, data in store.edge_rows_as_of(run.id):
        for end in (src, dst):
            if end not in nodes:  # e.g. access to a server the API no longer shows
                graph.add_node(end, kind="missing", source=data["source"], sources=[])
        graph.add_edge(src, dst, key=key, **data)
    return run, graph
