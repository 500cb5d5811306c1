"""Values normalised once, at the door: roles, access values and yes/no cells in any case and
spacing are stored as the member format declares them; emails NFC and case-folded, so one
person is one node whatever the spelling."""

import json
import unicodedata

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.members import MEMBER_FORMAT
from idgraph.graph.cli import cli
from idgraph.graph.model import person_id
from idgraph.graph.normalise import canonical_email
from idgraph.graph.store import Store
from idgraph.graph.view import load_graph

from .fixtures import MEMBERS_FILE, attest_fixture, sync_fixture

OWNER = "postmark:team_member:pat.owner@acme-corp.example"
ADMIN = "postmark:team_member:it-admin@acme-corp.example"


@pytest.fixture
def synced(tmp_path, emulator):
    store = Store(tmp_path / "idgraph.db")
    sync_fixture(store, emulator)
    return store


def _members(tmp_path, text: str):
    path = tmp_path / "members.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_roles_levels_and_yes_no_are_stored_as_declared(synced, tmp_path):
    text = (
        MEMBERS_FILE.read_text()
        .replace(",Account Owner,yes,", ",account owner, YES ,")
        .replace(",Account Admin,yes,", ", ACCOUNT  ADMIN ,Yes,")
        .replace("Dana Ops,User,yes,full,full,view", "Dana Ops,user,yes, FULL ,Full,VIEW")
    )
    attest_fixture(synced, _members(tmp_path, text))
    _run, graph = load_graph(synced)
    assert graph.nodes[OWNER]["role"] == "Account Owner"
    assert graph.nodes[OWNER]["two_factor"] == "yes"
    assert graph.nodes[ADMIN]["role"] == "Account Admin"
    dana = graph.nodes["postmark:team_member:dana.ops@acme-corp.example"]
    assert dana["role"] == "User"
    assert dana["server_access"] == {"11001": "full", "11002": "full", "11003": "view"}
    roles = {
        src: data["role"]
        for src, _dst, data in graph.edges(data=True)
        if data["kind"] == MEMBER_FORMAT.member_edge
    }
    assert roles[OWNER] == "Account Owner" and roles[ADMIN] == "Account Admin"


def test_a_role_typed_in_another_case_spans_the_account(synced, tmp_path):
    """`idgraph access --to SERVER` lists the owner and the admin however their role was
    typed (they reach every server through their role)."""
    text = (
        MEMBERS_FILE.read_text()
        .replace(",Account Owner,", ",account owner,")
        .replace(",Account Admin,", ", ACCOUNT ADMIN ,")
    )
    attest_fixture(synced, _members(tmp_path, text))
    result = CliRunner().invoke(
        cli,
        ["access", "--to", "postmark:server:11004", "--format", "json", "--db", str(synced.path)],
    )
    assert result.exit_code == 0, result.output
    principals = {row["principal"] for row in json.loads(result.stdout)["rows"]}
    assert {OWNER, ADMIN} <= principals
    out = tmp_path / "pack"
    exported = CliRunner().invoke(cli, ["export", "--out", str(out), "--db", str(synced.path)])
    assert exported.exit_code == 0, exported.output
    assert "2 with an account-wide role" in (out / "report.html").read_text(encoding="utf-8")


def test_one_email_in_two_spellings_is_one_person(tmp_path, account):
    """A sender signature's address in NFC capitals and a member's in NFD lower case are
    one person node, joined to both."""
    from idgraph.connector.postmark.emulator import PostmarkEmulator

    composed = "JOSÉ.OPS@acme-corp.example"
    decomposed = unicodedata.normalize("NFD", composed.lower())
    assert composed.lower() != decomposed
    sender = dict(account["SenderSignatures"][2], ID=9100, EmailAddress=composed, Name="José")
    account["SenderSignatures"].append(sender)
    store = Store(tmp_path / "idgraph.db")
    with PostmarkEmulator(account) as emulator:
        sync_fixture(store, emulator)
    text = MEMBERS_FILE.read_text().replace("sam.dev@acme-corp.example", decomposed)
    attest_fixture(store, _members(tmp_path, text))
    _run, graph = load_graph(store)
    persons = [n for n, d in graph.nodes(data=True) if d["kind"] == "person" and "jos" in n]
    assert persons == [person_id(composed)] == [person_id(decomposed)]
    sources = {graph.nodes[u]["kind"] for u in graph.predecessors(persons[0])}
    assert sources == {"postmark:sender_signature", "postmark:team_member"}
    assert f"postmark:team_member:{canonical_email(composed)}" in graph


def test_a_member_file_with_one_email_in_two_spellings_is_refused(synced, tmp_path):
    composed = "josé@acme-corp.example"
    rows = MEMBERS_FILE.read_text().replace("sam.dev@acme-corp.example", composed)
    rows += unicodedata.normalize("NFD", composed.upper()) + ",X,User,no,,,,,\n"
    from idgraph.graph.attestation import AttestationInvalid

    with pytest.raises(AttestationInvalid, match=f"{composed} already appears in row 5"):
        attest_fixture(synced, _members(tmp_path, rows))


def test_spans_reads_a_stored_role_in_any_case():
    """What an old database may hold (`account owner`, typed before import normalised it)
    still spans the account for a caller that asks the schema."""
    from idgraph.connector.postmark.schema import SCHEMA

    member_of = next(e for e in SCHEMA.edges if e.kind == "postmark:member_of")
    assert member_of.spans("account owner") and member_of.spans(" ACCOUNT  ADMIN ")
    assert not member_of.spans("User")
