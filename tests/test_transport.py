"""The light transport under httpx (KeepAliveTransport) against a real socket server on
127.0.0.1 that answers with scripted bytes: the framings HTTP/1.1 allows, reuse of a kept
connection, a stale one, malformed answers (httpx's own errors), and writes left to httpx."""

from __future__ import annotations

import asyncio
import gzip

import httpx
import pytest
from idgraph.connector.postmark._transport import KeepAliveTransport

from .conftest import run


class Scripted:
    """A TCP server: each accepted connection answers its requests with the next answers of
    `script` (one list of raw answers per connection); requests are recorded."""

    def __init__(self, script: list[list[bytes]]) -> None:
        self.script = list(script)
        self.requests: list[bytes] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answers = self.script.pop(0) if self.script else []
        self.connections += 1
        try:
            for answer in answers:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                length = _content_length(head)
                if length:
                    await reader.readexactly(length)
                if answer:
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def _exchange(script: list[list[bytes]], *requests: tuple[str, str]):
    server = Scripted(script)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    fallback = httpx.AsyncHTTPTransport()
    results: list[httpx.Response | Exception] = []
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            transport=KeepAliveTransport(fallback=fallback),
        ) as client:
            for method, path in requests:
                try:
                    body = None if method == "GET" else b"{}"
                    response = await client.request(method, path, content=body)
                    await response.aread()
                    results.append(response)
                except httpx.HTTPError as exc:
                    results.append(exc)
    finally:
        listener.close()
        await listener.wait_closed()
    return server, results


def json_answer(body: bytes, *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"Content-Type: application/json", *extra]
    head.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def test_kept_alive_connection_serves_every_get():
    server, results = run(
        _exchange(
            [[json_answer(b'{"n": 1}'), json_answer(b'{"n": 2}')]], ("GET", "/a?x=1"), ("GET", "/b")
        )
    )
    assert [r.json() for r in results] == [{"n": 1}, {"n": 2}]
    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /a?x=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in server.requests[0]


def test_chunked_and_gzip_bodies_are_decoded():
    body = gzip.compress(b'{"chunked": true}')
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
        + f"{len(body[:5]):x}\r\n".encode()
        + body[:5]
        + b"\r\n"
        + f"{len(body[5:]):x};ext=1\r\n".encode()
        + body[5:]
        + b"\r\n"
        + b"0\r\nX-Trailer: t\r\n\r\n"
    )
    _server, (response,) = run(_exchange([[chunked]], ("GET", "/c")))
    assert response.json() == {"chunked": True}


def test_connection_close_and_end_delimited_bodies_open_a_new_connection():
    closing = json_answer(b'{"n": 1}', b"Connection: close")
    to_the_end = b"HTTP/1.0 200 OK\r\n\r\n" + b'{"n": 2}'
    server, results = run(
        _exchange([[closing], [to_the_end], [json_answer(b'{"n": 3}')]], *[("GET", "/")] * 3)
    )
    assert [r.json() for r in results] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert server.connections == 3


def test_a_kept_connection_the_server_closed_is_replaced_once():
    # the first connection answers once and then closes without a word
    server, results = run(
        _exchange([[json_answer(b"1"), b""], [json_answer(b"2")]], ("GET", "/"), ("GET", "/"))
    )
    assert [r.json() for r in results] == [1, 2]
    assert server.connections == 2


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"SMTP 220 hello\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", httpx.ReadError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", httpx.RemoteProtocolError),
    ],
    ids=["not http", "bad header", "bad length", "short body", "bad chunk", "huge headers"],
)
def test_a_malformed_answer_is_httpx_s_own_error(answer, error):
    _server, (result,) = run(_exchange([[answer]], ("GET", "/")))
    assert isinstance(result, error), result


def test_a_refused_connection_is_a_connect_error():
    async def refused():
        transport = KeepAliveTransport(fallback=httpx.AsyncHTTPTransport())
        listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        listener.close()
        await listener.wait_closed()
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(
                httpx.ConnectError, match=r"127\.0\.0\.1:\d+ \(connection refused\)"
            ):
                await client.get(f"http://127.0.0.1:{port}/")

    run(refused())


def test_a_get_with_a_body_goes_to_httpx_s_own_transport():
    async def get_with_body():
        calls = []

        async def fallback_handler(request):
            calls.append(request.method)
            return httpx.Response(200, json={"fallback": True})

        transport = KeepAliveTransport(fallback=httpx.MockTransport(fallback_handler))
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.request("GET", "http://127.0.0.1:9/", content=b"x")
        return calls, response.json()

    assert run(get_with_body()) == (["GET"], {"fallback": True})


def test_writes_go_to_httpx_s_own_transport():
    server, (posted, got) = run(
        _exchange(
            [[json_answer(b'{"posted": 1}')], [json_answer(b'{"got": 1}')]],
            ("POST", "/servers"),
            ("GET", "/servers"),
        )
    )
    assert posted.json() == {"posted": 1} and got.json() == {"got": 1}
    assert server.requests[0].startswith(b"POST /servers HTTP/1.1")
    assert server.connections == 2  # httpx's pool for the POST, ours for the GET


def test_the_clients_framed_gets_are_the_bytes_httpx_sends():
    """PostmarkClient frames its GETs itself (GetFraming) and hands them to the transport:
    the bytes on the wire are httpx's own, with a base path, Basic auth from the URL's
    userinfo, query parameters, and a path httpx must escape (that one goes through httpx)."""
    from idgraph.connector.postmark import PostmarkClient, RetryPolicy

    answer = json_answer(b'{"ID": 7, "Name": "s", "MessageStreams": [], "TotalCount": 0}')

    async def heads(transport: httpx.AsyncBaseTransport | None) -> list[bytes]:
        server = Scripted([[answer] * 4])
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            async with PostmarkClient(
                "acct-token",
                base_url=f"http://gw:pa55@127.0.0.1:{port}/pm/",
                transport=transport,
                retry=RetryPolicy(max_attempts=1),
            ) as client:
                assert (client._light is not None) is (transport is None)
                await client.get_server(7)
                await client.list_message_streams("srv-token")
                await client.get_json("/servers", params={"count": 500, "offset": 0, "x": True})
                await client.get_json("/message-streams/a b", token="srv-token")
        finally:
            listener.close()
            await listener.wait_closed()
        return [head.replace(f":{port}".encode(), b":PORT") for head in server.requests]

    framed = run(heads(None))
    by_httpx = run(heads(httpx.AsyncHTTPTransport()))
    assert framed == by_httpx
    assert framed[0].startswith(b"GET /pm/servers/7 HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n")
    assert b"\r\nAuthorization: Basic Z3c6cGE1NQ==\r\n" in framed[0]
    assert framed[2].startswith(b"GET /pm/servers?count=500&offset=0&x=true HTTP/1.1\r\n")
    assert framed[3].startswith(b"GET /pm/message-streams/a%20b HTTP/1.1\r\n")


def test_on_sent_is_called_once_each_get_is_written():
    sent: list[int] = []

    async def go():
        server = Scripted([[json_answer(b"1"), json_answer(b"2")]])
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        transport = KeepAliveTransport(
            fallback=httpx.AsyncHTTPTransport(), on_sent=lambda: sent.append(len(server.requests))
        )
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", transport=transport
            ) as client:
                for path in ("/a", "/b"):
                    await client.get(path)
        finally:
            listener.close()
            await listener.wait_closed()

    run(go())
    assert len(sent) == 2  # one call per request, made before its answer was read
