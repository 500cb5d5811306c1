"""bench/sync.py (Postmark's emulator, idgraph against the bare-httpx floor and the
sequential script) runs at CI size so it cannot rot; its figures live in
docs/performance.md, and no test here asserts a time."""

from ..host.test_scale_bench import run_bench


def test_sync_benchmark_quick(tmp_path):
    table, figures = run_bench("sync.py", tmp_path)
    assert "| servers |" in table
    (result,) = figures
    # the requests the data needs: pages of 500 (servers 1, senders 2 for 700, domains 1),
    # then streams + webhooks for each of the 30 servers; idgraph reads a listing of more
    # than one page twice to confirm it did not shift while it was read (senders: +2)
    assert result["baseline_requests"] == 4 + 2 * 30
    assert result["idgraph_requests"] == result["baseline_requests"] + 2
    # every limit scenario ran to a complete sync (idgraph_sync fails the bench otherwise),
    # each 429 the emulator answered was counted by the client and retried
    scenarios = result["scenarios"]
    assert len(scenarios) == 4 and "| limit (undisclosed) |" in table
    for figures in scenarios.values():
        assert figures["answered_429"] == figures["throttled"]
        assert figures["requests"] == result["idgraph_requests"] + figures["answered_429"]
    assert scenarios["overall 80/s (burst 10)"]["answered_429"] > 0
    assert scenarios["every 20th request 429 once"]["answered_429"] >= 3


def test_sync_benchmark_refuses_a_scenario_it_does_not_have():
    """A number outside 1-4 is a usage error before anything runs (0 chose the last
    scenario and 5 ended in an IndexError)."""
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "bench" / "sync.py"
    for wrong in ("0", "5", "1,x"):
        done = subprocess.run(
            [sys.executable, str(bench), "--quick", "--scenarios", wrong],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2, done.stderr
        assert "--scenarios: no scenario" in done.stderr.strip().splitlines()[-1]
