"""Issue 15, hostile values from the API: invalid Unicode is replaced at the transform
boundary (and named), control characters are kept but never break XML or a terminal."""

import json
import xml.etree.ElementTree as ET

import networkx as nx
import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.names import SERVER
from idgraph.graph.cli import cli
from idgraph.graph.text import clean_text, terminal_text, xml_text

ESC_NAME = "\x1b[31mred\x1b[0m"


def test_clean_text_replaces_only_unpaired_surrogates():
    assert clean_text("Caf\ud83d") == ("Caf\ufffd", True)
    assert clean_text("\ud83d\ude00 ok") == ("\U0001f600 ok", True)  # a split pair is joined
    assert clean_text("Café \U0001f600") == ("Café \U0001f600", False)
    assert clean_text(ESC_NAME) == (ESC_NAME, False)  # control characters are data


def test_escapes_for_xml_and_terminals():
    assert xml_text("a\x1bb\x00\tc") == "a\\x1bb\\x00\tc"
    assert terminal_text(ESC_NAME) == "\\x1b[31mred\\x1b[0m"


@pytest.fixture
def hostile(tmp_path, account):
    """The fixture account with a server named with a lone surrogate and one with ESC codes,
    synced through the real client; returns (db, runner, node id of each server, sync)."""
    servers = account["Servers"]
    servers[0]["Name"] = "Caf\ud83d"
    servers[1]["Name"] = ESC_NAME
    db = tmp_path / "idgraph.db"
    runner = CliRunner()
    with PostmarkEmulator(account) as emu:
        env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url}
        result = runner.invoke(
            cli, ["sync", "postmark", "--db", str(db), "--account-label", "acme"], env=env
        )
    ids = [f"{SERVER}:{servers[0]['ID']}", f"{SERVER}:{servers[1]['ID']}"]
    return db, runner, ids, result


def test_lone_surrogate_is_replaced_and_flagged(hostile):
    db, runner, (cafe, _esc), result = hostile
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert f"{cafe}: invalid Unicode" in result.output and "U+FFFD" in result.output
    shown = runner.invoke(cli, ["show", cafe, "--db", str(db), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["attributes"]["name"] == "Caf\ufffd"


def test_export_findings_template_survive_hostile_text(hostile, tmp_path):
    db, runner, _ids, result = hostile
    out = tmp_path / "pack"
    exported = runner.invoke(cli, ["export", "--db", str(db), "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    findings = runner.invoke(cli, ["findings", "--db", str(db)])
    assert findings.exit_code == 0, findings.output
    template = runner.invoke(
        cli,
        ["attest", "template", "postmark", "--db", str(db), "--out", str(tmp_path / "m.csv")],
    )
    assert template.exit_code == 0, template.output
    for output in (exported.output, findings.output, template.output):
        assert "Traceback" not in output and "\x1b" not in output
    json.loads((out / "graph.json").read_text())


def test_graphml_with_control_characters_is_valid_xml(hostile, tmp_path):
    db, runner, (_cafe, esc), _result = hostile
    out = tmp_path / "pack"
    exported = runner.invoke(
        cli, ["export", "--db", str(db), "--out", str(out), "--format", "graphml"]
    )
    assert exported.exit_code == 0, exported.output
    ET.parse(out / "graph.graphml")  # raises on a character XML 1.0 cannot hold
    graph = nx.read_graphml(out / "graph.graphml")
    assert graph.nodes[esc]["name"] == "\\x1b[31mred\\x1b[0m"


def test_show_never_writes_a_raw_escape(hostile):
    db, runner, (_cafe, esc), _result = hostile
    shown = runner.invoke(cli, ["show", esc, "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.output
    assert "name: \\x1b[31mred\\x1b[0m" in shown.output
    # the data itself keeps the character
    as_json = runner.invoke(cli, ["show", esc, "--db", str(db), "--json"])
    assert json.loads(as_json.output)["attributes"]["name"] == ESC_NAME
