"""Reading a complete run back as a networkx graph."""

from __future__ import annotations

from datetime import UTC, datetime

import networkx as nx

from .model import build_graph
from .store import Run, Store


def load_graph(store: Store, run_id: int | None = None) -> tuple[Run, nx.MultiDiGraph]:
    """The graph as of a complete run (default: the latest), with first/last seen per node."""
    run = store.complete_run(run_id)
    nodes = store.nodes_as_of(run.id)
    graph = build_graph(nodes, store.edges_as_of(run.id))
    last_seen = store.last_seen(run.id)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for node in nodes:
        data = graph.nodes[node.id]
        data["last_seen"] = last_seen.get(node.attrs["scope"])
        if node.source == "attested" and "expires_at" in node.attrs:
            data["attestation_stale"] = node.attrs["expires_at"] < now
    return run, graph
