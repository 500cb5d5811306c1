"""graph.json (networkx node-link) and graph.graphml (Gephi, yEd)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..files import safe_file
from ..review import ReviewContext
from ..text import xml_text
from ._files import json_items, json_text, write_chunks


class GraphJsonExporter:
    name = "graph-json"
    filename = "graph.json"
    description = "The graph as networkx node-link JSON"
    reads_review = False

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        """networkx's node-link shape (`nx.node_link_graph(data, edges="edges")` reads it),
        streamed from the store in chunks: neither the graph nor the file whole in memory."""
        head = {
            "directed": True,
            "multigraph": True,
            "graph": {"run": context.run.id, "finished": context.run.finished},
        }

        def chunks() -> Iterator[str]:
            yield json_text(head)[:-1] + ',"nodes":['
            yield from json_items({"id": node, **data} for node, data in context.graph_nodes())
            yield '],"edges":['
            yield from json_items(  # node-link's "source" is the edge's tail: ours moves aside
                {**data, "data_source": data.get("source"), "source": u, "target": v, "key": key}
                for u, v, key, data in context.graph_edges()
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


def _one_type(types: set[type]) -> type:
    """The one GraphML type an attribute name gets: its only type; float for int and float
    mixed; else str."""
    if len(types) == 1:
        return next(iter(types))
    if types == {int, float}:
        return float
    return str


GRAPHML_TYPES = {str: "string", int: "long", float: "double", bool: "boolean"}  # networkx's
GRAPHML_HEAD = {
    "xmlns": "http://graphml.graphdrawing.org/xmlns",
    "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xsi:schemaLocation": "http://graphml.graphdrawing.org/xmlns "
    "http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd",
}


class _GraphMLColumns:
    """Each attribute name's ONE type across the file (igraph refuses a name declared
    twice): lists and dicts as JSON, nulls left out, a name whose values mix types (e.g. a
    boolean that is sometimes text) written as text throughout, and no character XML 1.0
    cannot hold (control characters from the API are escaped). Seen in a first pass over
    the graph; the keys are numbered as networkx numbers them (first met, nodes first)."""

    def __init__(self, context: ReviewContext) -> None:
        types: dict[str, set[type]] = {}
        self.first_met: dict[tuple[str, str], None] = {}  # (name, "node" | "edge"), in order
        for scope, items in (
            ("node", (data for _n, data in context.graph_nodes())),
            ("edge", (data for *_ends, data in context.graph_edges())),
        ):
            for data in items:
                for key, value in data.items():
                    if value is not None:
                        types.setdefault(key, set()).add(type(_scalar(value)))
                        self.first_met.setdefault((key, scope), None)
        self.chosen = {key: _one_type(found) for key, found in types.items()}
        self.ids = {column: f"d{i}" for i, column in enumerate(self.first_met)}

    def typed(self, data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        for key, raw in data.items():
            value = _scalar(raw)
            if value is None:
                continue
            want = self.chosen[key]
            if type(value) is want:
                yield key, value
            elif want is float:
                yield key, float(value)
            else:
                yield key, str(value).lower() if isinstance(value, bool) else str(value)

    def key_elements(self) -> list[ET.Element]:
        """The <key> declarations, newest first (where networkx's writer inserts them)."""
        return [
            ET.Element(
                "key",
                {
                    "id": self.ids[name, scope],
                    "for": scope,
                    "attr.name": name,
                    "attr.type": GRAPHML_TYPES[self.chosen[name]],
                },
            )
            for name, scope in reversed(self.first_met)
        ]


def _graphml_elements(context: ReviewContext, columns: _GraphMLColumns) -> Iterator[ET.Element]:
    """<node> and <edge> elements, in the graph's order, each with its <data> children."""

    def element(tag: str, attrib: dict[str, str], scope: str, data: dict[str, Any]) -> ET.Element:
        made = ET.Element(tag, attrib)
        for key, value in columns.typed(data):
            ET.SubElement(made, "data", key=columns.ids[key, scope]).text = str(value)
        return made

    for node, data in context.graph_nodes():
        yield element("node", {"id": xml_text(node)}, "node", data)
    for u, v, key, data in context.graph_edges():
        ends = {"source": xml_text(u), "target": xml_text(v), "id": xml_text(key)}
        yield element("edge", ends, "edge", data)


def _indented(element: ET.Element, tail: str) -> ET.Element:
    """networkx's pretty-printing of a <node> or <edge> (two spaces a level)."""
    if len(element):
        element.text = "\n      "
        for child in element:
            child.tail = "\n      "
        element[-1].tail = "\n    "
    element.tail = tail
    return element


def graphml_chunks(context: ReviewContext, size: int = 5000) -> Iterator[bytes]:
    """The graph as networkx's `write_graphml` writes it, byte for byte, a chunk of
    elements at a time, each serialised by ElementTree (networkx's own serialiser) instead
    of one tree of the whole graph: two passes over the graph (the attribute types, then
    the elements), none of it held."""
    columns = _GraphMLColumns(context)
    root = ET.Element("graphml", GRAPHML_HEAD)
    root.extend(columns.key_elements())
    graph = ET.SubElement(root, "graph", edgedefault="directed")
    mark = ET.SubElement(graph, "elements-follow")  # where the streamed elements go
    ET.indent(root)
    root.tail = "\n"  # as networkx's writer ends the file
    head, _mark, tail = ET.tostring(root, encoding="utf-8", xml_declaration=True).partition(
        ET.tostring(mark, encoding="utf-8")
    )
    batch = ET.Element("batch")
    held: ET.Element | None = None  # one element behind: the last one's tail differs
    started = False
    for element in _graphml_elements(context, columns):
        if held is not None:
            batch.append(_indented(held, "\n    "))
        held = element
        if len(batch) == size:
            yield (b"" if started else head) + ET.tostring(batch, encoding="utf-8")[7:-8]
            started, batch = True, ET.Element("batch")
    if held is None:  # an empty graph: networkx writes <graph ... />
        graph.remove(mark)
        graph.text = None
        ET.indent(root)
        root.tail = "\n"
        yield ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return
    batch.append(_indented(held, "\n  "))
    yield (b"" if started else head) + ET.tostring(batch, encoding="utf-8")[7:-8] + tail


class GraphMLExporter:
    name = "graphml"
    filename = "graph.graphml"
    description = "The graph as GraphML (opens in Gephi and yEd)"
    reads_review = False

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        path = out_dir / self.filename
        with safe_file(path, binary=True) as handle:
            handle.writelines(graphml_chunks(context))
        return path
