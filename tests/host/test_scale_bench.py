"""bench/scale.py runs at CI size so it cannot rot (its figures live in docs/performance.md;
no test here asserts a time; tests/postmark/test_sync_bench.py runs bench/sync.py)."""

import json
import subprocess
import sys
from pathlib import Path

from idgraph.graph.access import REVIEW_COLUMNS

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_bench(script, tmp_path, *extra):
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *extra, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def test_scale_benchmark_quick(tmp_path):
    """Every step in one process: the steps' code and the report, without nine start-ups."""
    table, figures = run_bench("scale.py", tmp_path, "--in-process")
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


def test_scale_benchmark_runs_only_the_steps_asked_for(tmp_path):
    """--steps leaves the slow ones out (fullexport): their figures show as —."""
    table, figures = run_bench(
        "scale.py", tmp_path, "--in-process", "--steps", "floor,write,export,exfloor"
    )
    (result,) = figures
    assert result["steps"] == ["floor", "write", "export", "exfloor"]
    assert result["write_ratio"] > 0 and result["export_ratio"] > 0
    assert result["write_cpu_ratio"] > 0 and result["export_cpu_ratio"] > 0  # CPU beside wall
    # the floor writes rows as wide as review.csv's: the file it stands for
    assert result["export_floor_columns"] == result["export_columns"] == len(REVIEW_COLUMNS)
    assert f"rows of {len(REVIEW_COLUMNS)} cells" in table
    assert result["full_export"] is None and result["resync_rows"] is None
    assert set(result["rss_mb"]) == {"floor", "write", "export", "exfloor"}
    assert "| full export (every format), s | — |" in table
    refused = subprocess.run(
        [sys.executable, str(BENCH / "scale.py"), "--steps", "write,bogus"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "unknown step(s) bogus" in refused.stderr.strip().splitlines()[-1]


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
