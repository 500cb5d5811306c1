"""`together`: awaitables at once; the first failure cancels the rest, waits for them to
end and is raised as itself (a failed sync leaves no request running)."""

from __future__ import annotations

import asyncio

import pytest
from idgraph.connector.postmark._errors import RateLimited
from idgraph.connector.postmark._tasks import together

from ..conftest import run


def test_results_come_in_order():
    async def value(v: int, turns: int) -> int:
        for _ in range(turns):
            await asyncio.sleep(0)
        return v

    assert run(together(value(1, 3), value(2, 0), value(3, 1))) == [1, 2, 3]


def test_the_first_failure_cancels_the_others_and_is_raised_as_itself():
    ended: list[str] = []

    async def go() -> None:
        never = asyncio.Event()

        async def waits() -> None:
            try:
                await never.wait()
            finally:
                ended.append("waiter")

        async def fails() -> None:
            await asyncio.sleep(0)
            raise RateLimited("GET /senders: Postmark is rate limiting (HTTP 429)", status=429)

        with pytest.raises(RateLimited, match="HTTP 429"):
            await together(waits(), waits(), fails())
        assert ended == ["waiter", "waiter"]  # ended before the failure was raised
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    run(go())
