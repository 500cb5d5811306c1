"""A lighter transport under httpx for the sync's GETs: HTTP/1.1 on asyncio streams, kept alive.

httpx's default transport (httpcore's pool on anyio) costs about 1.2 ms of CPU a request
here, most of it in the pool's bookkeeping and anyio's stream wrappers; with the event loop
that busy, answers wait for it and the sync falls behind its concurrency (see
docs/performance.md). This transport does only what a JSON GET needs: one request line and
its headers out, a status line, headers and a Content-Length or chunked body back, the
connection kept for the next request. Every other method (the write commands' POST, PUT
and DELETE) goes to httpx's own transport unchanged.

It raises httpx's own exceptions, so the client's retry rules see what they saw before. The
client's per-attempt deadline (asyncio.timeout) bounds a whole exchange; a connection that
is interrupted (timeout, cancel, error) is closed, never reused.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ._body import MAX_BODY_BYTES, BodyRefused

__all__ = ["GetFraming", "KeepAliveTransport", "Origin", "origin_of"]

Origin = tuple[bytes, str, int]  # scheme, host, port: what a kept connection is kept for

_HEAD_LIMIT = 64 * 1024  # status line and headers together
_NO_BODY = frozenset({204, 304})


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        self.writer.close()


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """GETs over kept-alive HTTP/1.1 connections; every other request to `fallback`, a
    transport or a function that makes one when it is first needed (a sync never needs it,
    and httpx's pool costs an anyio import to close)."""

    def __init__(
        self,
        *,
        fallback: httpx.AsyncBaseTransport | Callable[[], httpx.AsyncBaseTransport],
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = 8,
        on_sent: Callable[[], None] = lambda: None,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self._max_body = max_body  # a body longer than this is refused (BodyRefused)
        self._fallback: httpx.AsyncBaseTransport | None = None
        self._make_fallback = fallback if callable(fallback) else lambda: fallback
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._idle: dict[Origin, list[_Connection]] = {}
        self._on_sent = on_sent  # called once a GET is written, as its answer is awaited

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (
            request.method != "GET"
            or url.scheme not in ("http", "https")
            or "content-length" in request.headers  # a GET with a body: not ours to frame
            or "transfer-encoding" in request.headers
        ):
            if self._fallback is None:
                self._fallback = self._make_fallback()
            return await self._fallback.handle_async_request(request)
        return await self.get(origin_of(url), _request_bytes(request))

    async def get(self, origin: Origin, message: bytes) -> httpx.Response:
        """Send `message`, one GET with its headers framed whole, to `origin`; on a kept
        connection when one is idle. The answer's body is read but not yet decoded."""
        idle = self._idle.setdefault(origin, [])
        connection = idle.pop() if idle else None
        answer = None
        if connection is not None:
            try:
                answer = await _exchange_or_close(
                    connection, message, self._on_sent, self._max_body
                )
            except (httpx.ReadError, httpx.WriteError):
                # a kept-alive connection the server closed meanwhile: a GET is safe to
                # send once more on a new one (the failed exchange closed this one)
                pass
        if answer is None:
            connection = await self._connect(origin)
            answer = await _exchange_or_close(connection, message, self._on_sent, self._max_body)
        status, headers, body, keep = answer
        if keep and len(idle) < self._max_idle:
            idle.append(connection)
        else:
            connection.close()
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        secure = scheme == b"https"
        if secure and self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        try:
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=self._ssl_context if secure else None,
                server_hostname=host if secure else None,
                limit=_HEAD_LIMIT,
            )
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port} ({_why(exc)})") from None
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        if self._fallback is not None:
            await self._fallback.aclose()


_PLAIN_PATH = re.compile(r"/[A-Za-z0-9/_.~-]*")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.~-]*")


class GetFraming:
    """A GET's bytes as httpx.AsyncClient frames them for `base_url` and `headers` (plus
    Basic `auth`), without its per-request work (URL merging, cookies, the auth flow): half
    the client's CPU a request. Only for paths and parameters that need no escaping; for any
    other, `message` is None and the request goes through httpx."""

    def __init__(
        self, base_url: httpx.URL, headers: httpx.Headers, auth: httpx.BasicAuth | None
    ) -> None:
        self.origin = origin_of(base_url)
        self._prefix = base_url.raw_path.rstrip(b"/")
        lines = [b"Host: " + base_url.netloc] + [name + b": " + v for name, v in headers.raw]
        self._head = b"\r\n".join(lines) + b"\r\n"
        self._end = b"\r\n"  # httpx's auth flow adds its header after the request's own
        if auth is not None:
            sent = next(auth.auth_flow(httpx.Request("GET", base_url)))
            self._end = b"Authorization: " + sent.headers["Authorization"].encode() + b"\r\n\r\n"

    def message(
        self, path: str, params: Mapping[str, Any] | None, header: str, value: str
    ) -> bytes | None:
        if not _PLAIN_PATH.fullmatch(path):
            return None
        target = path
        if params:
            pairs = [(str(name), _param_text(v)) for name, v in params.items()]
            if not all(_PLAIN_VALUE.fullmatch(n) and _PLAIN_VALUE.fullmatch(v) for n, v in pairs):
                return None
            target += "?" + "&".join(f"{name}={v}" for name, v in pairs)
        return (
            b"GET "
            + self._prefix
            + target.encode()
            + b" HTTP/1.1\r\n"
            + self._head
            + f"{header}: {value}\r\n".encode()
            + self._end
        )


def _param_text(value: Any) -> str:
    """A query value as httpx writes it (True is "true", None is "")."""
    if value is True or value is False:
        return "true" if value else "false"
    return "" if value is None else str(value)


def origin_of(url: httpx.URL) -> Origin:
    return (url.raw_scheme, url.host, url.port or (443 if url.scheme == "https" else 80))


def _why(exc: OSError) -> str:
    """Why a connection failed, in a few words: refused, unknown host, a certificate."""
    if isinstance(exc, ssl.SSLError):
        return getattr(exc, "verify_message", None) or exc.reason or str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return exc.strerror or str(exc) or type(exc).__name__


def _request_bytes(request: httpx.Request) -> bytes:
    lines = [b"GET " + request.url.raw_path + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _exchange_or_close(
    connection: _Connection, message: bytes, on_sent: Callable[[], None], max_body: int
) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    """`_exchange`; an exchange that fails or is interrupted closes its connection."""
    try:
        return await _exchange(connection, message, on_sent, max_body)
    except BaseException:
        connection.close()
        raise


async def _exchange(
    connection: _Connection, message: bytes, on_sent: Callable[[], None], max_body: int
) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    """Send one GET; return status, headers, body and whether the connection may be reused."""
    try:
        connection.writer.write(message)
        await connection.writer.drain()
    except OSError:
        raise httpx.WriteError("the connection was closed while the request was sent") from None
    on_sent()
    reader = connection.reader
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            status, version, headers = _parse_head(head)
            if not 100 <= status < 200:
                break  # an interim answer (100 Continue) precedes the real one
        fields = {name.lower(): value for name, value in headers}
        keep = version == b"HTTP/1.1" and fields.get(b"connection", b"").lower() != b"close"
        if status in _NO_BODY:
            body = b""
        elif fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await _read_chunked(reader, max_body)
        elif b"content-length" in fields:
            length = fields[b"content-length"]
            if not length.isdigit():
                raise httpx.RemoteProtocolError("the answer's Content-Length is not a number")
            body = await reader.readexactly(_within(int(length), max_body))
        else:  # delimited by the end of the connection
            body, keep = await _read_to_end(reader, max_body), False
    except asyncio.IncompleteReadError:
        raise httpx.ReadError("the connection closed before the answer was complete") from None
    except asyncio.LimitOverrunError:
        raise httpx.RemoteProtocolError("the answer's headers are too long") from None
    except OSError:
        raise httpx.ReadError("the connection failed while the answer was read") from None
    return status, headers, body, keep


def _parse_head(head: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    status_line, *lines = head[:-4].split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError("the answer does not start with an HTTP/1.x status line")
    headers = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise httpx.RemoteProtocolError("the answer has a malformed header line")
        headers.append((name, value.strip()))
    return int(parts[1]), parts[0], headers


def _within(length: int, max_body: int) -> int:
    if length > max_body:
        raise BodyRefused(f"the answer is larger than {max_body:,} bytes")
    return length


async def _read_to_end(reader: asyncio.StreamReader, max_body: int) -> bytes:
    body = bytearray()
    while chunk := await reader.read(64 * 1024):
        body += chunk
        _within(len(body), max_body)
    return bytes(body)


async def _read_chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    chunks = []
    total = 0
    while True:
        size_line = (await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise httpx.RemoteProtocolError("the answer has a malformed chunk size") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the end
                pass
            return b"".join(chunks)
        total += size
        _within(total, max_body)
        chunks.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise httpx.RemoteProtocolError("the answer's chunk does not end with CRLF")
