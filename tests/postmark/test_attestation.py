"""Manual attestation of Postmark team members: template, strict import, history, expiry."""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.members import MEMBER_FORMAT
from idgraph.graph.attestation import (
    AttestationInvalid,
    attestation_status,
    corroborate,
    import_members,
    previous_members,
    write_template,
)
from idgraph.graph.cli import EXIT_CONFIG, cli
from idgraph.graph.store import Store
from idgraph.graph.view import load_graph

from .fixtures import sync_fixture

FIXTURE_MEMBERS = (
    Path(__file__).resolve().parents[2] / "connector/postmark/emulator/fixtures/members.csv"
).read_text()
HEADER = FIXTURE_MEMBERS.splitlines()[0]  # as an older template wrote it: server:<name>
HEADER_BY_ID = (
    "email,name,role,two_factor,server:11001 Acme Production,server:11002 Acme Staging,"
    "server:11003 Billing Notifications,server:11005 Legacy Importer,"
    "server:11004 Marketing (agency)"
)

FORMATS = {"postmark": MEMBER_FORMAT}


@pytest.fixture
def synced(tmp_path, emulator):
    store = Store(tmp_path / "idgraph.db")
    sync_fixture(store, emulator)
    store.close()
    return tmp_path / "idgraph.db"


def _import(db, path, **kwargs):
    store = Store(db)
    try:
        return import_members(
            store,
            MEMBER_FORMAT,
            path,
            label="acme",
            attested_by="auditor@acme-corp.example",
            evidence=kwargs.pop("evidence", None),
            valid_days=kwargs.pop("valid_days", 90),
            **kwargs,
        )
    finally:
        store.close()


def _snapshot(db: Path) -> str:
    digest = hashlib.sha256()
    for suffix in ("", "-wal"):
        part = db.with_name(db.name + suffix)
        digest.update(part.read_bytes() if part.exists() else b"")
    return digest.hexdigest()


ROW = "sam.dev@acme-corp.example,Sam Dev,User,no,view,full,none,none,none"
REJECTIONS = {
    "malformed email": (
        HEADER + "\nnot-an-email,X,User,no,none,none,none,none,none\n",
        "row 2: column 'email': 'not-an-email' is not an email address",
    ),
    "duplicate email": (
        FIXTURE_MEMBERS + ROW.replace("sam.dev", "SAM.DEV") + "\n",
        "row 7: column 'email': sam.dev@acme-corp.example already appears in row 5",
    ),
    "unknown role": (
        FIXTURE_MEMBERS.replace("Sam Dev,User", "Sam Dev,Superuser"),
        "row 5: column 'role': 'Superuser' is not a Postmark role",
    ),
    "unknown server": (
        FIXTURE_MEMBERS.replace("server:Acme Staging", "server:Acme Stageing"),
        "column 'server:Acme Stageing': no server of that id or name",
    ),
    "two owners": (
        FIXTURE_MEMBERS.replace("IT Admin,Account Admin", "IT Admin,Owner"),
        "exactly one owner is needed, found 2 (rows: 2, 3)",
    ),
    "no owner": (
        FIXTURE_MEMBERS.replace("Pat Owner,Account Owner", "Pat Owner,Admin"),
        "exactly one owner is needed, found 0",
    ),
    "missing column": (
        FIXTURE_MEMBERS.replace("two_factor,", "twofa,"),
        "row 1: column 'two_factor' is missing",
    ),
    "formula after a space": (
        FIXTURE_MEMBERS.replace("Sam Dev", " =HYPERLINK(1)"),
        "row 5: column 'name': starts with '='",
    ),
    "empty file": ("", "the file is empty"),
    "header only": (HEADER + "\n", "no member rows"),
    "formula cell": (
        FIXTURE_MEMBERS.replace("Sam Dev", '=HYPERLINK("http://x")'),
        "row 5: column 'name': starts with '='",
    ),
    "bad access value": (
        FIXTURE_MEMBERS.replace("Sam Dev,User,no,view", "Sam Dev,User,no,admin"),
        "row 5: column 'server:Acme Production': 'admin' is not one of",
    ),
    "bad two_factor": (
        FIXTURE_MEMBERS.replace("Sam Dev,User,no", "Sam Dev,User,maybe"),
        "row 5: column 'two_factor': 'maybe' is not one of",
    ),
    "ragged row": (FIXTURE_MEMBERS + "x@acme-corp.example,X,User\n", "row 7: has 3 cells"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_every_rejection_names_the_place_and_changes_nothing(synced, tmp_path, case):
    text, expected = REJECTIONS[case]
    bad = tmp_path / "members.csv"
    bad.write_text(text, encoding="utf-8")
    before = _snapshot(synced)
    with pytest.raises(AttestationInvalid) as info:
        _import(synced, bad)
    assert expected in str(info.value)
    assert str(bad) in str(info.value)
    assert _snapshot(synced) == before


def test_non_utf8_bytes_are_refused_with_the_row(synced, tmp_path):
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(FIXTURE_MEMBERS.replace("Sam Dev", "Sam Dév").encode("latin-1"))
    before = _snapshot(synced)
    with pytest.raises(AttestationInvalid, match=r"row 5: byte \d+ is not UTF-8"):
        _import(synced, bad)
    assert _snapshot(synced) == before


def test_cli_lists_every_problem_and_exits_3(synced, tmp_path):
    bad = tmp_path / "m.csv"
    bad.write_text(FIXTURE_MEMBERS.replace("Sam Dev,User,no", "Sam Dev,Boss,maybe"))
    before = _snapshot(synced)
    result = CliRunner().invoke(
        cli,
        [
            "attest",
            "import",
            "postmark",
            str(bad),
            "--attested-by",
            "a@acme-corp.example",
            "--db",
            str(synced),
        ],
    )
    assert result.exit_code == EXIT_CONFIG
    assert "column 'role'" in result.output and "column 'two_factor'" in result.output
    assert "2 problem(s): nothing was imported" in result.output
    assert "Traceback" not in result.output
    assert _snapshot(synced) == before


def test_valid_import_builds_attested_nodes(synced, tmp_path):
    members = tmp_path / "members.csv"
    members.write_text(FIXTURE_MEMBERS)
    evidence = tmp_path / "users-page.png"
    evidence.write_bytes(b"\x89PNG fake screenshot")
    result = _import(synced, members, evidence=str(evidence))
    assert result["members"] == 5
    store = Store(synced)
    _run, graph = load_graph(store)
    dana = graph.nodes["postmark:team_member:dana.ops@acme-corp.example"]
    assert dana["source"] == "attested" and dana["role"] == "User"
    assert dana["attested_by"] == "auditor@acme-corp.example"
    assert dana["evidence_sha256"] == hashlib.sha256(evidence.read_bytes()).hexdigest()
    assert dana["file_sha256"] == hashlib.sha256(members.read_bytes()).hexdigest()
    assert dana["attestation_stale"] is False
    access = {
        v: d["permission"]
        for _u, v, d in graph.out_edges(
            "postmark:team_member:dana.ops@acme-corp.example", data=True
        )
        if d["kind"] == "postmark:can_access"
    }
    assert access == {
        "postmark:server:11001": "full",
        "postmark:server:11002": "full",
        "postmark:server:11003": "view",
    }
    owner_edges = [
        d
        for _u, v, d in graph.out_edges(
            "postmark:team_member:pat.owner@acme-corp.example", data=True
        )
        if d["kind"] == "postmark:member_of"
    ]
    assert owner_edges[0]["role_level"] == "owner"
    assert graph.has_edge(
        "postmark:team_member:dana.ops@acme-corp.example", "person:dana.ops@acme-corp.example"
    )
    # the person node joins the attested member and the API's sender signature
    assert graph.has_edge("postmark:sender_signature:9003", "person:dana.ops@acme-corp.example")
    assert store.attestations("acme")[0]["members"] == 5
    store.close()


def test_reattestation_records_the_removed_member_and_keeps_both(synced, tmp_path):
    first = tmp_path / "q1.csv"
    first.write_text(FIXTURE_MEMBERS)
    _import(synced, first)
    second = tmp_path / "q2.csv"
    second.write_text(
        "\n".join(line for line in FIXTURE_MEMBERS.splitlines() if not line.startswith("lee@"))
        + "\n"
    )
    result = _import(synced, second)
    assert result["removed"] == ["lee@agency-partner.example"] and result["added"] == []
    store = Store(synced)
    _run, graph = load_graph(store)
    assert "postmark:team_member:lee@agency-partner.example" not in graph
    history = store.node_history("postmark:team_member:lee@agency-partner.example")
    assert history[0]["closed_run"] == result["run_id"]
    assert [a["members"] for a in store.attestations("acme")] == [4, 5]
    store.close()


def test_template_is_prefilled_from_the_previous_attestation(synced, tmp_path):
    store = Store(synced)
    empty = write_template(store, MEMBER_FORMAT, "acme")
    store.close()
    assert empty.startswith("\ufeff")  # a spreadsheet reads accented names only with it
    assert empty.lstrip("\ufeff").splitlines() == [HEADER_BY_ID]
    members = tmp_path / "m.csv"
    members.write_text(FIXTURE_MEMBERS)
    _import(synced, members)
    store = Store(synced)
    filled = write_template(store, MEMBER_FORMAT, "acme")
    store.close()
    assert sorted(filled.splitlines()[1:]) == sorted(FIXTURE_MEMBERS.splitlines()[1:])
    # and the pre-filled template imports as it is
    members.write_text(filled)
    assert _import(synced, members)["removed"] == []


def test_expiry_flags_stale_everywhere(synced, tmp_path):
    members = tmp_path / "m.csv"
    members.write_text(FIXTURE_MEMBERS)
    _import(synced, members, valid_days=30, now=datetime.now(UTC) - timedelta(days=31))
    store = Store(synced)
    assert [r["status"] for r in attestation_status(store, FORMATS)] == ["stale"]
    _run, graph = load_graph(store)
    assert graph.nodes["postmark:team_member:dana.ops@acme-corp.example"]["attestation_stale"]
    store.close()
    shown = CliRunner().invoke(cli, ["attest", "status", "--db", str(synced)])
    assert "acme: STALE attestation" in shown.output


def test_status_without_attestation_says_none(synced):
    store = Store(synced)
    assert attestation_status(store, FORMATS) == [
        {"connector": "postmark", "account_label": "acme", "status": "none"}
    ]
    store.close()


def test_api_sync_and_attestation_are_independent_histories(synced, tmp_path, emulator):
    members = tmp_path / "m.csv"
    members.write_text(FIXTURE_MEMBERS)
    store = Store(synced)
    api_rows_before = store.db.execute(
        "SELECT COUNT(*) FROM node_versions WHERE scope = 'postmark:acme'"
    ).fetchone()[0]
    store.close()
    _import(synced, members)
    store = Store(synced)
    api_rows_after = store.db.execute(
        "SELECT COUNT(*) FROM node_versions WHERE scope = 'postmark:acme'"
    ).fetchone()[0]
    assert api_rows_after == api_rows_before  # the attestation touched no API node
    emulator.server(11001)["Name"] = "Acme Prod"
    assert sync_fixture(store, emulator).status == "complete"
    _run, graph = load_graph(store)
    assert "postmark:team_member:dana.ops@acme-corp.example" in graph  # sync kept attested facts
    assert graph.nodes["postmark:server:11001"]["name"] == "Acme Prod"
    store.close()


def test_corroboration_report(synced, tmp_path):
    members = tmp_path / "m.csv"
    members.write_text(FIXTURE_MEMBERS)
    _import(synced, members)
    store = Store(synced)
    report = corroborate(store, MEMBER_FORMAT, "acme")
    store.close()
    assert report["members_also_senders"] == ["dana.ops@acme-corp.example"]
    assert "notifications@acme-corp.example" in report["senders_only"]
    assert report["members_outside_verified_domains"] == ["lee@agency-partner.example"]


def test_demo_imports_the_sample_members(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo")], env={})
    assert result.exit_code == 0, result.output
    assert "5 team members" in result.output
    status = CliRunner().invoke(
        cli, ["attest", "status", "--json", "--db", str(tmp_path / "demo" / "idgraph.db")]
    )
    assert '"status": "valid"' in status.output


def test_a_spreadsheet_save_with_bom_and_blank_optional_cells_imports(synced, tmp_path):
    """Excel's "CSV UTF-8" adds a BOM; a blank two_factor is unknown, a blank server cell
    of a plain user is no access."""
    lines = FIXTURE_MEMBERS.splitlines()
    header = lines[0].split(",")
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        cells[header.index("two_factor")] = ""
        rows.append(",".join(c if c != "none" else "" for c in cells))
    path = tmp_path / "members.csv"
    path.write_text("\ufeff" + "\r\n".join([lines[0], *rows]) + "\r\n", encoding="utf-8")
    result = _import(synced, path)
    assert result["members"] == len(rows)
    store = Store(synced)
    try:
        previous = previous_members(store, MEMBER_FORMAT, "acme")
    finally:
        store.close()
    assert {m["two_factor"] for m in previous.values()} == {"unknown"}
