"""graph.json (networkx node-link) and graph.graphml (Gephi, yEd)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..review import ReviewContext
from ..text import xml_text

if TYPE_CHECKING:
    import networkx as nx
from ..files import safe_file
from ._files import json_items, json_text, write_chunks


class GraphJsonExporter:
    name = "graph-json"
    filename = "graph.json"
    description = "The graph as networkx node-link JSON"
    reads_review = False

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        """networkx's node-link shape (`nx.node_link_graph(data, edges="edges")` reads it),
        streamed in chunks instead of built whole in memory."""
        graph = context.graph
        head = {
            "directed": True,
            "multigraph": True,
            "graph": {"run": context.run.id, "finished": context.run.finished},
        }

        def chunks() -> Iterator[str]:
            yield json_text(head)[:-1] + ',"nodes":['
            yield from json_items({"id": node, **data} for node, data in graph._node.items())
            yield '],"edges":['
            yield from json_items(  # node-link's "source" is the edge's tail: ours moves aside
                {**data, "data_source": data.get("source"), "source": u, "target": v, "key": key}
                for u, nbrs in graph._succ.items()
                for v, keys in nbrs.items()
                for key, data in keys.items()
            )
            yield "]}"

        return write_chunks(out_dir / self.filename, chunks())


def _scalar(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return xml_text(value)
    if isinstance(value, bool | int | float):
        return value
    return xml_text(json.dumps(value, sort_keys=True, default=str))


def _column_types(items: Iterable[dict[str, Any]], types: dict[str, set[type]]) -> None:
    for data in items:
        for key, value in data.items():
            if value is not None:
                types.setdefault(key, set()).add(type(value))


def _one_type(types: set[type]) -> type:
    """The one GraphML type an attribute name gets: its only type; float for int and float
    mixed; else str."""
    if len(types) == 1:
        return next(iter(types))
    if types == {int, float}:
        return float
    return str


def graphml_graph(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy GraphML can hold, each attribute name with ONE type across the file (igraph
    refuses a name declared twice): lists and dicts as JSON, nulls left out, a name whose
    values mix types (e.g. a boolean that is sometimes text) written as text throughout, and
    no character XML 1.0 cannot hold (control characters from the API are escaped)."""
    import networkx as nx

    node_data = [{k: _scalar(v) for k, v in data.items()} for _n, data in graph.nodes(data=True)]
    edge_data = [
        {k: _scalar(v) for k, v in data.items()}
        for *_ends, data in graph.edges(keys=True, data=True)
    ]
    types: dict[str, set[type]] = {}
    _column_types(node_data, types)
    _column_types(edge_data, types)
    chosen = {key: _one_type(found) for key, found in types.items()}

    def typed(data: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in data.items():
            if value is None:
                continue
            want = chosen[key]
            if type(value) is want:
                out[key] = value
            elif want is float:
                out[key] = float(value)
            else:
                out[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    flat = nx.MultiDiGraph()
    for (node, _data), data in zip(graph.nodes(data=True), node_data, strict=True):
        flat.add_node(xml_text(node), **typed(data))
    for (u, v, key, _data), data in zip(graph.edges(keys=True, data=True), edge_data, strict=True):
        flat.add_edge(xml_text(u), xml_text(v), key=xml_text(key), **typed(data))
    return flat


class GraphMLExporter:
    name = "graphml"
    filename = "graph.graphml"
    description = "The graph as GraphML (opens in Gephi and yEd)"
    reads_review = False

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        import networkx as nx

        path = out_dir / self.filename
        with safe_file(path, binary=True) as handle:  # straight to the file: no copy in memory
            nx.write_graphml(graphml_graph(context.graph), handle)
        return path
