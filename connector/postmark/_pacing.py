"""How fast the client sends: a pause per credential, and a concurrency and a pace that
adapt to a limit nobody publishes (docs/postmark.md, "Rate limits").

Postmark publishes no numeric limits and sends no rate-limit headers; its notes say the
limits apply per server token and an excess gets a bare 429. So:

- `TokenPauses`: a 429 pauses the requests that carry the same token (Retry-After when the
  answer gives one, else full-jitter exponential back-off by the request's own 429s in a
  row, and at least as long again as the gap since the token's last request that went
  through); the requests of every other token go on. While a token is paused its requests
  take turns: one at a time, each after the last one's answer, the oldest first (a refused
  one included), spaced by the gap after which its last retry went through; so the
  requests that waited out a pause do not all go at its end and meet the limit again.
  When a large share of the latest answers to requests that followed their token's last
  one closely are 429s (a limit per token, met by every token), each token's requests are
  spaced from then on: by the longest first back-off until a retry went through, then by
  the least gap seen from a token's last answered request to a retry that went through.
- `AdaptiveLimit`: additive increase, multiplicative decrease of the number of requests in
  flight, between 1 and --concurrency, and a pace. It looks only at "fresh" requests,
  those whose token sent nothing in the `FRESH_AFTER` seconds before: a limit per token
  cannot refuse those (at a rate of at least one a second), so their 429s come from an
  overall limit. When a large share of the latest fresh answers are 429s the limit is cut
  to `DECREASE` of itself, at most once per round of requests sent after the last cut;
  after `INCREASE_AFTER` seconds without a cut it grows by one (`PROBE_AFTER` to get back
  to the level of the last cut). At a cut it measures how many answers went through a
  second while the 429s came: from then on requests are paced just under that rate (the
  concurrency back at --concurrency: the pace binds), the pace cut a little at a fresh
  429 (never below `PACE_FLOOR` of the rate found: one-off 429s come at any pace) and
  grown without one, so the limit found costs few 429s to probe again.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

__all__ = ["FRESH_AFTER", "SPACED_SHARE", "AdaptiveLimit", "TokenPauses"]

FRESH_AFTER = 1.0  # seconds a token is quiet before its next request is "fresh"
# the latest answers looked at, and how many 429s among them make a limit: 6 in 20 is
# 1 chance in 3,000 with 5% of answers 429s at random, and soon reached at a third
WINDOW = 20
THROTTLED_SHARE = 6
# how many 429s among the latest WINDOW answers to requests that followed their token's
# last one closely make a limit per token: every token meets one, so most of them are
# refused; one-off 429s (every 20th answer, half of them follow-ups) reached 6 in 20 once
# in a sync and spaced every token's requests from then on by a random retry's wait
SPACED_SHARE = 10


class _Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class TokenPauses:
    """Per-credential back-off: a 429 pauses only the requests carrying the same token."""

    def __init__(
        self,
        delay: Callable[[int, random.Random], float],
        max_delay: float,
        rng: random.Random,
        clock: _Clock,
        *,
        first_backoff: float = 0.0,
    ) -> None:
        self._delay = delay  # the retry policy's back-off for the n-th 429 in a row
        # the spacing while a limit per token shows and no gap taught one yet: the longest
        # first back-off, what a refused request would have waited anyway
        self._first_backoff = first_backoff
        self._max_delay = max_delay
        self._rng = rng
        self._clock = clock
        self._until: dict[str, float] = {}
        self._streak: dict[str, int] = {}
        self._last_sent: dict[str, float] = {}
        self._claimed: dict[str, float] = {}  # when a request of it took a place in the pace
        self._last_answered: dict[str, float] = {}  # when its last answered request went
        self._followups: deque[bool] = deque(maxlen=WINDOW)  # 429 or not, closely following
        self.spacing = 0.0  # between two requests of one token, once a limit per token shows
        self._turns: dict[str, _Turn] = {}  # the paused tokens' turns
        self._passed_gap: dict[str, float] = {}  # a paused token's gap that went through

    @asynccontextmanager
    async def turn(self, token: str, order: int) -> AsyncIterator[None]:
        """Hold `token`'s turn while it is paused (a 429 its successes have not made up
        for) or others wait for their turn: its requests then go one at a time, each after
        the last one's answer, the oldest request (lowest `order`) first, a refused one
        included. Hold it from before the pause is waited out until the answer is read."""
        if not self._streak.get(token) and token not in self._turns:
            yield
            return
        turn = self._turns.setdefault(token, _Turn())
        turn.queued += 1
        try:
            await turn.acquire(order)
            try:
                yield
            finally:
                turn.release()
        finally:
            turn.queued -= 1
            if not turn.queued and not self._streak.get(token):
                # nobody waits and the token passes again: the episode is over
                del self._turns[token]
                self._passed_gap.pop(token, None)

    def sending(self, token: str) -> tuple[bool, float]:
        """Note that a request with `token` goes now: (whether it is fresh, the token sent
        nothing in the `FRESH_AFTER` seconds before; the time it went)."""
        now = self._clock.monotonic()
        last = self._last_sent.get(token)
        self._last_sent[token] = now
        return last is None or now - last >= FRESH_AFTER, now

    def claim(self, token: str) -> None:
        """A request of `token` goes as soon as the pace lets it: the token's others are
        spaced from now, so none takes a place in the pace only to find the token spaced."""
        self._claimed[token] = self._clock.monotonic()

    def _resume_at(self, token: str) -> float:
        paused = self._until.get(token, 0.0)
        # spaced by the learnt spacing, else (while the token's requests take turns) by the
        # gap after which its last retry went through
        spacing = self.spacing or self._passed_gap.get(token, 0.0)
        if not spacing and sum(self._followups) >= SPACED_SHARE:
            spacing = self._first_backoff  # a limit per token shows; no gap learnt yet
        last = max(self._last_sent.get(token, -1.0), self._claimed.get(token, -1.0))
        if spacing and last >= 0:
            return max(paused, last + spacing)
        return paused

    def remaining(self, token: str) -> float:
        return self._resume_at(token) - self._clock.monotonic()

    async def wait(self, token: str) -> float:
        """Sleep until `token`'s pause is over; return the seconds slept."""
        slept = 0.0
        while (remaining := self.remaining(token)) > 0:
            await self._clock.sleep(remaining)
            slept += remaining
        return slept

    def throttled(self, token: str, retry_after: float | None, fresh: bool, failures: int) -> float:
        """Record a 429 on `token`, this request's `failures`-th in a row, and push the
        token's pause out; return this request's delay."""
        if not fresh:
            self._followups.append(True)
        self._streak[token] = self._streak.get(token, 0) + 1
        now = self._clock.monotonic()
        if retry_after is not None:
            delay = min(retry_after, self._max_delay)
        else:
            # by this request's 429s in a row, not the token's: its requests take turns, so
            # the ones refused together at first do not lengthen each other's back-off
            delay = self._delay(failures, self._rng)
            if not fresh and token in self._last_answered:
                # at least as long again as the gap since the token's last request that went
                # through: each retry in a row at least twice as far from it as the one
                # refused, so a limit per token is passed within a few, whatever the jitter
                delay = max(delay, now - self._last_answered[token])
        self._until[token] = max(self._until.get(token, 0.0), now + delay)
        return delay

    def succeeded(self, token: str, sent_at: float, fresh: bool) -> None:
        streak = self._streak.get(token, 0)
        previous = self._last_answered.get(token)
        self._last_answered[token] = sent_at
        if not fresh:
            self._followups.append(False)
        if streak and previous is not None and token in self._turns:
            self._passed_gap[token] = min(
                self._passed_gap.get(token, sent_at - previous), sent_at - previous
            )
        if streak and previous is not None and sum(self._followups) >= SPACED_SHARE:
            # a retry went through after a 429 that followed an answered request closely:
            # at most this long between two requests of a token passes its limit. Spaced at
            # once by the first such gap (the 429s stop), then by the least of those seen:
            # the retries still on their way when the limit showed bring shorter ones
            gap = sent_at - previous
            self.spacing = min(self.spacing, gap) if self.spacing else gap
        if streak > 1:
            self._streak[token] = streak - 1
        else:
            self._streak.pop(token, None)
            self._until.pop(token, None)


class _Turn:
    """One token's turn: held by one request at a time, handed on to the oldest waiting."""

    def __init__(self) -> None:
        self.queued = 0  # requests holding or awaiting it
        self._held = False
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    async def acquire(self, order: int) -> None:
        if not self._held and not self._waiting:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (order, waiter)
        heapq.heappush(self._waiting, entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over as the wait was cancelled: pass it on
            elif entry in self._waiting:  # else a hand-over passed it over already, as done
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
            raise

    def release(self) -> None:
        # handed on at the loop's next turn: a refused request that queues again at once
        # (the oldest) is among the waiters by then, and goes first again
        asyncio.get_running_loop().call_soon(self._hand_over)

    def _hand_over(self) -> None:
        while self._waiting:
            _order, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                waiter.set_result(None)  # the turn goes straight to the waiter
                return
        self._held = False


class AdaptiveLimit:
    """AIMD on the number of requests in flight, between 1 and `ceiling`, and a pace (the
    requests sent a second) learnt where an overall limit was found.

    `limit` is read by the request slots; `paced()` waits for the pace, `sent()` stamps a
    request as it goes, and `answered()` takes each answer (429 or not) with that stamp."""

    WINDOW = WINDOW  # the latest fresh answers looked at
    THROTTLED_SHARE = THROTTLED_SHARE  # this many 429s among them: an overall limit
    QUICK_WINDOW = 5  # ... or this many latest fresh answers
    QUICK_SHARE = 4  # with this many 429s: a limit met hard (8 in flight against 80/s)
    DECREASE = 0.7  # the limit is cut to 70% of itself (at least one less, at least 1)
    INCREASE_AFTER = 2.0  # seconds without a cut before the limit grows by one
    PROBE_AFTER = 6.0  # ... back to the level the last cut was made at: a probe
    # the rate is measured over the latest RATE_WINDOW seconds of answers, since the first
    # fresh 429 of the latest run of them (a token bucket's burst went before it; 429s a
    # RATE_WINDOW or more apart are two runs): how fast answers went through when 429s came
    # thick (a cut), so the client sent all it could. Reaching back further would count a
    # time it had less to send (waiting for the server listing) and find too low a rate (a
    # 1 s window from the first 429 measured 38/s against 150/s: a 15 s sync)
    RATE_WINDOW = 0.25
    RATE_MIN_SPAN = 0.1  # ... and at least this long: 8 answers at 80/s
    PACE_BELOW = 0.95  # the pace is set this far below the rate that went through
    PACE_FLOOR = 0.8  # ... and a 429 cuts it no lower than this share of the rate found
    PACE_GROW_AFTER = 1.0  # seconds without a 429 before the pace grows
    # ... by this share of the rate found; after PACE_FAST_AFTER seconds without a 429 the
    # step doubles each second: a probe above the limit costs a 429 or two every few
    # seconds (doubling from the first second cost more: 5.0% of the requests, not 3.7%),
    # and a rate found too low (measured while the client itself was slow: 74/s against
    # 150/s) is left within seconds
    PACE_STEP = 0.02
    PACE_FAST_AFTER = 3.0

    def __init__(self, ceiling: int, clock: _Clock) -> None:
        if ceiling < 1:
            raise ValueError("at least one request in flight")
        self.ceiling = ceiling
        self.limit = ceiling
        self.lowest = ceiling  # the lowest the limit went (for stats and tests)
        self.cuts = 0
        self.rate: float | None = None  # the pace, requests a second, once a limit showed
        self.found_rate = 0.0  # the rate that went through when the pace was set
        self._clock = clock
        self._latest: deque[bool] = deque(maxlen=self.WINDOW)
        self._round = 0  # bumped at each cut; a request sent before it cannot cut again
        self._found = ceiling + 1  # the level of the last cut: at or above it, 429s came
        self._changed_at = clock.monotonic()
        self._passed: deque[float] = deque()  # when answers that went through came
        self._first_429: float | None = None  # the first fresh 429 of the latest run
        self._last_429 = 0.0
        self._paced_at = 0.0  # when the pace last changed
        self._pace_cut_at = 0.0  # when it was last set or cut
        self._step = self.PACE_STEP  # its next growth, a share of the rate found
        self._next_at = 0.0  # the pace's next free moment
        self.on_change: Callable[[int], None] = lambda limit: None

    async def paced(self) -> None:
        """Wait for the pace's next free moment (none until an overall limit showed)."""
        if self.rate is None:
            return
        now = self._clock.monotonic()
        at = max(now, self._next_at)
        self._next_at = at + 1.0 / self.rate
        if at > now:
            await self._clock.sleep(at - now)

    def sent(self) -> int:
        """The round a request is sent in; hand it back to `answered`."""
        return self._round

    def answered(self, sent_in: int, throttled: bool, fresh: bool = True) -> None:
        """An answer to a request sent in round `sent_in`: a 429 or not, and whether the
        request was fresh (only those tell an overall limit from a token's own)."""
        now = self._clock.monotonic()
        if not throttled:
            self._passed.append(now)
            while self._passed[0] < now - self.RATE_WINDOW:
                self._passed.popleft()
        elif fresh:
            if self._first_429 is None or now - self._last_429 > self.RATE_WINDOW:
                self._first_429 = now  # a new run of 429s
            self._last_429 = now
        if fresh:
            self._latest.append(throttled)
        if throttled:
            if fresh and sent_in == self._round:
                self._throttled(now)
            return
        self._grow(now)

    def _throttled(self, now: float) -> None:
        """A fresh 429 to a request sent since the last cut."""
        quick = sum(list(self._latest)[-self.QUICK_WINDOW :]) >= self.QUICK_SHARE
        shows = quick or sum(self._latest) >= self.THROTTLED_SHARE
        # paced: a fresh 429 says the pace is above the limit, and cuts it, but not below
        # PACE_FLOOR of the rate found: one-offs (5% of the answers refused at random, at
        # any pace) cut a pace by 5% each, down to a crawl (measured: 4.2× the no-limit
        # time); the rate found too high is found again when the 429s show as before
        if self.rate is not None:
            recent = len(self._passed) / self.RATE_WINDOW
            floor = self.found_rate * self.PACE_FLOOR
            self.rate = max(floor, min(self.rate, recent) * self.PACE_BELOW)
            self._paced_at = self._pace_cut_at = now
            self._step = self.PACE_STEP
            self._round += 1
        if shows:  # the concurrency is cut only when the 429s show as before
            self._cut(now)

    def _measured(self, now: float) -> float | None:
        """The answers that went through a second, over the latest `RATE_WINDOW` seconds
        since the latest run of 429s began; None when that is shorter than
        `RATE_MIN_SPAN`."""
        assert self._first_429 is not None
        since = max(now - self.RATE_WINDOW, self._first_429)
        if now - since < self.RATE_MIN_SPAN:
            return None
        return sum(1 for at in self._passed if at > since) / (now - since)

    def _cut(self, now: float) -> None:
        self.cuts += 1
        self._round += 1
        self._latest.clear()
        measured = self._measured(now)
        if measured:
            # hold the rate near the level found, so that probing it costs few 429s; the
            # pace binds from now on, not the concurrency the cuts before it lowered. Paced
            # already, the 429s showing as before say the rate found was too high (measured
            # over too short a time: a pace of 100/s against 80/s met 100 429s): found again
            self.found_rate = measured
            self.rate = measured * self.PACE_BELOW
            self._paced_at = self._next_at = self._pace_cut_at = now
            self._step = self.PACE_STEP
            self._found = self.ceiling + 1
            self._set(self.ceiling, now)
            return
        self._found = self.limit
        limit = max(1, min(self.limit - 1, int(self.limit * self.DECREASE)))
        self.lowest = min(self.lowest, limit)
        self._set(limit, now)

    def _grow(self, now: float) -> None:
        if self.rate is not None and now - self._paced_at >= self.PACE_GROW_AFTER:
            self.rate += self._step * self.found_rate
            self._paced_at = now
            if now - self._pace_cut_at >= self.PACE_FAST_AFTER:
                self._step *= 2
        wait = self.PROBE_AFTER if self.limit + 1 >= self._found else self.INCREASE_AFTER
        if self.limit < self.ceiling and now - self._changed_at >= wait:
            if self.limit + 1 >= self._found:
                self._found = self.ceiling + 1  # probed: a 429 there finds the level again
            self._set(self.limit + 1, now)

    def _set(self, limit: int, now: float) -> None:
        self.limit = limit
        self._changed_at = now
        self.on_change(limit)
