"""The benchmarks run at CI size so they cannot rot (their figures live in docs/performance.md;
no test here asserts a time)."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _run(script, tmp_path, *extra):
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *extra, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def test_sync_benchmark_quick(tmp_path):
    table, figures = _run("sync.py", tmp_path)
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


def test_scale_benchmark_quick(tmp_path):
    """Every step in one process: the steps' code and the report, without nine start-ups."""
    table, figures = _run("scale.py", tmp_path, "--in-process")
    assert "write ÷ floor" in table and "n/a (in process)" in table
    (result,) = figures
    assert result["nodes"] >= 2000 and result["edges"] > 2 * result["nodes"]
    assert result["resync_rows"] == 0
    assert result["diff_changes"] > 0 and result["review_rows"] > 0
    assert not result["export_loaded_graph"]  # the review is read with SQL, not networkx
    from idgraph.graph.plugins import get_exporters

    # the full export wrote a file for every format (none skipped)
    assert result["full_export_skipped"] == []
    # and the manifest, and the icons file beside bloodhound-opengraph.json
    assert result["full_export_files"] == len(get_exporters()) + 2
    assert "full export (every format)" in table and "peak RSS: fullexport" in table


def test_scale_step_runs_in_its_own_process(tmp_path):
    """The way the real benchmark runs a step: a child process, its own peak RSS."""
    sys.path.insert(0, str(BENCH))
    try:
        import scale
    finally:
        sys.path.remove(str(BENCH))
    result = scale.run_step("floor", 200, tmp_path)
    assert result["step"] == "floor" and result["nodes"] >= 200
    assert result["peak_rss_mb"] > 10  # a Python process with sqlite3 and the rows


def test_sync_benchmark_help_names_every_scenario():
    # a scenario's name holds "5%", which argparse's help formatting once choked on
    done = subprocess.run(
        [sys.executable, str(BENCH / "sync.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "5% of requests 429 at random" in " ".join(done.stdout.split())
