"""report.html at scale: its size and how long Chromium takes to load it.

    python bench/report.py                    # 300 and 3,000 servers
    python bench/report.py --servers 300      # one size
    python bench/report.py --quick            # 30 servers: the CI smoke test
    python bench/report.py --servers 3000 --baseline old/report.html
                                              # beside a page an earlier version wrote

A synthetic account (connector/postmark/emulator/synthetic.py, as bench/sync.py serves it) is synced
from the emulator through the real client, 12 team members are attested (2 account-wide
admins, 10 users with view or full access to about one server in ten), and the pack's
report.html is written. The page is then loaded in headless Chromium (Debian's chromium,
driven by playwright) at 1,400 x 900 px: the load time is the navigation entry's
loadEventEnd (performance timing), the median of --repeats loads. With --baseline, a
report.html an earlier version wrote for the same account is loaded in the same browser,
alternating with the new one, so that a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROLES = ["Account Owner", "Account Admin"]


def chromium_path() -> str | None:
    """The system Chromium, if installed (playwright's own browser download is never used)."""
    return shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)


def synthetic_members(account: dict[str, Any], members: int = 12, seed: int = 0) -> str:
    """A member file for a synthetic account: 2 admins, the rest users with some access."""
    rng = random.Random(seed)
    names = [server["Name"] for server in account["Servers"]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "role", "two_factor", *(f"server:{n}" for n in names)])
    for i in range(members):
        role = ROLES[i] if i < len(ROLES) else "User"
        cells = [
            "" if role != "User" else rng.choices(["none", "view", "full"], weights=[90, 7, 3])[0]
            for _ in names
        ]
        two_factor = rng.choice(["yes", "yes", "yes", "no"])
        email = f"member{i:02d}@synthetic.example"
        writer.writerow([email, f"Member {i:02d}", role, two_factor, *cells])
    return out.getvalue()


def build_pack(servers: int, folder: Path, *, members: int = 12) -> dict[str, Any]:
    """Sync a synthetic account of `servers` servers, attest members, write report.html."""
    from idgraph.connector.postmark.emulator import PostmarkEmulator
    from idgraph.connector.postmark.emulator.synthetic import synthetic_account
    from idgraph.connector.postmark.members import MEMBER_FORMAT
    from idgraph.graph.attestation import import_members
    from idgraph.graph.exporters.report_html import HtmlReportExporter
    from idgraph.graph.plugins import get_connectors
    from idgraph.graph.review import build_review
    from idgraph.graph.store import Store
    from idgraph.graph.sync import sync

    account = synthetic_account(servers, label="synthetic")
    store = Store(folder / "idgraph.db")
    try:
        with PostmarkEmulator(account) as emulator:
            result = sync(
                store,
                get_connectors()["postmark"],
                secret=emulator.account_tokens[0],
                options={"api_url": emulator.url},
                account_label="synthetic",
            )
        assert result.status == "complete", result
        member_file = folder / "members.csv"
        member_file.write_text(synthetic_members(account, members), encoding="utf-8")
        import_members(
            store,
            MEMBER_FORMAT,
            member_file,
            label="synthetic",
            attested_by="auditor@synthetic.example",
            evidence=None,
            valid_days=90,
        )
        started = time.perf_counter()
        context = build_review(store)
        report = HtmlReportExporter().export(context, folder)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    return {
        "servers": servers,
        "report": report,
        "bytes": report.stat().st_size,
        "nodes": len(context.graph),
        "findings": len(context.findings),
        "rows": len(context.rows),
        "export_seconds": seconds,
        "account": account,
        "members": member_file,
    }


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def load_timing(report: Path, repeats: int = 3, baseline: Path | None = None) -> dict[str, Any]:
    """Median navigation timing of report.html in headless Chromium at 1,400 px (and of the
    baseline's, loaded in turn with it, as `baseline_*`)."""
    from playwright.sync_api import sync_playwright

    pages = {"": report} | ({"baseline_": baseline} if baseline else {})
    timings: dict[str, list[list[float]]] = {prefix: [] for prefix in pages}
    widths: dict[str, int] = {}
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for _ in range(repeats):
                for prefix, path in pages.items():
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    page.goto(path.as_uri(), wait_until="load")
                    timings[prefix].append(
                        page.evaluate(
                            "(() => { const n = performance.getEntriesByType('navigation')[0];"
                            " return [n.domContentLoadedEventEnd, n.loadEventEnd]; })()"
                        )
                    )
                    widths[prefix] = page.evaluate("document.scrollingElement.scrollWidth")
                    page.close()
        finally:
            browser.close()
    figures: dict[str, Any] = {}
    for prefix, found in timings.items():
        figures[prefix + "dom_ready_ms"] = round(statistics.median(t[0] for t in found))
        figures[prefix + "load_ms"] = round(statistics.median(t[1] for t in found))
        figures[prefix + "scroll_width"] = widths[prefix]
    if baseline:
        figures["baseline_bytes"] = baseline.stat().st_size
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, nargs="*", default=[300, 3000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="30 servers, one load")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a report.html an earlier version wrote for one --servers size: measured beside",
    )
    args = parser.parse_args()
    sizes, repeats = ([30], 1) if args.quick else (args.servers, args.repeats)
    rows = []
    for servers in sizes:
        with tempfile.TemporaryDirectory() as folder:
            pack = build_pack(servers, Path(folder))
            figures = {k: v for k, v in pack.items() if k not in ("account", "report", "members")}
            if chromium_path():
                figures |= load_timing(pack["report"], repeats, args.baseline)
            rows.append(figures)
    print("| servers | nodes | findings | report.html | export | Chromium DOM ready | load |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['servers']:,} | {r['nodes']:,} | {r['findings']:,} | "
            f"{r['bytes'] / 1e6:.2f} MB | {r['export_seconds']:.1f} s | "
            f"{r.get('dom_ready_ms', '-')} ms | {r.get('load_ms', '-')} ms |"
        )
        if "baseline_bytes" in r:
            print(
                f"| {r['servers']:,}, baseline | | | {r['baseline_bytes'] / 1e6:.2f} MB | | "
                f"{r['baseline_dom_ready_ms']} ms | {r['baseline_load_ms']} ms |"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    sys.exit(main())
