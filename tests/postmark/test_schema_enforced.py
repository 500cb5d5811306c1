"""Postmark's schema, enforced: what the collector emits is what it declares (a typo is a
warning of the run), its edge kinds carry its namespace, and a database of bare kinds
migrates keeping its review rows (tests/host/test_plugin_schemas.py: the host's checks)."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner
from idgraph.connector.postmark import collector
from idgraph.connector.postmark.members import MEMBER_FORMAT
from idgraph.connector.postmark.schema import SCHEMA as POSTMARK
from idgraph.graph.attestation import MemberFormat
from idgraph.graph.cli import cli
from idgraph.graph.model import content_hash
from idgraph.graph.schema import (
    MEMBER_PROPERTIES,
    registry,
)
from idgraph.graph.store import SCHEMA_VERSION, Store

from .fixtures import attest_fixture, sync_fixture

# -- what the collector emits ----------------------------------------------------------


def test_a_typod_edge_kind_of_postmark_is_a_warning_of_the_run(store, emulator, monkeypatch):
    monkeypatch.setattr(collector, "HAS_SERVER", "postmark:has_sever")
    result = sync_fixture(store, emulator)
    servers = len(emulator.account["Servers"])
    typo = (
        "schema: the postmark connector emitted edge kind 'postmark:has_sever', which its "
        f"schema does not declare ({servers} edges)"
    )
    assert result.status == "complete"
    assert typo in result.collection.warnings
    assert typo in store.run(result.run_id).warnings  # recorded with the run
    assert not [w for w in result.collection.warnings if w.startswith("schema:") and w != typo]


def test_the_sync_summary_shows_the_undeclared_kind(tmp_path, emulator, monkeypatch):
    monkeypatch.setattr(collector, "HAS_SERVER", "postmark:has_sever")
    env = {"POSTMARK_ACCOUNT_TOKEN": emulator.account_tokens[0], "POSTMARK_API_URL": emulator.url}
    result = CliRunner().invoke(cli, ["sync", "postmark", "--db", str(tmp_path / "x.db")], env=env)
    assert result.exit_code == 0, result.output
    assert "edge kind 'postmark:has_sever'" in result.stderr


def test_the_demo_account_emits_only_what_postmark_declares(store, emulator):
    result = sync_fixture(store, emulator)
    assert not [w for w in result.collection.warnings if w.startswith("schema:")]


# -- the shared kinds and the member properties --------------------------------------------


def test_the_host_declares_the_shared_kinds_and_member_properties():
    reg = registry()
    assert reg.declared_by["edge", "is"] == reg.declared_by["node", "person"]
    assert reg.declared_by["edge", "is"].startswith("idgraph")
    assert "is" not in {edge.kind for edge in POSTMARK.edges}
    for kind in reg.node_kinds_with_role("member"):
        assert set(MEMBER_PROPERTIES) <= set(reg.nodes[kind].properties), kind
    # Postmark's own words for its member properties stay
    member = reg.nodes["postmark:team_member"]
    assert member.properties["role"] == "the role exactly as the UI showed it"
    assert "server_access" in member.properties


def test_postmark_edge_kinds_are_namespaced():
    assert all(edge.kind.startswith("postmark:") for edge in POSTMARK.edges)


def test_member_format_defaults_are_neutral_and_postmarks_live_in_its_connector():
    neutral = MemberFormat(
        connector="crm",
        title="CRM",
        member_kind="crm:user",
        account_kind="crm:account",
        resource_kind="crm:board",
        resource_key="board_id",
        roles={"owner": "owner"},
        where_in_the_ui="",
    )
    assert (neutral.member_edge, neutral.access_edge) == ("crm:member_of", "crm:can_access")
    assert (neutral.resource_prefix, neutral.access_property) == ("resource:", "resource_access")
    assert neutral.identity_edge == "is"
    assert (MEMBER_FORMAT.member_edge, MEMBER_FORMAT.access_edge) == (
        "postmark:member_of",
        "postmark:can_access",
    )
    assert (MEMBER_FORMAT.resource_prefix, MEMBER_FORMAT.access_property) == (
        "server:",
        "server_access",
    )


# -- an old database of bare kinds migrates -------------------------------------------------


def _as_schema_4(path: Path) -> None:
    """Rewrite a database as idgraph wrote it before Postmark's kinds had their namespace
    (schema 4): bare edge kinds in the versions (kind, key, hash), the decisions, the runs'
    counts and the kind facts; the migration not applied."""
    conn = sqlite3.connect(path)
    with conn:
        rows = conn.execute(
            "SELECT rowid, src, dst, discriminator, kind, source, attrs FROM edge_versions "
            "WHERE kind LIKE 'postmark:%'"
        ).fetchall()
        for rowid, src, dst, disc, kind, source, attrs in rows:
            bare = kind.removeprefix("postmark:")
            key = f"{src}|{bare}|{dst}" + (f"|{disc}" if disc else "")
            conn.execute(
                "UPDATE edge_versions SET kind = ?, key = ?, hash = ? WHERE rowid = ?",
                [bare, key, content_hash(bare, source, attrs), rowid],
            )
        conn.execute(
            "UPDATE review_decisions SET access_kind = substr(access_kind, 10) "
            "WHERE access_kind LIKE 'postmark:%'"
        )
        conn.execute(
            "UPDATE kind_facts SET kind = substr(kind, 10) "
            "WHERE what = 'edge' AND kind LIKE 'postmark:%'"
        )
        for run_id, text in conn.execute("SELECT id, counts FROM runs").fetchall():
            counts = json.loads(text or "{}")
            for change, by_kind in counts.get("edges", {}).items():
                counts["edges"][change] = {
                    k.removeprefix("postmark:"): n for k, n in by_kind.items()
                }
            conn.execute("UPDATE runs SET counts = ? WHERE id = ?", [json.dumps(counts), run_id])
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_namespaced_edge_kinds'")
        conn.execute("PRAGMA user_version = 4")
    conn.close()


def _review_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8-sig")))


def _export(db: Path, out: Path) -> list[dict[str, str]]:
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return _review_rows(out / "review.csv")


def _decide_first(rows: list[dict[str, str]], path: Path, access_kind: str | None = None) -> Path:
    rows = [dict(row) for row in rows]
    rows[0].update(decision="keep", reviewer="lead@acme-corp.example")
    if access_kind is not None:  # as a file exported by the older idgraph reads
        for row in rows:
            row["access_kind"] = row["access_kind"].removeprefix("postmark:")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_database_of_bare_kinds_migrates_and_exports_the_same_rows(tmp_path, emulator):
    db = tmp_path / "old.db"
    store = Store(db)
    sync_fixture(store, emulator)
    attest_fixture(store)
    store.close()
    before = _export(db, tmp_path / "before")
    decided = _decide_first(before, tmp_path / "decided.csv")
    imported = CliRunner().invoke(
        cli,
        ["review", "import", str(decided), "--reviewer", "lead@acme-corp.example", "--db", str(db)],
    )
    assert imported.exit_code == 0, imported.output
    _as_schema_4(db)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM edge_versions WHERE kind = 'grants'").fetchone()[0]
    conn.close()

    after = _export(db, tmp_path / "after")  # opening the file migrates it

    def key(row):
        return (row["row_id"], row["principal"], row["resource"], row["access"])

    assert [key(r) for r in after] == [key(r) for r in before]
    # the ids are those the older idgraph computed from the bare kind it stored (a token's
    # one row: its scope row's, the first kind)
    for row in after:
        bare = row["access_kind"].split("; ")[0].removeprefix("postmark:")
        digest = hashlib.sha256(f"{row['principal']}|{bare}|{row['resource']}".encode())
        assert row["row_id"] == "r-" + digest.hexdigest()[:16]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    bare_left = conn.execute(
        "SELECT DISTINCT kind FROM edge_versions WHERE instr(kind, ':') = 0"
    ).fetchall()
    assert bare_left == [("is",)]
    assert conn.execute("SELECT access_kind FROM review_decisions").fetchall() == [
        (before[0]["access_kind"],)
    ]
    assert conn.execute(
        "SELECT count(*) FROM kind_facts WHERE what = 'edge' AND kind = 'postmark:grants'"
    ).fetchone() == (1,)
    conn.close()
    # a reviewer's file exported before the migration still imports onto its rows
    held = _decide_first(before, tmp_path / "held.csv", access_kind="bare")
    again = CliRunner().invoke(
        cli,
        ["review", "import", str(held), "--reviewer", "lead@acme-corp.example", "--force"]
        + ["--db", str(db)],
    )
    assert again.exit_code == 0, again.output
    # and the next sync finds nothing changed: keys and hashes are what it computes now
    store = Store(db)
    result = sync_fixture(store, emulator)
    store.close()
    assert not any(result.counts["edges"][change] for change in ("created", "changed", "removed"))


def test_what_the_attestation_engine_writes_is_declared():
    """The host's member properties and the shared `is` make every node and edge of an
    attestation declared kinds with declared properties."""
    from datetime import UTC, datetime

    from idgraph.graph.attestation import Evidence, Member, build_attestation
    from idgraph.graph.schema import undeclared_warnings

    fmt = MEMBER_FORMAT
    members = [
        Member("ann@acme.example", "Ann", "Account Owner", "owner", "yes"),
        Member("bo@acme.example", "Bo", "Teammate", "member", "no", {"11001": "view"}),
    ]
    nodes, edges, _record = build_attestation(
        fmt,
        members,
        label="acme",
        attested_by="r@acme.example",
        attested_at=datetime(2026, 12, 1, tzinfo=UTC),
        valid_days=90,
        evidence=Evidence("https://wiki.example/users", None),
        file_sha256="0" * 64,
        import_id=7,
    )
    assert {e.kind for e in edges} == {fmt.member_edge, fmt.access_edge, "is"}
    assert undeclared_warnings(registry(), fmt.connector, nodes, edges) == []


def test_the_collector_emits_only_declared_kinds_and_properties(store, emulator):
    from idgraph.graph.view import load_graph

    sync_fixture(store, emulator)
    attest_fixture(store)  # the sample members
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
