"""An answer's body, read and decompressed within limits.

httpx decodes a gzip body in one call with no bound on what comes out: a 1 MB answer can
expand to gigabytes in memory. Here the body as sent is capped while it is read, and it is
decompressed with zlib's `max_length`, so no more than the decoded cap (plus one byte) is
ever made. Only gzip and deflate are asked for (`ACCEPT_ENCODING`), so only they are decoded.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import httpx

__all__ = [
    "ACCEPT_ENCODING",
    "MAX_BODY_BYTES",
    "MAX_DECODED_BYTES",
    "BodyLimits",
    "BodyRefused",
    "read_body",
]

# The largest answer idgraph reads: a page of 500 servers is about 1 MB as JSON.
MAX_BODY_BYTES = 32 * 1024 * 1024  # as sent (compressed or not)
MAX_DECODED_BYTES = 64 * 1024 * 1024  # once gzip or deflate is undone
ACCEPT_ENCODING = "gzip, deflate"

_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


@dataclass(frozen=True)
class BodyLimits:
    max_body: int = MAX_BODY_BYTES
    max_decoded: int = MAX_DECODED_BYTES


class BodyRefused(Exception):
    """A body over a limit, or in an encoding that was not asked for: why, in words."""


async def read_body(response: httpx.Response, limits: BodyLimits) -> httpx.Response:
    """`response` (not yet read) as a read response with its body decoded, within `limits`;
    BodyRefused when a limit is passed. The stream is closed in any case."""
    encoding = response.headers.get("content-encoding", "")
    in_memory = isinstance(response.stream, httpx.ByteStream)  # a test's transport's
    if response.is_stream_consumed or (in_memory and encoding.lower() in ("", "identity")):
        # made in memory (a test's transport has decoded it already): nothing to undo,
        # only its size to check
        if len(response.read()) > limits.max_decoded:
            raise BodyRefused(f"the answer is larger than {limits.max_decoded:,} bytes")
        return response
    raw = bytearray()
    try:
        async for chunk in response.aiter_raw():
            raw += chunk
            if len(raw) > limits.max_body:
                raise BodyRefused(f"the answer is larger than {limits.max_body:,} bytes")
    finally:
        await response.aclose()
    content = decode(bytes(raw), encoding, limits)
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(response.status_code, headers=headers, content=content)


def decode(raw: bytes, content_encoding: str, limits: BodyLimits) -> bytes:
    """`raw` with each Content-Encoding undone, last applied first; never more than
    `limits.max_decoded` bytes made."""
    data = raw
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding not in _WBITS:
            raise BodyRefused(f"the answer is compressed as {coding!r}, which was not asked for")
        data = _inflate(data, coding, limits.max_decoded)
    return data


def _inflate(data: bytes, coding: str, limit: int) -> bytes:
    attempts = [_WBITS[coding]] + ([-zlib.MAX_WBITS] if coding == "deflate" else [])
    for wbits in attempts:  # "deflate" is zlib-wrapped by the standard, raw by some servers
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(data, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit or inflater.unconsumed_tail:
            raise BodyRefused(
                f"the answer expands to more than {limit:,} bytes once {coding} is undone"
            )
        return out
    raise BodyRefused(f"the answer's {coding} body cannot be decompressed")
