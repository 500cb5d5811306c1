"""Store and export at scale, against raw sqlite3 executemany of the same rows.

    python bench/scale.py                 # 10,000 and 100,000 nodes (3x edges), 3 repeats
    python bench/scale.py --quick         # 2,000 nodes, 1 repeat
    python bench/scale.py --quick --in-process   # the same in one process: the CI smoke test
    python bench/scale.py --sizes 100000 \
        --steps floor,write,resync,change,load,diff,export,exfloor,graph   # all but fullexport

Each step runs in its own process so its peak RSS (ru_maxrss from wait4) is its own:
  floor   raw sqlite3 executemany of the same rows into the same schema, one transaction
  write   Store.finish_run of one complete run (rows, JSON, hashes, inserts)
  resync  the same graph again: rows written and file growth
  change  1% of the servers renamed: a third run, for the diff
  load    the latest complete run into networkx
  diff    run 1 -> run 3
  export  review.csv of the latest run: the review rows from SQL, every check, the file
  exfloor the export's floor: a raw sqlite3 SELECT of the same rows (the run's nodes and
          edges) and csv.writer of as many review rows, each as wide as review.csv's (its
          column count, from the export step; `--floor-width` sets another), same run
  graph   graph.json: the run streamed from the store (node and edge reads, no networkx graph)
  fullexport  `idgraph export` with every format (host.write_review_pack): its peak RSS
Timed parts exclude building the synthetic graph in memory (a sync has it from the API).
Each timed part is measured in wall seconds and in CPU seconds of the step's process
(`time.process_time`): on a shared host the CPU ratios move less with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = [
    "floor", "write", "resync", "change", "load", "diff", "export", "exfloor", "graph", "fullexport"
]  # fmt: skip


def _graph(size: int, renamed: bool = False):
    sys.path.insert(0, str(HERE))
    from synthetic_graph import synthetic_graph

    nodes, edges = synthetic_graph(size)
    if renamed:  # 1% of the servers renamed
        servers = [n for n in nodes if n.kind == "postmark:server"]
        for node in servers[: max(len(servers) // 100, 1)]:
            node.attrs["name"] += " (renamed)"
    return nodes, edges


def step(name: str, size: int, folder: Path) -> dict:
    from idgraph.graph.access import kind_fact_rows
    from idgraph.graph.schema import registry
    from idgraph.graph.store import Store, versions

    db = folder / "idgraph.db"
    result: dict = {"step": name}
    if name in ("floor", "write", "resync", "change"):
        nodes, edges = _graph(size, renamed=name == "change")
        result.update(nodes=len(nodes), edges=len(edges))
    if name == "floor":
        store = Store(folder / "floor.db")  # the same schema, fresh
        node_rows = [("s", *r, 1, 1) for r in versions.node_rows(nodes)]
        edge_rows = [("s", *r, 1, 1) for r in versions.edge_rows(edges)]
        conn = store.db.conn
        started, cpu_started = time.perf_counter(), time.process_time()
        with conn:
            conn.executemany(
                "INSERT INTO node_versions (scope, id, kind, source, attrs, hash, first_seen, "
                "opened_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                node_rows,
            )
            conn.executemany(
                "INSERT INTO edge_versions (scope, key, src, dst, discriminator, kind, source, "
                "attrs, hash, first_seen, opened_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                edge_rows,
            )
        result["seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = time.process_time() - cpu_started
        store.close()
        return result
    store = Store(db)
    try:
        if name in ("write", "resync", "change"):
            before_rows = sum(store.row_counts()[t] for t in ("node_versions", "edge_versions"))
            before_size = _db_bytes(db)
            run = store.start_run(
                kind="sync",
                connector="bench",
                scope="postmark:bench",
                account_label="bench",
                plugin_versions={},
            )
            started, cpu_started = time.perf_counter(), time.process_time()
            store.finish_run(
                run,
                status="complete",
                nodes=nodes,
                edges=edges,
                kind_facts=lambda: kind_fact_rows(registry()),  # as a sync writes them
            )
            result["seconds"] = time.perf_counter() - started
            result["cpu_seconds"] = time.process_time() - cpu_started
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            result["rows_written"] = (
                sum(store.row_counts()[t] for t in ("node_versions", "edge_versions")) - before_rows
            )
            result["db_bytes_before"], result["db_bytes"] = before_size, _db_bytes(db)
        elif name == "load":
            from idgraph.graph.view import load_graph

            started, cpu_started = time.perf_counter(), time.process_time()
            _run, graph = load_graph(store)
            result["seconds"] = time.perf_counter() - started
            result["cpu_seconds"] = time.process_time() - cpu_started
            result.update(nodes=graph.number_of_nodes(), edges=graph.number_of_edges())
        elif name == "diff":
            from idgraph.graph.diff import count_changes, diff_runs

            started, cpu_started = time.perf_counter(), time.process_time()
            changes = diff_runs(store, 1, 3)
            result["seconds"] = time.perf_counter() - started
            result["cpu_seconds"] = time.process_time() - cpu_started
            result["changes"] = count_changes(changes)
        elif name == "export":
            import csv

            from idgraph.graph.exporters import ReviewCsvExporter
            from idgraph.graph.review import build_review

            started, cpu_started = time.perf_counter(), time.process_time()
            context = build_review(store)
            loaded = time.perf_counter()
            ReviewCsvExporter().export(context, folder)
            result["seconds"] = time.perf_counter() - started
            result["cpu_seconds"] = time.process_time() - cpu_started
            result["of_which_rows_and_checks"] = loaded - started
            result["review_rows"] = context.row_count
            with open(folder / "review.csv", encoding="utf-8-sig", newline="") as written:
                result["review_columns"] = len(next(csv.reader(written)))
            result["graph_loaded"] = context._graph is not None
        elif name == "exfloor":
            import csv

            run_id = store.complete_run().id
            conn = store.db.conn
            started, cpu_started = time.perf_counter(), time.process_time()
            rows = conn.execute(
                "SELECT id, kind, source, attrs FROM node_versions "
                "WHERE opened_run <= ? AND (closed_run IS NULL OR closed_run > ?)",
                [run_id, run_id],
            ).fetchall()
            rows += conn.execute(
                "SELECT src, dst, kind, attrs FROM edge_versions "
                "WHERE opened_run <= ? AND (closed_run IS NULL OR closed_run > ?)",
                [run_id, run_id],
            ).fetchall()
            review_rows = int(os.environ.get("BENCH_REVIEW_ROWS", "0"))
            width = int(os.environ.get("BENCH_REVIEW_COLUMNS", "0"))
            if width < 4:
                raise SystemExit("exfloor needs the export step before it (or --floor-width)")
            repeats = -(-(width - 3) // 4)  # the 4 fields of a read row, enough times over
            with open(folder / "floor.csv", "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                for i in range(review_rows):  # as many rows, as wide, as the review has
                    source = rows[i % len(rows)]
                    writer.writerow([*(source * repeats)[: width - 3], i, "", ""])
            result["seconds"] = time.perf_counter() - started
            result["cpu_seconds"] = time.process_time() - cpu_started
            result.update(rows_read=len(rows), columns=width)
        elif name == "graph":
            from idgraph.graph.exporters import GraphJsonExporter
            from idgraph.graph.review import build_review

            started, cpu_started = time.perf_counter(), time.process_time()
            GraphJsonExporter().export(build_review(store, lazy=True), folder)
            result["seconds"] = time.perf_counter() - started
            result["cpu_seconds"] = time.process_time() - cpu_started
        elif name == "fullexport":
            from idgraph.graph.host import write_review_pack

            store.close()  # write_review_pack opens the store itself
            started, cpu_started = time.perf_counter(), time.process_time()
            _context, written, skipped = write_review_pack(db, folder / "pack", force=True)
            result["seconds"] = time.perf_counter() - started
            result["cpu_seconds"] = time.process_time() - cpu_started
            result.update(files=len(written), skipped=skipped)
    finally:
        store.close()
    return result


def _db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def run_step(
    name: str, size: int, folder: Path, env: dict | None = None, in_process: bool = False
) -> dict:
    """The step in a child process; returns its result with the child's peak RSS.

    In process (the smoke test: the same steps without a Python start-up each), there is no
    peak RSS of the step's own: it is None."""
    if in_process:
        os.environ.update(env or {})
        return {**step(name, size, folder), "peak_rss_mb": None}
    process = subprocess.Popen(
        [sys.executable, __file__, "--step", name, "--size", str(size), "--dir", str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step {name} failed")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def measure(
    size: int,
    repeats: int,
    in_process: bool = False,
    steps: list[str] | None = None,
    floor_width: int | None = None,
) -> dict:
    steps = STEPS if steps is None else [s for s in STEPS if s in steps]  # in STEPS' order
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            done: dict = {}
            for name in steps:
                export = done.get("export", {})
                width = floor_width or export.get("review_columns", 0)
                env = {
                    "BENCH_REVIEW_ROWS": str(export.get("review_rows", 0)),
                    "BENCH_REVIEW_COLUMNS": str(width),
                }
                done[name] = run_step(name, size, Path(folder), env, in_process)
            runs.append(done)
    first = {name: runs[0].get(name, {}) for name in STEPS}

    def median(step_name: str, key: str = "seconds") -> float | None:
        if step_name not in steps:
            return None
        return statistics.median(r[step_name][key] for r in runs)

    def ratio(step_name: str, floor_name: str, key: str = "seconds") -> float | None:
        if step_name not in steps or floor_name not in steps:
            return None
        return statistics.median(r[step_name][key] / r[floor_name][key] for r in runs)

    written = first["write"].get("rows_written") or 1
    summary = {
        "size": size,
        "steps": steps,
        "nodes": first["write"].get("nodes"),
        "edges": first["write"].get("edges"),
        "repeats": repeats,
        "floor_s": median("floor"),
        "write_s": median("write"),
        "write_ratio": ratio("write", "floor"),
        "write_cpu_ratio": ratio("write", "floor", "cpu_seconds"),
        "resync_s": median("resync"),
        "resync_rows": first["resync"].get("rows_written"),
        "resync_rows_pct": 100 * first["resync"]["rows_written"] / written
        if first["resync"]
        else None,
        "resync_growth_pct": 100
        * (first["resync"]["db_bytes"] - first["resync"]["db_bytes_before"])
        / first["resync"]["db_bytes_before"]
        if first["resync"]
        else None,
        "change_s": median("change"),
        "load": median("load"),
        "diff": median("diff"),
        "diff_changes": first["diff"].get("changes"),
        "export": median("export"),
        "export_rows_and_checks": median("export", "of_which_rows_and_checks"),
        "export_floor": median("exfloor"),
        "export_columns": first["export"].get("review_columns"),
        "export_floor_columns": first["exfloor"].get("columns"),
        "export_ratio": ratio("export", "exfloor"),
        "export_cpu_ratio": ratio("export", "exfloor", "cpu_seconds"),
        "export_loaded_graph": first["export"].get("graph_loaded"),
        "graph_export": median("graph"),
        "full_export": median("fullexport"),
        "full_export_files": first["fullexport"].get("files"),
        "full_export_skipped": first["fullexport"].get("skipped"),
        "review_rows": first["export"].get("review_rows"),
        "rss_mb": {
            name: None if in_process else max(r[name]["peak_rss_mb"] for r in runs)
            for name in steps
        },
    }
    return summary


def report(results: list[dict]) -> str:
    lines = [
        "| figure | "
        + " | ".join(f"{r['nodes'] or 0:,} nodes / {r['edges'] or 0:,} edges" for r in results)
        + " | goal (at 100,000 nodes) |",
        "|---|" + "---|" * len(results) + "---|",
    ]

    def row(label, fmt, goal=""):
        def cell(result: dict) -> str:
            try:
                return fmt(result)
            except TypeError:  # a figure of a step left out (--steps)
                return "—"

        lines.append(f"| {label} | " + " | ".join(map(cell, results)) + f" | {goal} |")

    row("raw sqlite3 executemany (floor), s", lambda r: f"{r['floor_s']:.2f}")
    row("write one complete run, s", lambda r: f"{r['write_s']:.2f}")
    row("write ÷ floor", lambda r: f"{r['write_ratio']:.2f}×", "≤ 2×")
    row("… in CPU seconds of the step's process", lambda r: f"{r['write_cpu_ratio']:.2f}×")
    row("re-sync unchanged, s", lambda r: f"{r['resync_s']:.2f}")
    row(
        "re-sync rows written",
        lambda r: f"{r['resync_rows']} ({r['resync_rows_pct']:.3f}%)",
        "≤ 1%",
    )
    row("re-sync file growth", lambda r: f"{r['resync_growth_pct']:.3f}%", "≤ 1%")
    row("load latest run into networkx, s", lambda r: f"{r['load']:.2f}", "≤ 3 s")
    row("diff of two runs, s", lambda r: f"{r['diff']:.2f} ({r['diff_changes']} changes)", "≤ 1 s")
    row(
        "review.csv export, s",
        lambda r: f"{r['export']:.2f} ({r['review_rows']:,} rows of {r['export_columns']} cells)",
    )
    row(
        "… of which the rows (SQL) and the checks, s",
        lambda r: f"{r['export_rows_and_checks']:.2f}",
    )
    row(
        "export floor (SELECT + csv.writer of as many rows), s",
        lambda r: f"{r['export_floor']:.2f} (rows of {r['export_floor_columns']} cells)",
    )
    row("export ÷ floor", lambda r: f"{r['export_ratio']:.2f}×", "≤ 2×")
    row("… in CPU seconds of the step's process", lambda r: f"{r['export_cpu_ratio']:.2f}×")
    row("graph.json export (streamed from the store), s", lambda r: f"{r['graph_export']:.2f}")
    row("full export (every format), s", lambda r: f"{r['full_export']:.2f}")

    def rss(result: dict, step_name: str) -> str:
        if step_name not in result["rss_mb"]:
            return "—"
        value = result["rss_mb"][step_name]
        return "n/a (in process)" if value is None else f"{value:.0f}"

    for step_name in STEPS:
        row(f"peak RSS: {step_name}, MB", lambda r, n=step_name: rss(r, n), "≤ 400 MB")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 2,000 nodes, 1 repeat")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", dest="json_out", help="Also write the figures here.")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="Run every step in this process (no per-step peak RSS): the CI smoke test",
    )
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help="The steps to run, comma-separated, in this order: "
        + ", ".join(STEPS)
        + " (default: all). A step reads the store the steps before it wrote: resync and "
        "change need write, diff needs write, resync and change, exfloor needs export. "
        "Figures of steps left out show as —.",
    )
    parser.add_argument(
        "--floor-width",
        type=int,
        help="Cells in each row the export's floor writes (default: as many as review.csv "
        "has columns; 19 was review.csv's width when the floor was set, 2026-11-28)",
    )
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step, args.size, Path(args.dir))))
        return
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}: choose from {', '.join(STEPS)}")
    sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",")]
    repeats = 1 if args.quick else args.repeats
    results = [measure(size, repeats, args.in_process, steps, args.floor_width) for size in sizes]
    print(report(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
