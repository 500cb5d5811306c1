"""Account identity: the database remembers which credential is which account."""

import json

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.graph.cli import cli
from idgraph.graph.interfaces import ConfigError
from idgraph.graph.secrets import fingerprint

from .fixtures import sync_fixture

NEW_TOKEN = "7d1c2a40-0000-4000-8000-rotatedtoken1"


@pytest.fixture
def emulator_two_tokens(account):
    account["AccountTokens"].append(NEW_TOKEN)
    with PostmarkEmulator(account) as emu:
        yield emu


def _scopes(store):
    return sorted({row["scope"] for row in store.db.query("SELECT scope FROM runs")})


def test_without_a_label_the_same_token_is_one_account_and_attest_status_names_it(
    store, emulator, tmp_path
):
    first = sync_fixture(store, emulator, label=None)
    second = sync_fixture(store, emulator, label=None)
    label = fingerprint(emulator.account_tokens[0])
    assert first.account.label == second.account.label == label
    assert _scopes(store) == [f"postmark:{label}"]
    result = CliRunner().invoke(cli, ["attest", "status", "--db", str(store.path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"connector": "postmark", "account_label": label, "status": "none"}
    ]


def test_a_known_token_without_a_label_uses_its_label(store, emulator):
    sync_fixture(store, emulator, label="acme")
    again = sync_fixture(store, emulator, label=None)
    assert again.account.label == "acme"
    assert _scopes(store) == ["postmark:acme"]


def test_an_unknown_token_without_a_label_is_refused_naming_the_known_accounts(
    store, emulator_two_tokens
):
    sync_fixture(store, emulator_two_tokens, label="acme")
    runs_before = len(store.runs())
    with pytest.raises(ConfigError, match="known postmark accounts: acme"):
        sync_fixture(store, emulator_two_tokens, label=None, token=NEW_TOKEN)
    assert len(store.runs()) == runs_before  # nothing recorded, no second scope
    assert _scopes(store) == ["postmark:acme"]


def test_the_same_token_under_another_label_is_refused(store, emulator):
    sync_fixture(store, emulator, label="acme")
    with pytest.raises(ConfigError, match="belongs to account 'acme'"):
        sync_fixture(store, emulator, label="other")
    assert _scopes(store) == ["postmark:acme"]


def test_a_new_token_for_a_known_label_is_recorded_as_a_rotation(store, emulator_two_tokens):
    old = sync_fixture(store, emulator_two_tokens, label="acme")
    rotated = sync_fixture(store, emulator_two_tokens, label="acme", token=NEW_TOKEN)
    assert old.rotated_from is None
    assert rotated.status == "complete"
    assert rotated.rotated_from == fingerprint(emulator_two_tokens.account_tokens[0])
    assert store.run(rotated.run_id).rotated_from == rotated.rotated_from
    assert store.known_accounts("postmark") == {"acme": fingerprint(NEW_TOKEN)}
    # the rotation shows in `runs` and as a changed credential in the graph's history
    result = CliRunner().invoke(cli, ["runs", "--db", str(store.path)])
    assert "credential rotated" in result.output
    later = sync_fixture(store, emulator_two_tokens, label=None, token=NEW_TOKEN)
    assert later.account.label == "acme"


def test_a_refused_token_for_a_known_label_is_no_rotation(store, emulator):
    """A run whose credential the API refuses fails; it records no rotation and the account
    keeps its credential."""
    from idgraph.graph.interfaces import SourceError

    sync_fixture(store, emulator, label="acme")
    with pytest.raises(SourceError):
        sync_fixture(store, emulator, label="acme", token="refused-token-0000")
    failed = store.runs()[0]
    assert failed.status == "failed" and failed.rotated_from is None
    assert store.known_accounts("postmark") == {"acme": fingerprint(emulator.account_tokens[0])}
    result = CliRunner().invoke(cli, ["runs", "--db", str(store.path)])
    assert "credential rotated" not in result.output


def test_a_server_token_without_a_label_is_named_as_such_exit_four(store, emulator, account):
    """Not "an unknown account": the API says what the token is, and it is not an Account
    token (exit 4, the API refused), and nothing is recorded."""
    sync_fixture(store, emulator, label="acme")
    server_token = account["Servers"][0]["ApiTokens"][0]
    runs_before = len(store.runs())
    env = {"POSTMARK_ACCOUNT_TOKEN": server_token, "POSTMARK_API_URL": emulator.url}
    result = CliRunner().invoke(cli, ["sync", "postmark", "--db", str(store.path)], env=env)
    assert result.exit_code == 4, result.output
    assert "holds a Server token" in result.output
    assert len(store.runs()) == runs_before


def test_a_write_and_a_sync_resolve_one_credential_to_one_account(store, emulator):
    """One resolver (`Store.account_of_credential`): a write recorded with the credential a
    sync knows as `acme` goes to acme; an unknown credential to its own fingerprint."""
    from idgraph.graph.host import record_write

    token = emulator.account_tokens[0]
    sync_fixture(store, emulator, label="acme")
    assert store.account_of_credential("postmark", fingerprint(token)) == "acme"
    assert store.account_of_credential("postmark", fingerprint("another")) is None
    known = record_write(store.path, "postmark", secret=token, action={"op": "create"})
    unknown = record_write(store.path, "postmark", secret="another", action={"op": "create"})
    assert store.run(known).account_label == "acme"
    assert store.run(unknown).account_label == fingerprint("another")
