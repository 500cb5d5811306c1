"""Docs that must not drift from the code."""

import re
from pathlib import Path

import pytest
from idgraph.graph import hookspecs
from idgraph.graph.schema import render_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"
HOOKS = [name for name in dir(hookspecs) if name.startswith("register_")]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    text = (DOCS / "plugins.md").read_text()
    assert re.search(rf"^##+ `?{hook}\(", text, re.M), f"{hook} is missing from docs/plugins.md"


def test_graph_schema_doc_is_generated_from_the_schema():
    assert (DOCS / "graph-schema.md").read_text() == render_markdown(), (
        "run: python -m idgraph.graph.schema > docs/graph-schema.md"
    )
