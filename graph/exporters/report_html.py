"""report.html: who has access to what, what changed, what is risky, the decisions.

One self-contained file (inline CSS, one small inline script, no network), rendered from
Jinja2 templates with autoescape on: every name, URL and message is HTML-escaped. The parts
a large account has thousands of (the per-resource blocks, a check's items, the credentials)
are data in the page (`report_model.drawn_when_opened`, packed here), drawn by the script
when their <details> is first opened, every string as text. What it shows is worked out in
report_model.py from the schema registry.
"""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import jinja2
import orjson

from ..review import ReviewContext
from ..text import bidi_isolated
from ._files import write_chunks
from .report_model import report_model

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _number(value: int) -> str:
    return f"{value:,}"


def packed(value: Any) -> str:
    """The data report.js draws from: JSON, gzipped and base64-encoded (a fifth of the JSON's
    size; nothing in it can close the <script> it sits in). mtime 0: the same bytes each time."""
    return base64.b64encode(gzip.compress(orjson.dumps(value), mtime=0)).decode("ascii")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = _number
    env.filters["isolate"] = bidi_isolated
    env.filters["packed"] = packed
    return env


class HtmlReportExporter:
    name = "html"
    filename = "report.html"
    description = (
        "A self-contained HTML report: access matrix, per-resource access, changes since "
        "the last review, grouped findings, decisions and sign-off"
    )

    def export(self, context: ReviewContext, out_dir: Path) -> Path:
        template = environment().get_template("report.html.j2")
        return write_chunks(out_dir / self.filename, template.generate(m=report_model(context)))
