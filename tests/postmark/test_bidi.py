"""Bidi controls in names: isolated in report.html (`<bdi>`, or FIRST STRONG ISOLATE ... POP
DIRECTIONAL ISOLATE where no markup can go), shown escaped on a terminal (`show`, `nodes`,
`access`, `findings`), kept as they are in the data."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.graph.cli import cli

from ..host.test_bidi_text import EVIL, HEBREW, RLI, RLO, outside_isolates
from .fixtures import attest_fixture

BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@pytest.fixture
def bidi_db(tmp_path, account):
    """The fixture account with bidi controls in server and sender names, synced via the
    CLI and attested (with the sample member file, before the renames)."""
    db = tmp_path / "idgraph.db"
    runner = CliRunner()
    with PostmarkEmulator(account) as emulator:
        env = {
            "POSTMARK_ACCOUNT_TOKEN": emulator.account_tokens[0],
            "POSTMARK_API_URL": emulator.url,
        }
        args = ["sync", "postmark", "--db", str(db), "--account-label", "acme"]
        assert runner.invoke(cli, args, env=env).exit_code == 0
        from idgraph.graph.store import Store

        store = Store(db)
        attest_fixture(store)
        store.close()
        emulator.server(11003)["Name"] = EVIL
        emulator.server(11004)["Name"] = "Billing internal"
        emulator.server(11005)["Name"] = f"{RLI}{HEBREW}"  # an isolate never closed
        emulator.account["SenderSignatures"][0]["Name"] = f"Ops {RLO}nimda"
        assert runner.invoke(cli, args, env=env).exit_code == 0
    return db


def _cli(db, *args):
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "args",
    [
        ("show", "postmark:server:11003"),
        ("nodes", "--kind", "postmark:server"),
        ("nodes", "--kind", "postmark:sender_signature"),
        ("access", "--to", "postmark:server:11003"),
        ("access", "--of", "postmark:team_member:pat.owner@acme-corp.example"),
        ("findings",),
    ],
)
def test_the_console_shows_bidi_controls_escaped(bidi_db, args):
    output = _cli(bidi_db, *args)
    assert not BIDI & set(output), output
    assert "\\u202e" in output or "\\u2067" in output


def test_the_data_keeps_the_characters(bidi_db):
    shown = json.loads(_cli(bidi_db, "show", "postmark:server:11003", "--json"))
    assert shown["attributes"]["name"] == EVIL


class _Bidi(HTMLParser):
    """Each text holding a bidi control or a right-to-left letter, with whether it is
    isolated: inside a <bdi> or an element with `dir`, or wrapped in FSI ... PDI."""

    VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.texts: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append((tag, tag == "bdi" or any(k == "dir" for k, _ in attrs)))

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if _bidi(data):
            wrapped = not _bidi(outside_isolates(data))
            self.texts.append((data, wrapped or any(isolated for _t, isolated in self.stack)))


def _bidi(text: str) -> bool:
    """Whether `text` holds a bidi control or a right-to-left letter."""
    return bool(BIDI & set(text)) or any("\u0590" <= c <= "\u08ff" for c in text)


def test_every_name_in_the_report_is_isolated(bidi_db, tmp_path):
    out = tmp_path / "pack"
    _cli(bidi_db, "export", "--out", str(out), "--since", "1")
    html = (out / "report.html").read_text(encoding="utf-8")
    parser = _Bidi()
    parser.feed(html)
    assert len(parser.texts) >= 6  # the matrix, the renames, per server, findings, the graph
    assert [text for text, isolated in parser.texts if not isolated] == []
    assert f"<bdi>{EVIL}</bdi>" in html or f'<bdi class="nm">{EVIL}</bdi>' in html


def test_the_member_template_names_columns_with_bidi_controls_escaped(bidi_db, tmp_path):
    out = tmp_path / "members.csv"
    _cli(bidi_db, "attest", "template", "postmark", "--out", str(out))
    header = out.read_text(encoding="utf-8-sig").splitlines()[0]
    assert not BIDI & set(header)
    assert "server:11003 Billing \\u202elanretni" in header
    assert f"server:11005 \\u2067{HEBREW}" in header
