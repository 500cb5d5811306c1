"""Pausing Python's cyclic garbage collector while a large structure is built (a run's rows
as they are stored, a graph, the review's rows): they make no cycles for it to find."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused(*, freeze: bool = False) -> Iterator[None]:
    """No cyclic garbage collection inside: building hundreds of thousands of small dicts and
    lists (a graph, the review's rows) makes no cycles to find, only time to lose.

    `freeze`: what was made is frozen on the way out (`gc.freeze`, as the CLI freezes what
    it imported): otherwise the first allocation after walks every object made inside (a
    quarter of a second after a 100,000-node review) and each later full collection again.
    Frozen objects are still freed when no longer referenced, but a cycle through one is
    never collected: only for what makes none (the review; not a networkx graph, whose
    cached views point back at it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if freeze:
                gc.freeze()
            gc.enable()
