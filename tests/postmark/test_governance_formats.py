"""The pack's platform files against each consumer's own rules (shared consumer-formats.md):
baton-file's CSV rules, Veza's oaaclient, BloodHound OpenGraph's schema, igraph's GraphML."""

from __future__ import annotations

import csv
import io
import json
import re
from contextlib import contextmanager

import networkx as nx
import pytest
from idgraph.graph.review import build_review
from idgraph.graph.store import Store

from .fixtures import exported_pack, fixture_secrets


@pytest.fixture
def pack(tmp_path, emulator):
    return exported_pack(tmp_path, emulator)


# -- baton-file --------------------------------------------------------------------------------

RECORD_TYPES = {"user", "resource", "entitlement", "direct_user_grant"}
REQUIRED = {
    "user": ("id", "display_name"),
    "resource": ("id", "display_name", "resource_type", "trait"),
    "entitlement": ("resource_id", "entitlement_slug"),
    "direct_user_grant": ("principal_id", "resource_id", "entitlement_slug"),
}
KNOWN_COLUMNS = {
    "record_type", "id", "display_name", "email", "status", "type", "last_login", "login",
    "mfa_enabled", "resource_type", "trait", "description", "parent_resource", "created_at",
    "expires_at", "created_by", "identity", "resource_id", "entitlement_slug", "principal_id",
}  # fmt: skip


def test_baton_file_follows_every_rule(pack):
    _db, out = pack
    assert not (out / "baton").exists()  # the four-CSV layout no version reads is gone
    text = (out / "baton-file.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    # one flat file, one header; every column known or profile.*
    assert header[0] == "record_type" and len(set(header)) == len(header)
    assert all(c in KNOWN_COLUMNS or c.startswith("profile.") for c in header)
    records = [dict(zip(header, row, strict=True)) for row in body]  # same width everywhere
    assert {r["record_type"] for r in records} == RECORD_TYPES
    for record in records:
        for column in REQUIRED[record["record_type"]]:
            assert record[column], (column, record)
        for cell in record.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    users = {r["id"]: r for r in records if r["record_type"] == "user"}
    resources = {r["id"]: r for r in records if r["record_type"] == "resource"}
    assert not set(users) & set(resources)  # ids unique across users and resources
    # users: members are humans with email and mfa from two_factor; tokens are services
    humans = [u for u in users.values() if u["type"] == "human"]
    assert len(humans) == 5 and all("@" in u["email"] for u in humans)
    assert {u["type"] for u in users.values()} == {"human", "service"}
    assert all(u["status"] == "enabled" for u in users.values())
    assert {u["mfa_enabled"] for u in humans} <= {"true", "false", ""}
    assert {u["mfa_enabled"] for u in humans} >= {"true", "false"}
    assert all(u["mfa_enabled"] == "" for u in users.values() if u["type"] == "service")
    # resources: a valid trait on every one; the account is the app; credentials are secrets
    assert {r["trait"] for r in resources.values()} <= {"group", "role", "app", "secret", "user"}
    assert [r["resource_type"] for r in resources.values() if r["description"].endswith(
        ":account")] == ["account"]  # fmt: skip
    secrets = [r for r in resources.values() if r["trait"] == "secret"]
    assert len(secrets) == len(users) - len(humans)
    types_by_id = {i: r["resource_type"] for i, r in resources.items()}
    for secret in secrets:
        kind, _, ident = secret["identity"].partition(":")  # type:id, split at the first colon
        assert types_by_id[ident] == kind
        assert secret["created_by"] == "" or secret["created_by"].split(":", 1)[1] in users
    for resource in resources.values():
        assert resource["parent_resource"] == "" or resource["parent_resource"] in resources
    # entitlements on known resources; grants to known users and entitlements
    entitlements = {
        (r["resource_id"], r["entitlement_slug"])
        for r in records
        if r["record_type"] == "entitlement"
    }
    assert all(resource in resources for resource, _slug in entitlements)
    assert all(re.fullmatch(r"[a-z0-9_]+", slug) for _r, slug in entitlements)
    grants = [r for r in records if r["record_type"] == "direct_user_grant"]
    for grant in grants:
        assert grant["principal_id"] in users
        assert (grant["resource_id"], grant["entitlement_slug"]) in entitlements
    # one grant per access edge: a review row, or each part a credential's row covers
    review = list(csv.DictReader((out / "review.csv").open(encoding="utf-8-sig")))
    assert len(grants) == sum(r["covers"].count(" | ") + 1 if r["covers"] else 1 for r in review)


# -- Veza --------------------------------------------------------------------------------------


def test_veza_payload_is_built_and_validated_by_oaaclient(pack):
    pytest.importorskip("oaaclient", reason="pip install 'idgraph[veza]'")
    from idgraph.graph.exporters.governance import veza_application

    db, out = pack
    store = Store(db)
    context = build_review(store)
    store.close()
    app = veza_application(context)
    payload = app.get_payload()  # oaaclient's own checks ran while building
    assert json.loads((out / "veza-oaa.json").read_text()) == json.loads(
        json.dumps(payload, default=str)
    )
    definitions = payload["custom_property_definition"]["applications"][0]
    assert "two_factor" in definitions["local_user_properties"]
    application = payload["applications"][0]
    assert len(application["local_users"]) == 5
    assert all(u["custom_properties"]["two_factor"] for u in application["local_users"])
    assert len(application["local_access_creds"]) == 8
    types = {r["resource_type"] for r in application["resources"]}
    assert {"server", "sender_signature", "domain"} <= types
    permissions = {p["name"]: p for p in payload["permissions"]}
    assert sorted(permissions["view"]["permission_type"]) == ["DataRead", "MetadataRead"]
    assert "DataWrite" in permissions["full"]["permission_type"]
    assert not permissions["view"]["apply_to_sub_resources"]
    # a User's role reaches no resource; admin roles span the account
    assert permissions["role: User"]["permission_type"] == ["MetadataRead"]
    assert not permissions["role: User"]["apply_to_sub_resources"]
    assert permissions["role: Account Owner"]["apply_to_sub_resources"]
    resource_keys = {r["name"] for r in application["resources"]}
    for identity in payload["identity_to_permissions"]:
        for grant in identity.get("application_permissions", []):
            if grant["permission"] in ("view", "full"):
                assert not grant.get("apply_to_application") and grant["resources"]
                assert set(grant["resources"]) <= resource_keys | {
                    r.get("id") for r in application["resources"]
                }


def test_without_oaaclient_the_veza_exporter_says_what_to_install(pack, monkeypatch):
    import builtins

    from idgraph.graph.exporters.governance import VezaExporter
    from idgraph.graph.interfaces import ExporterUnavailable

    real_import = builtins.__import__

    def no_oaaclient(name, *args, **kwargs):
        if name.startswith("oaaclient"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    db, out = pack
    store = Store(db)
    context = build_review(store)
    store.close()
    monkeypatch.setattr(builtins, "__import__", no_oaaclient)
    with pytest.raises(ExporterUnavailable) as info:
        VezaExporter().export(context, out / "none")
    assert "pip install 'idgraph[veza]'" in info.value.reason
    assert not (out / "none" / "veza-oaa.json").exists()


# -- BloodHound OpenGraph ----------------------------------------------------------------------


def test_opengraph_follows_the_schema_rules(pack):
    _db, out = pack
    data = json.loads((out / "bloodhound-opengraph.json").read_text())
    assert set(data) == {"metadata", "graph"} and set(data["metadata"]) == {"source_kind"}
    source_kind = data["metadata"]["source_kind"]
    prefix_name = re.compile(r"^[A-Za-z0-9]+_[A-Za-z0-9]+$")
    assert prefix_name.match(source_kind)
    ids = [n["id"] for n in data["graph"]["nodes"]]
    assert len({i.upper() for i in ids}) == len(ids)  # unique after upper-casing
    kinds_used = set()
    for node in data["graph"]["nodes"]:
        assert isinstance(node["id"], str) and 1 <= len(node["kinds"]) <= 3
        assert all(prefix_name.match(k) for k in node["kinds"]) and source_kind in node["kinds"]
        kinds_used.update(node["kinds"])
        assert node["properties"]["objectid"] == node["id"]
        for value in node["properties"].values():
            assert isinstance(value, str | int | float | bool | list), value
            if isinstance(value, list):
                assert value and len({type(v) for v in value}) == 1
                assert all(isinstance(v, str | int | float | bool) for v in value)
    assert "IDG_PostmarkServer" in kinds_used
    for edge in data["graph"]["edges"]:
        assert re.fullmatch(r"[A-Za-z0-9_]+", edge["kind"]) and prefix_name.match(edge["kind"])
        for end in (edge["start"], edge["end"]):
            assert end["match_by"] == "id" and end["value"] in ids
        assert isinstance(edge["properties"], dict)
    custom = json.loads((out / "bloodhound-custom-nodes.json").read_text())["custom_types"]
    assert kinds_used <= set(custom)
    assert all(entry["icon"]["type"] == "font-awesome" for entry in custom.values())


# -- GraphML -----------------------------------------------------------------------------------


def test_graphml_loads_in_igraph_and_networkx_with_the_same_counts(pack):
    igraph = pytest.importorskip("igraph", reason="pip install igraph")
    db, out = pack
    path = out / "graph.graphml"
    text = path.read_text(encoding="utf-8")
    keys = re.findall(r'<key [^>]*attr\.name="([^"]+)"[^>]*attr\.type="([^"]+)"', text)
    by_name: dict[str, set[str]] = {}
    for name, kind in keys:
        by_name.setdefault(name, set()).add(kind)
    assert all(len(kinds) == 1 for kinds in by_name.values()), by_name
    from idgraph.graph.view import load_graph

    store = Store(db)
    _run, graph = load_graph(store)
    store.close()
    loaded = igraph.Graph.Read_GraphML(str(path))
    from_nx = nx.read_graphml(path)
    assert loaded.vcount() == from_nx.number_of_nodes() == graph.number_of_nodes()
    assert loaded.ecount() == from_nx.number_of_edges() == graph.number_of_edges()
    assert by_name["dkim_verified"] == {"boolean"}


def test_no_platform_file_holds_a_secret(pack, account):
    _db, out = pack
    secrets = fixture_secrets(account)
    for name in ("baton-file.csv", "veza-oaa.json", "bloodhound-opengraph.json", "graph.graphml"):
        text = (out / name).read_text(encoding="utf-8")
        assert [s for s in secrets if s in text] == [], name


@contextmanager
def review_again(pack):
    """The pack's run reviewed anew, a fresh folder to export into and the pack's folder."""
    db, out = pack
    again = db.parent / "again"
    again.mkdir()
    store = Store(db)
    try:
        yield build_review(store), again, out
    finally:
        store.close()


def test_the_graph_files_are_written_without_loading_the_whole_graph(pack, monkeypatch):
    """Baton, BloodHound, Veza, graph.json and GraphML read the nodes and edges they need
    from the store as they go, never networkx's graph of the whole run (hundreds of
    megabytes at 100,000 nodes): the same bytes as the pack's."""
    from idgraph.graph import review
    from idgraph.graph.exporters import (
        BatonExporter,
        BloodHoundExporter,
        GraphJsonExporter,
        GraphMLExporter,
        VezaExporter,
    )

    monkeypatch.setattr(review, "load_graph", lambda *a, **k: pytest.fail("graph loaded"))
    with review_again(pack) as (context, again, out):
        for exporter in (BatonExporter, BloodHoundExporter, VezaExporter):
            path = exporter().export(context, again)
            assert path.read_bytes() == (out / path.name).read_bytes(), path.name
        context.release_rows()
        for exporter in (GraphJsonExporter, GraphMLExporter):
            path = exporter().export(context, again)
            assert path.read_bytes() == (out / path.name).read_bytes(), path.name
        assert context._graph is None


def test_review_xlsx_names_its_findings_nodes_without_loading_the_whole_graph(pack, monkeypatch):
    """The Findings sheet names each finding's node, read for those nodes alone: the same
    sheet as the pack's, with networkx's graph of the run never loaded."""
    from idgraph.graph import review
    from idgraph.graph.exporters import ReviewXlsxExporter
    from openpyxl import load_workbook

    monkeypatch.setattr(review, "load_graph", lambda *a, **k: pytest.fail("graph loaded"))
    with review_again(pack) as (context, again, out):
        path = ReviewXlsxExporter().export(context, again)
        assert context._graph is None

    def findings(file):
        return [list(r) for r in load_workbook(file)["Findings"].iter_rows(values_only=True)]

    written = findings(path)
    assert written == findings(out / "review.xlsx")
    assert len(written) > 1 and all(row[3] for row in written[1:]), written


def test_veza_oaa_json_is_written_as_it_is_encoded(pack, monkeypatch):
    """The Veza payload goes to its file piece by piece, never as one text (at 100,000
    nodes the whole text and its pieces were the export's peak): the same bytes."""
    from idgraph.graph.exporters import VezaExporter

    with review_again(pack) as (context, again, out):
        with monkeypatch.context() as patched:
            patched.setattr(json, "dumps", lambda *a, **k: pytest.fail("one whole text"))
            path = VezaExporter().export(context, again)
    assert path.read_bytes() == (out / "veza-oaa.json").read_bytes()
