"""The operational write tasks against the emulator: each error path, no raw secret out."""

import json
import stat

import pytest
from click.testing import CliRunner
from idgraph.graph.cli import EXIT_API, EXIT_CONFIG, EXIT_INCOMPLETE, EXIT_USAGE, cli
from idgraph.graph.store import Store

from .fixtures import fixture_secrets

FAST = ["--retries", "3", "--backoff", "0.01", "--max-wait", "3"]


def _invoke(emulator, args, **env):
    environ = {
        "POSTMARK_ACCOUNT_TOKEN": emulator.account_tokens[0],
        "POSTMARK_API_URL": emulator.url,
        **env,
    }
    return CliRunner().invoke(cli, ["postmark", *args], env=environ)


def _new_token(emulator, name):
    return next(s for s in emulator.servers() if s["Name"] == name)["ApiTokens"][0]


def test_server_create_writes_the_token_once_to_a_private_file(emulator, tmp_path):
    token_file = tmp_path / "new-server.token"
    db = tmp_path / "idgraph.db"
    result = _invoke(
        emulator,
        [
            "server",
            "create",
            "Acme Receipts",
            "--color",
            "green",
            "--token-file",
            str(token_file),
            "--db",
            str(db),
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    token = _new_token(emulator, "Acme Receipts")
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token not in result.output  # only its fingerprint is printed
    assert "Recorded as run 1" in result.output
    store = Store(db)
    run = store.run(1)
    data = store.path.read_bytes() + store.path.with_name("idgraph.db-wal").read_bytes()
    store.close()
    assert run.kind == "write" and run.stats["action"] == "server create"
    assert token.encode() not in data
    again = _invoke(emulator, ["server", "create", "Other", "--token-file", str(token_file)])
    assert again.exit_code == EXIT_CONFIG and "already exists" in again.output


def test_server_create_refuses_to_print_a_token_into_a_pipe(emulator):
    result = _invoke(emulator, ["server", "create", "X", "--show-token"])
    assert result.exit_code == EXIT_CONFIG and "only to a terminal" in result.output
    assert not any(s["Name"] == "X" for s in emulator.servers())


def test_plan_cap_is_explained_in_plain_words(emulator, tmp_path):
    emulator.server_limit = 5  # the fixture has 5 servers
    result = _invoke(
        emulator, ["server", "create", "Sixth", "--token-file", str(tmp_path / "t"), *FAST]
    )
    assert result.exit_code == EXIT_API
    assert "the Basic plan allows 10" in result.output or "has 5 servers" in result.output
    assert not (tmp_path / "t").exists()


def test_429_during_a_create_does_not_create_twice(emulator, tmp_path):
    emulator.inject("status", "POST /servers", 2, status=429)
    result = _invoke(
        emulator, ["server", "create", "Once", "--token-file", str(tmp_path / "t"), *FAST]
    )
    assert result.exit_code == 0, result.output
    assert [s["Name"] for s in emulator.servers()].count("Once") == 1


def test_a_5xx_during_a_create_is_not_repeated(emulator, tmp_path):
    emulator.inject("status", "POST /servers", 1, status=500)
    result = _invoke(
        emulator, ["server", "create", "Maybe", "--token-file", str(tmp_path / "t"), *FAST]
    )
    assert result.exit_code == EXIT_API
    assert "was not repeated" in result.output
    assert emulator.stats.by_endpoint["POST /servers"] == 1


@pytest.mark.parametrize(
    ("args", "code", "phrase"),
    [
        (["server", "create", "Acme Production"], 603, "already exists"),
        (["server", "create", "Bad", "--color", "red"], None, None),
    ],
)
def test_422_codes_from_the_api(emulator, tmp_path, args, code, phrase):
    result = _invoke(emulator, [*args, "--token-file", str(tmp_path / "t"), *FAST])
    if code is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == EXIT_API
    assert f"ErrorCode {code}" in result.output and phrase in result.output


def test_wrong_token_kind_for_a_write(emulator, tmp_path):
    server_token = emulator.servers()[0]["ApiTokens"][0]
    result = _invoke(
        emulator,
        ["server", "create", "X", "--token-file", str(tmp_path / "t"), *FAST],
        POSTMARK_ACCOUNT_TOKEN=server_token,
    )
    assert result.exit_code == EXIT_API
    assert "POST /servers refused the token" in result.output
    assert "If the value given is a Server token" in result.output
    assert server_token not in result.output


def test_update_merges_and_keeps_every_other_setting(emulator):
    server = emulator.server(11003)
    before = dict(server)
    result = _invoke(
        emulator,
        ["server", "update", "11003", "--name", "Billing", "--set", "TrackOpens=false", *FAST],
    )
    assert result.exit_code == 0, result.output
    assert "Name: 'Billing Notifications' -> 'Billing'" in result.output
    assert "TrackOpens: True -> False" in result.output
    after = emulator.server(11003)
    assert after["Name"] == "Billing" and after["TrackOpens"] is False
    for field in (
        "BounceHookUrl",
        "OpenHookUrl",
        "Color",
        "SmtpApiActivated",
        "InboundSpamThreshold",
        "TrackLinks",
    ):
        assert after[field] == before[field], field  # a naive PUT would reset these


def test_a_naive_put_would_have_reset_settings(emulator):
    """The emulator's PUT really does replace the whole object (what update guards against)."""
    import asyncio

    from .fixtures import make_client

    async def go():
        async with make_client(emulator) as client:
            return await client.edit_server(11003, {"Name": "Naive"})

    edited = asyncio.run(go())
    assert edited.bounce_hook_url is None and edited.color == "Purple"


def test_update_dry_run_changes_nothing_and_redacts_urls(emulator):
    result = _invoke(
        emulator,
        [
            "server",
            "update",
            "11001",
            "--set",
            "BounceHookUrl=https://u:pw-secret@h.example/b?k=v",
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output and "pw-secret" not in result.output
    assert emulator.server(11001)["BounceHookUrl"] is None
    bad = _invoke(emulator, ["server", "update", "11001", "--set", "Nope=1"])
    assert bad.exit_code == EXIT_USAGE and "use Field=value" in bad.output


def test_delete_needs_the_exact_name_and_is_recorded(emulator, tmp_path):
    db = tmp_path / "idgraph.db"
    wrong = _invoke(emulator, ["server", "delete", "11002", "--confirm", "acme staging"])
    assert wrong.exit_code == EXIT_CONFIG and "not the exact name" in wrong.output
    assert emulator.server(11002) is not None
    dry = _invoke(emulator, ["server", "delete", "11002", "--confirm", "Acme Staging", "--dry-run"])
    assert dry.exit_code == 0 and emulator.server(11002) is not None
    done = _invoke(
        emulator, ["server", "delete", "11002", "--confirm", "Acme Staging", "--db", str(db)]
    )
    assert done.exit_code == 0, done.output
    assert emulator.server(11002) is None
    store = Store(db)
    assert store.run(1).stats == {
        "action": "server delete",
        "server_id": 11002,
        "name": "Acme Staging",
    }
    store.close()


def test_delete_without_delete_access(emulator):
    emulator.account["ServerDeleteEnabled"] = False
    result = _invoke(emulator, ["server", "delete", "11002", "--confirm", "Acme Staging", *FAST])
    assert result.exit_code == EXIT_API and "ErrorCode 604" in result.output


def test_sender_add_warns_and_waits_for_confirmation(emulator):
    polls = {"n": 0}

    def confirm_on_third_poll(method, path, query):
        if method == "GET" and path.startswith("/senders/"):
            polls["n"] += 1
            if polls["n"] == 3:
                for sender in emulator.account["SenderSignatures"]:
                    sender["Confirmed"] = True

    emulator.before_request = confirm_on_third_poll
    result = _invoke(
        emulator,
        [
            "sender",
            "add",
            "ops@acme-corp.example",
            "--name",
            "Ops",
            "--wait",
            "--timeout",
            "5",
            "--poll-interval",
            "0.01",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "the confirmation mail to ops@acme-corp.example itself" in result.output
    assert "is confirmed" in result.output and polls["n"] == 3


def test_sender_add_times_out_clearly(emulator):
    result = _invoke(
        emulator,
        [
            "sender",
            "add",
            "nobody@acme-corp.example",
            "--name",
            "N",
            "--wait",
            "--timeout",
            "0.2",
            "--poll-interval",
            "0.05",
        ],
    )
    assert result.exit_code == EXIT_INCOMPLETE and "Not confirmed after" in result.output


@pytest.mark.parametrize(
    ("email", "code"), [("someone@gmail.com", 503), ("billing@acme-corp.example", 504)]
)
def test_sender_add_422s(emulator, email, code):
    result = _invoke(emulator, ["sender", "add", email, "--name", "X", *FAST])
    assert result.exit_code == EXIT_API and f"ErrorCode {code}" in result.output


EXPECTED = """
[[server]]
name = "Acme Production"

  [[server.webhook]]
  stream = "outbound"
  url = "https://hooks.acme-corp.example/postmark/events?token=s3cr3t-qs-fa6e-0001"
  triggers = ["Bounce", "Delivery", "SpamComplaint", "Open"]
  http_auth = { username = "postmark", password = "${PM_HOOK_PASSWORD}" }
  headers = { "X-Api-Key" = "${PM_HOOK_KEY}" }

  [[server.webhook]]
  stream = "inbound"
  url = "https://ops@hooks.acme-corp.example/inbound-new"
  triggers = ["Delivery"]
"""


def _audit(emulator, tmp_path, *args, text=EXPECTED, **env):
    path = tmp_path / "expected.toml"
    path.write_text(text)
    secrets = {
        "PM_HOOK_PASSWORD": "pw-fa6e-webhook-0001",
        "PM_HOOK_KEY": "hdr-fa6e-secret-0001",
        **env,
    }
    return _invoke(
        emulator, ["webhooks", "audit", "--expected", str(path), *args, *FAST], **secrets
    )


def test_webhook_audit_lists_missing_extra_and_drifted(emulator, tmp_path, account):
    result = _audit(emulator, tmp_path, "--json")
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    items = json.loads(result.output)["items"]
    status = {(i["stream"], i["status"]) for i in items}
    assert ("outbound", "drifted") in status  # the Open trigger is not on
    assert ("inbound", "missing") in status
    assert ("broadcasts", "extra") in status and ("inbound", "extra") in status
    drifted = next(i for i in items if i["status"] == "drifted")
    assert drifted["details"] == [
        "triggers ['Bounce', 'Delivery', 'SpamComplaint'] -> "
        "['Bounce', 'Delivery', 'Open', 'SpamComplaint']"
    ]
    assert not [s for s in fixture_secrets(account) if s in result.output]


def test_webhook_audit_apply_creates_and_updates_but_never_deletes_without_prune(
    emulator, tmp_path
):
    before = len(emulator.server(11001)["Webhooks"])
    applied = _audit(emulator, tmp_path, "--apply")
    assert applied.exit_code == EXIT_INCOMPLETE  # the extras are still there
    hooks = emulator.server(11001)["Webhooks"]
    assert len(hooks) == before + 1
    updated = next(h for h in hooks if h["ID"] == 501)
    assert updated["Triggers"]["Open"]["Enabled"] is True
    assert updated["HttpAuth"]["Password"] == "pw-fa6e-webhook-0001"
    pruned = _audit(emulator, tmp_path, "--apply", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert {h["MessageStream"] for h in emulator.server(11001)["Webhooks"]} == {
        "outbound",
        "inbound",
    }
    clean = _audit(emulator, tmp_path)
    assert clean.exit_code == 0 and "missing" not in clean.output


def test_webhook_audit_dry_run_and_bad_files(emulator, tmp_path):
    before = json.dumps(emulator.server(11001)["Webhooks"], sort_keys=True)
    dry = _audit(emulator, tmp_path, "--apply", "--dry-run")
    assert "Dry run: nothing was changed." in dry.output
    assert json.dumps(emulator.server(11001)["Webhooks"], sort_keys=True) == before
    missing_env = _invoke(
        emulator, ["webhooks", "audit", "--expected", str(tmp_path / "expected.toml")]
    )
    assert missing_env.exit_code == EXIT_CONFIG
    assert "PM_HOOK_PASSWORD" in missing_env.output and "not set" in missing_env.output
    broken = _audit(emulator, tmp_path, text="[[server]\nname=")
    assert broken.exit_code == EXIT_CONFIG and "not valid TOML" in broken.output
    unknown = _audit(emulator, tmp_path, text='[[server]]\nname = "Nope"\n')
    assert unknown.exit_code == EXIT_CONFIG and "no server named 'Nope'" in unknown.output


def test_no_write_command_takes_a_token_argument():
    for args in (
        ["postmark", "server", "create", "--help"],
        ["postmark", "webhooks", "audit", "--help"],
    ):
        out = CliRunner().invoke(cli, args).output
        assert "--token " not in out and "--account-token" not in out


def test_a_created_server_shows_in_the_graph_at_the_next_sync(emulator, tmp_path):
    from idgraph.graph.view import load_graph

    from .fixtures import sync_fixture

    dry = _invoke(emulator, ["server", "create", "Dry", "--dry-run"])
    assert dry.exit_code == 0 and "Would POST /servers" in dry.output
    assert not any(s["Name"] == "Dry" for s in emulator.servers())
    db = tmp_path / "idgraph.db"
    created = _invoke(
        emulator,
        ["server", "create", "Acme Receipts", "--token-file", str(tmp_path / "t"), "--db", str(db)],
    )
    assert created.exit_code == 0, created.output
    store = Store(db)
    assert sync_fixture(store, emulator).status == "complete"
    _run, graph = load_graph(store)
    store.close()
    names = {d.get("name") for _n, d in graph.nodes(data=True) if d["kind"] == "postmark:server"}
    assert "Acme Receipts" in names
