"""SIGKILL a sync at random points, during the write too: the database stays whole.

Whether a killed run completed is read from the database (its row in `runs`), never from
the exit code: a kill that lands after the commit leaves a complete run and exit -9.
"""

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

from ..postmark.fixtures import sync_fixture

MIN_KILLS = 2  # of each kind: after the last API answer (transform, write) and anywhere
MAX_ATTEMPTS = 16
SERVER = "postmark:server:100000"


def _idgraph():
    return str(Path(sys.executable).parent / "idgraph")


def _start(db, emu, *extra):
    env = dict(os.environ, POSTMARK_ACCOUNT_TOKEN=emu.account_tokens[0], POSTMARK_API_URL=emu.url)
    return subprocess.Popen(
        [_idgraph(), "sync", "postmark", "--db", str(db), "--account-label", "synth", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _integrity_ok(db: Path) -> None:
    connection = sqlite3.connect(db)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()


def _state(db: Path) -> tuple[dict[int, str], int, str]:
    """Every run's status, the run the current graph is as of, and one server's name in it.

    Also checks the invariant: no version row was opened or closed by a run that is not
    complete, and the current graph is the latest complete run's."""
    _integrity_ok(db)
    store = Store(db)
    try:
        statuses = {run.id: run.status for run in store.runs()}
        for table in ("node_versions", "edge_versions"):
            stray = store.db.execute(
                f"SELECT count(*) FROM {table} v JOIN runs r "
                "ON r.id = v.opened_run OR r.id = v.closed_run WHERE r.status != 'complete'"
            ).fetchone()[0]
            assert stray == 0, (table, statuses)
        run, graph = load_graph(store)
        assert run.id == max(i for i, s in statuses.items() if s == "complete")
        return statuses, run.id, graph.nodes[SERVER]["name"]
    finally:
        store.close()


def _comparable(db: Path):
    """The current graph without run numbers: what a clean sync of the same account gives."""
    store = Store(db)
    try:
        _run, graph = load_graph(store)
    finally:
        store.close()
    ignore = {"first_seen", "last_seen"}
    nodes = {n: {k: v for k, v in d.items() if k not in ignore} for n, d in graph.nodes(data=True)}
    edges = sorted(
        (u, v, sorted((k, repr(x)) for k, x in d.items() if k not in ignore))
        for u, v, d in graph.edges(data=True)
    )
    return nodes, edges


def test_sigkill_at_random_points_keeps_the_database_whole(tmp_path):
    rng = random.Random(20261127)
    account = synthetic_account(40, senders=1500, domains=30, seed=11)
    db = tmp_path / "idgraph.db"
    with PostmarkEmulator(account) as emu:
        # one run to learn how many requests a run makes and how long its parts take (only
        # to aim the kills; nothing is asserted on a time)
        started = time.monotonic()
        first = _start(db, emu)
        seen, last_request = 0, started
        while first.poll() is None:
            if emu.stats.requests != seen:
                seen, last_request = emu.stats.requests, time.monotonic()
            time.sleep(0.001)
        after_network = time.monotonic() - last_request  # transform + write + exit
        whole_run = time.monotonic() - started
        assert first.returncode == 0, first.stderr.read()
        requests_per_run = emu.stats.requests
        statuses, current, name = _state(db)
        assert list(statuses.values()) == ["complete"] and name == "Server 00000"
        names = {current: name}  # complete run -> the name it read
        kills = {"write": 0, "anywhere": 0}
        attempts: list[tuple[str, int, str]] = []
        for attempt in range(MAX_ATTEMPTS):
            if min(kills.values()) >= MIN_KILLS:
                break
            where = "write" if attempt % 2 == 0 else "anywhere"
            name = f"renamed {attempt}"
            emu.server(100000)["Name"] = name
            process = _start(db, emu)
            if where == "write":  # after the last API answer: while it transforms and writes
                done = emu.stats.requests + requests_per_run
                while process.poll() is None and emu.stats.requests < done:
                    time.sleep(0.001)
                time.sleep(rng.uniform(0, after_network * 0.9))
            else:
                time.sleep(rng.uniform(0, whole_run))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills[where] += 1
            process.wait(60)
            before = set(statuses)
            statuses, current, seen_name = _state(db)
            started_runs = set(statuses) - before  # none if killed before its run row
            assert len(started_runs) <= 1, attempts
            status = statuses[max(started_runs)] if started_runs else "not started"
            attempts.append((where, process.returncode, status))
            if status == "complete":
                names[max(started_runs)] = name
            else:  # killed before its commit: a run left running (failed by the next one)
                assert status in ("running", "not started"), attempts
            # the current graph is exactly the last complete run's, never a half-written one
            assert seen_name == names[current], attempts
        assert min(kills.values()) >= MIN_KILLS, (kills, attempts, after_network)
        # the next run (in this process) marks the killed ones failed and completes ...
        emu.server(100000)["Name"] = "final"
        for path in (db, tmp_path / "clean.db"):  # ... as a sync into a new file does
            store = Store(path)
            try:
                assert sync_fixture(store, emu, label="synth").status == "complete"
            finally:
                store.close()
    statuses, current, seen_name = _state(db)
    assert current == max(statuses) and seen_name == "final"
    assert "running" not in statuses.values()
    assert "failed" in statuses.values()  # the killed runs, now marked
    # and what it leaves is what a clean sync of the same account gives
    assert _comparable(db) == _comparable(tmp_path / "clean.db")


def test_two_syncs_at_once_one_waits_or_refuses_clearly(tmp_path):
    account = synthetic_account(40, senders=2000, domains=20, seed=5)
    db = tmp_path / "idgraph.db"
    with PostmarkEmulator(account, latency=0.01) as emu:
        one = _start(db, emu, "--lock-wait", "0")
        two = _start(db, emu, "--lock-wait", "0")
        codes = [one.wait(120), two.wait(120)]
        outputs = one.stderr.read() + two.stderr.read()
    assert set(codes) <= {0, 5} and 0 in codes, (codes, outputs)
    if 5 in codes:
        assert "in use by another idgraph run" in outputs
    assert "Traceback" not in outputs
    statuses, _current, _name = _state(db)
    # a refused run records nothing; each one that ran completed
    assert list(statuses.values()) == ["complete"] * codes.count(0), (statuses, codes)
