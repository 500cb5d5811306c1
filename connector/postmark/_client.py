"""The Postmark HTTP API client: token kinds, paging, retries, per-token back-off, adaptive
concurrency."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import ValidationError

from ._body import ACCEPT_ENCODING, BodyLimits, BodyRefused, read_body
from ._errors import (
    InvalidToken,
    ListingChanged,
    ListingTooLong,
    MalformedResponse,
    NotFound,
    NotPostmarkResponse,
    PostmarkAPIError,
    PostmarkError,
    PostmarkServerError,
    PostmarkTransportError,
    ProxyUnusable,
    RateLimited,
    ResponseTooLarge,
    UnprocessableEntity,
    WrongTokenKind,
)
from ._models import (
    Domain,
    ErrorBody,
    MessageStream,
    PostmarkModel,
    SenderSignature,
    Server,
    Webhook,
)
from ._pacing import AdaptiveLimit, TokenPauses
from ._slots import RequestSlots
from ._tasks import together

log = logging.getLogger("idgraph.postmark")

DEFAULT_BASE_URL = "https://api.postmarkapp.com"
PAGE_SIZE = 500
DEFAULT_CONCURRENCY = 8
# The most items one listing (servers, senders, domains) is read to: 200 pages of 500. A
# listing whose pages are still full there fails (ListingTooLong) rather than being taken
# as whole; --max-listing-items raises it for an account that really has more.
MAX_LISTING_ITEMS = 100_000
# Tokens shorter than this are not scrubbed from messages (a real one is a 36-character
# UUID; a 3-letter "token" would rewrite ordinary words)
MIN_SCRUBBED_TOKEN = 8

M = TypeVar("M", bound=PostmarkModel)


class TokenKind(StrEnum):
    """The two kinds of Postmark API token."""

    ACCOUNT = "Account"
    SERVER = "Server"

    @property
    def header(self) -> str:
        return f"X-Postmark-{self.value}-Token"

    @property
    def noun(self) -> str:
        return "an Account token" if self is TokenKind.ACCOUNT else "a Server token"

    @property
    def where(self) -> str:
        """Where a person finds a token of this kind in the web UI."""
        if self is TokenKind.ACCOUNT:
            return "web UI: Account > API Tokens"
        return "web UI: the server > API Tokens"

    @property
    def other(self) -> TokenKind:
        return TokenKind.SERVER if self is TokenKind.ACCOUNT else TokenKind.ACCOUNT


_SERVER_TOKEN_PREFIXES = ("/server", "/webhooks", "/message-streams")


def token_kind_for(path: str) -> TokenKind:
    """The token kind Postmark requires for an endpoint path (postmark-api.md section 1)."""
    first = "/" + path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
    return TokenKind.SERVER if first in _SERVER_TOKEN_PREFIXES else TokenKind.ACCOUNT


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: exponential back-off with full jitter, capped twice."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_total_wait: float = 120.0

    def delay(self, failures: int, rng: random.Random) -> float:
        """Full jitter: a uniform pick in [0, min(max_delay, base * 2**(failures - 1))]."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * (2 ** max(failures - 1, 0))))


class Clock(Protocol):
    """Where the client reads the time and waits: back-off, a token's pause, Retry-After.

    The real one by default; tests pass a fake one and drive it without sleeping."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: time.monotonic and asyncio.sleep."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class ClientStats:
    """Counters a caller can read after a run (for summaries and benchmarks)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    max_in_flight: int = 0
    waited_seconds: float = 0.0
    concurrency_cuts: int = 0  # times an overall limit cut the requests in flight
    lowest_concurrency: int = 0  # the fewest requests in flight it allowed
    # per paged listing ("GET /servers"): readings, pages read, the API's TotalCount and the
    # items accepted (the population's completeness, for the pack's manifest)
    listings: dict[str, dict[str, int]] = field(default_factory=dict)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form); None if absent or unusable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


_IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
_GONE_AFTER_RETRY = (
    "no answer to the first attempt; the retry found it gone, so that attempt did it"
)


@dataclass(frozen=True)
class _Call:
    """One API request as every attempt of it sends it."""

    method: str
    path: str
    endpoint: str
    token: str
    needed: TokenKind
    kind: TokenKind
    params: dict[str, Any] | None
    content: bytes | None
    headers: dict[str, str]
    urgent: bool


@dataclass(frozen=True)
class _Failed:
    """An attempt that may be sent again (`retryable`) or gave up the request."""

    error: Exception
    retryable: bool
    maybe_done: bool = False  # it may have been carried out (no answer, 5xx)
    throttled: bool = False  # a 429
    retry_after: float | None = None
    fresh: bool = True  # its token sent nothing in the second before (_pacing.FRESH_AFTER)


_NOT_SENT = object()  # an attempt whose token was paused while it queued for a slot


def _is_gone(exc: PostmarkAPIError) -> bool:
    """A 404, or a 422 saying the object does not exist (ErrorCode 601, "not found")."""
    if isinstance(exc, NotFound) or exc.error_code == 601:
        return True
    message = exc.api_message.lower()
    return "not found" in message or "does not exist" in message


def was_gone_after_retry(message: str) -> bool:
    return message == _GONE_AFTER_RETRY


class GetsOnAiohttp(httpx.AsyncBaseTransport):
    """GETs on aiohttp's transport, every other method on httpx's own, made when the first
    one is sent (a sync sends none, and httpx's pool costs an anyio import)."""

    def __init__(
        self, gets: httpx.AsyncBaseTransport, make_writes: Callable[[], httpx.AsyncBaseTransport]
    ) -> None:
        self.gets = gets
        self.writes: httpx.AsyncBaseTransport | None = None
        self._make_writes = make_writes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            try:
                return await self.gets.handle_async_request(request)
            except httpx.ConnectTimeout as exc:
                # httpx-aiohttp maps every aiohttp connection failure (refused, unknown
                # host, a certificate) to ConnectTimeout: name what happened
                failure = exc.__cause__
                if not isinstance(failure, OSError) or isinstance(failure, TimeoutError):
                    raise
                raise httpx.ConnectError(
                    f"cannot connect to {request.url.host}:{request.url.port} "
                    f"({_os_error_words(failure)})"
                ) from None
        if self.writes is None:
            self.writes = self._make_writes()
        return await self.writes.handle_async_request(request)

    async def aclose(self) -> None:
        await self.gets.aclose()
        if self.writes is not None:
            await self.writes.aclose()


class PostmarkClient:
    """Async client of the Postmark API.

    `account_token` is used for account endpoints; per-server endpoints take the server token
    as an argument. Tokens are held in memory only and never appear in an error message.
    """

    def __init__(
        self,
        account_token: str | None = None,
        *,
        base_url: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        seed: int | None = None,
        on_response: Callable[[str, int], None] | None = None,
        clock: Clock | None = None,
        body_limits: BodyLimits | None = None,
        max_listing_items: int = MAX_LISTING_ITEMS,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.account_token = account_token
        self._tokens: set[str] = set()  # every token this client was given or read
        self._hold([account_token or ""])
        # Userinfo in the base URL (`http://user:pass@gateway`) is sent as Basic auth and
        # kept out of `base_url`, which error messages, logs and run stats show.
        url = httpx.URL((base_url or DEFAULT_BASE_URL).strip().rstrip("/"))
        auth = httpx.BasicAuth(url.username, url.password) if url.userinfo else None
        bare = url.copy_with(username=None, password=None, query=None, fragment=None)
        self.base_url = str(bare).rstrip("/")
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency
        self.timeout = timeout
        self.body_limits = body_limits or BodyLimits()
        self.max_listing_items = max_listing_items
        self.warnings: list[str] = []  # what a caller should pass on (a TotalCount too high)
        self.stats = ClientStats()
        self._rng = random.Random(seed)
        self.clock = clock or SystemClock()
        self._pauses = TokenPauses(
            self.retry.delay,
            self.retry.max_delay,
            self._rng,
            self.clock,
            first_backoff=min(self.retry.base_delay, self.retry.max_delay),
        )
        self._slots = RequestSlots(concurrency)
        self.limit = AdaptiveLimit(concurrency, self.clock)
        self.limit.on_change = self._limit_changed
        self.stats.lowest_concurrency = concurrency
        self._in_flight = 0
        self._order = itertools.count()
        self._on_response = on_response
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        # A plain-http base URL (the emulator) needs no TLS: skip loading the CA bundle
        # (0.1 s a process); https is always verified, and redirects are never followed.
        verify = False if self.base_url.startswith("http://") else httpx.create_ssl_context()
        # GETs go through httpx's API on aiohttp's transport (httpx-aiohttp): the cheapest
        # per request of the configurations measured (docs/performance.md). The writes go
        # on httpx's own (aiohttp sends a PUT or DELETE a second time, unseen, when a
        # connection drops, and a DELETE's retry must know its first attempt may have been
        # carried out); so does everything behind a proxy (HTTPS_PROXY and the like, not
        # bypassed by NO_PROXY): httpx honours every proxy it supports only on its own.
        self._written = asyncio.Event()
        self._proxied = transport is None and _behind_proxy(self.base_url)
        if transport is None and not self._proxied:
            # imported here, not with the module: aiohttp builds two TLS contexts as it is
            # imported (0.1-0.3 s), which every command loading the plugins (an export, a
            # write) would pay without sending a GET
            from httpx_aiohttp import AiohttpTransport

            transport = GetsOnAiohttp(
                AiohttpTransport(verify=verify, limits=limits, trust_env=False),
                lambda: httpx.AsyncHTTPTransport(verify=verify, limits=limits),
            )
        try:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                transport=transport,
                auth=auth,
                limits=limits,
                headers={
                    "Accept": "application/json",
                    "Accept-Encoding": ACCEPT_ENCODING,
                    "User-Agent": "idgraph",
                },
                follow_redirects=False,
                verify=verify,
                event_hooks={"request": [self._sending]},
            )
        except (ImportError, ValueError) as exc:  # a SOCKS proxy without socksio, an ftp:// one
            # httpx's own message quotes the proxy URL (its user name, its query): not passed on
            why = (
                "a SOCKS proxy needs the socksio package (pip install 'httpx[socks]')"
                if isinstance(exc, ImportError)
                else "its scheme is not http, https or socks5"
            )
            raise ProxyUnusable(
                f"the proxy set in the environment (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) for "
                f"{self.base_url} cannot be used: {why}; fix or unset it, or exempt the host "
                "with NO_PROXY"
            ) from None

    def _limit_changed(self, limit: int) -> None:
        self._slots.resize(limit)
        self.stats.concurrency_cuts = self.limit.cuts
        self.stats.lowest_concurrency = self.limit.lowest

    async def _sending(self, _request: httpx.Request) -> None:
        # called as a request is handed to the transport, which writes it (or starts its
        # connection) before the sending task next yields
        self._written.set()

    async def request_written(self) -> None:
        """Return once a request is on its way: work done then overlaps the wait for its
        answer."""
        await self._written.wait()

    async def __aenter__(self) -> PostmarkClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the one request path ---------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """`text` with every token this client holds replaced by its fingerprint: an API,
        gateway or proxy may quote the token it was sent (`Bad or missing API token
        '...'`), and nothing that leaves the client may carry one."""
        for token in sorted((t for t in self._tokens if t in text), key=len, reverse=True):
            text = text.replace(token, token_fingerprint(token))
        return text

    def _hold(self, tokens: Iterable[str]) -> None:
        # a token shorter than MIN_SCRUBBED_TOKEN would rewrite ordinary words of a message
        self._tokens.update(t for t in tokens if len(t) >= MIN_SCRUBBED_TOKEN)

    def _holding(self, servers: list[Server]) -> list[Server]:
        for server in servers:
            self._hold(server.api_tokens)
        return servers

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        kind: TokenKind | None = None,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        gone_is_done: bool = False,
        urgent: bool = False,
    ) -> Any:
        """`_request`, with every token the client holds scrubbed from what it raises."""
        self._hold([token or ""])
        try:
            call = self._call(method, path, token, kind, params, json_body, urgent)
            return await self._request(call, gone_is_done)
        except PostmarkError as exc:
            exc.args = tuple(self.scrub(a) if isinstance(a, str) else a for a in exc.args)
            if isinstance(exc, PostmarkAPIError):
                exc.api_message = self.scrub(exc.api_message)
            raise

    async def _request(self, call: _Call, gone_is_done: bool) -> Any:
        """Send one API request with retries; return the parsed JSON body. With
        `gone_is_done` (a DELETE), "not found" on a retry after an attempt that may have been
        carried out (no answer, 5xx) means that attempt did it: the body says so. An
        `urgent` request waits for a free slot ahead of the others (a listing's pages)."""
        endpoint, token = call.endpoint, call.token
        failures = 0
        waited = 0.0
        maybe_done = False  # an earlier attempt may have been carried out (no answer, 5xx)
        order = next(self._order)  # while its token is paused, the oldest request goes first
        while True:
            # while the token is paused its requests take turns: one at a time, from before
            # its pause is waited out until the answer is read
            async with self._pauses.turn(token, order):
                slept = await self._pauses.wait(token)  # this token's pause, if a 429 set one
                waited += slept
                self.stats.waited_seconds += slept
                outcome = await self._attempt(call, gone_is_done and maybe_done)
            if outcome is _NOT_SENT:
                continue  # the token was throttled while this queued: the slot goes on
            if not isinstance(outcome, _Failed):
                return outcome
            failures += 1
            maybe_done = maybe_done or outcome.maybe_done
            error = outcome.error
            log.info(
                "%s failed (%s); attempt %d of %d",
                endpoint,
                # a 429's error speaks of giving up, which only its last attempt does
                "rate limited, HTTP 429" if outcome.throttled else self.scrub(str(error)),
                failures,
                self.retry.max_attempts,
            )
            if outcome.throttled:
                self.stats.throttled += 1
                # its token's pause, waited out in the token's turn (the oldest first)
                delay = self._pauses.throttled(token, outcome.retry_after, outcome.fresh, failures)
            else:
                delay = self.retry.delay(failures, self._rng)
            if not outcome.retryable or failures >= self.retry.max_attempts:
                raise error
            if waited + delay > self.retry.max_total_wait:
                raise error
            self.stats.retries += 1
            if not outcome.throttled:
                await self.clock.sleep(delay)
                waited += delay
                self.stats.waited_seconds += delay

    def _call(
        self,
        method: str,
        path: str,
        token: str | None,
        kind: TokenKind | None,
        params: dict[str, Any] | None,
        json_body: Any,
        urgent: bool,
    ) -> _Call:
        """The request every attempt sends, its token checked."""
        needed = token_kind_for(path)
        kind = kind or needed
        if token is None:
            token = self.account_token if kind is TokenKind.ACCOUNT else None
        if not token:
            raise WrongTokenKind(
                f"{method} {path} needs {needed.noun} ({needed.header}, "
                f"{needed.where}); none was given",
                endpoint=f"{method} {path}",
                status=401,
                needed=needed.value,
                sent="none",
            )
        endpoint = f"{method} {path}"
        if not (token.isascii() and token.isprintable()):
            raise InvalidToken(
                f"{endpoint}: the {kind.value} token is not printable ASCII, so it cannot be "
                f"sent in {kind.header}; check how it was copied",
                endpoint=endpoint,
            )
        headers = {kind.header: token}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        content = None if json_body is None else json.dumps(json_body).encode()
        return _Call(method, path, endpoint, token, needed, kind, params, content, headers, urgent)

    async def _attempt(self, call: _Call, gone_is_done: bool) -> Any:
        """Send `call` once in a request slot: the parsed answer, a `_Failed` to retry or
        give up on, or `_NOT_SENT` (its token was paused while it queued for the slot).
        `gone_is_done`: an earlier attempt of this DELETE may have been carried out."""
        endpoint = call.endpoint
        async with self._slots.slot(urgent=call.urgent):
            if self._pauses.remaining(call.token) > 0:
                return _NOT_SENT
            self._pauses.claim(call.token)
            await self.limit.paced()
            sent_in = self.limit.sent()
            fresh, sent_at = self._pauses.sending(call.token)
            self._in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
            self.stats.requests += 1
            try:
                # httpx's timeout bounds each read, not the request: a body trickled a
                # byte at a time would never end. The whole attempt has one deadline.
                async with asyncio.timeout(self.timeout):
                    sent = await self._http.send(
                        self._http.build_request(
                            call.method,
                            call.path,
                            params=call.params,
                            content=call.content,
                            headers=call.headers,
                        ),
                        stream=True,
                    )
                    response = await read_body(sent, self.body_limits)
            except BodyRefused as refused:
                raise ResponseTooLarge(
                    f"{endpoint}: {refused}: not read (a Postmark answer is far smaller; "
                    "a proxy or a faulty server sent it)",
                    endpoint=endpoint,
                ) from None
            except TimeoutError:
                error = PostmarkTransportError(
                    f"{endpoint}: no complete answer from {self.base_url} within "
                    f"{self.timeout:g} s (timed out)",
                    endpoint=endpoint,
                )
                return _Failed(error, retryable=call.method in _IDEMPOTENT)
            except httpx.TransportError as exc:
                via = " through the proxy set in the environment" if self._proxied else ""
                error = PostmarkTransportError(
                    f"{endpoint}: no answer from {self.base_url}{via} ({_reason(exc)})",
                    endpoint=endpoint,
                )
                connect = isinstance(exc, httpx.ConnectError)
                retryable = call.method in _IDEMPOTENT or connect
                return _Failed(error, retryable=retryable, maybe_done=not connect)
            finally:
                self._in_flight -= 1
        return self._answered(call, response, sent_in, fresh, sent_at, gone_is_done)

    def _answered(
        self,
        call: _Call,
        response: httpx.Response,
        sent_in: int,
        fresh: bool,
        sent_at: float,
        gone_is_done: bool,
    ) -> Any:
        """The parsed answer to one attempt, or a `_Failed` when it may be retried."""
        log.debug("%s -> HTTP %s", call.endpoint, response.status_code)
        if self._on_response:
            self._on_response(call.endpoint, response.status_code)
        self.limit.answered(sent_in, response.status_code == 429, fresh)
        try:
            answer = self._parse(response, call.endpoint, call.needed, call.kind)
            self._pauses.succeeded(call.token, sent_at, fresh)
            return answer
        except (NotFound, UnprocessableEntity) as exc:
            if gone_is_done and _is_gone(exc):
                # Our own earlier DELETE was carried out; only its answer was lost.
                return {"ErrorCode": 0, "Message": _GONE_AFTER_RETRY}
            raise
        except (PostmarkServerError, RateLimited, MalformedResponse) as exc:
            throttled = isinstance(exc, RateLimited)
            return _Failed(
                exc,
                # A 429 was not processed, so even a POST may be sent again.
                retryable=throttled or call.method in _IDEMPOTENT,
                maybe_done=isinstance(exc, PostmarkServerError),
                throttled=throttled,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                fresh=fresh,
            )

    def _parse(
        self, response: httpx.Response, endpoint: str, needed: TokenKind, sent: TokenKind
    ) -> Any:
        status = response.status_code
        content_type = response.headers.get("content-type", "")
        if 300 <= status < 400:  # never followed, and its body is not the data asked for
            raise PostmarkAPIError(
                f"{endpoint} answered HTTP {status} (a redirect): idgraph follows no redirect "
                "and reads no data from one; check the API URL (--api-url, POSTMARK_API_URL)",
                endpoint=endpoint,
                status=status,
            )
        if status < 300:
            try:
                return response.json()
            except RecursionError:  # the json parser's own depth limit (the recursion limit)
                raise MalformedResponse(
                    f"{endpoint} answered HTTP {status} with JSON nested too deeply to read "
                    f"({len(response.content)} bytes)",
                    endpoint=endpoint,
                ) from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise MalformedResponse(
                    f"{endpoint} answered HTTP {status} with a body that is not valid JSON "
                    f"({content_type or 'no content type'}, {len(response.content)} bytes)",
                    endpoint=endpoint,
                ) from exc
        body = _error_body(response)
        code = body.error_code if body else None
        api_message = body.message if body else ""
        said = f" (ErrorCode {code}: {api_message})" if body else ""
        common = {"endpoint": endpoint, "status": status, "error_code": code}
        if status == 401:
            raise WrongTokenKind(
                _token_message(endpoint, needed, sent) + said,
                needed=needed.value,
                sent=sent.value,
                api_message=api_message,
                **common,
            )
        if status == 429:
            raise RateLimited(
                f"{endpoint}: Postmark is rate limiting (HTTP 429){said}; gave up after the "
                "retry budget (the client slows down by itself: raise --retries or "
                "--max-wait, or try later).",
                api_message=api_message,
                **common,
            )
        if status >= 500:
            raise PostmarkServerError(
                f"{endpoint}: Postmark server error (HTTP {status}){said}",
                api_message=api_message,
                **common,
            )
        if body is None:
            if "html" in content_type or status == 403:
                shown = content_type or "no content type"
                raise NotPostmarkResponse(
                    f"{endpoint} answered HTTP {status} with a non-JSON body ({shown}): not a "
                    "Postmark error (Postmark errors are JSON with an ErrorCode); a proxy or "
                    "network security layer likely blocked the request",
                    endpoint=endpoint,
                )
        if status == 404:
            raise NotFound(
                f"{endpoint}: not found (HTTP 404){said}", api_message=api_message, **common
            )
        if status == 422:
            raise UnprocessableEntity(
                f"{endpoint}: Postmark refused the request (HTTP 422){said}",
                api_message=api_message,
                **common,
            )
        raise PostmarkAPIError(
            f"{endpoint}: HTTP {status}{said}", api_message=api_message, **common
        )

    # -- typed reads ------------------------------------------------------------------------

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return await self.request("GET", path, **kwargs)

    async def list_servers(self, *, page_size: int = PAGE_SIZE) -> list[Server]:
        return self._holding(await self._list_paged("/servers", "Servers", Server, page_size))

    async def get_server(self, server_id: int) -> Server:
        body = await self.get_json(f"/servers/{server_id}")
        return self._holding([_validate(Server, body, f"GET /servers/{server_id}")])[0]

    async def get_current_server(self, server_token: str) -> Server:
        """GET /server: the server a Server token belongs to."""
        body = await self.get_json("/server", token=server_token)
        return self._holding([_validate(Server, body, "GET /server")])[0]

    async def list_sender_signatures(self, *, page_size: int = PAGE_SIZE) -> list[SenderSignature]:
        return await self._list_paged("/senders", "SenderSignatures", SenderSignature, page_size)

    async def get_sender_signature(self, signature_id: int) -> SenderSignature:
        path = f"/senders/{signature_id}"
        return _validate(SenderSignature, await self.get_json(path), f"GET {path}")

    async def list_domains(self, *, page_size: int = PAGE_SIZE) -> list[Domain]:
        return await self._list_paged("/domains", "Domains", Domain, page_size)

    async def get_domain(self, domain_id: int) -> Domain:
        path = f"/domains/{domain_id}"
        return _validate(Domain, await self.get_json(path), f"GET {path}")

    async def list_message_streams(
        self, server_token: str, *, include_archived: bool = True
    ) -> list[MessageStream]:
        params = {
            "MessageStreamType": "All",
            "IncludeArchivedStreams": "true" if include_archived else "false",
        }
        body = await self.get_json("/message-streams", token=server_token, params=params)
        return _validate_items(MessageStream, body, "MessageStreams", "GET /message-streams")

    async def list_webhooks(self, server_token: str) -> list[Webhook]:
        body = await self.get_json("/webhooks", token=server_token)
        return _validate_items(Webhook, body, "Webhooks", "GET /webhooks")

    # -- writes (a 429 is retried: it was not processed; a 5xx or a lost answer is not) -----

    async def create_server(self, fields: dict[str, Any]) -> Server:
        body = await self.request("POST", "/servers", json_body=fields)
        return self._holding([_validate(Server, body, "POST /servers")])[0]

    async def edit_server(self, server_id: int, fields: dict[str, Any]) -> Server:
        """PUT /servers/{id}: Postmark replaces the whole object; send every field."""
        path = f"/servers/{server_id}"
        body = await self.request("PUT", path, json_body=fields)
        return self._holding([_validate(Server, body, f"PUT {path}")])[0]

    async def delete_server(self, server_id: int) -> str:
        body = await self.request("DELETE", f"/servers/{server_id}", gone_is_done=True)
        return str(body.get("Message", "")) if isinstance(body, dict) else ""

    async def create_sender_signature(self, fields: dict[str, Any]) -> SenderSignature:
        body = await self.request("POST", "/senders", json_body=fields)
        return _validate(SenderSignature, body, "POST /senders")

    async def create_webhook(self, server_token: str, fields: dict[str, Any]) -> Webhook:
        body = await self.request("POST", "/webhooks", token=server_token, json_body=fields)
        return _validate(Webhook, body, "POST /webhooks")

    async def edit_webhook(
        self, server_token: str, hook_id: int, fields: dict[str, Any]
    ) -> Webhook:
        path = f"/webhooks/{hook_id}"
        body = await self.request("PUT", path, token=server_token, json_body=fields)
        return _validate(Webhook, body, f"PUT {path}")

    async def delete_webhook(self, server_token: str, hook_id: int) -> str:
        body = await self.request(
            "DELETE", f"/webhooks/{hook_id}", token=server_token, gone_is_done=True
        )
        return str(body.get("Message", "")) if isinstance(body, dict) else ""

    async def _list_paged(self, path: str, key: str, model: type[M], page_size: int) -> list[M]:
        """Read every page of a count/offset listing; the pages after the first in parallel.

        Pages read at different moments can disagree when the account is edited meanwhile
        (a deletion in page 1's range shifts page 2, so an item is never seen), and the
        count alone does not show it when an addition balances the deletion. So a listing
        of more than one page is read again and accepted only when two consecutive reads
        give the same IDs in the same order; after 3 tries it raises ListingChanged."""
        endpoint = f"GET {path}"
        last_error = ""
        previous: list[M] | None = None
        for _attempt in range(4):  # the first listing, then at most 3 tries to confirm it
            objects, pages, problem, note = await self._read_listing(path, key, model, page_size)
            if problem:
                last_error, previous = problem, None
                continue
            if pages == 1 or (
                previous is not None and [o.id for o in previous] == [o.id for o in objects]  # type: ignore[attr-defined]
            ):  # one answer is one moment: nothing to confirm
                if note:
                    self.warnings.append(note)
                return objects
            if previous is not None:
                last_error = "two consecutive readings of every page gave different IDs"
            previous = objects
        raise ListingChanged(
            f"{endpoint}: the listing changed while it was read three times ({last_error}); "
            "the account is being edited: run again when it is quiet",
            endpoint=endpoint,
        )

    async def _read_listing(
        self, path: str, key: str, model: type[M], page_size: int
    ) -> tuple[list[M], int, str, str]:
        """One reading of the pages: (objects, pages read, "" or why the pages disagree,
        "" or a note for the run). A short page ends the listing whatever TotalCount says,
        and no more than `max_listing_items` are asked for."""
        endpoint = f"GET {path}"
        first = await self.get_json(path, params={"count": page_size, "offset": 0}, urgent=True)
        total = _total(first, endpoint)
        first_items = _page_items(first, key, endpoint, 0)
        # a short first page is the whole listing: TotalCount can promise no more pages
        planned = total if len(first_items) >= page_size else len(first_items)
        offsets = list(range(page_size, min(planned, self.max_listing_items), page_size))
        pages = [first] + await together(
            *(
                self.get_json(path, params={"count": page_size, "offset": o}, urgent=True)
                for o in offsets
            )
        )
        read = self.stats.listings.setdefault(endpoint, {"readings": 0, "pages_read": 0})
        read["readings"] += 1
        read["pages_read"] += len(pages)
        read["total_count"] = total
        items: list[Any] = list(first_items)
        for offset, page in zip(offsets, pages[1:], strict=True):
            page_items = _page_items(page, key, endpoint, offset)
            if _total(page, endpoint) != total:
                return [], len(pages), _count_changed(total, page, offset), ""
            items.extend(page_items)
            if len(page_items) < page_size:
                break  # a short page ends the listing
        if len(items) >= self.max_listing_items and total > len(items):
            raise ListingTooLong(
                f"{endpoint}: TotalCount says {total:,} and every page up to "
                f"{self.max_listing_items:,} items was full: stopped there (max_listing_items; "
                "raise it with --max-listing-items if the account really has more)",
                endpoint=endpoint,
            )
        objects = _validate_list(model, items, endpoint)
        distinct = len({obj.id for obj in objects})  # type: ignore[attr-defined]
        if distinct != len(objects) or len(objects) > total:
            why = (
                f"the pages held {len(objects)} items ({distinct} distinct) "
                f"but TotalCount says {total}"
            )
            return [], len(pages), why, ""
        note = ""
        if len(objects) < total:
            note = (
                f"{endpoint}: TotalCount says {total:,}, but the pages ended after "
                f"{len(objects):,} item(s) (a short page); the items read are used"
            )
        read["items"] = len(objects)
        return objects, len(pages), "", note


def _page_items(page: Any, key: str, endpoint: str, offset: int) -> list[Any]:
    page_items = page.get(key) if isinstance(page, dict) else None
    if not isinstance(page_items, list):
        raise MalformedResponse(
            f"{endpoint}: the page at offset {offset} has no '{key}' list", endpoint=endpoint
        )
    return page_items


def _count_changed(total: int, page: dict[str, Any], offset: int) -> str:
    return f"TotalCount changed from {total} to {page['TotalCount']} while paging (offset {offset})"


def token_fingerprint(token: str) -> str:
    """`sha256:` and the first 16 hex digits of the token's SHA-256: idgraph's fingerprint
    (the client stands alone, so it does not import the host's)."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _token_message(endpoint: str, needed: TokenKind, sent: TokenKind) -> str:
    if needed is not sent:
        return (
            f"{endpoint} needs {needed.noun} ({needed.header}, {needed.where}), but "
            f"{sent.noun} was sent ({sent.header}): HTTP 401"
        )
    return (
        f"{endpoint} refused the token (HTTP 401). This endpoint needs {needed.noun} "
        f"({needed.header}, {needed.where}). If the value given is {needed.other.noun} "
        f"({needed.other.where}), that is the cause: Postmark answers a token of the wrong kind "
        "with a bare 401. Otherwise the token was revoked or mistyped"
    )


def _error_body(response: httpx.Response) -> ErrorBody | None:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return ErrorBody.model_validate(data)
    except ValidationError:
        return None


def _total(page: Any, endpoint: str) -> int:
    total = page.get("TotalCount") if isinstance(page, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise MalformedResponse(
            f"{endpoint}: the page has no usable 'TotalCount'", endpoint=endpoint
        )
    return total


def describe_validation_error(exc: ValidationError) -> str:
    """Field paths and reasons only: the offending input (maybe a secret) is never quoted."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "(the object)"
        parts.append(f"field '{where}': {error['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _validate(model: type[M], data: Any, endpoint: str, label: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MalformedResponse(
            f"{endpoint}: {label or 'the ' + model.__name__} does not fit the API's shape: "
            + describe_validation_error(exc),
            endpoint=endpoint,
        ) from None


def _validate_list(model: type[M], items: Iterable[Any], endpoint: str) -> list[M]:
    result = []
    for index, item in enumerate(items):
        ident = item.get("ID") if isinstance(item, dict) else None
        label = f"{model.__name__} #{index}" + (f" (ID {ident!r})" if ident is not None else "")
        result.append(_validate(model, item, endpoint, label))
    return result


def _validate_items(model: type[M], body: Any, key: str, endpoint: str) -> list[M]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise MalformedResponse(f"{endpoint}: the body has no '{key}' list", endpoint=endpoint)
    return _validate_list(model, items, endpoint)


@dataclass
class TokenIdentity:
    """What `identify_token` learned about a token."""

    kind: str  # "account" | "server" | "neither"
    server_id: int | None = None
    server_name: str | None = None
    detail: str = ""
    servers_visible: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def identify_token(
    client: PostmarkClient, token: str, *, refused_as_account: bool = False
) -> TokenIdentity:
    """Tell an Account token from a Server token with two read-only calls (only the second,
    GET /server, when `refused_as_account`: an account-wide call already answered 401)."""
    try:
        if not refused_as_account:
            body = await client.get_json(
                "/servers", token=token, kind=TokenKind.ACCOUNT, params={"count": 1, "offset": 0}
            )
            return TokenIdentity("account", servers_visible=_total(body, "GET /servers"))
    except WrongTokenKind:
        pass
    try:
        server = await client.get_current_server(token)
        return TokenIdentity("server", server_id=server.id, server_name=server.name)
    except WrongTokenKind:
        return TokenIdentity(
            "neither",
            detail="refused both as an Account token (GET /servers) and as a Server token "
            "(GET /server)",
        )


def _reason(exc: Exception) -> str:
    """The exception's kind and, where it gives one, why (refused, unknown host, certificate):
    transport errors name the host at most, never a header or a query value."""
    why = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {why}" if why else type(exc).__name__


def _os_error_words(failure: OSError) -> str:
    """Why a connection failed, in a few words: refused, unknown host, a certificate."""
    cause = getattr(failure, "os_error", None) or getattr(failure, "certificate_error", None)
    failure = cause if isinstance(cause, OSError) else failure
    if isinstance(failure, ssl.SSLError):
        return getattr(failure, "verify_message", None) or failure.reason or str(failure)
    if isinstance(failure, ConnectionRefusedError):
        return "connection refused"
    return failure.strerror or type(failure).__name__


def _behind_proxy(base_url: str) -> bool:
    """Whether the environment's proxy settings (the *_PROXY and NO_PROXY variables httpx
    reads) send requests for `base_url` through a proxy."""
    import urllib.request

    proxies = urllib.request.getproxies()
    url = httpx.URL(base_url)
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(url.host)
