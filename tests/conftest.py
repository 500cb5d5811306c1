"""Connector-neutral test helpers: a fake clock, asyncio helpers, a store, the LibreOffice
profile, and the order the long modules run in. The Postmark fixtures live in
tests/postmark/fixtures.py; tests/host/ never imports a connector (tests/host/test_boundary.py)."""

import asyncio
import heapq
import itertools
from pathlib import Path

import pytest
from idgraph.graph.cli import build_cli

build_cli()  # the tests invoke `idgraph.graph.cli.cli` with every plugin's commands added

# The modules that drive real programs (LibreOffice, Chromium, the CLI as a process, the
# benchmarks) or hold one long test run first, longest first (per-file times of a full run
# with --durations=0). xdist's work-stealing hands out tests in collection order, so a long
# module left for the end runs alone while the other worker idles: 9.5 s of a 69 s run.
TESTS = Path(__file__).resolve().parent
RUN_FIRST = (  # paths under tests/ (tests/host/test_boundary.py checks that each exists)
    "postmark/test_sync_bench.py",
    "postmark/test_report_browser.py",
    "postmark/test_two_connectors.py",
    "postmark/test_one_answer.py",
    "postmark/test_spreadsheet_roundtrip.py",
    "host/test_scale_bench.py",
    "postmark/test_cli.py",
    "host/test_example_connector.py",
    "reliability/test_crash_safety.py",
    "postmark/test_report_html.py",
    "postmark/test_member_spreadsheets.py",
    "reliability/test_fuzz.py",
    "reliability/test_sync_faults.py",
)


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(RUN_FIRST)}
    # a stable sort: each module's tests stay together and in order
    items.sort(key=lambda item: rank.get(run_first_key(item.path), len(RUN_FIRST)))


def run_first_key(path: Path) -> str:
    """The test file's path under tests/, as RUN_FIRST names it."""
    path = path.resolve()
    return path.relative_to(TESTS).as_posix() if path.is_relative_to(TESTS) else path.name


@pytest.fixture(scope="session")
def lo_profile(tmp_path_factory):
    """One LibreOffice profile for this worker's conversions: soffice starts twice on a new
    profile (it restarts itself once the profile is written); workers never share one."""
    return tmp_path_factory.mktemp("libreoffice-profile")


def run(coro):
    return asyncio.run(coro)


class FakeClock:
    """Virtual time for the client's back-off (the `Clock` protocol), never the real clock.

    Every wait is recorded in `sleeps`. With `auto=True` a sleep moves time forward at
    once; otherwise it waits until `advance()` moves time past its end, so a test can look
    at who is waiting (`waiting`) before letting them go.
    """

    def __init__(self, *, auto: bool = True) -> None:
        self.now = 0.0
        self.auto = auto
        self.sleeps: list[float] = []
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.auto:
            self.now += seconds
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), wake))
        await wake

    @property
    def waiting(self) -> list[float]:
        """The times at which the current sleepers wake, earliest first."""
        return sorted(at for at, _n, wake in self._sleepers if not wake.done())

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _at, _n, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)


async def until(condition, what: str, steps: int = 10_000) -> None:
    """Let the event loop run until `condition()` holds (a bounded number of turns)."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def store(tmp_path):
    from idgraph.graph.store import Store

    s = Store(tmp_path / "idgraph.db")
    yield s
    s.close()
