"""Issue 15, secrets: one URL redactor; a base URL's userinfo is never stored or shown."""

import json
import logging

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.graph.cli import cli
from idgraph.graph.secrets import REDACTED, redact_url

PASSWORD = "Pa55-gateway-secret"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://h/open?SECRETVALUE", "https://h/open?[redacted]"),
        ("https://h/p?token=abc&x=1", "https://h/p?[redacted]"),
        ("https://h/p?SECRETKEY=", "https://h/p?[redacted]"),
        ("http://user:pw@h:8080/p?q#frag", "http://h:8080/p?[redacted]"),
        ("https://h/p", "https://h/p"),
        ("http://[::1]:9/p?x", "http://[::1]:9/p?[redacted]"),
        ("http://h:99999999/", REDACTED),
    ],
)
def test_redact_url_treats_every_query_part_and_userinfo_as_secret(url, expected):
    assert redact_url(url) == expected


def _everything(result, runs, caplog, db):
    return "\n".join(
        [result.output, runs.output, caplog.text]
        + [p.read_bytes().decode("latin-1") for p in db.parent.glob("idgraph.db*")]
    )


def test_base_url_userinfo_never_in_stats_runs_json_or_log(tmp_path, account, caplog):
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "idgraph.db"
    runner = CliRunner()
    with PostmarkEmulator(account) as emu:
        url = emu.url.replace("://", f"://gateway:{PASSWORD}@") + "/?k=qsecret"
        env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": url}
        result = runner.invoke(cli, ["-vv", "sync", "postmark", "--db", str(db)], env=env)
    assert result.exit_code == 0, result.output
    runs = runner.invoke(cli, ["runs", "--db", str(db), "--json"])
    stats = json.loads(runs.output)[0]["stats"]
    assert stats["base_url"] == emu.url
    text = _everything(result, runs, caplog, db)
    assert PASSWORD not in text and "gateway" not in text and "qsecret" not in text


def test_base_url_userinfo_never_in_error_lines(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "idgraph.db"
    runner = CliRunner()
    env = {
        "POSTMARK_ACCOUNT_TOKEN": "00000000-0000-0000-0000-000000000000",
        "POSTMARK_API_URL": f"http://gateway:{PASSWORD}@127.0.0.1:9",
    }
    args = ["-vv", "sync", "postmark", "--db", str(db), "--retries", "0", "--timeout", "1"]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code != 0
    assert "127.0.0.1:9" in result.output
    runs = runner.invoke(cli, ["runs", "--db", str(db), "--json"])
    text = _everything(result, runs, caplog, db)
    assert PASSWORD not in text and "gateway" not in text
    assert "Traceback" not in result.output
