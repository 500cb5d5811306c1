"""graph.json (networkx node-link) and graph.graphml (Gephi, yEd)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..review import ReviewContext

if TYPE_CHECKING:
    import networkx as nx
from ._files import write_text


class GraphJsonExporter:
    name = "graph-json"
    filename = "graph.json"
    description = "The graph as networkx node-link JSON"

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        import networkx as nx

        data = nx.node_link_data(context.graph, edges="edges")
        data["graph"] = {"run": context.run.id, "finished": context.run.finished}
        return write_text(out_dir / self.filename, json.dumps(data, indent=1, default=str))


def _scalar(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def graphml_graph(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy with only the scalar attributes GraphML can hold (lists and dicts as JSON)."""
    import networkx as nx

    flat = nx.MultiDiGraph()
    for node, data in graph.nodes(data=True):
        flat.add_node(node, **{k: _scalar(v) for k, v in data.items()})
    for u, v, key, data in graph.edges(keys=True, data=True):
        flat.add_edge(u, v, key=key, **{k: _scalar(v) for k, v in data.items()})
    return flat


class GraphMLExporter:
    name = "graphml"
    filename = "graph.graphml"
    description = "The graph as GraphML (opens in Gephi and yEd)"

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        buffer = io.BytesIO()
        import networkx as nx

        nx.write_graphml(graphml_graph(context.graph), buffer)
        return write_text(out_dir / self.filename, buffer.getvalue().decode("utf-8"))
