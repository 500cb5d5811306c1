"""Awaitables run at once, all or none: the first to fail cancels the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

__all__ = ["together"]


async def together(*awaitables: Awaitable[Any]) -> list[Any]:
    """Their results, in order. The first to fail cancels the others, waits for them to
    end and is raised as itself: `asyncio.gather` leaves the others running, and a failed
    sync's queued requests then met a closed client and filled stderr at shutdown."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(a)) for a in awaitables]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
