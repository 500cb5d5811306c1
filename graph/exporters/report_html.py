"""report.html: who has access to what, what changed, what is risky, the decisions.

One self-contained file (inline CSS, one small inline script for the filter box, no
network), rendered from Jinja2 templates with autoescape on: every name, URL and message
is HTML-escaped. What it shows is worked out in report_model.py from the schema registry.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from ..review import ReviewContext
from ..text import bidi_isolated
from ._files import write_chunks
from .report_model import report_model

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _number(value: int) -> str:
    return f"{value:,}"


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
