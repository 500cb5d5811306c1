"""RequestSlots: at most N in flight; an urgent waiter (a listing's page) goes first; a
cancelled wait neither keeps nor loses a slot."""

from __future__ import annotations

import asyncio

import pytest
from idgraph.connector.postmark._slots import RequestSlots

from ..conftest import run


async def _hold(slots: RequestSlots, name: str, order: list[str], gate: asyncio.Event, **kw):
    async with slots.slot(**kw):
        order.append(name)
        await gate.wait()


def test_an_urgent_waiter_goes_before_every_earlier_one():
    async def go() -> list[str]:
        slots, order, gate = RequestSlots(2), [], asyncio.Event()
        tasks = [asyncio.create_task(_hold(slots, f"n{i}", order, gate)) for i in range(5)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(_hold(slots, "page 2", order, gate, urgent=True)))
        await asyncio.sleep(0)
        assert order == ["n0", "n1"]  # two slots, both taken
        gate.set()
        await asyncio.gather(*tasks)
        return order

    assert run(go()) == ["n0", "n1", "page 2", "n2", "n3", "n4"]


def test_never_more_in_flight_than_slots():
    async def go() -> int:
        slots, in_flight, most = RequestSlots(3), 0, 0

        async def one(urgent: bool) -> None:
            nonlocal in_flight, most
            async with slots.slot(urgent=urgent):
                in_flight += 1
                most = max(most, in_flight)
                await asyncio.sleep(0)
                in_flight -= 1

        await asyncio.gather(*(one(i % 3 == 0) for i in range(40)))
        return most

    assert run(go()) == 3


def test_a_cancelled_wait_does_not_keep_a_slot():
    async def go() -> list[str]:
        slots, order, gate = RequestSlots(1), [], asyncio.Event()
        first = asyncio.create_task(_hold(slots, "first", order, gate))
        await asyncio.sleep(0)
        cancelled = asyncio.create_task(_hold(slots, "cancelled", order, gate, urgent=True))
        last = asyncio.create_task(_hold(slots, "last", order, gate))
        await asyncio.sleep(0)
        cancelled.cancel()
        gate.set()
        async with asyncio.timeout(10):  # a give-up: a kept slot would wait forever
            await asyncio.gather(first, last)
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        return order

    assert run(go()) == ["first", "last"]


@pytest.mark.parametrize(
    "cancelled_before_release",
    [False, True],
    ids=["handed the slot, then cancelled", "cancelled, then passed over"],
)
def test_a_waiter_cancelled_around_a_release_neither_keeps_nor_loses_the_slot(
    cancelled_before_release,
):
    """Cancelled after the release handed it the slot: the slot is passed on. Cancelled
    before the release, which then passes it over (a failed run cancelling hundreds of
    queued requests at once): its task ends cancelled, not with a ValueError from removing
    what the release took out already."""

    async def go() -> list[str]:
        slots, order, gate = RequestSlots(1), [], asyncio.Event()
        gate.set()
        async with slots.slot():
            waiting = asyncio.create_task(_hold(slots, "cancelled", order, gate))
            last = asyncio.create_task(_hold(slots, "last", order, gate))
            await asyncio.sleep(0)
            if cancelled_before_release:
                waiting.cancel()  # its waiter is cancelled now; its task runs later
        if not cancelled_before_release:
            waiting.cancel()  # the slot was handed to `waiting`; cancelled before it runs
        async with asyncio.timeout(10):  # a give-up: a lost slot would wait forever
            await last
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert slots._used == 0
        return order

    assert run(go()) == ["last"]
