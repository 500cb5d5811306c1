"""report.html in a real browser: headless Chromium (Debian's package) driven by playwright.

For the demo fixture account and a 300-server synthetic account: no console error, no
request leaves the page, no horizontal scrolling at 1,400 px, every attested member and
every server name visible in the matrix, the filter narrows rows, and the page reads with
scripts off. Skipped, with the reason, where playwright or Chromium is missing.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install '.[test]')"
)
from .fixtures import MEMBERS_FILE, attest_fixture, sync_fixture  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "bench_report", Path(__file__).resolve().parents[2] / "bench" / "report.py"
)
bench_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_report)
CHROMIUM_ARGS, build_pack, chromium_path = (
    bench_report.CHROMIUM_ARGS,
    bench_report.build_pack,
    bench_report.chromium_path,
)

if chromium_path() is None:
    pytest.skip(
        "Chromium is not installed (apt-get install chromium; .ci/run does it)",
        allow_module_level=True,
    )

WIDTH = 1400


def _apart(function, *args):
    """Run a sync (asyncio.run inside) in its own thread: playwright's sync API keeps an
    event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    return _apart(_demo_report, tmp_path_factory.mktemp("demo"))


def _demo_report(folder):
    from idgraph.connector.postmark.emulator import PostmarkEmulator, load_fixture
    from idgraph.graph.exporters.report_html import HtmlReportExporter
    from idgraph.graph.review import build_review
    from idgraph.graph.store import Store

    store = Store(folder / "idgraph.db")
    account = load_fixture()
    with PostmarkEmulator(account) as emulator:
        sync_fixture(store, emulator)
    attest_fixture(store)
    report = HtmlReportExporter().export(build_review(store), folder)
    store.close()
    return report, account


@pytest.fixture(scope="module")
def synthetic_report(tmp_path_factory):
    return _apart(build_pack, 300, tmp_path_factory.mktemp("synthetic300"))


class Opened:
    """A page with the report loaded; every request that is not file: or data: is refused
    and recorded, every console error and page error recorded."""

    def __init__(self, browser, report: Path, *, scripts: bool = True) -> None:
        self.context = browser.new_context(
            viewport={"width": WIDTH, "height": 900}, java_script_enabled=scripts
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def guard(route):
            url = route.request.url
            if url.startswith(("file:", "data:")):
                route.continue_()
            else:
                self.requests.append(url)
                route.abort()

        self.page.route("**/*", guard)
        self.page.goto(report.as_uri(), wait_until="load")
        if scripts:  # the parts drawn when opened are ready once the page's data is unpacked
            self.page.wait_for_selector("body[data-drawn]", state="attached")

    def scroll_width(self) -> int:
        return self.page.evaluate("document.scrollingElement.scrollWidth")

    def visible_texts(self, selector: str) -> list[str]:
        """The text of every element matching `selector` that the browser lays out visibly."""
        return self.page.evaluate(
            """sel => Array.from(document.querySelectorAll(sel))
                .filter(el => el.checkVisibility() && el.getBoundingClientRect().width > 0)
                .map(el => el.textContent.trim())""",
            selector,
        )

    def filter(self, text: str) -> None:
        self.page.fill("#filter", text)
        self.page.wait_for_function(
            "q => document.getElementById('filter').getAttribute('data-applied') === q",
            arg=text.strip().lower(),
        )

    def close(self) -> None:
        self.context.close()


def _matrix_rows_shown(opened: Opened) -> int:
    return opened.page.evaluate(
        "Array.from(document.querySelectorAll('#matrix tbody tr')).filter(r => !r.hidden).length"
    )


def _columns_shown(opened: Opened) -> list[str]:
    return opened.visible_texts("#matrix thead th[data-col] .nm")


def _attested_emails(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [row["email"].lower() for row in csv.DictReader(handle)]


def test_demo_report_in_chromium(browser, demo_report):
    report, account = demo_report
    opened = Opened(browser, report)
    try:
        assert opened.errors == []
        assert opened.requests == []
        assert opened.scroll_width() <= WIDTH
        people = opened.visible_texts("#matrix tbody th[data-l] .nm")
        assert sorted(people) == sorted(_attested_emails(MEMBERS_FILE))
        servers = sorted(s["Name"] for s in account["Servers"])
        assert sorted(_columns_shown(opened)) == servers
        # the two account-wide admins: implied access to every server, marked as implied (the
        # cell holds the value; the stylesheet adds the word "implied" under it)
        implied = opened.visible_texts("#matrix td.i")
        assert len(implied) == 2 * len(servers)
        assert all(text == "full" for text in implied)
        label = "getComputedStyle(document.querySelector('#matrix td.i'), '::after').content"
        assert opened.page.evaluate(label) == '"implied"'
        roles = opened.visible_texts("#matrix td.role")
        assert any("Account Owner" in r for r in roles) and any("User" in r for r in roles)
        # the picture is legible: a legend and edge labels
        assert opened.visible_texts(".legend span")
        assert opened.visible_texts("svg.pic text.el")
    finally:
        opened.close()


def test_demo_filter_narrows_the_matrix_and_tables(browser, demo_report):
    report, _account = demo_report
    opened = Opened(browser, report)
    try:
        everyone = _matrix_rows_shown(opened)
        assert everyone == 5
        opened.filter("sam.dev")
        assert opened.visible_texts("#matrix tbody th[data-l] .nm") == ["sam.dev@acme-corp.example"]
        # a resource name narrows the columns, every person stays
        opened.filter("legacy importer")
        assert _columns_shown(opened) == ["Legacy Importer"]
        assert _matrix_rows_shown(opened) == everyone
        resources = opened.visible_texts("#resources details.res > summary .nm")
        assert resources == ["Legacy Importer"]
        opened.filter("")
        assert _matrix_rows_shown(opened) == everyone and len(_columns_shown(opened)) == 5
        assert opened.errors == [] and opened.requests == []
    finally:
        opened.close()


def test_demo_report_reads_with_scripts_off(browser, demo_report):
    report, _account = demo_report
    opened = Opened(browser, report, scripts=False)
    try:
        assert not opened.page.is_visible("#filter")  # no box that would do nothing
        assert _matrix_rows_shown(opened) == 5
        assert len(opened.visible_texts("#findings details.group > summary")) >= 5
        assert opened.scroll_width() <= WIDTH
        assert opened.requests == []
    finally:
        opened.close()


def test_300_server_report_in_chromium(browser, synthetic_report):
    pack = synthetic_report
    opened = Opened(browser, pack["report"])
    try:
        assert opened.errors == []
        assert opened.requests == []
        assert opened.scroll_width() <= WIDTH
        servers = sorted(s["Name"] for s in pack["account"]["Servers"])
        # many servers: one matrix row per server, one column per team member
        assert sorted(opened.visible_texts("#matrix tbody th[data-l] .nm")) == servers
        assert sorted(_columns_shown(opened)) == sorted(_attested_emails(pack["members"]))
        # above the picture's limit the graph picture gives way to the matrix
        assert opened.page.locator("svg.pic").count() == 0
        assert "more than a picture can show legibly" in opened.page.inner_text("#graph")
        opened.filter("server 00042")
        assert opened.visible_texts("#matrix tbody th[data-l] .nm") == ["Server 00042"]
        opened.filter("member03@")
        assert _columns_shown(opened) == ["member03@synthetic.example"]
        assert _matrix_rows_shown(opened) == len(servers)
        assert opened.errors == [] and opened.requests == []
    finally:
        opened.close()


# -- printed (graph/exporters/templates/print.css) ---------------------------------------------

MAX_PRINTED_PAGES = 20
PRINTED_HEIGHT = 718  # A4 landscape less the 10 mm margins, in CSS pixels (190 mm)
PRINTED_WIDTH = 1047  # 277 mm


def test_the_300_server_report_prints_in_20_pages_summary_first(browser, synthetic_report):
    """The evidence summary first and whole on page one; then changes, findings, decisions;
    the matrix only with rows that hold explicit access; at most 20 A4 landscape pages."""
    page = browser.new_page(viewport={"width": PRINTED_WIDTH, "height": PRINTED_HEIGHT})
    try:
        page.goto(synthetic_report["report"].as_uri(), wait_until="load")
        pdf = page.pdf(prefer_css_page_size=True)
        page.emulate_media(media="print")
        first, bottom = page.evaluate(
            """() => {
              const shown = Array.from(document.body.children)
                .filter(e => e.getBoundingClientRect().height > 0);
              shown.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
              return [shown[0].id, shown[0].getBoundingClientRect().bottom];
            }"""
        )
        order = page.evaluate(
            """['changes', 'findings', 'decisions', 'access'].map(
                 id => document.getElementById(id).getBoundingClientRect().top)"""
        )
        explicit_only = page.evaluate(
            """Array.from(document.querySelectorAll('#matrix tbody tr'))
                 .filter(r => getComputedStyle(r).display !== 'none')
                 .every(r => r.querySelector('td.role, td.c:not(.none):not(.implied)'))"""
        )
    finally:
        page.close()
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert 1 <= pages <= MAX_PRINTED_PAGES
    assert first == "evidence" and bottom <= PRINTED_HEIGHT
    assert order == sorted(order)
    assert explicit_only


def _server_tokens(account: dict, name: str) -> list[str]:
    from idgraph.graph.secrets import fingerprint, token_suffix

    [server] = [s for s in account["Servers"] if s["Name"] == name]
    return sorted(f"{fingerprint(t)} (…{token_suffix(t)})" for t in server["ApiTokens"])


def _members_with_access(members: Path, server: str) -> list[str]:
    with members.open(encoding="utf-8") as handle:
        return sorted(
            row["email"]
            for row in csv.DictReader(handle)
            if row["role"] != "User" or row[f"server:{server}"] in ("view", "full")
        )


def test_opening_a_server_block_draws_its_members_and_credentials(browser, synthetic_report):
    """Above 50 servers the per-server section and its blocks start closed and are drawn
    from the page's data when opened: the members with access and the server's tokens."""
    pack = synthetic_report
    opened = Opened(browser, pack["report"])
    try:
        page = opened.page
        assert page.locator("#resources details.res").count() == 0  # nothing drawn yet
        page.click("#resources > summary")
        assert page.locator("#resources details.res").count() == len(pack["account"]["Servers"])
        block = page.locator("#resources details.res", has_text="Server 00042")
        assert block.locator(".three").count() == 0  # its body is drawn when it is opened
        block.locator("summary").click()
        members, credentials = block.locator(".three > div").all()[:2]
        shown = sorted(t.strip() for t in members.locator("li > bdi:not(.id)").all_inner_texts())
        assert shown == _members_with_access(pack["members"], "Server 00042")
        tokens = sorted(t.strip() for t in credentials.locator("li > bdi").all_inner_texts())
        assert tokens == _server_tokens(pack["account"], "Server 00042")
        assert opened.errors == [] and opened.requests == []
    finally:
        opened.close()


def test_drawn_names_are_text_in_their_own_bdi(browser, tmp_path_factory):
    """A server named like markup, with a right-to-left override, drawn by the page's script:
    text in a <bdi>, never an element."""
    evil = "<img src=x onerror=alert(1)>\u202eevil"

    def make(folder):
        from idgraph.connector.postmark.emulator import PostmarkEmulator, load_fixture
        from idgraph.graph.exporters.report_html import HtmlReportExporter
        from idgraph.graph.review import build_review
        from idgraph.graph.store import Store

        account = load_fixture()
        account["Servers"][0]["Name"] = evil
        store = Store(folder / "idgraph.db")
        with PostmarkEmulator(account) as emulator:
            sync_fixture(store, emulator)
        report = HtmlReportExporter().export(build_review(store), folder)
        store.close()
        return report

    report = _apart(make, tmp_path_factory.mktemp("evil"))
    opened = Opened(browser, report)
    try:
        page = opened.page
        assert page.locator("img").count() == 0
        names = page.evaluate(
            """() => Array.from(document.querySelectorAll('#resources details.res summary .nm'))
                .map(b => [b.tagName, b.textContent])"""
        )
        assert ["BDI", evil] in names
        assert opened.errors == [] and opened.requests == []
    finally:
        opened.close()


def test_printing_draws_and_opens_every_part(browser, synthetic_report):
    """Before printing, the parts drawn when opened are drawn, and every section is open:
    the printed page holds every server block, check item and credential."""
    pack = synthetic_report
    opened = Opened(browser, pack["report"])
    try:
        page = opened.page
        page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
        servers = len(pack["account"]["Servers"])
        assert page.locator("#resources details.res[open] .three").count() == servers
        closed = page.evaluate("document.querySelectorAll('details:not([open])').length")
        assert closed == 0
        assert page.locator("#cred-table tbody tr").count() > servers
        assert page.locator("#findings details.group tbody tr").count() == pack["findings"]
        assert opened.errors == []
    finally:
        opened.close()
