"""Sync on a slow network: `idgraph sync postmark` beside bare httpx and the sequential script.

    python bench/sync.py                # 300 and 3,000 servers, 25 ms a request, 3 runs each
    python bench/sync.py --quick        # 30 servers, 5 ms, 1 run: the CI smoke test

The emulator runs in this process (threads, one per request) with a fixed latency per
request. Both contenders are separate processes, timed from start to exit, the way a user
runs them. Requests are counted by the emulator. Efficiency = (requests x latency /
concurrency) / wall time: 1.0 would mean no time lost beyond the latency at the bound.

Contenders, in the same run: (a) idgraph; (b) the library floor, `floor_httpx.py`: the same
requests through bare httpx at the same concurrency, as an AsyncClient on httpx's own
transport (the floor), as a sync Client in 8 threads, and as httpx on aiohttp's transport
(httpx-aiohttp, what idgraph's GETs use); (c) the sequential script. idgraph ÷ floor is
what idgraph's own code costs on top of httpx. idgraph's modules are byte-compiled first,
as a wheel's are at install (`compile_as_installed`).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.limits import RateLimit, RateLimiter
from idgraph.connector.postmark.emulator.synthetic import synthetic_account

HERE = Path(__file__).resolve().parent
CONCURRENCY = 8
# async: httpx.AsyncClient on its own transport (the library floor); threads: httpx.Client in
# 8 threads; aiohttp: httpx_aiohttp.HttpxAiohttpClient (httpx's API on aiohttp's transport)
FLOOR_MODES = ("async", "threads", "aiohttp")


# Limits the emulator enforces without telling (issue 27), each with its ideal: what a client
# that knew the limit would take. name -> (what to set on the emulator, the ideal from the
# requests and the no-limit time)
SCENARIOS: dict[str, tuple[dict, Callable[[int, float], float]]] = {
    "overall 80/s (burst 10)": (
        {"limits": RateLimiter(RateLimit(80, 10))},
        lambda requests, free: requests / 80,
    ),
    "2/s per token (burst 1) under 150/s overall (burst 15)": (
        {"limits": RateLimiter(RateLimit(150, 15), RateLimit(2, 1))},
        lambda requests, free: max(free, requests / 150),
    ),
    "every 20th request 429 once": ({"every_nth_429": 20}, lambda requests, free: free),
    "5% of requests 429 at random": ({"rate_limit_fraction": 0.05}, lambda r, free: free),
}


def compile_as_installed() -> None:
    """Byte-compile idgraph's own modules, as installing a wheel does.

    An editable install runs the source tree; with PYTHONDONTWRITEBYTECODE set (as on this
    machine) every run compiled about 60 modules again, which the floor scripts' libraries,
    compiled by pip at install, never do: a cost of the checkout, not of idgraph.
    """
    import idgraph.connector
    import idgraph.graph

    import idgraph

    for package in (idgraph, idgraph.graph, idgraph.connector):
        for folder in package.__path__:
            compileall.compile_dir(folder, quiet=1)


def _env(emu: PostmarkEmulator) -> dict[str, str]:
    return dict(os.environ, POSTMARK_ACCOUNT_TOKEN=emu.account_tokens[0], POSTMARK_API_URL=emu.url)


# CPU seconds (user + system) of each contender's runs, by label: on a busy host a wall
# time says how the host was, the CPU a contender spends says what it costs
CPU: dict[str, list[float]] = defaultdict(list)


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], emu: PostmarkEmulator, label: str = "") -> tuple[float, int, str]:
    before = emu.stats.requests
    cpu_before = _cpu_of_children()
    started = time.perf_counter()
    done = subprocess.run(command, env=_env(emu), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    CPU[label or Path(command[-1]).name].append(_cpu_of_children() - cpu_before)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, emu.stats.requests - before, done.stdout


def idgraph_sync(emu: PostmarkEmulator, label: str = "idgraph") -> tuple[float, int, dict]:
    idgraph = str(Path(sys.executable).parent / "idgraph")
    with tempfile.TemporaryDirectory() as folder:
        wall, requests, out = _timed(
            [
                idgraph,
                "sync",
                "postmark",
                "--db",
                f"{folder}/bench.db",
                "--json",
                "--account-label",
                "bench",
                "--concurrency",
                str(CONCURRENCY),
            ],
            emu,
            label,
        )
    summary = json.loads(out)
    if summary["status"] != "complete":
        raise SystemExit(f"the sync was {summary['status']}: {summary['errors'][:3]}")
    return wall, requests, summary


def baseline(emu: PostmarkEmulator) -> tuple[float, int]:
    command = [sys.executable, str(HERE / "baseline_sequential.py")]
    wall, requests, _out = _timed(command, emu, "baseline")
    return wall, requests


def floor(emu: PostmarkEmulator, mode: str) -> tuple[float, int]:
    command = [sys.executable, str(HERE / "floor_httpx.py"), "--mode", mode]
    wall, requests, _out = _timed(command, emu, f"floor_{mode}")
    return wall, requests


def limited(emu: PostmarkEmulator, name: str, runs: int) -> list[tuple[float, int, dict, int]]:
    """idgraph's runs under scenario `name`: (wall, requests, summary, 429s answered)."""
    settings, _ideal = SCENARIOS[name]
    before = {key: getattr(emu, key) for key in settings}
    timed = []
    try:
        for key, value in settings.items():
            setattr(emu, key, value)
        for _ in range(runs):
            if "limits" in settings:  # full buckets for every run
                limiter = settings["limits"]
                emu.limits = RateLimiter(limiter.overall_limit, limiter.per_token_limit)
            refused = emu.stats.statuses[429]
            wall, requests, summary = idgraph_sync(emu, name)
            timed.append((wall, requests, summary, emu.stats.statuses[429] - refused))
    finally:
        for key, value in before.items():
            setattr(emu, key, value)
    return timed


def measure(
    servers: int,
    latency: float,
    runs: int,
    throttled_runs: int,
    baseline_runs: int,
    scenarios: list[str] | None = None,
) -> dict:
    account = synthetic_account(servers, senders=700, domains=100, seed=servers)
    result: dict = {"servers": servers, "latency_ms": latency * 1000, "runs": runs}
    CPU.clear()
    with PostmarkEmulator(account, latency=latency) as emu:
        ours: list = []
        floors: dict[str, list] = {mode: [] for mode in FLOOR_MODES}
        base: list = []
        # interleaved, so drift on a noisy machine hits all alike: run i of each contender
        # runs side by side (the sequential script's runs, if fewer, go with the first ones)
        for i in range(max(runs, baseline_runs)):
            if i < runs:
                ours.append(idgraph_sync(emu))
                for mode in FLOOR_MODES:
                    floors[mode].append(floor(emu, mode))
            if i < baseline_runs:
                base.append(baseline(emu))
        limits = {
            name: limited(emu, name, throttled_runs)
            for name in (SCENARIOS if scenarios is None else scenarios)
        }
    ours_wall = statistics.median(w for w, _r, _s in ours)
    base_wall = statistics.median(w for w, _r in base) if base else float("nan")
    requests = ours[0][1]
    for mode, timed in floors.items():
        wall = statistics.median(w for w, _r in timed)
        result.update(
            {
                f"floor_{mode}_s": wall,
                f"floor_{mode}_runs_s": [round(w, 2) for w, _r in timed],
                f"floor_{mode}_requests": timed[0][1],
                f"floor_{mode}_efficiency": (requests * latency / CONCURRENCY) / wall,
                # idgraph ÷ this floor, run by run (each pair ran side by side)
                f"over_floor_{mode}": statistics.median(
                    o[0] / f[0] for o, f in zip(ours, timed, strict=True)
                ),
            }
        )
    result.update(
        over_floor=result["over_floor_async"],
        floor_efficiency=result["floor_async_efficiency"],
        idgraph_wall_s=ours_wall,
        idgraph_runs_s=[round(w, 2) for w, _r, _s in ours],
        idgraph_requests=requests,
        baseline_wall_s=base_wall,
        baseline_runs_s=[round(w, 2) for w, _r in base],
        baseline_requests=base[0][1] if base else 0,
        # side by side: the median of run-by-run ratios when every idgraph run has its own
        speedup=(
            statistics.median(b[0] / o[0] for o, b in zip(ours, base, strict=True))
            if len(base) == len(ours)
            else base_wall / ours_wall  # nan without a run of the script
        ),
        speedup_paired=len(base) == len(ours),
        efficiency=(requests * latency / CONCURRENCY) / ours_wall,
        ideal_wall_s=requests * latency / CONCURRENCY,
        nodes=ours[0][2]["nodes_seen"],
        edges=ours[0][2]["edges_seen"],
    )
    result["cpu_s"] = {label: statistics.median(seconds) for label, seconds in CPU.items()}
    free = ours_wall
    result["scenarios"] = {}
    for name, timed in limits.items():
        if not timed:
            continue
        wall = statistics.median(w for w, _r, _s, _n in timed)
        ideal = SCENARIOS[name][1](requests, free)
        result["scenarios"][name] = {
            "wall_s": wall,
            "runs_s": [round(w, 2) for w, _r, _s, _n in timed],
            "ideal_s": ideal,
            "over_ideal": wall / ideal,
            "requests": statistics.median(r for _w, r, _s, _n in timed),
            "answered_429": statistics.median(n for _w, _r, _s, n in timed),
            "throttled": statistics.median(s["stats"]["throttled"] for _w, _r, s, _n in timed),
            "cuts": statistics.median(s["stats"].get("concurrency_cuts", 0) for *_, s, _n in timed),
            "lowest_concurrency": min(
                s["stats"].get("lowest_concurrency", CONCURRENCY) for *_, s, _n in timed
            ),
        }
    return result


def report(results: list[dict]) -> str:
    lines = [
        "| servers | requests (idgraph / sequential script) | idgraph median s "
        "| sequential script median s | speed-up | efficiency |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        "",
        "| servers | idgraph s | bare httpx AsyncClient s (the floor) | idgraph ÷ floor "
        "| floor efficiency | bare httpx Client in 8 threads s | its efficiency | idgraph ÷ it "
        "| bare httpx on aiohttp's transport s | its efficiency "
        "| idgraph ÷ it |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['servers']:,} | {r['idgraph_wall_s']:.2f} | {r['floor_async_s']:.2f} "
            f"{r['floor_async_runs_s']} | {r['over_floor']:.2f}× | {r['floor_efficiency']:.2f} "
            f"| {r['floor_threads_s']:.2f} {r['floor_threads_runs_s']} "
            f"| {r['floor_threads_efficiency']:.2f} | {r['over_floor_threads']:.2f}× "
            f"| {r['floor_aiohttp_s']:.2f} {r['floor_aiohttp_runs_s']} "
            f"| {r['floor_aiohttp_efficiency']:.2f} | {r['over_floor_aiohttp']:.2f}× |"
        )
    header = lines[:2]
    floors = lines[2:]
    lines = header
    for r in results:
        lines.append(
            f"| {r['servers']:,} | {r['idgraph_requests']:,} / {r['baseline_requests']:,} | "
            f"{r['idgraph_wall_s']:.2f} {r['idgraph_runs_s']} | {r['baseline_wall_s']:.2f} "
            f"{r['baseline_runs_s']} | {r['speedup']:.1f}× | {r['efficiency']:.2f} |"
        )
    floors += [
        "",
        "| servers | CPU s (median): idgraph | floor: AsyncClient | Client in 8 threads "
        "| httpx on aiohttp | sequential script |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        cpu = r["cpu_s"]
        cells = ["idgraph", "floor_async", "floor_threads", "floor_aiohttp", "baseline"]
        shown = " | ".join(f"{cpu[c]:.2f}" if c in cpu else "—" for c in cells)
        floors.append(f"| {r['servers']:,} | {shown} |")
    if not any(r["scenarios"] for r in results):  # --scenarios "": no limit runs
        return "\n".join(lines + floors)
    floors += [
        "",
        "| servers | limit (undisclosed) | idgraph s | ideal s | idgraph ÷ ideal "
        "| requests | 429s (share) | concurrency cuts (lowest) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for name, f in r["scenarios"].items():
            share = f["answered_429"] / f["requests"] if f["requests"] else 0
            floors.append(
                f"| {r['servers']:,} | {name} | {f['wall_s']:.2f} {f['runs_s']} "
                f"| {f['ideal_s']:.2f} | {f['over_ideal']:.2f}× | {f['requests']:.0f} "
                f"| {f['answered_429']:.0f} ({share:.1%}) "
                f"| {f['cuts']:.0f} ({f['lowest_concurrency']}) |"
            )
    return "\n".join(lines + floors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 30 servers, 5 ms, 1 run")
    parser.add_argument("--sizes", default="300,3000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--baseline-runs",
        help="Runs of the slow sequential script, one number or one per size "
        "(e.g. 3,1; default: --runs); as many as --runs makes the speed-up a median of "
        "run-by-run ratios",
    )
    parser.add_argument(
        "--throttled-runs", type=int, help="Runs of each limit scenario (default: --runs)"
    )
    parser.add_argument(
        "--scenarios",
        help="Which limit scenarios, by number (1-4: "
        # argparse formats help with %: a scenario's "5%" would break --help
        + "; ".join(f"{i} {name}" for i, name in enumerate(SCENARIOS, 1)).replace("%", "%%")
        + "), one list for every size or one per size separated by '/' (e.g. 1,2,3,4/4); "
        'default all; "" for none (the no-limit runs alone)',
    )
    parser.add_argument("--latency-ms", type=float, default=25)
    parser.add_argument("--json", dest="json_out", help="Also write the figures here.")
    args = parser.parse_args()
    if args.quick:
        sizes, latency, runs, throttled, base_runs = [30], 0.005, 1, 1, [1]
    else:
        sizes = [int(s) for s in args.sizes.split(",")]
        latency, runs = args.latency_ms / 1000, args.runs
        throttled = args.runs if args.throttled_runs is None else args.throttled_runs
        given = [int(n) for n in (args.baseline_runs or str(args.runs)).split(",")]
        if len(given) not in (1, len(sizes)):
            parser.error("--baseline-runs: one number, or one per size")
        base_runs = given * len(sizes) if len(given) == 1 else given
    names = list(SCENARIOS)
    every = ",".join(map(str, range(1, len(names) + 1)))
    chosen = (every if args.scenarios is None else args.scenarios).split("/")  # "": none
    if len(chosen) == 1:
        chosen *= len(sizes)
    if len(chosen) != len(sizes):
        parser.error("--scenarios: one list, or one per size")
    numbers = [[n.strip() for n in part.split(",") if n.strip()] for part in chosen]
    wrong = sorted({n for part in numbers for n in part if n not in every.split(",")})
    if wrong:
        parser.error(f"--scenarios: no scenario {', '.join(wrong)} (choose from {every})")
    picked = [[names[int(n) - 1] for n in part] for part in numbers]
    compile_as_installed()
    results = [
        measure(size, latency, runs, throttled, base, scenarios)
        for size, base, scenarios in zip(sizes, base_runs, picked, strict=True)
    ]
    print(report(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
