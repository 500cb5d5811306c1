"""The Postmark client over a real loopback socket against the emulator."""

import asyncio

import httpx
import pytest
from idgraph.connector.postmark import (
    ListingChanged,
    MalformedResponse,
    NotPostmarkResponse,
    PostmarkClient,
    PostmarkServerError,
    PostmarkTransportError,
    RateLimited,
    RetryPolicy,
    UnprocessableEntity,
    WrongTokenKind,
    identify_token,
    token_kind_for,
)
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.synthetic import synthetic_account

from ..conftest import FakeClock, run, until
from .fixtures import FAST_RETRY, make_client, mock_client


async def _servers(emu, **kwargs):
    async with make_client(emu, **kwargs) as client:
        return await client.list_servers(), client.stats


def test_pagination_across_page_boundaries():
    account = synthetic_account(1201, senders=1001, domains=3, seed=7)
    with PostmarkEmulator(account) as emu:

        async def go():
            async with make_client(emu) as client:
                return (
                    await client.list_servers(),
                    await client.list_sender_signatures(),
                    await client.list_domains(),
                )

        servers, senders, domains = run(go())
        assert [s.id for s in servers] == [s["ID"] for s in account["Servers"]]
        assert len({s.id for s in servers}) == 1201
        assert len(senders) == 1001 and len(domains) == 3
        # pages of 500: 3 for servers, 3 for senders, 1 for domains; a listing of more than
        # one page is read twice (two agreeing readings confirm it), nothing more
        assert emu.stats.by_endpoint["GET /servers"] == 6
        assert emu.stats.by_endpoint["GET /senders"] == 6
        assert emu.stats.by_endpoint["GET /domains"] == 1


def test_emulator_refuses_page_size_over_500(emulator):
    async def go():
        async with make_client(emulator) as client:
            await client.get_json("/servers", params={"count": 501, "offset": 0})

    with pytest.raises(UnprocessableEntity) as info:
        run(go())
    assert info.value.status == 422 and info.value.error_code == 600


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 429},
        {"kind": "status", "status": 429, "retry_after": "0.05"},
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 503},
        {"kind": "drop"},
        {"kind": "reset_mid_body"},
        {"kind": "truncated"},
        {"kind": "not_json"},
    ],
    ids=lambda f: (
        f["kind"] + str(f.get("status", "")) + ("+retry-after" if "retry_after" in f else "")
    ),
)
def test_every_retry_path_recovers(emulator, fault):
    fault = dict(fault)
    kind = fault.pop("kind")
    emulator.inject(kind, match="GET /servers", times=2, **fault)
    servers, stats = run(_servers(emulator))
    assert len(servers) == len(emulator.account["Servers"])
    assert emulator.stats.requests == 3  # two failed, then the answer
    # a dropped connection: aiohttp sends a GET once more itself (RFC 9112 9.3.1), unseen
    resent = 1 if kind == "drop" else 0
    assert stats.retries == 2 - resent
    assert stats.requests == 3 - resent


def test_hung_response_times_out_and_retries(emulator):
    emulator.inject("hang", match="GET /servers", times=1, seconds=1.0)
    servers, stats = run(_servers(emulator, timeout=0.3))
    assert len(servers) == 5 and stats.retries == 1


@pytest.mark.parametrize(("retry_after", "waited"), [("0.4", 0.4), ("30", 5.0)])
def test_retry_after_is_honoured_up_to_the_cap(emulator, retry_after, waited):
    emulator.inject("status", match="GET /servers", status=429, retry_after=retry_after)
    slow = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=5, max_total_wait=10)
    clock = FakeClock()
    run(_servers(emulator, retry=slow, clock=clock))
    # the wait Retry-After asked for (capped at max_delay), not the 1 ms back-off, and once:
    # the token's pause it set is over when the request is sent again
    assert clock.sleeps == [waited]
    assert emulator.stats.by_endpoint["GET /servers"] == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, RateLimited), (500, PostmarkServerError), (503, PostmarkServerError)],
)
def test_retries_are_capped(emulator, status, error):
    emulator.inject("status", match="GET /servers", status=status, times=100)
    with pytest.raises(error) as info:
        run(_servers(emulator))
    assert info.value.status == status
    assert emulator.stats.by_endpoint["GET /servers"] == FAST_RETRY.max_attempts


def test_total_wait_is_capped(emulator):
    emulator.inject("status", match="GET /servers", status=429, times=100, retry_after="0.3")
    policy = RetryPolicy(max_attempts=50, base_delay=0.01, max_delay=1, max_total_wait=0.7)
    clock = FakeClock()
    with pytest.raises(RateLimited):
        run(_servers(emulator, retry=policy, clock=clock))
    assert emulator.stats.by_endpoint["GET /servers"] == 3  # waits of 0.3 + 0.3, the third too many
    assert clock.sleeps == [0.3, 0.3]


def test_persistent_transport_failure_is_a_clear_error():
    with PostmarkEmulator() as emu:
        url = emu.url
    client = PostmarkClient("x", base_url=url, retry=FAST_RETRY)

    async def go():
        async with client:
            await client.list_servers()

    with pytest.raises(PostmarkTransportError) as info:
        run(go())
    assert "GET /servers: no answer from" in str(info.value)


def test_malformed_json_persisting_is_a_clear_error(emulator):
    emulator.inject("not_json", match="GET /servers", times=100)
    with pytest.raises(MalformedResponse) as info:
        run(_servers(emulator))
    assert "GET /servers answered HTTP 200 with a body that is not valid JSON" in str(info.value)


def test_proxy_html_403_is_named_as_not_postmark(emulator):
    emulator.inject("html_403", match="GET /servers")
    with pytest.raises(NotPostmarkResponse) as info:
        run(_servers(emulator))
    assert "not a Postmark error" in str(info.value)
    assert emulator.stats.by_endpoint["GET /servers"] == 1  # not retried


def test_shape_error_names_object_and_field_without_the_value(emulator):
    emulator.account["Servers"][2]["Name"] = {"not": "a string"}
    with pytest.raises(MalformedResponse) as info:
        run(_servers(emulator))
    message = str(info.value)
    assert "Server #2 (ID 11003)" in message and "field 'Name'" in message
    assert "not" not in message.split("field 'Name'")[1]


def test_wrong_token_kind_server_token_on_account_endpoint(emulator):
    server_token = emulator.account["Servers"][0]["ApiTokens"][0]
    with pytest.raises(WrongTokenKind) as info:
        run(_servers(emulator, token=server_token))
    message = str(info.value)
    assert info.value.status == 401 and info.value.error_code == 10
    assert message.startswith("GET /servers refused the token (HTTP 401)")
    assert "This endpoint needs an Account token (X-Postmark-Account-Token" in message
    assert "If the value given is a Server token" in message
    assert server_token not in message


def test_wrong_token_kind_account_token_on_server_endpoint(emulator):
    async def go():
        async with make_client(emulator) as client:
            await client.list_webhooks(emulator.account_tokens[0])

    with pytest.raises(WrongTokenKind) as info:
        run(go())
    message = str(info.value)
    assert info.value.needed == "Server"
    assert "GET /webhooks" in message and "X-Postmark-Server-Token" in message
    assert "If the value given is an Account token" in message
    assert emulator.account_tokens[0] not in message


def test_token_kind_table():
    assert token_kind_for("/servers") is token_kind_for("/senders/1") is token_kind_for("/domains")
    assert token_kind_for("/server").value == "Server"
    assert (
        token_kind_for("/webhooks/3").value == token_kind_for("/message-streams").value == "Server"
    )


def test_identify_token(emulator):
    server = emulator.account["Servers"][1]

    async def go(token):
        async with make_client(emulator, token="") as client:
            return await identify_token(client, token)

    assert run(go(emulator.account_tokens[0])).kind == "account"
    found = run(go(server["ApiTokens"][0]))
    assert (found.kind, found.server_id, found.server_name) == (
        "server",
        server["ID"],
        server["Name"],
    )
    assert run(go("00000000-0000-4000-8000-000000000000")).kind == "neither"


@pytest.mark.parametrize("concurrency", [3, 8])
def test_concurrency_bound_is_respected(concurrency):
    account = synthetic_account(40, senders=5, domains=2, seed=3)
    with PostmarkEmulator(account, latency=0.03) as emu:

        async def go():
            async with make_client(emu, concurrency=concurrency) as client:
                servers = await client.list_servers()
                await asyncio.gather(*(client.list_webhooks(s.api_tokens[0]) for s in servers))
                return client.stats

        stats = run(go())
    # never passed at the server; reached by the client (how many the server sees at once
    # depends on thread scheduling, which a loaded machine changes)
    assert 1 < emu.stats.max_in_flight <= concurrency
    assert stats.max_in_flight == concurrency


def test_total_count_change_mid_listing_is_detected():
    account = synthetic_account(1100, senders=1, domains=1, seed=5)
    with PostmarkEmulator(account) as emu:

        def grow(method, path, query):
            if path == "/servers" and query.get("offset") != ["0"]:
                emu.account["Servers"].append(
                    dict(emu.account["Servers"][0], ID=10**7 + emu.stats.requests)
                )

        emu.before_request = grow
        with pytest.raises(ListingChanged) as info:
            run(_servers(emu))
    assert "TotalCount changed" in str(info.value)


def _first_request_throttled(clock: FakeClock, sent: list[tuple[str, float]]) -> PostmarkClient:
    """One slot; the first request sent gets a 429 with Retry-After 0.5 s, every other one
    an empty webhook list. Each request is recorded with its token and the time it went."""

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.headers["x-postmark-server-token"], clock.monotonic()))
        await asyncio.sleep(0)  # on the wire: another request gets to queue for the slot
        if len(sent) == 1:
            return httpx.Response(
                429, json={"ErrorCode": 429, "Message": "Rate"}, headers={"Retry-After": "0.5"}
            )
        return httpx.Response(200, json={"Webhooks": []})

    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=5, max_total_wait=5)
    return mock_client(handler, clock, retry=policy, concurrency=1)


def test_a_request_queued_for_a_slot_waits_out_its_tokens_pause():
    """A request already waiting for a free slot when another with the same token is
    throttled is not sent during the pause either: the pause is checked again as a request
    gets its slot (a 429 on another token would not hold it: tests/postmark/test_rate_limits.py)."""
    clock = FakeClock(auto=False)
    sent: list[tuple[str, float]] = []

    async def go():
        async with _first_request_throttled(clock, sent) as client:
            # both at once: the second queues for the one slot while the first is throttled
            first = asyncio.create_task(client.list_webhooks("a"))
            second = asyncio.create_task(client.get_current_server("a"))
            await until(lambda: len(clock.waiting) == 1, "the refused one waits the pause")
            for _ in range(100):
                await asyncio.sleep(0)
            assert sent == [("a", 0.0)]  # the other waits its turn behind it
            clock.advance(0.5)
            await asyncio.gather(first, second, return_exceptions=True)

    run(go())
    assert [at for _token, at in sent] == [0.0, 0.5, 0.5]


def test_requests_carry_the_api_headers():
    seen = {}

    def handler(request):
        seen.update(request.headers)
        return httpx.Response(200, json={"ID": 1, "Name": "s"})

    async def go():
        async with PostmarkClient(
            "acct", base_url="http://pm.test", transport=httpx.MockTransport(handler)
        ) as c:
            await c.get_server(1)
            await c.get_current_server("srv")

    run(go())
    assert seen["accept"] == "application/json"
    assert seen["x-postmark-server-token"] == "srv"


def test_write_is_not_resent_after_a_server_error():
    calls = []

    def handler(request):
        calls.append(request.method)
        return httpx.Response(500, json={"ErrorCode": 0, "Message": "oops"})

    async def go():
        async with PostmarkClient(
            "a", base_url="http://pm.test", transport=httpx.MockTransport(handler), retry=FAST_RETRY
        ) as c:
            await c.request("POST", "/servers", json_body={"Name": "x"})

    with pytest.raises(PostmarkServerError):
        run(go())
    assert calls == ["POST"]


def test_a_failing_later_page_raises_its_own_error():
    account = synthetic_account(3, senders=1200, domains=1, seed=2)
    with PostmarkEmulator(account) as emu:
        emu.inject("status", match=r"GET /senders\?count=500&offset=1000", status=503, times=99)

        async def go():
            async with make_client(emu) as client:
                await client.list_sender_signatures()

        with pytest.raises(PostmarkServerError, match="GET /senders: Postmark server error"):
            run(go())


def test_a_token_that_cannot_be_a_header_is_a_clear_error(emulator):
    from idgraph.connector.postmark import InvalidToken

    async def go():
        async with make_client(emulator, token="bad\ntoken\x80") as client:
            await client.list_servers()

    with pytest.raises(InvalidToken, match="not printable ASCII") as info:
        run(go())
    assert "bad" not in str(info.value)


def test_a_proxy_in_the_environment_is_honoured(emulator, monkeypatch):
    """HTTP_PROXY set: the requests go to the proxy on httpx's own transport, which honours
    it (aiohttp's transport carries them when no proxy applies). Here the proxy refuses: no
    answer. NO_PROXY exempting the host: straight to the emulator again, on aiohttp's."""
    from idgraph.connector.postmark import PostmarkTransportError
    from idgraph.connector.postmark._client import GetsOnAiohttp

    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    direct = make_client(emulator)
    assert isinstance(direct._http._transport, GetsOnAiohttp)
    run(direct.aclose())
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    proxied = make_client(emulator)
    assert isinstance(proxied._http._transport, httpx.AsyncHTTPTransport)

    async def listing(client):
        async with client:
            return await client.list_servers()

    with pytest.raises(PostmarkTransportError, match="through the proxy set in the environment"):
        run(listing(proxied))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # bypassed: straight to the emulator again
    bypassed = make_client(emulator)
    assert isinstance(bypassed._http._transport, GetsOnAiohttp)
    assert len(run(listing(bypassed))) == len(emulator.account["Servers"])


def test_a_listings_later_pages_go_before_the_queued_per_server_calls():
    """The server listing queues every server's calls at once; the sender listing's second
    page (and its confirming second reading), asked for later, is still sent before them:
    everything after a listing waits for its last page.

    Before the second page is asked for, the one free slot sends per-server calls while the
    first page is in flight and parsed: a few, each taking the emulator's 20 ms (a network's
    latency; with none, a host busy parsing the 500 senders let 20 and more through)."""
    from idgraph.connector.postmark.collector import fetch_account

    account = synthetic_account(60, senders=600, domains=1, seed=3)
    order: list[str] = []
    with PostmarkEmulator(account, latency=0.02) as emu:
        emu.before_request = lambda method, path, query: order.append(
            f"{path}?{query.get('offset', [''])[0]}"
        )

        async def go():
            async with make_client(emu, concurrency=2) as client:
                return await fetch_account(client)

        raw = run(go())
    assert len(raw.senders) == 600
    per_server = [i for i, name in enumerate(order) if name.startswith(("/webhooks", "/message"))]
    assert len(per_server) == 120
    sender_pages = [i for i, name in enumerate(order) if name == "/senders?500"]
    assert len(sender_pages) == 2  # read and confirmed
    assert sender_pages[-1] < per_server[20], order[:30]


@pytest.mark.parametrize("account", ["fixture", "synthetic"])
def test_the_graph_made_while_reading_is_the_graph_made_after(account):
    """The connector turns each server into nodes and edges as soon as it is read (and the
    senders and domains once listed): the graph is the one `transform` makes at the end."""
    from idgraph.connector.postmark.collector import Transformer, fetch_account, transform
    from idgraph.connector.postmark.emulator import load_fixture

    data = load_fixture() if account == "fixture" else synthetic_account(40, senders=90, seed=4)
    with PostmarkEmulator(data) as emu:
        token = emu.account_tokens[0]
        transformer = Transformer(account_label="acme", account_token=token)
        shares: list[object] = []

        def read(raw, server):
            shares.append(server.id if server else "listings")
            transformer.read(raw, server)

        async def go():
            async with make_client(emu) as client:
                return await fetch_account(client, on_read=read)

        raw = run(go())
    assert sorted(shares, key=str) == sorted([s.id for s in raw.servers] + ["listings"], key=str)
    made_while_reading = transformer.graph(raw)
    assert made_while_reading == transform(raw, account_label="acme", account_token=token)
    assert len(made_while_reading[0]) > len(raw.servers) + len(raw.senders)


@pytest.mark.parametrize(
    "proxy",
    ["socks5://prxuser:pw@127.0.0.1:9", "ftp://prxuser:pw@127.0.0.1:9/?k=qsecret"],
    ids=["socks without socksio", "ftp"],
)
def test_a_proxy_that_cannot_be_used_is_one_clear_line(proxy, monkeypatch, tmp_path):
    """A proxy in the environment that httpx cannot use (SOCKS without socksio, an unknown
    scheme): one line naming the variables, exit 3, no traceback."""
    from click.testing import CliRunner
    from idgraph.graph.cli import EXIT_CONFIG, cli

    if proxy.startswith("socks"):
        try:
            import socksio  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("socksio is installed: a SOCKS proxy is usable here")
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", proxy)
    monkeypatch.setenv("POSTMARK_ACCOUNT_TOKEN", "tok")
    monkeypatch.setenv("POSTMARK_API_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(cli, ["sync", "postmark", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "cannot be used" in result.output and "NO_PROXY" in result.output
    assert "prxuser" not in result.output and "qsecret" not in result.output  # never the URL
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit


def test_loading_the_plugins_does_not_import_aiohttp():
    """aiohttp builds two TLS contexts as it is imported: only a client sending GETs pays
    for it, not every command that loads the plugins (an export, a review import)."""
    import subprocess
    import sys

    probe = (
        "import sys; from idgraph.graph.cli import build_cli; build_cli(); "
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
