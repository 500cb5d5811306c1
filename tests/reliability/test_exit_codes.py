"""Issue 15, exit codes: the API or network failing is 4, bad usage is 2; the emulator
serves the random faults the README promises."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.server import parse_fault_rates
from idgraph.graph.cli import EXIT_API, EXIT_USAGE, cli

from ..postmark.fixtures import run_statuses

FAST = ["--retries", "1", "--backoff", "0.01", "--max-wait", "1", "--timeout", "2"]


def _one_error_line(result):
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_unreachable_api_exits_four_with_one_line(tmp_path):
    db = tmp_path / "idgraph.db"
    env = {"POSTMARK_ACCOUNT_TOKEN": "x" * 36, "POSTMARK_API_URL": "http://127.0.0.1:9"}
    result = CliRunner().invoke(cli, ["sync", "postmark", "--db", str(db), *FAST], env=env)
    assert result.exit_code == EXIT_API, result.output
    assert "no answer from http://127.0.0.1:9" in _one_error_line(result)
    assert run_statuses(db) == ["failed"]


def test_server_token_as_account_token_exits_four_with_one_line(tmp_path, account):
    db = tmp_path / "idgraph.db"
    with PostmarkEmulator(account) as emu:
        env = {
            "POSTMARK_ACCOUNT_TOKEN": account["Servers"][0]["ApiTokens"][0],
            "POSTMARK_API_URL": emu.url,
        }
        result = CliRunner().invoke(cli, ["sync", "postmark", "--db", str(db), *FAST], env=env)
    assert result.exit_code == EXIT_API, result.output
    assert "holds a Server token (of server 11001" in _one_error_line(result)
    assert run_statuses(db) == ["failed"]


def test_bad_set_on_a_write_command_is_bad_usage(account):
    with PostmarkEmulator(account) as emu:
        env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url}
        result = CliRunner().invoke(
            cli, ["postmark", "server", "update", "11001", "--set", "Nope=1"], env=env
        )
        requests = emu.stats.requests
    assert result.exit_code == EXIT_USAGE, result.output
    assert "use Field=value" in result.output and "Traceback" not in result.output
    assert requests == 0  # nothing was sent


def test_parse_fault_rates():
    assert parse_fault_rates("5xx=0.1, drop=0.05,malformed=0.02") == {
        "5xx": 0.1,
        "drop": 0.05,
        "malformed": 0.02,
    }
    assert parse_fault_rates("") == {}
    for bad in ("boom=0.1", "5xx", "5xx=x", "5xx=2", "5xx=0.6,drop=0.6"):
        with pytest.raises(ValueError):
            parse_fault_rates(bad)


@pytest.mark.parametrize(
    "rates, expect",
    [
        ({"5xx": 1.0}, lambda r: r.status_code in (500, 502, 503)),
        ({"malformed": 1.0}, lambda r: r.status_code == 200 and not _is_json(r)),
    ],
)
def test_emulator_serves_random_faults(account, rates, expect):
    with PostmarkEmulator(account, fault_rates=rates) as emu:
        headers = {"Accept": "application/json", "X-Postmark-Account-Token": emu.account_tokens[0]}
        response = httpx.get(f"{emu.url}/servers?count=10&offset=0", headers=headers)
    assert expect(response), (response.status_code, response.text[:80])


def test_emulator_drop_fault_closes_without_an_answer(account):
    with PostmarkEmulator(account, fault_rates={"drop": 1.0}) as emu:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{emu.url}/servers", headers={"Accept": "application/json"})


def _is_json(response):
    try:
        json.loads(response.content)
    except ValueError:
        return False
    return True


def test_a_sync_survives_random_faults(tmp_path, account):
    db = tmp_path / "idgraph.db"
    rates = {"5xx": 0.1, "drop": 0.05, "malformed": 0.02}
    with PostmarkEmulator(account, fault_rates=rates, seed=3) as emu:
        env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url}
        args = ["sync", "postmark", "--db", str(db), "--retries", "8", "--backoff", "0.001"]
        result = CliRunner().invoke(cli, [*args, "--max-backoff", "0.01", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    summary = json.loads(result.output)
    assert summary["status"] == "complete" and summary["stats"]["retries"] > 0


def test_emulator_serve_faults_option(tmp_path):
    bad = CliRunner().invoke(cli, ["emulator", "serve", "--faults", "boom=1"])
    assert bad.exit_code == EXIT_USAGE and "--faults" in bad.output
    idgraph = str(Path(sys.executable).parent / "idgraph")
    process = subprocess.Popen(
        [idgraph, "emulator", "serve", "--faults", "5xx=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        first = process.stdout.readline()
        url = first.split(" at ", 1)[1].split()[0]
        response = httpx.get(f"{url}/servers", headers={"Accept": "application/json"})
        assert response.status_code in (500, 502, 503)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(10)
