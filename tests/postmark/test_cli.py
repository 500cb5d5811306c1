"""The command line, through click's runner and as a real process."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from idgraph.graph.cli import EXIT_API, EXIT_CONFIG, EXIT_INCOMPLETE, cli

from . import fixtures


def _env(emu, **extra):
    return {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url, **extra}


def test_sync_json_summary_and_exit_zero(tmp_path, emulator):
    db = tmp_path / "x.db"
    result = CliRunner().invoke(
        cli,
        ["sync", "postmark", "--json", "--db", str(db), "--account-label", "acme"],
        env=_env(emulator),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "complete" and summary["scope"] == "postmark:acme"
    assert summary["counts"]["nodes"]["created"]["postmark:server"] == 5
    assert summary["stats"]["requests"] == emulator.stats.requests


def test_db_from_environment(tmp_path, emulator):
    db = tmp_path / "env.db"
    result = CliRunner().invoke(cli, ["sync", "postmark"], env=_env(emulator, IDGRAPH_DB=str(db)))
    assert result.exit_code == 0, result.output
    assert db.exists()


def test_missing_token_is_a_configuration_error(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["sync", "postmark", "--db", str(tmp_path / "x.db")],
        env={"POSTMARK_ACCOUNT_TOKEN": ""},
    )
    assert result.exit_code == EXIT_CONFIG
    assert "POSTMARK_ACCOUNT_TOKEN is not set" in result.output
    assert "Traceback" not in result.output


def test_token_is_never_an_argument():
    result = CliRunner().invoke(cli, ["sync", "postmark", "--token", "abc"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_partial_run_exits_one_and_says_nothing_was_applied(tmp_path, emulator):
    emulator.inject("status", match="GET /webhooks", status=503, times=10_000)
    result = CliRunner().invoke(
        cli,
        ["sync", "postmark", "--db", str(tmp_path / "x.db"), "--retries", "1", "--max-wait", "1"],
        env=_env(emulator),
    )
    assert result.exit_code == EXIT_INCOMPLETE
    assert "partial" in result.output and "Nothing was applied" in result.output
    assert "Traceback" not in result.output


def test_token_check_kinds(emulator, account):
    runner = CliRunner()
    server = account["Servers"][1]
    ok = runner.invoke(cli, ["token", "check"], env=_env(emulator))
    assert ok.exit_code == 0 and "holds an Account token (5 servers visible)" in ok.output
    srv = runner.invoke(
        cli,
        ["token", "check", "--env", "PM_SERVER"],
        env=_env(emulator, PM_SERVER=server["ApiTokens"][0]),
    )
    assert srv.exit_code == 0
    assert f"a Server token of server {server['ID']} ('{server['Name']}')" in srv.output
    bad = runner.invoke(cli, ["token", "check"], env=_env(emulator, POSTMARK_ACCOUNT_TOKEN="nope"))
    assert bad.exit_code == EXIT_INCOMPLETE and "neither" in bad.output


def test_unreachable_api_is_exit_four(tmp_path):
    env = {"POSTMARK_ACCOUNT_TOKEN": "x", "POSTMARK_API_URL": "http://127.0.0.1:9"}
    result = CliRunner().invoke(cli, ["token", "check", "--retries", "1"], env=env)
    assert result.exit_code == EXIT_API
    assert "no answer from http://127.0.0.1:9" in result.output


def test_a_sync_that_ends_in_an_error_still_answers_json(tmp_path):
    """Exit 4 with --json: stdout carries the error as JSON, and it says why (refused)."""
    env = {"POSTMARK_ACCOUNT_TOKEN": "x", "POSTMARK_API_URL": "http://127.0.0.1:9"}
    db = str(tmp_path / "idgraph.db")
    args = ["sync", "postmark", "--db", db, "--retries", "0", "--json"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == EXIT_API
    answer = json.loads(result.stdout)
    assert answer["status"] == "error" and answer["exit_code"] == EXIT_API
    assert "no answer from http://127.0.0.1:9" in answer["error"]
    assert "connection refused" in answer["error"]
    runs = json.loads(CliRunner().invoke(cli, ["runs", "--db", db, "--json"]).stdout)
    assert [(r["id"], r["status"]) for r in runs] == [(answer["run_id"], "failed")]


def test_show_and_runs(tmp_path, emulator):
    runner = CliRunner()
    db = str(tmp_path / "x.db")
    runner.invoke(cli, ["sync", "postmark", "--db", db], env=_env(emulator))
    shown = runner.invoke(cli, ["show", "postmark:server:11001", "--db", db, "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["attributes"]["name"] == "Acme Production"
    assert {e["kind"] for e in data["out_edges"]} >= {
        "postmark:has_credential",
        "postmark:has_stream",
        "postmark:has_webhook",
    }
    text = runner.invoke(cli, ["show", "postmark:server:11001", "--db", db]).output
    assert "  inbound_domain: (not set)" in text, text  # (TrackLinks "None" is a value)
    missing = runner.invoke(cli, ["show", "postmark:server:1", "--db", db])
    assert missing.exit_code == EXIT_CONFIG and "no node" in missing.output
    runs = json.loads(runner.invoke(cli, ["runs", "--json", "--db", db]).output)
    assert [r["status"] for r in runs] == ["complete"]


def _idgraph_executable():
    found = Path(sys.executable).parent / "idgraph"
    return str(found) if found.exists() else shutil.which("idgraph")


def test_demo_runs_to_the_end_as_a_process(tmp_path):
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMARK_")}
    done = subprocess.run(
        [_idgraph_executable(), "demo", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Demo finished" in done.stdout
    assert (out / "idgraph.db").exists()
    for name in (
        "review.csv",
        "report.html",
        "graph.json",
        "graph.graphml",
        "veza-oaa.json",
        "bloodhound-opengraph.json",
        "baton-file.csv",
        "review.xlsx",
    ):
        assert (out / "review-pack" / name).stat().st_size > 0, name


def test_emulator_serve_answers_curl_like_requests():
    import httpx
    from idgraph.connector.postmark.emulator import load_fixture

    process = subprocess.Popen(
        [_idgraph_executable(), "emulator", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("Postmark API emulator at http://127.0.0.1:")
        url = first.split(" at ", 1)[1].split(" ", 1)[0]
        token = load_fixture()["AccountTokens"][0]
        answer = httpx.get(
            f"{url}/servers?count=500&offset=0",
            headers={"Accept": "application/json", "X-Postmark-Account-Token": token},
        )
        assert answer.status_code == 200 and answer.json()["TotalCount"] == 5
        refused = httpx.get(
            f"{url}/webhooks",
            headers={"Accept": "application/json", "X-Postmark-Server-Token": token},
        )
        assert refused.status_code == 401 and refused.json()["ErrorCode"] == 10
    finally:
        process.terminate()
        process.wait(10)


def test_the_terminal_says_it_once(tmp_path, emulator):
    """Two summary lines, each warning once (no log line repeating it); the per-kind table
    only with -v."""
    db = tmp_path / "once.db"
    args = ["sync", "postmark", "--db", str(db), "--account-label", "acme"]
    quiet = CliRunner().invoke(cli, args, env=_env(emulator))
    assert quiet.exit_code == 0, quiet.output
    assert len(quiet.stdout.strip().splitlines()) == 2, quiet.stdout
    assert "Changes: " in quiet.stdout and "Changes recorded" not in quiet.stdout
    # the first sync has nothing to diff against: it says so instead of pointing at `diff`
    assert "the account's first complete sync" in quiet.stdout
    assert "idgraph diff" not in quiet.stdout
    warning = "has no API token in ApiTokens"
    assert quiet.output.count(warning) == 1, quiet.output
    verbose = CliRunner().invoke(cli, ["-v", *args], env=_env(emulator))
    assert verbose.exit_code == 0, verbose.output
    assert verbose.output.count(warning) == 1, verbose.output
    assert "No changes since the previous complete run" in verbose.stdout


def test_demo_says_which_run_is_the_sync_and_which_the_attestation(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "Run 1 complete" in result.output
    assert "Run 2 is the attestation" in result.output
    assert "sync run 1 + attestation run 2" in result.output


def test_the_demo_reaches_its_own_emulator_behind_a_proxy(tmp_path, monkeypatch):
    """HTTP_PROXY names a proxy that refuses (nothing listens on port 9): the demo still
    reaches its emulator on 127.0.0.1 directly, and leaves NO_PROXY as it found it."""
    import os

    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "Run 1 complete" in result.output
    assert "NO_PROXY" not in os.environ and "no_proxy" not in os.environ


def test_a_bad_option_value_is_bad_usage_and_a_folder_as_db_is_named(tmp_path, emulator):
    bad = CliRunner().invoke(
        cli,
        ["sync", "postmark", "--db", str(tmp_path / "x.db"), "--only", "servrs"],
        env=_env(emulator),
    )
    assert bad.exit_code == 2, bad.output
    assert "--only" in bad.output and "Value error" not in bad.output
    folder = tmp_path / "adir"
    folder.mkdir()
    result = CliRunner().invoke(cli, ["runs", "--db", str(folder)])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert str(folder) in result.output and "Traceback" not in result.output


def test_export_before_attestation_says_so_on_the_console(tmp_path, emulator):
    from datetime import UTC, datetime

    from idgraph.graph.store import Store

    from .fixtures import attest_fixture, sync_fixture

    db = tmp_path / "idgraph.db"
    store = Store(db)
    sync_fixture(store, emulator)
    store.close()

    def export(*extra):
        return subprocess.run(
            [_idgraph_executable(), "export", "--db", str(db), "--out", str(tmp_path / "pack")]
            + ["--format", "review-csv", "--force", *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = export()
    assert done.returncode == 0, done.stderr
    assert "postmark account acme: team members: not attested — run `idgraph attest" in (
        done.stderr
    )
    assert json.loads(export("--json").stdout)["unattested"] == [
        {
            "connector": "postmark",
            "account_label": "acme",
            "status": "none",
            "state": "not attested",
        }
    ]
    store = Store(db)
    attest_fixture(store, now=datetime(2020, 1, 1, tzinfo=UTC))  # long expired
    store.close()
    done = export()
    assert "team members: attestation 2 expired on 2020-03-31" in done.stderr
    store = Store(db)
    attest_fixture(store)
    store.close()
    done = export()
    assert done.returncode == 0 and "team members" not in done.stderr


def test_the_postmark_commands_import_without_a_cycle():
    result = subprocess.run(
        [sys.executable, "-c", "import idgraph.connector.postmark.commands"],
        capture_output=True,
        text=True,
        check=False,
        cwd=fixtures.ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_a_run_failing_with_requests_queued_ends_in_one_line(tmp_path):
    """A 429 with no retries left fails the run while hundreds of per-server requests wait
    for a slot or their token's turn: they are cancelled quietly, and stderr holds the one
    error line (no asyncio shutdown traceback per cancelled waiter), as a real process."""
    from idgraph.connector.postmark.emulator import PostmarkEmulator
    from idgraph.connector.postmark.emulator.limits import RateLimit
    from idgraph.connector.postmark.emulator.synthetic import synthetic_account

    account = synthetic_account(60, senders=20, domains=2, seed=5)
    with PostmarkEmulator(account, token_rate_limit=RateLimit(2, 1)) as emu:
        done = subprocess.run(
            [_idgraph_executable(), "sync", "postmark", "--db", str(tmp_path / "x.db")]
            + ["--retries", "0"],
            env={**os.environ, **_env(emu)},
            capture_output=True,
            text=True,
        )
    assert done.returncode == EXIT_API, done.stderr[-2000:]  # the Account token's listing
    assert emu.stats.statuses[429] >= 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "rate limiting (HTTP 429)" in lines[0], done.stderr[-2000:]


def test_ctrl_c_during_a_sync_is_one_line_exit_130_and_changes_nothing(tmp_path):
    """Ctrl-C while the servers are read: `interrupted` and exit 130 (not click's "Aborted!"
    and exit 1, a failed run's), the run recorded failed as interrupted, no graph."""
    import signal
    import threading

    from idgraph.connector.postmark.emulator import PostmarkEmulator
    from idgraph.connector.postmark.emulator.synthetic import synthetic_account
    from idgraph.graph.cli_base import EXIT_INTERRUPTED
    from idgraph.graph.store import RunNotFound, Store
    from idgraph.graph.sync import INTERRUPTED

    reading_servers = threading.Event()
    db = tmp_path / "x.db"
    with PostmarkEmulator(synthetic_account(200, seed=6), latency=0.05) as emu:
        emu.before_request = lambda _m, path, _q: (
            path.startswith("/message-streams") and reading_servers.set()
        )
        sync = subprocess.Popen(
            [_idgraph_executable(), "sync", "postmark", "--db", str(db), "--json"],
            env={**os.environ, **_env(emu)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert reading_servers.wait(60), "the sync never reached the servers' own calls"
        sync.send_signal(signal.SIGINT)
        out, err = sync.communicate(timeout=60)
    assert sync.returncode == EXIT_INTERRUPTED, err
    assert err.strip().splitlines() == ["Error: interrupted (Ctrl-C): the run changed nothing"]
    answer = json.loads(out)  # with --json, the answer names the run it recorded failed
    assert (answer["exit_code"], answer["run_id"]) == (EXIT_INTERRUPTED, 1)
    store = Store(db, create=False)
    try:
        (run,) = store.runs()
        assert (run.status, run.errors) == ("failed", [INTERRUPTED])
        with pytest.raises(RunNotFound):
            store.complete_run()
    finally:
        store.close()
