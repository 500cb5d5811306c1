"""SIGKILL a sync at random points, during the write too: the database stays whole."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.synthetic import synthetic_account
from idgraph.graph.store import Store
from idgraph.graph.view import load_graph

KILLS = 8


def _idgraph():
    found = Path(sys.executable).parent / "idgraph"
    return str(found)


def _start(db, emu, *extra):
    env = dict(os.environ, POSTMARK_ACCOUNT_TOKEN=emu.account_tokens[0], POSTMARK_API_URL=emu.url)
    return subprocess.Popen(
        [_idgraph(), "sync", "postmark", "--db", str(db), "--account-label", "synth", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _check(db: Path) -> tuple[int, str]:
    """integrity_check, then the latest complete run and one server's name as of it."""
    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    connection.close()
    store = Store(db)
    try:
        run, graph = load_graph(store)
        return run.id, graph.nodes["postmark:server:100000"]["name"]
    finally:
        store.close()


def _latest_status(db: Path) -> str:
    connection = sqlite3.connect(db)
    try:
        return connection.execute("SELECT status FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    finally:
        connection.close()


def test_sigkill_at_random_points_keeps_the_database_whole(tmp_path):
    rng = random.Random(20261127)
    account = synthetic_account(60, senders=4000, domains=50, seed=11)
    db = tmp_path / "idgraph.db"
    with PostmarkEmulator(account) as emu:
        first = _start(db, emu)
        seen, last_request = 0, time.monotonic()
        while first.poll() is None:
            if emu.stats.requests != seen:
                seen, last_request = emu.stats.requests, time.monotonic()
            time.sleep(0.001)
        after_network = time.monotonic() - last_request  # transform + write + exit
        assert first.wait(120) == 0, first.stderr.read()
        requests_per_run = emu.stats.requests
        complete_runs = {_check(db)[0]: "Server 00000"}
        killed_in_write = 0
        kills: list[tuple[int, int]] = []
        for attempt in range(KILLS):
            name = f"renamed {attempt}"
            emu.server(100000)["Name"] = name
            process = _start(db, emu)
            if attempt % 2 == 0:  # after the last API answer: while it transforms and writes
                done = emu.stats.requests + requests_per_run
                while process.poll() is None and emu.stats.requests < done:
                    time.sleep(0.001)
                time.sleep(rng.uniform(0, after_network * 0.9))
                killed_in_write += process.poll() is None
            else:  # anywhere
                time.sleep(rng.uniform(0.05, 1.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            code = process.wait(60)
            run_id, seen = _check(db)
            # A kill can land after the run committed (while the process prints or exits):
            # the ledger, not the exit code, says whether this attempt's run completed.
            if code == 0 or (run_id not in complete_runs and _latest_status(db) == "complete"):
                complete_runs[run_id] = name
            kills.append((attempt, code))
            # the current graph is exactly the last complete run's, never a half-written one
            assert complete_runs.get(run_id) == seen
            assert run_id == max(complete_runs)
        assert killed_in_write >= 2, (after_network, kills)
        assert sum(1 for _a, code in kills if code == -signal.SIGKILL) >= KILLS // 2
        # the next run marks the killed ones failed and completes
        final = _start(db, emu)
        assert final.wait(120) == 0, final.stderr.read()
    store = Store(db)
    statuses = {run.status for run in store.runs()}
    store.close()
    assert "running" not in statuses


def test_two_syncs_at_once_one_waits_or_refuses_clearly(tmp_path):
    account = synthetic_account(40, senders=2000, domains=20, seed=5)
    db = tmp_path / "idgraph.db"
    with PostmarkEmulator(account, latency=0.01) as emu:
        one = _start(db, emu, "--lock-wait", "0")
        two = _start(db, emu, "--lock-wait", "0")
        codes = {one.wait(120), two.wait(120)}
        outputs = one.stderr.read() + two.stderr.read()
    assert codes <= {0, 5} and 0 in codes
    if 5 in codes:
        assert "in use by another idgraph run" in outputs
    assert "Traceback" not in outputs
    _check(db)
