"""Resources by id wherever a person edits: member-template columns `server:<id> <name>`,
read back by id; an older template's `server:<name>` only when one server has that name;
look-alike names each get their column and a `resource-names-confusable` finding."""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil

import openpyxl
import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import load_fixture
from idgraph.connector.postmark.members import MEMBER_FORMAT
from idgraph.graph.attestation import previous_members
from idgraph.graph.cli import EXIT_CONFIG, cli
from idgraph.graph.store import Store

from .fixtures import synced_database

CYRILLIC_O = "\u043e"
NAMES = {
    11001: "Acme Production",
    11002: f"Acme Pr{CYRILLIC_O}duction",  # a Cyrillic o
    11003: "Dup Name",
    11004: "Dup Name",
    11005: " Padded ",
    11006: "Padded",
}


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    account = load_fixture()
    extra = copy.deepcopy(account["Servers"][4])
    extra.update(ID=11006, ApiTokens=["extra-server-token-0001"], Webhooks=[])
    account["Servers"].append(extra)
    for server in account["Servers"]:
        server["Name"] = NAMES[server["ID"]]
    return synced_database(tmp_path_factory.mktemp("columns"), account)


@pytest.fixture
def db(synced, tmp_path):
    shutil.copy(synced, tmp_path / "idgraph.db")
    return tmp_path / "idgraph.db"


def _cli(db, *args):
    return CliRunner().invoke(cli, [*args, "--db", str(db)])


def _header(db, tmp_path):
    out = tmp_path / "template.csv"
    assert _cli(db, "attest", "template", "postmark", "--out", str(out)).exit_code == 0
    return next(csv.reader(io.StringIO(out.read_text("utf-8-sig"))))


def _members_file(tmp_path, header, access: dict[str, str]):
    """The owner and one user whose access is given per column."""
    path = tmp_path / "members.csv"
    servers = header[4:]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerow(
            ["pat@acme-corp.example", "Pat", "Account Owner", "yes", *[""] * len(servers)]
        )
        writer.writerow(
            ["sam@acme-corp.example", "Sam", "User", "no", *[access.get(c, "") for c in servers]]
        )
    return path


def _access(db):
    store = Store(db)
    try:
        members = previous_members(store, MEMBER_FORMAT, "acme")
    finally:
        store.close()
    return members["sam@acme-corp.example"]["server_access"]


def test_template_columns_name_each_server_by_id_and_name(db, tmp_path):
    header = _header(db, tmp_path)
    assert header[4:] == [
        "server:11001 Acme Production",
        f"server:11002 Acme Pr{CYRILLIC_O}duction",
        "server:11003 Dup Name",
        "server:11004 Dup Name",
        "server:11005 Padded",
        "server:11006 Padded",
    ]


def test_two_servers_of_one_name_are_bound_by_id(db, tmp_path):
    header = _header(db, tmp_path)
    path = _members_file(
        tmp_path,
        header,
        {
            "server:11003 Dup Name": "full",
            "server:11004 Dup Name": "view",
            "server:11006 Padded": "view",
        },
    )
    result = _cli(db, "attest", "import", "postmark", str(path), "--attested-by", "a@b.example")
    assert result.exit_code == 0, result.output
    assert _access(db) == {"11003": "full", "11004": "view", "11006": "view"}


def test_the_xlsx_template_has_the_same_columns(db, tmp_path):
    out = tmp_path / "members.xlsx"
    assert _cli(db, "attest", "template", "postmark", "--out", str(out)).exit_code == 0
    sheet = openpyxl.load_workbook(out)["Members"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header == _header(db, tmp_path)


@pytest.mark.parametrize(
    ("column", "value", "access"),
    [
        # read by its id when the name after it changed
        ("server:11001 Acme Prod (renamed)", "full", {"11001": "full"}),
        # an older template's column by name, which one server has
        ("server:Acme Production", "view", {"11001": "view"}),
    ],
)
def test_a_column_the_template_did_not_write_is_read_when_unambiguous(
    db, tmp_path, column, value, access
):
    header = _header(db, tmp_path)
    header[header.index("server:11001 Acme Production")] = column
    path = _members_file(tmp_path, header, {column: value})
    result = _cli(db, "attest", "import", "postmark", str(path), "--attested-by", "a@b.example")
    assert result.exit_code == 0, result.output
    assert _access(db) == access


def test_an_older_template_by_an_ambiguous_name_is_refused_naming_the_candidates(db, tmp_path):
    before = (tmp_path / "idgraph.db").read_bytes()
    header = _header(db, tmp_path)
    header[header.index("server:11003 Dup Name")] = "server:Dup Name"
    header[header.index("server:11004 Dup Name")] = "server:Dup Name "  # two columns, trimmed
    path = _members_file(tmp_path, header, {})
    result = _cli(db, "attest", "import", "postmark", str(path), "--attested-by", "a@b.example")
    assert result.exit_code == EXIT_CONFIG
    expected = (
        "row 1: column 'server:Dup Name' could name 2 servers (11003 Dup Name, 11004 Dup Name): "
        "name one by id, as in 'server:11003 Dup Name'"
    )
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert (tmp_path / "idgraph.db").read_bytes() == before


def test_two_columns_naming_one_server_are_refused(db, tmp_path):
    header = _header(db, tmp_path)
    header[header.index("server:11002 Acme Pr\u043eduction")] = "server:11001"
    path = _members_file(tmp_path, header, {})
    result = _cli(db, "attest", "import", "postmark", str(path), "--attested-by", "a@b.example")
    assert result.exit_code == EXIT_CONFIG
    assert "columns 'server:11001 Acme Production', 'server:11001' all name" in result.stderr
    assert f"column 'server:11002 Acme Pr{CYRILLIC_O}duction' is missing" in result.stderr


def test_lookalike_servers_are_a_finding_naming_both(db):
    result = _cli(db, "findings", "--format", "json")
    assert result.exit_code == 0, result.output
    found = [f for f in json.loads(result.stdout) if f["check"] == "resource-names-confusable"]
    assert len(found) == 3
    for one, other in ((11001, 11002), (11003, 11004), (11005, 11006)):
        assert any(
            f"(postmark:server:{one})" in f["message"]
            and f"(postmark:server:{other})" in f["message"]
            for f in found
        )
    assert all(f["node"].startswith("postmark:server:") for f in found)
