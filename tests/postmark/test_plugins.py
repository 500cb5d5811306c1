"""The plugin system: entry points, a second connector, and `idgraph plugins`."""

import json

from click.testing import CliRunner
from idgraph.graph.cli import cli
from idgraph.graph.hookspecs import hookimpl
from idgraph.graph.interfaces import Collection, SyncOptions
from idgraph.graph.model import Edge, Node, person_id
from idgraph.graph.plugins import get_connectors, pm
from idgraph.graph.sync import sync
from idgraph.graph.view import load_graph

from .fixtures import attest_fixture, sync_fixture


class FakeDirectory:
    """A second connector: an HR directory that knows Dana by her work address."""

    name = "fakedir"
    description = "a fake HR directory"
    secret_env = "FAKEDIR_KEY"
    options_class = SyncOptions

    def collect(self, *, account, secret, options, progress):
        person = person_id("Dana.Ops@acme-corp.example")
        return Collection(
            scope=account.scope,
            nodes=[
                Node(id="fakedir:employee:42", kind="fakedir:employee", attrs={"title": "SRE"}),
                Node(id=person, kind="person", attrs={"email": "dana.ops@acme-corp.example"}),
            ],
            edges=[Edge(src="fakedir:employee:42", dst=person, kind="is")],
        )


class FakePlugin:
    @hookimpl
    def register_connectors(self, register):
        register(FakeDirectory())


def test_a_second_connector_joins_on_the_person_node(store, emulator):
    plugin = FakePlugin()
    pm.register(plugin, name="fakedir")
    try:
        connectors = get_connectors()
        assert set(connectors) >= {"postmark", "fakedir"}
        sync_fixture(store, emulator)
        assert (
            sync(store, connectors["fakedir"], secret="k", account_label="hr").status == "complete"
        )
    finally:
        pm.unregister(plugin)
    _run, graph = load_graph(store)
    person = "person:dana.ops@acme-corp.example"
    sources = {u for u, _v in graph.in_edges(person)}
    assert sources == {"fakedir:employee:42", "postmark:sender_signature:9003"}
    # both connectors' histories stay apart: the second sync closed nothing of Postmark's
    assert "postmark:server:11001" in graph and "fakedir:employee:42" in graph


def test_postmark_registers_through_the_entry_point():
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="idgraph")}
    assert names["postmark"] == "idgraph.connector.postmark.plugin"
    assert pm.get_plugin("postmark") is not None


def test_plugins_command_lists_name_hooks_and_version():
    from idgraph import __version__

    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert "register_connectors" in rows["postmark"]["hooks"]
    assert rows["postmark"]["version"] == __version__


def test_members_no_other_connector_knows_are_flagged(store, emulator, tmp_path):
    from pathlib import Path

    from idgraph.graph.review import build_review

    members = (
        Path(__file__).resolve().parents[2] / "connector/postmark/emulator/fixtures/members.csv"
    )
    sync_fixture(store, emulator)
    attest_fixture(store, members)
    alone = build_review(store)
    assert "member-unmatched" not in {f.check for f in alone.findings}  # no other connector
    plugin = FakePlugin()
    pm.register(plugin, name="fakedir")
    try:
        sync(store, get_connectors()["fakedir"], secret="k", account_label="hr")
        flagged = {f.node for f in build_review(store).findings if f.check == "member-unmatched"}
    finally:
        pm.unregister(plugin)
    # the HR directory knows Dana only; the other four members are flagged
    assert len(flagged) == 4
    assert "postmark:team_member:dana.ops@acme-corp.example" not in flagged
