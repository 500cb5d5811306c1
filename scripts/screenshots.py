"""Regenerate the README's pictures of report.html from the demo's fixture account.

    python scripts/screenshots.py   # docs/img/report-{overview,matrix,changes,remediation,...}.png
    python scripts/screenshots.py remediation   # only these (no 300-server account)

The demo's quarter, scripted: the fixture account is synced from the emulator, the sample
members attested, the review exported and decided (the agency's access revoked, the tokens
kept) and imported; then the account changes (a server renamed, a token rotated, a sender
removed) and is synced again. The report of that run (changes since the reviewed run, the
decisions still open) is opened in headless Chromium at 1,400 px and photographed.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
SHOTS = {
    "overview": None,
    "matrix": "#access",
    "changes": "#changes",
    "remediation": "#remediation",
}


def _bench_report():
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo_quarter(folder: Path) -> Path:
    """The demo account, reviewed once and changed since; returns its report.html."""
    from idgraph.connector.postmark.emulator import PostmarkEmulator, load_fixture
    from idgraph.connector.postmark.members import MEMBER_FORMAT
    from idgraph.graph.attestation import import_members
    from idgraph.graph.decisions import import_decisions
    from idgraph.graph.exporters.report_html import HtmlReportExporter
    from idgraph.graph.plugins import get_connectors
    from idgraph.graph.review import REVIEW_COLUMNS, build_review
    from idgraph.graph.store import Store
    from idgraph.graph.sync import sync

    members = ROOT / "connector/postmark/emulator/fixtures/members.csv"
    store = Store(folder / "idgraph.db")
    with PostmarkEmulator(load_fixture()) as emulator:

        def sync_once() -> None:
            result = sync(
                store,
                get_connectors()["postmark"],
                secret=emulator.account_tokens[0],
                options={"api_url": emulator.url},
                account_label="acme",
            )
            assert result.status == "complete", result

        sync_once()
        import_members(
            store,
            MEMBER_FORMAT,
            members,
            label="acme",
            attested_by="it-admin@acme-corp.example",
            evidence=str(members),
            valid_days=90,
        )
        review = build_review(store)
        filled = folder / "review.csv"
        with filled.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(REVIEW_COLUMNS)
            for row in review.review_rows:
                cells = row.cells()
                if row.principal.endswith("lee@agency-partner.example"):
                    cells |= {"decision": "revoke", "justification": "agency contract ended"}
                elif row.principal_type == "credential" and row.resource.endswith(":11002"):
                    cells |= {"decision": "revoke", "justification": "leaked in a CI log"}
                elif row.principal_type == "credential" or row.grant == "role":
                    cells |= {"decision": "keep"}
                writer.writerow([cells[c] for c in REVIEW_COLUMNS])
        import_decisions(store, filled, reviewer="lead@acme-corp.example", out_dir=folder)
        emulator.server(11001)["Name"] = "Acme Prod"
        emulator.server(11002)["ApiTokens"] = ["00000000-fa6e-4000-8000-00000000b0b0"]
        emulator.account["SenderSignatures"] = [
            s for s in emulator.account["SenderSignatures"] if s["ID"] != 9002
        ]
        sync_once()
    report = HtmlReportExporter().export(build_review(store), folder)
    store.close()
    return report


def main() -> None:
    from playwright.sync_api import sync_playwright

    bench = _bench_report()
    if bench.chromium_path() is None:
        sys.exit("needs Chromium: apt-get install chromium")
    only = sys.argv[1:]
    unknown = [name for name in only if name not in SHOTS]
    if unknown:
        sys.exit(f"unknown picture(s) {', '.join(unknown)}; known: {', '.join(SHOTS)}")
    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        report = demo_quarter(Path(folder))
        with sync_playwright() as playwright:
            browser = bench.launch(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.goto(report.as_uri(), wait_until="load")
            for name, selector in SHOTS.items():
                if only and name not in only:
                    continue
                path = IMG / f"report-{name}.png"
                if selector is None:
                    page.screenshot(path=str(path))
                else:
                    page.locator(selector).screenshot(path=str(path))
                print(path.relative_to(ROOT))
            if only:
                browser.close()
                return
            _mkdir(Path(folder) / "large")
            large = bench.build_pack(300, Path(folder) / "large")["report"]
            page.goto(Path(large).as_uri(), wait_until="load")  # a 300-server account
            path = IMG / "report-300-servers.png"
            page.screenshot(path=str(path))
            print(path.relative_to(ROOT))
            browser.close()


def _mkdir(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return True


if __name__ == "__main__":
    main()
