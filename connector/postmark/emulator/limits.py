"""Rate limits the emulator enforces without telling: token buckets, answered by a bare 429.

Postmark publishes no numbers and sends no rate-limit headers; its notes say the limits apply
per server token and an excess gets a 429. The emulator's stand-in: an overall bucket
(`--rate-limit 80/s,10`) and one bucket per token (`--token-rate-limit 2/s,1`). A request is
let through when every bucket it draws on holds a whole token, and then takes one from each;
a refused request takes none. The clock is injectable, so tests drive it by hand.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimit", "RateLimiter", "TokenBucket", "parse_rate_limit"]

_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*s\s*(?:,\s*(\d+)\s*)?")


@dataclass(frozen=True)
class RateLimit:
    """`rate` requests a second, at most `burst` at once after a quiet spell."""

    rate: float
    burst: int

    def __str__(self) -> str:
        return f"{self.rate:g}/s,{self.burst}"


def parse_rate_limit(text: str) -> RateLimit:
    """`80/s` or `80/s,10` -> RateLimit(80, 10); the burst defaults to one second's worth
    (at least 1). ValueError saying what is wrong."""
    found = _RATE.fullmatch(text)
    if not found:
        raise ValueError(f"{text!r}: use RATE/s or RATE/s,BURST (e.g. 80/s,10)")
    rate = float(found.group(1))
    burst = int(found.group(2)) if found.group(2) else max(1, int(rate))
    if rate <= 0 or burst < 1:
        raise ValueError(f"{text!r}: the rate must be above 0 and the burst at least 1")
    return RateLimit(rate, burst)


class TokenBucket:
    """Holds up to `limit.burst` tokens, refilled at `limit.rate` a second."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self._tokens = float(limit.burst)
        self._at = now

    def has_one(self, now: float) -> bool:
        elapsed = max(0.0, now - self._at)
        self._tokens = min(float(self.limit.burst), self._tokens + elapsed * self.limit.rate)
        self._at = now
        return self._tokens >= 1.0

    def take(self) -> None:
        self._tokens -= 1.0


class RateLimiter:
    """The overall bucket and the per-token buckets of one emulator; thread-safe."""

    def __init__(
        self,
        overall: RateLimit | None = None,
        per_token: RateLimit | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.overall_limit = overall
        self.per_token_limit = per_token
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._overall = TokenBucket(overall, monotonic()) if overall else None
        self._per_token: dict[str, TokenBucket] = {}

    def admit(self, token: str) -> bool:
        """Whether a request carrying `token` is let through now (and if so, counted)."""
        with self._lock:
            now = self._monotonic()
            buckets = [self._overall] if self._overall else []
            if self.per_token_limit is not None:
                bucket = self._per_token.get(token)
                if bucket is None:
                    bucket = self._per_token[token] = TokenBucket(self.per_token_limit, now)
                buckets.append(bucket)
            if not all(bucket.has_one(now) for bucket in buckets):
                return False
            for bucket in buckets:
                bucket.take()
            return True
