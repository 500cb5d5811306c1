"""graph.json (networkx node-link) and graph.graphml (Gephi, yEd)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..review import ReviewContext
from ..text import xml_text

if TYPE_CHECKING:
    import networkx as nx
from ._files import write_chunks, write_text


class GraphJsonExporter:
    name = "graph-json"
    filename = "graph.json"
    description = "The graph as networkx node-link JSON"

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
            yield _dumps(head)[:-1] + ',"nodes":['
            yield from _joined({"id": node, **data} for node, data in graph._node.items())
            yield '],"edges":['
            yield from _joined(  # node-link's "source" is the edge's tail: ours moves aside
                {**data, "data_source": data.get("source"), "source": u, "target": v, "key": key}
                for u, nbrs in graph._succ.items()
                for v, keys in nbrs.items()
                for key, data in keys.items()
            )
            yield "]}"

        return write_chunks(out_dir / self.filename, chunks())


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):  # e.g. an integer wider than 64 bits
        return json.dumps(value, default=str)


def _joined(items: Iterable[Any], size: int = 5000) -> Iterator[str]:
    """JSON texts of items, comma-separated, a chunk of `size` at a time."""
    batch: list[Any] = []
    first = True
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield ("" if first else ",") + _dumps(batch)[1:-1]
            first, batch = False, []
    if batch:
        yield ("" if first else ",") + _dumps(batch)[1:-1]


def _scalar(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return xml_text(value)
    if isinstance(value, bool | int | float):
        return value
    return xml_text(json.dumps(value, sort_keys=True, default=str))


def graphml_graph(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy with only the scalar attributes GraphML can hold (lists and dicts as JSON), and
    no character XML 1.0 cannot hold (control characters from the API are escaped)."""
    import networkx as nx

    flat = nx.MultiDiGraph()
    for node, data in graph.nodes(data=True):
        flat.add_node(xml_text(node), **{xml_text(k): _scalar(v) for k, v in data.items()})
    for u, v, key, data in graph.edges(keys=True, data=True):
        flat.add_edge(
            xml_text(u),
            xml_text(v),
            key=xml_text(key),
            **{xml_text(k): _scalar(v) for k, v in data.items()},
        )
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
