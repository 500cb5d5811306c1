"""report.html: summary, findings, the review table and a picture of the graph, offline."""

from __future__ import annotations

from collections import Counter
from html import escape
from pathlib import Path

from ..review import REVIEW_COLUMNS, ReviewContext, node_name
from ._files import write_text

MAX_PICTURE_NODES = 400
COLUMN_OF_KIND = {
    "team_member": 0,
    "account_token": 0,
    "server_token": 0,
    "account": 1,
    "server": 2,
    "domain": 2,
    "sender_signature": 2,
    "message_stream": 3,
    "webhook": 3,
    "person": 4,
    "endpoint": 4,
}
COLOURS = ["#7b5ea7", "#2e6fba", "#2a9d8f", "#e9c46a", "#e76f51", "#888888"]

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f4f4f4}
.high{color:#b00020;font-weight:bold}.medium{color:#b35c00}.low{color:#555}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:6px;
padding:.6em 1em}.card b{font-size:1.4em;display:block}svg text{font-size:9px}
"""


def _picture(context: ReviewContext) -> str:
    graph = context.graph
    nodes = list(graph.nodes)[:MAX_PICTURE_NODES]
    shown = set(nodes)
    columns: dict[int, list[str]] = {}
    for node in nodes:
        kind = graph.nodes[node].get("kind", "").split(":")[-1]
        columns.setdefault(COLUMN_OF_KIND.get(kind, 5), []).append(node)
    width, row_height = 1100, 18
    height = max(len(col) for col in columns.values()) * row_height + 40
    position = {}
    for column, members in columns.items():
        for index, node in enumerate(sorted(members)):
            position[node] = (40 + column * 205, 20 + index * row_height)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="the identity graph">'
    ]
    for u, v, data in graph.edges(data=True):
        if u in shown and v in shown:
            (x1, y1), (x2, y2) = position[u], position[v]
            parts.append(
                f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#bbb" '
                f'stroke-width="0.6"><title>{escape(data["kind"])}</title></line>'
            )
    for node, (x, y) in position.items():
        kind = graph.nodes[node].get("kind", "")
        column = COLUMN_OF_KIND.get(kind.split(":")[-1], 5)
        label = escape(node_name(graph, node)[:28])
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="5" fill="{COLOURS[column]}">'
            f"<title>{escape(node)}</title></circle>"
            f'<text x="{x + 8}" y="{y + 3}">{label}</text>'
        )
    parts.append("</svg>")
    note = ""
    if len(graph) > MAX_PICTURE_NODES:
        note = f"<p>The picture shows the first {MAX_PICTURE_NODES} of {len(graph)} nodes.</p>"
    return note + "".join(parts)


class HtmlReportExporter:
    name = "html"
    filename = "report.html"
    description = "A self-contained HTML report: summary, findings, review table, graph picture"

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        graph = context.graph
        kinds = Counter(data.get("kind", "") for _n, data in graph.nodes(data=True))
        severities = Counter(f.severity for f in context.findings)
        humans = len({r.principal for r in context.rows if r.principal_type == "human"})
        credentials = len({r.principal for r in context.rows if r.principal_type == "credential"})
        cards = [
            ("access paths", len(context.rows)),
            ("people", humans),
            ("credentials", credentials),
            ("high findings", severities["high"]),
            ("medium findings", severities["medium"]),
            ("nodes", len(graph)),
            ("edges", graph.number_of_edges()),
        ]
        html = [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>idgraph access review, run {context.run.id}</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>Access review: run {context.run.id}</h1>",
            f"<p>Every API-synced and attested fact as of complete run {context.run.id} "
            f"({escape(context.run.kind)} of {escape(context.run.scope)}, finished "
            f"{escape(context.run.finished or '')})."
            + (f" Changes are since run {context.since.id}." if context.since else "")
            + "</p>",
            "<h2>Summary</h2><div class='cards'>",
            *(f"<div class='card'><b>{value}</b>{escape(label)}</div>" for label, value in cards),
            "</div><table><tr><th>kind</th><th>count</th></tr>",
            *(
                f"<tr><td>{escape(kind)}</td><td>{count}</td></tr>"
                for kind, count in sorted(kinds.items())
            ),
            "</table>",
            f"<h2>Findings ({len(context.findings)})</h2>",
            "<table><tr><th>severity</th><th>check</th><th>node</th><th>finding</th></tr>",
            *(
                f"<tr><td class='{escape(f.severity)}'>{escape(f.severity)}</td>"
                f"<td>{escape(f.check)}</td><td>{escape(f.node)}</td>"
                f"<td>{escape(f.message)}</td></tr>"
                for f in context.findings
            ),
            "</table>",
            f"<h2>Access paths ({len(context.rows)})</h2><table><tr>",
            *(f"<th>{escape(c)}</th>" for c in REVIEW_COLUMNS if c not in ("run", "row_id")),
            "</tr>",
        ]
        for row in context.rows + context.removed:
            cells = row.cells()
            html.append(
                "<tr>"
                + "".join(
                    f"<td>{escape(cells[c])}</td>"
                    for c in REVIEW_COLUMNS
                    if c not in ("run", "row_id")
                )
                + "</tr>"
            )
        html += ["</table>", "<h2>The graph</h2>", _picture(context), "</body></html>"]
        return write_text(out_dir / self.filename, "\n".join(html))
