"""No raw token, webhook password or secret header value reaches the store, a log or an error."""

import logging

from click.testing import CliRunner
from idgraph.graph.cli import cli

from .fixtures import fixture_secrets, leaked_secrets, sync_fixture


def _db_bytes(path):
    data = b""
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            data += candidate.read_bytes()
    return data


def test_fixture_plants_every_kind_of_secret(account):
    secrets = fixture_secrets(account)
    assert len(secrets) >= 12
    assert any(s.startswith("pw-") for s in secrets)  # webhook password
    assert any(s.startswith("hdr-") for s in secrets)  # header value
    assert any("userinfo" in s for s in secrets)  # URL userinfo
    assert any(s.startswith("s3cr3t-qs") for s in secrets)  # query-string value


def test_no_secret_in_database_or_logs(store, emulator, account, caplog):
    caplog.set_level(logging.DEBUG)
    emulator.inject("status", match="GET /webhooks", status=429, times=2)
    sync_fixture(store, emulator)
    sync_fixture(store, emulator)
    # a failing run too, so error messages are scanned
    emulator.inject("status", match="GET /message-streams", status=500, times=1000)
    failed = sync_fixture(store, emulator)
    assert failed.status == "partial"
    secrets = fixture_secrets(account)
    blob = _db_bytes(store.path)
    assert len(blob) > 10_000
    text = caplog.text + "\n".join(failed.collection.errors)
    assert "GET /webhooks" in caplog.text  # the logs did record requests
    assert leaked_secrets(secrets, (text,), (blob,)) == {}


def test_no_secret_in_cli_output(tmp_path, emulator, account):
    env = {"POSTMARK_ACCOUNT_TOKEN": emulator.account_tokens[0], "POSTMARK_API_URL": emulator.url}
    runner = CliRunner()
    outputs = []
    for args in (
        ["-vv", "sync", "postmark", "--db", str(tmp_path / "a.db")],
        ["sync", "postmark", "--json", "--db", str(tmp_path / "a.db")],
        ["runs", "--json", "--db", str(tmp_path / "a.db")],
        ["show", "postmark:webhook:11001/501", "--db", str(tmp_path / "a.db")],
        ["token", "check", "--json"],
    ):
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    bad_env = dict(env, POSTMARK_ACCOUNT_TOKEN=account["Servers"][0]["ApiTokens"][0])
    refused = runner.invoke(cli, ["sync", "postmark", "--db", str(tmp_path / "b.db")], env=bad_env)
    assert refused.exit_code == 4  # the API refused the credential: EXIT_API
    outputs.append(refused.output)
    assert "holds a Server token" in refused.output  # named, the token itself not shown
    assert leaked_secrets(fixture_secrets(account), tuple(outputs)) == {}


def test_a_secret_cut_short_or_embedded_is_still_found(account):
    """The scan itself: any 8 characters of a planted secret count as a leak."""
    from idgraph.graph.secrets import fingerprint

    secrets = fixture_secrets(account)
    token = account["AccountTokens"][0]
    password = next(s for s in secrets if s.startswith("pw-"))
    assert token in leaked_secrets(secrets, (f"x{token[:32]}y",))  # 32 of its 36 characters
    assert token in leaked_secrets(secrets, (token[14:22],))  # any 8 of them
    assert password in leaked_secrets(secrets, (), (b"\x00" + password[-8:].encode() + b"\x00",))
    assert leaked_secrets(secrets, (token[-7:],)) == {}  # 7 characters are not a leak
    # what the store keeps of a token: a fingerprint and its last 4 characters
    assert leaked_secrets(secrets, (fingerprint(token), token[-4:])) == {}
