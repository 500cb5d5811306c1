"""The schema enforced by the host: what a connector emits is checked against what it
declares, and a plugin declaring a kind another declares, or one outside its own namespace,
is refused at load (tests/postmark/test_schema_enforced.py: Postmark's own schema)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from idgraph.graph.cli import EXIT_CONFIG, cli
from idgraph.graph.hookspecs import hookimpl
from idgraph.graph.interfaces import Collection, SyncOptions
from idgraph.graph.model import Edge, Node, person_id
from idgraph.graph.plugins import pm
from idgraph.graph.schema import ConnectorSchema, EdgeKind, NodeKind, SchemaConflict, registry
from idgraph.graph.sync import sync


@pytest.fixture
def plugin():
    """Register a throwaway plugin for one test: `plugin(obj, name)`."""
    registered = []

    def register(obj, name):
        pm.register(obj, name=name)
        registered.append(obj)
        return obj

    yield register
    for obj in registered:
        pm.unregister(obj)


class Directory:
    """A connector declaring `dir:employee` (title) and emitting a typo'd property, an
    undeclared node kind and an undeclared edge kind; the shared `person`/`is` are fine."""

    name = "dir"
    description = "a directory"
    secret_env = "DIR_KEY"
    options_class = SyncOptions

    def collect(self, *, account, secret, options, progress):
        person = person_id("dana@acme.example")
        return Collection(
            scope=account.scope,
            nodes=[
                Node(id="dir:employee:1", kind="dir:employee", attrs={"title": "SRE"}),
                Node(id="dir:employee:2", kind="dir:employee", attrs={"titel": "Ops"}),
                Node(id="dir:employee:3", kind="dir:employee", attrs={"titel": "Dev"}),
                Node(id="dir:team:1", kind="dir:team", attrs={}),
                Node(id=person, kind="person", attrs={"email": "dana@acme.example"}),
            ],
            edges=[
                Edge(src="dir:employee:1", dst=person, kind="is"),
                Edge(src="dir:employee:1", dst="dir:team:1", kind="dir:in_team"),
            ],
        )


DIRECTORY_SCHEMA = ConnectorSchema(
    connector="dir",
    title="Directory",
    nodes=(NodeKind("dir:employee", "id", "An employee.", "test", {"title": "job title"}),),
    edges=(),
)


class DirectoryPlugin:
    @hookimpl
    def register_connectors(self, register):
        register(Directory())

    @hookimpl
    def register_schemas(self, register):
        register(DIRECTORY_SCHEMA)


def test_undeclared_kinds_and_properties_are_named_once_each(store, plugin):
    plugin(DirectoryPlugin(), "dir-plugin")
    result = sync(store, Directory(), secret="k", account_label="hr")
    assert result.status == "complete"  # a warning, not a refusal: the graph is stored
    assert [w for w in result.collection.warnings if w.startswith("schema:")] == [
        "schema: the dir connector emitted edge kind 'dir:in_team', which its schema does not "
        "declare (1 edge)",
        "schema: the dir connector emitted property 'titel' on node kind 'dir:employee', "
        "which its schema does not declare (2 nodes)",
        "schema: the dir connector emitted node kind 'dir:team', which its schema does not "
        "declare (1 node)",
    ]


def _schema_plugin(schema: ConnectorSchema) -> object:
    class SchemaPlugin:
        @hookimpl
        def register_schemas(self, register):
            register(schema)

    return SchemaPlugin()


GRANTS_AGAIN = ConnectorSchema(
    connector="postmark",  # a second distribution calling itself postmark
    title="Evil",
    nodes=(),
    edges=(EdgeKind("postmark:grants", "x -> y", "Not Postmark's.", "test"),),
)


def test_a_plugin_declaring_an_existing_kind_fails_to_load_naming_both(plugin):
    plugin(_schema_plugin(GRANTS_AGAIN), "evil-plugin")
    with pytest.raises(SchemaConflict) as raised:
        registry()
    message = str(raised.value)
    assert "'postmark:grants'" in message and "'postmark'" in message
    assert "'evil-plugin'" in message


def test_the_cli_refuses_two_declarations_of_one_kind_in_one_line(plugin, tmp_path):
    plugin(_schema_plugin(GRANTS_AGAIN), "evil-plugin")
    result = CliRunner().invoke(cli, ["runs", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert "'postmark:grants' is declared by two plugins" in result.stderr
    assert "'postmark'" in result.stderr and "'evil-plugin'" in result.stderr


@pytest.mark.parametrize(
    "kind", ["is", "person", "grants", "postmark:grants", "postmark:secret_backdoor", "evil:"]
)
def test_a_kind_outside_the_plugins_own_namespace_is_refused_at_load(plugin, kind, tmp_path):
    """A bare kind (`grants`), a host-shared one (`is`, `person`) or one in another
    connector's namespace is refused when the plugins load: exit 3, one line naming it."""
    outside = ConnectorSchema(
        connector="evil",
        title="Evil",
        nodes=(),
        edges=(EdgeKind(kind, "a -> b", "Something else.", "test", access="is"),),
    )
    plugin(_schema_plugin(outside), "evil-plugin")
    with pytest.raises(SchemaConflict, match="'evil-plugin' declares the edge kind"):
        registry()
    result = CliRunner().invoke(cli, ["runs", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == EXIT_CONFIG and "outside its namespace" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
