"""Issue 23, item 9's smaller items: a created server with no token, a redirect's body, review
dates before the run, control characters in a sender address, a database no one may read."""

import asyncio
import os
import re
import sqlite3

import httpx
import pytest
from click.testing import CliRunner
from idgraph.connector.postmark import PostmarkClient
from idgraph.connector.postmark._errors import PostmarkAPIError
from idgraph.connector.postmark.emulator import server as emulator_server
from idgraph.graph.cli import EXIT_API, EXIT_CONFIG, EXIT_USAGE, cli
from idgraph.graph.secrets import fingerprint
from idgraph.graph.store import file as store_module

from ..postmark.fixtures import FAST_RETRY
from ..postmark.test_review_pack import _fill, pack  # noqa: F401 - the synced, exported pack fixture
from .test_write_commands import FAST, _invoke

ENV = {"POSTMARK_ACCOUNT_TOKEN": "t", "POSTMARK_API_URL": "http://127.0.0.1:9"}


def _one_line(result, code, *words):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1, result.output
    for word in words:
        assert word in result.output, result.output


def test_a_created_server_whose_answer_has_no_token_writes_no_token_file(
    emulator, tmp_path, monkeypatch
):
    def create_without_token(ctx):
        status, server = emulator_server.create_server(ctx)
        return status, {**server, "ApiTokens": []}

    routes = [
        (*r[:3], create_without_token) if r[:2] == ("POST", re.compile("/servers")) else r
        for r in emulator_server._ROUTES
    ]
    monkeypatch.setattr(emulator_server, "_ROUTES", routes)
    token_file = tmp_path / "token"
    args = ["server", "create", "Empty", "--token-file", str(token_file), *FAST]
    result = _invoke(emulator, args)
    _one_line(result, EXIT_API, "no API token", "Empty", "nothing was written")
    assert not token_file.exists() and list(tmp_path.iterdir()) == []
    assert fingerprint("") not in result.output


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_answer_is_never_read_as_data(status):
    async def handler(request: httpx.Request) -> httpx.Response:
        data = {"TotalCount": 0, "Servers": []}  # looks like an (empty) answer
        return httpx.Response(status, json=data, headers={"Location": "http://elsewhere.test/"})

    async def go():
        client = PostmarkClient(
            "t", base_url="http://pm.test", transport=httpx.MockTransport(handler), retry=FAST_RETRY
        )
        async with client:
            return await client.list_servers()

    with pytest.raises(PostmarkAPIError) as caught:
        asyncio.run(go())
    assert "GET /servers" in str(caught.value) and f"HTTP {status}" in str(caught.value)
    assert "redirect" in str(caught.value)


@pytest.mark.parametrize("when", ["0001-01-01", "2000-01-01"])
def test_a_review_date_before_the_run_is_refused(pack, when):  # noqa: F811
    db, out, _summary = pack

    def decide(row):
        token = row["principal"].startswith("postmark:server_token:")
        if token and row["access_kind"].startswith("postmark:grants"):
            row.update(decision="keep", review_date=when)

    filled = _fill(out, decide)
    args = ["review", "import", str(filled), "--reviewer", "lead@acme-corp.example"]
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert f"column 'review_date': {when} is before run" in result.output
    assert "Traceback" not in result.output
    connection = sqlite3.connect(db)
    assert connection.execute("SELECT count(*) FROM review_decisions").fetchone()[0] == 0
    connection.close()
    assert not (out / "remediation.md").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["ops@acme-corp.example\r\nBcc: everyone@example.com", "--name", "Ops"],
        ["ops@acme-corp.example\n", "--name", "Ops"],
        ["ops@acme-corp.example", "--name", "Ops\rX"],
        ["ops@acme-corp.example", "--name", "Ops", "--reply-to", "r@acme-corp.example\x00"],
        ["ops@acme-corp.example\u2028", "--name", "Ops"],
    ],
    ids=["crlf-header", "trailing-lf", "cr-in-name", "nul-in-reply-to", "line-separator"],
)
def test_sender_add_refuses_control_characters(emulator, args):
    result = _invoke(emulator, ["sender", "add", *args, *FAST])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "Traceback" not in result.output and "Invalid value" in result.output
    assert emulator.stats.by_endpoint["POST /senders"] == 0


def test_a_database_no_one_may_read_is_a_configuration_error(tmp_path, monkeypatch):
    db = tmp_path / "idgraph.db"
    sqlite3.connect(db).execute("CREATE TABLE runs (id)").connection.commit()
    if os.geteuid() == 0:  # root reads a mode-000 file anyway: answer as the system does
        real_open = open

        def denied(path, *args, **kwargs):
            if str(path) == str(db):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(store_module, "open", denied, raising=False)
    db.chmod(0)
    try:
        for command in (["runs"], ["sync", "postmark"], ["export", "--out", str(tmp_path / "p")]):
            result = CliRunner().invoke(cli, [*command, "--db", str(db)], env=ENV)
            _one_line(result, EXIT_CONFIG, str(db), "cannot be read", "permissions")
    finally:
        db.chmod(0o600)
