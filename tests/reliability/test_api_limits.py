"""Issue 23, failures 4, 7 and 8 as the API side sees them: a token quoted back in an error,
a TotalCount of a billion, a gzip bomb, JSON nested too deep, a bad base URL."""

import json
import logging
import sqlite3
import threading
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.graph.cli import cli
from idgraph.graph.secrets import fingerprint

from ..postmark.fixtures import fixture_secrets

TOKEN = "00000000-aaaa-4bbb-8ccc-0123456789ab"
Answer = tuple[int, dict[str, str], bytes]


class ScriptedAPI:
    """A local HTTP server whose answers a test writes: `answer(path, query) -> Answer`.
    Every request is counted by path."""

    def __init__(self, answer: Callable[[str, dict[str, list[str]]], Answer]) -> None:
        self.answer = answer
        self.requests: dict[str, int] = {}
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                parts = urlsplit(self.path)
                scripted.requests[parts.path] = scripted.requests.get(parts.path, 0) + 1
                status, headers, body = scripted.answer(parts.path, parse_qs(parts.query))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass  # the client refused the body and closed the connection

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "ScriptedAPI":
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(body: object, status: int = 200) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _empty_listing(path: str) -> Answer:
    key = {"/servers": "Servers", "/senders": "SenderSignatures", "/domains": "Domains"}[path]
    return _json({"TotalCount": 0, key: []})


def _sync_with_one_body(tmp_path, path: str, body: bytes, **headers: str):
    """A sync whose `path` answers `body` (with `headers`), every other listing empty:
    (the CLI's result, the run statuses)."""
    sent = {"Content-Type": "application/json", **headers}

    def answer(asked: str, query) -> Answer:
        return (200, sent, body) if asked == path else _empty_listing(asked)

    db = tmp_path / "idgraph.db"
    with ScriptedAPI(answer) as api:
        result = _sync(api.url, db)
    assert "Traceback" not in result.output
    return result, _statuses(db)


def _server(server_id: int) -> dict:
    return {"ID": server_id, "Name": f"server {server_id}", "ApiTokens": []}


def _sync(url: str, db, *extra: str):
    env = {"POSTMARK_ACCOUNT_TOKEN": TOKEN, "POSTMARK_API_URL": url}
    args = ["sync", "postmark", "--db", str(db), "--retries", "0", *extra]
    return CliRunner().invoke(cli, args, env=env)


def _statuses(db) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT status FROM runs ORDER BY id")]


# -- failure 7: a listing's pages ------------------------------------------------------------


def test_a_total_count_of_a_billion_is_a_warning_not_two_million_requests(tmp_path):
    def answer(path, query):
        if path == "/servers":
            return _json({"TotalCount": 1_000_000_000, "Servers": [_server(i) for i in (1, 2)]})
        return _empty_listing(path)

    db = tmp_path / "idgraph.db"
    with ScriptedAPI(answer) as api:
        result = _sync(api.url, db)
    assert result.exit_code == 0, result.output
    assert api.requests["/servers"] == 1
    assert "TotalCount says 1,000,000,000, but the pages ended after 2 item(s)" in result.output
    assert "Traceback" not in result.output
    assert _statuses(db) == ["complete"]


def test_full_pages_past_the_item_cap_fail_the_run_and_leave_nothing_running(tmp_path):
    def answer(path, query):
        if path == "/servers":
            offset = int(query["offset"][0])
            page = [_server(offset + i + 1) for i in range(int(query["count"][0]))]
            return _json({"TotalCount": 1_000_000_000, "Servers": page})
        return _empty_listing(path)

    db = tmp_path / "idgraph.db"
    with ScriptedAPI(answer) as api:
        result = _sync(api.url, db, "--max-listing-items", "1500")
    assert result.exit_code == 1, result.output
    assert api.requests["/servers"] == 3  # 1,500 items: three pages of 500, then it stops
    assert "every page up to 1,500 items was full" in result.output
    assert "--max-listing-items" in result.output
    assert "Traceback" not in result.output
    assert _statuses(db) == ["failed"]


# -- failure 7: an answer's size -------------------------------------------------------------


def _gzip_bomb(expanded_mib: int) -> bytes:
    """A gzip body that expands to `expanded_mib` MiB of zeros: one compressed MiB block
    repeated (a full flush makes each block stand alone). Its trailer is never reached."""
    chunk = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    return head + block * (expanded_mib - 1) + packer.flush()


def test_a_gzip_bomb_is_refused_naming_the_endpoint(tmp_path):
    bomb = _gzip_bomb(1024)  # 1 GiB once undone, about 1 MB as sent
    assert len(bomb) < 2 << 20

    result, statuses = _sync_with_one_body(
        tmp_path, "/domains", bomb, **{"Content-Encoding": "gzip"}
    )
    assert result.exit_code == 1, result.output
    assert "GET /domains: the answer expands to more than 67,108,864 bytes" in result.output
    assert statuses == ["failed"]


@pytest.mark.parametrize("coding, wbits", [("gzip", 31), ("deflate", 15), ("deflate", -15)])
def test_a_compressed_answer_within_the_caps_is_read(tmp_path, coding, wbits):
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    listing = {"TotalCount": 1, "Domains": [{"ID": 7, "Name": "acme.example"}]}
    body = packer.compress(json.dumps(listing).encode()) + packer.flush()
    result, statuses = _sync_with_one_body(
        tmp_path, "/domains", body, **{"Content-Encoding": coding}
    )
    assert result.exit_code == 0, result.output
    assert statuses == ["complete"]


def test_an_answer_longer_than_the_cap_is_not_read(tmp_path):
    from idgraph.connector.postmark._body import BodyLimits, BodyRefused, decode

    with pytest.raises(BodyRefused, match="expands to more than 1,000 bytes"):
        decode(_gzip_bomb(2), "gzip", BodyLimits(max_body=10_000, max_decoded=1_000))
    with pytest.raises(BodyRefused, match="'br', which was not asked for"):
        decode(b"x", "br", BodyLimits())
    big = b"[" + b"0," * 20_000_000 + b"0]"  # 40 MB as sent, no compression

    result, statuses = _sync_with_one_body(tmp_path, "/senders", big)
    assert result.exit_code == 1, result.output
    assert statuses == ["failed"]
    assert "GET /senders: the answer is larger than 33,554,432 bytes" in result.output


# -- failure 8: JSON nested too deep ---------------------------------------------------------


def test_json_nested_too_deep_is_a_malformed_answer_not_a_traceback(tmp_path):
    deep = b'{"TotalCount": 0, "Domains": [], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    result, statuses = _sync_with_one_body(tmp_path, "/domains", deep)
    assert result.exit_code == 1, result.output
    assert "GET /domains" in result.output and "nested too deeply" in result.output
    assert statuses == ["failed"]


# -- failure 4: a token quoted back ----------------------------------------------------------


def test_a_token_quoted_in_an_error_is_replaced_by_its_fingerprint(tmp_path, account, caplog):
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "idgraph.db"
    runner = CliRunner()
    server_token = account["Servers"][0]["ApiTokens"][0]
    with PostmarkEmulator(account) as emu:
        account_token = emu.account_tokens[0]
        env = {"POSTMARK_ACCOUNT_TOKEN": account_token, "POSTMARK_API_URL": emu.url}
        first = runner.invoke(cli, ["sync", "postmark", "--db", str(db)], env=env)
        assert first.exit_code == 0, first.output
        quoted = f"Bad or missing API token '{server_token}' (account '{account_token}')"
        emu.inject("status", r"GET /webhooks", times=100, status=422, error_code=10, message=quoted)
        args = ["-vv", "sync", "postmark", "--db", str(db), "--retries", "0"]
        failed = runner.invoke(cli, args, env=env)
        emu.faults.clear()
        emu.inject(
            "status",
            r"GET /webhooks",
            times=100,
            status=422,
            error_code=10,
            message=f"Bad or missing API token '{server_token}'",
        )
        audit_file = tmp_path / "hooks.toml"
        audit_file.write_text(
            '[[server]]\nname = "Acme Production"\n[[server.webhook]]\nstream = "outbound"\n'
            'url = "https://hooks.acme-corp.example/x"\ntriggers = ["Bounce"]\n'
        )
        audit = runner.invoke(
            cli, ["postmark", "webhooks", "audit", "--expected", str(audit_file)], env=env
        )
    runs = runner.invoke(cli, ["runs", "--json", "--db", str(db)])
    assert failed.exit_code != 0
    errors = json.loads(runs.output)[0]["errors"]
    for token in (server_token, account_token):
        assert any(fingerprint(token) in e for e in errors), errors
        assert fingerprint(token) in failed.output
    assert fingerprint(server_token) in audit.output, audit.output
    written = "".join(p.read_bytes().decode("latin-1") for p in tmp_path.glob("idgraph.db*"))
    everything = "\n".join([failed.output, audit.output, runs.output, caplog.text, written])
    for token in (account_token, server_token):
        assert token not in everything
    assert not [s for s in fixture_secrets(account) if s in everything]


# -- failure 8: a bad base URL, a token that is not text -------------------------------------


@pytest.mark.parametrize(
    "url", ["http://gateway:Pa55word@[::1", "http://gateway:Pa55word@127.0.0.1:99999"]
)
@pytest.mark.parametrize("command", [["sync", "postmark", "--db", "x.db"], ["token", "check"]])
def test_a_bad_api_url_is_usage_error_and_never_echoes_userinfo(tmp_path, url, command):
    env = {"POSTMARK_ACCOUNT_TOKEN": TOKEN, "POSTMARK_API_URL": url}
    result = CliRunner().invoke(
        cli, [c.replace("x.db", str(tmp_path / "x.db")) for c in command], env=env
    )
    assert result.exit_code == 2, result.output
    assert "api-url" in result.output and "port" in result.output
    assert "Pa55word" not in result.output and "gateway" not in result.output
    assert "Traceback" not in result.output


def test_a_lone_surrogate_in_api_tokens_is_refused_naming_the_field(tmp_path, account):
    account["Servers"][1]["ApiTokens"][0] = "bad-\ud800-token-0001"
    db = tmp_path / "idgraph.db"
    with PostmarkEmulator(account) as emu:
        env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url}
        args = ["sync", "postmark", "--db", str(db), "--retries", "0"]
        result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1, result.output
    assert "field 'ApiTokens.0'" in result.output and "lone surrogate" in result.output
    assert "Traceback" not in result.output
    assert _statuses(db) == ["failed"]


def test_an_account_token_that_is_not_text_is_refused(tmp_path):
    env = {"POSTMARK_ACCOUNT_TOKEN": "\udcff\udcfe-token", "POSTMARK_API_URL": "http://127.0.0.1:9"}
    result = CliRunner().invoke(cli, ["sync", "postmark", "--db", str(tmp_path / "x.db")], env=env)
    assert result.exit_code == 3, result.output
    assert "POSTMARK_ACCOUNT_TOKEN holds characters that are not printable ASCII" in result.output
