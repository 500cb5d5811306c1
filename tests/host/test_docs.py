"""Docs that must not drift from the code."""

import re
from pathlib import Path

import pytest
from idgraph.graph import hookspecs
from idgraph.graph.schema import registry, render_markdown

from .conftest import attest_fixture, sync_fixture

DOCS = Path(__file__).resolve().parents[1] / "docs"
HOOKS = [name for name in dir(hookspecs) if name.startswith("register_")]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    text = (DOCS / "plugins.md").read_text()
    assert re.search(rf"^##+ `?{hook}\(", text, re.M), f"{hook} is missing from docs/plugins.md"


def test_graph_schema_doc_is_generated_from_the_schema():
    assert (DOCS / "graph-schema.md").read_text() == render_markdown(), (
        "run: python -m idgraph.graph.schema > docs/graph-schema.md"
    )


def test_the_collector_emits_only_declared_kinds_and_properties(store, emulator):
    from idgraph.graph.view import load_graph

    sync_fixture(store, emulator)
    members = (
        Path(__file__).resolve().parents[1] / "connector/postmark/emulator/fixtures/members.csv"
    )
    attest_fixture(store, members)
    _run, graph = load_graph(store)
    assert "postmark:team_member:dana.ops@acme-corp.example" in graph
    schema = registry()
    declared = {k: set(n.properties) for k, n in schema.nodes.items()}
    reserved = {"kind", "source", "sources", "first_seen", "last_seen", "scope"}
    for node, data in graph.nodes(data=True):
        assert data["kind"] in declared, node
        assert set(data) - reserved <= declared[data["kind"]], node
    edge_props = {k: set(e.properties) for k, e in schema.edges.items()}
    for _u, _v, data in graph.edges(data=True):
        assert data["kind"] in edge_props
        assert set(data) - {"kind", "source", "first_seen"} <= edge_props[data["kind"]]
