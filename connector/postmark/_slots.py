"""At most N requests in flight, with a way to the front of the queue for the requests the
rest of a sync waits on."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["RequestSlots"]


class RequestSlots:
    """A semaphore with two queues: an `urgent` waiter is let in before every other one.

    A sync lists the servers, then asks for each server's streams and webhooks: hundreds of
    requests that queue at once. A listing's later pages (and its confirming second
    reading) queued behind them would be sent last and leave one request in flight at the
    end; everything after a listing waits for its last page, so those go first.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one slot")
        self.size = size
        self._used = 0
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    def resize(self, size: int) -> None:
        """Let at most `size` in from now on: a larger size lets waiters in at once; a
        smaller one lets none in until enough of those in flight are done."""
        if size < 1:
            raise ValueError("at least one slot")
        self.size = size
        self._hand_out()

    @asynccontextmanager
    async def slot(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if self._used < self.size and not self._urgent and not self._normal:
            self._used += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot was handed over as the wait was cancelled: pass it on
            elif waiter in queue:  # else a hand-out passed it over already, as done
                queue.remove(waiter)
            raise

    def _release(self) -> None:
        self._used -= 1
        self._hand_out()

    def _hand_out(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue and self._used < self.size:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the slot goes straight to the waiter
                    self._used += 1
