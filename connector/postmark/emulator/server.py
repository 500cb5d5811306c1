"""A Postmark API emulator: a real HTTP server on 127.0.0.1 serving one account.

It answers in the API's shapes, enforces the token kind per endpoint (401, ErrorCode 10),
pages like Postmark (422 for a count out of range) and injects faults on demand: latency,
429 bursts (with or without Retry-After), 5xx, dropped connections, hung responses,
truncated or non-JSON bodies, and a proxy's HTML 403. Tests, the demo and the benchmarks
all use it; `idgraph emulator serve` runs it for a person with curl.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .limits import RateLimit, RateLimiter

log = logging.getLogger("idgraph.emulator")

MAX_PAGE = 500

SENDER_LIST_FIELDS = ("Domain", "EmailAddress", "ReplyToEmailAddress", "Name", "Confirmed", "ID")
DOMAIN_LIST_FIELDS = (
    "Name",
    "SPFVerified",
    "DKIMVerified",
    "WeakDKIM",
    "ReturnPathDomainVerified",
    "ID",
)
# Fixture-only keys nested in a server object; never served as server fields.
_NESTED = ("MessageStreams", "Webhooks")


def load_fixture(name_or_path: str | Path = "account.json") -> dict[str, Any]:
    """An account fixture: a path, or the name of one shipped in the emulator's fixtures/."""
    path = Path(name_or_path)
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    text = (
        resources.files("idgraph.connector.postmark.emulator")
        .joinpath("fixtures", str(name_or_path))
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


@dataclass
class Fault:
    """A fault served instead of the real answer to the next `times` requests that match.

    kind: "status" (HTTP `status`, JSON error body, optional `retry_after` header),
    "drop" (close the connection without answering), "reset_mid_body" (send half the body,
    then close), "hang" (answer after `seconds`), "truncated" (a cut JSON body),
    "not_json" (200 with a body that is not JSON), "html_403" (a proxy's HTML page),
    "trickle" (the real answer, its body sent one byte every `delay` seconds),
    "drop_after" (carry the request out, then close the connection without answering: a
    write that happened but whose answer was lost).
    `match` is a regular expression searched in "METHOD /path?query".
    """

    kind: str
    match: str = ""
    times: int = 1
    status: int = 500
    retry_after: str | None = None
    seconds: float = 5.0
    after: int = 0  # let this many matching requests through first
    delay: float = 0.05  # "trickle": seconds between two bytes of the body
    error_code: int | None = None  # "status": the ErrorCode and Message of the JSON body
    message: str | None = None


# Random faults by name (`idgraph emulator serve --faults 5xx=0.1,drop=0.05`): each a Fault.
RANDOM_FAULTS: dict[str, Callable[[random.Random], Fault]] = {
    "429": lambda rng: Fault(kind="status", status=429),
    "5xx": lambda rng: Fault(kind="status", status=rng.choice((500, 502, 503))),
    "drop": lambda rng: Fault(kind="drop"),
    "reset": lambda rng: Fault(kind="reset_mid_body"),
    "malformed": lambda rng: Fault(kind=rng.choice(("truncated", "not_json"))),
    "html": lambda rng: Fault(kind="html_403"),
}


def parse_fault_rates(text: str) -> dict[str, float]:
    """`5xx=0.1,drop=0.05,malformed=0.02` -> {name: share of requests}; ValueError naming
    the bad part."""
    rates: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep or name not in RANDOM_FAULTS:
            raise ValueError(
                f"{part!r}: use NAME=SHARE with NAME one of {', '.join(RANDOM_FAULTS)}"
            )
        try:
            rate = float(raw)
        except ValueError:
            raise ValueError(f"{part!r}: {raw!r} is not a number") from None
        if not 0 <= rate <= 1:
            raise ValueError(f"{part!r}: the share must be between 0 and 1")
        rates[name] = rate
    if sum(rates.values()) > 1:
        raise ValueError("the shares add up to more than 1")
    return rates


@dataclass
class EmulatorStats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    by_endpoint: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)


class PostmarkEmulator:
    """Serves `account` (a fixture dict) on 127.0.0.1 at an ephemeral port."""

    def __init__(
        self,
        account: dict[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        rate_limit_fraction: float = 0.0,
        seed: int = 0,
        server_limit: int | None = None,
        fault_rates: dict[str, float] | None = None,
        rate_limit: RateLimit | None = None,
        token_rate_limit: RateLimit | None = None,
        every_nth_429: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = copy.deepcopy(account if account is not None else load_fixture())
        self.latency = latency
        self.rate_limit_fraction = rate_limit_fraction
        # limits it enforces without telling (token buckets, a bare 429): see limits.py
        self.limits = RateLimiter(rate_limit, token_rate_limit, clock)
        self.every_nth_429 = every_nth_429  # every Nth request answered 429 (not its retry)
        self.fault_rates = dict(fault_rates or {})  # RANDOM_FAULTS name -> share of requests
        self.server_limit = (
            server_limit if server_limit is not None else self.account.get("ServerLimit")
        )
        self.faults: list[Fault] = []
        self.stats = EmulatorStats()
        self.before_request: Callable[[str, str, dict[str, list[str]]], None] | None = None
        self.lock = threading.RLock()
        self._rng = random.Random(seed)
        self._next_id = 1 + max(
            [s["ID"] for s in self.account.get("Servers", [])]
            + [s["ID"] for s in self.account.get("SenderSignatures", [])]
            + [d["ID"] for d in self.account.get("Domains", [])]
            + [w["ID"] for s in self.account.get("Servers", []) for w in s.get("Webhooks", [])]
            + [0]
        )
        self._httpd = _Server((host, port), _Handler)
        self._httpd.emulator = self
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # shutdown() waits for serve_forever to notice, one poll at most: the default 0.5 s
    # poll made every stop (every test's teardown) take about half a second.
    POLL_INTERVAL = 0.01

    def start(self) -> PostmarkEmulator:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": self.POLL_INTERVAL},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> PostmarkEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    # -- account helpers --------------------------------------------------------------------

    @property
    def account_tokens(self) -> list[str]:
        return list(self.account.get("AccountTokens", []))

    def servers(self) -> list[dict[str, Any]]:
        return self.account.setdefault("Servers", [])

    def server(self, server_id: int) -> dict[str, Any] | None:
        return next((s for s in self.servers() if s["ID"] == server_id), None)

    def server_by_token(self, token: str) -> dict[str, Any] | None:
        return next((s for s in self.servers() if token in s.get("ApiTokens", [])), None)

    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def inject(self, kind: str, match: str = "", times: int = 1, **options: Any) -> Fault:
        """Queue a fault; see `Fault`."""
        fault = Fault(kind=kind, match=match, times=times, **options)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, request_line: str, number: int = 0) -> Fault | None:
        """The fault for request `request_line`, the `number`-th this emulator received."""
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and re.search(fault.match, request_line):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    return fault
            if self.every_nth_429 and number % self.every_nth_429 == 0:
                return Fault(kind="status", status=429)
            if self.rate_limit_fraction and self._rng.random() < self.rate_limit_fraction:
                return Fault(kind="status", status=429)
            if self.fault_rates:
                draw = self._rng.random()
                for name, rate in self.fault_rates.items():
                    if draw < rate:
                        return RANDOM_FAULTS[name](self._rng)
                    draw -= rate
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True
    emulator: PostmarkEmulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (a cancelled request) is normal here: stay quiet."""
        log.debug("emulator: connection from %s ended early", client_address, exc_info=True)


class ApiError(Exception):
    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _unauthorized(kind: str, given: bool) -> ApiError:
    if not given:
        return ApiError(
            401,
            10,
            "No Account or Server API tokens were supplied in the HTTP headers. Please add a "
            "header for either X-Postmark-Server-Token or X-Postmark-Account-Token.",
        )
    return ApiError(401, 10, f"Request does not contain a valid {kind} token.")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second waits for the
    # client's delayed ACK (about 40 ms a request on a kept-alive connection).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # quiet: tests and the demo read their own output

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing ---------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        with emulator.lock:
            emulator.stats.requests += 1
            number = emulator.stats.requests
            emulator.stats.in_flight += 1
            emulator.stats.max_in_flight = max(
                emulator.stats.max_in_flight, emulator.stats.in_flight
            )
            emulator.stats.by_endpoint[f"{method} {_route_name(path)}"] += 1
        try:
            token = (
                self.headers.get("X-Postmark-Account-Token")
                or self.headers.get("X-Postmark-Server-Token")
                or ""
            )
            admitted = emulator.limits.admit(token)  # decided as it arrives
            if emulator.latency:
                time.sleep(emulator.latency)
            if not admitted:
                self._send(429, b"", "application/json")  # bare: no body, no headers
                return
            if emulator.before_request:
                emulator.before_request(method, path, query)
            fault = emulator.take_fault(f"{method} {path}?{parts.query}", number)
            trickle = fault.delay if fault is not None and fault.kind == "trickle" else None
            if fault is not None and fault.kind == "drop_after":
                try:
                    self._dispatch(emulator, method, path, query, raw_body)
                except ApiError:
                    pass
                self.close_connection = True
                self.connection.close()
                return
            if fault is not None and trickle is None and self._serve_fault(fault):
                return
            try:
                status, body = self._dispatch(emulator, method, path, query, raw_body)
            except ApiError as err:
                if err.code is None:
                    self._send(err.status, b"", "application/json")
                    return
                status, body = err.status, {"ErrorCode": err.code, "Message": err.message}
            if trickle is not None:
                self._trickle(status, json.dumps(body).encode(), trickle)
                return
            self._send_json(status, body)
        finally:
            with emulator.lock:
                emulator.stats.in_flight -= 1

    def _send(self, status: int, payload: bytes, content_type: str, extra: dict | None = None):
        with self.server.emulator.lock:
            self.server.emulator.stats.statuses[status] += 1
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _trickle(self, status: int, payload: bytes, delay: float) -> None:
        """The whole answer, its body one byte at a time: every read is quick, the request
        is not. Stops when the client has gone."""
        with self.server.emulator.lock:
            self.server.emulator.stats.statuses[status] += 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            for index in range(len(payload)):
                self.wfile.write(payload[index : index + 1])
                self.wfile.flush()
                time.sleep(delay)
        except OSError:  # the client gave up and closed the connection
            self.close_connection = True

    def _send_json(self, status: int, body: Any, extra: dict | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", extra)

    def _serve_fault(self, fault: Fault) -> bool:
        """Serve the fault; False when it lets the real answer through after a delay."""
        if fault.kind == "status":
            messages = {
                429: (429, "Rate Limit Exceeded: reduce the concurrency and request rate."),
                500: (None, "Internal server error."),
                503: (None, "Service unavailable: planned maintenance."),
            }
            code, message = messages.get(fault.status, (None, "Error."))
            code = fault.error_code if fault.error_code is not None else code
            message = fault.message or message
            body: dict[str, Any] = {"Message": message}
            if code is not None:
                body = {"ErrorCode": code, "Message": message}
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else None
            self._send_json(fault.status, body, extra)
            return True
        if fault.kind == "drop":
            self.close_connection = True
            self.connection.close()
            return True
        if fault.kind == "reset_mid_body":
            payload = json.dumps({"TotalCount": 1, "Servers": [{"ID": 1, "Name": "x" * 200}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2].encode())
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return True
        if fault.kind == "hang":
            time.sleep(fault.seconds)
            return False
        if fault.kind == "truncated":
            self._send(200, b'{"TotalCount": 3, "Servers": [{"ID": 1, "Na', "application/json")
            return True
        if fault.kind == "not_json":
            self._send(200, b"OK, but not JSON", "text/plain")
            return True
        if fault.kind == "html_403":
            page = b"<html><body><h1>403 Forbidden</h1>Request blocked.</body></html>"
            self._send(403, page, "text/html")
            return True
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _dispatch(
        self,
        emulator: PostmarkEmulator,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw_body: bytes,
    ) -> tuple[int, Any]:
        if "application/json" not in (self.headers.get("Accept") or ""):
            raise ApiError(415, None, "")
        route = _find_route(method, path)
        if route is None:
            if any(pattern.fullmatch(path) for _m, pattern, _k, _f in _ROUTES):
                raise ApiError(405, None, "")
            raise ApiError(404, None, "")
        _method, pattern, kind, handler = route
        match = pattern.fullmatch(path)
        assert match is not None
        context = _Context(emulator, query, match.groupdict(), raw_body)
        if kind == "Account":
            token = self.headers.get("X-Postmark-Account-Token")
            if token is None or token not in emulator.account_tokens:
                raise _unauthorized("Account", token is not None or _has_other(self, "Server"))
        else:
            token = self.headers.get("X-Postmark-Server-Token")
            server = emulator.server_by_token(token) if token else None
            if server is None:
                raise _unauthorized("Server", token is not None or _has_other(self, "Account"))
            context.server = server
        if method in ("POST", "PUT") and raw_body:
            if "application/json" not in (self.headers.get("Content-Type") or ""):
                raise ApiError(415, None, "")
            try:
                context.body = json.loads(raw_body)
            except json.JSONDecodeError:
                raise ApiError(422, 402, "Received invalid JSON input.") from None
        with emulator.lock:
            return handler(context)


def _has_other(handler: BaseHTTPRequestHandler, kind: str) -> bool:
    return handler.headers.get(f"X-Postmark-{kind}-Token") is not None


@dataclass
class _Context:
    emulator: PostmarkEmulator
    query: dict[str, list[str]]
    params: dict[str, str]
    raw_body: bytes
    body: Any = None
    server: dict[str, Any] | None = None

    def arg(self, name: str) -> str | None:
        for key, values in self.query.items():
            if key.lower() == name.lower():
                return values[0]
        return None


# -- endpoint handlers ----------------------------------------------------------------------


def _public_server(server: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in server.items() if k not in _NESTED}


def _page(ctx: _Context, items: list[Any], key: str, code: int) -> tuple[int, Any]:
    count, offset = ctx.arg("count"), ctx.arg("offset")
    if count is None or offset is None:
        raise ApiError(422, code, "The 'count' and 'offset' query parameters are required.")
    try:
        count_n, offset_n = int(count), int(offset)
    except ValueError:
        raise ApiError(422, code, "'count' and 'offset' must be integers.") from None
    if not 1 <= count_n <= MAX_PAGE or offset_n < 0:
        raise ApiError(422, code, f"Count must be between 1 and {MAX_PAGE}, and offset 0 or more.")
    return 200, {"TotalCount": len(items), key: items[offset_n : offset_n + count_n]}


def list_servers(ctx: _Context) -> tuple[int, Any]:
    servers = [_public_server(s) for s in ctx.emulator.servers()]
    name = ctx.arg("name")
    if name:
        servers = [s for s in servers if name.lower() in s["Name"].lower()]
    return _page(ctx, servers, "Servers", 600)


def get_server(ctx: _Context) -> tuple[int, Any]:
    server = ctx.emulator.server(int(ctx.params["id"]))
    if server is None:
        raise ApiError(404, 601, "Server does not exist.")
    return 200, _public_server(server)


def current_server(ctx: _Context) -> tuple[int, Any]:
    assert ctx.server is not None
    return 200, _public_server(ctx.server)


def list_senders(ctx: _Context) -> tuple[int, Any]:
    items = [
        {k: s.get(k) for k in SENDER_LIST_FIELDS}
        for s in ctx.emulator.account.get("SenderSignatures", [])
    ]
    return _page(ctx, items, "SenderSignatures", 500)


def get_sender(ctx: _Context) -> tuple[int, Any]:
    sender_id = int(ctx.params["id"])
    for sender in ctx.emulator.account.get("SenderSignatures", []):
        if sender["ID"] == sender_id:
            return 200, sender
    raise ApiError(422, 501, "Sender Signature not found.")


def list_domains(ctx: _Context) -> tuple[int, Any]:
    items = [
        {k: d.get(k) for k in DOMAIN_LIST_FIELDS} for d in ctx.emulator.account.get("Domains", [])
    ]
    return _page(ctx, items, "Domains", 511)


def get_domain(ctx: _Context) -> tuple[int, Any]:
    domain_id = int(ctx.params["id"])
    for domain in ctx.emulator.account.get("Domains", []):
        if domain["ID"] == domain_id:
            return 200, domain
    raise ApiError(422, 510, "This domain was not found.")


def list_streams(ctx: _Context) -> tuple[int, Any]:
    assert ctx.server is not None
    streams = ctx.server.get("MessageStreams", [])
    wanted = (ctx.arg("MessageStreamType") or "All").lower()
    if wanted not in ("all", "inbound", "transactional", "broadcasts"):
        raise ApiError(422, 1221, "Invalid MessageStreamType.")
    archived = (ctx.arg("IncludeArchivedStreams") or "false").lower() == "true"
    selected = [
        s
        for s in streams
        if (wanted == "all" or s.get("MessageStreamType", "").lower() == wanted)
        and (archived or not s.get("ArchivedAt"))
    ]
    return 200, {"MessageStreams": selected, "TotalCount": len(selected)}


def list_webhooks(ctx: _Context) -> tuple[int, Any]:
    assert ctx.server is not None
    hooks = ctx.server.get("Webhooks", [])
    stream = ctx.arg("MessageStream")
    if stream is not None:
        if stream not in {s["ID"] for s in ctx.server.get("MessageStreams", [])}:
            raise ApiError(422, 1235, "The 'MessageStream' provided does not exist on this server.")
        hooks = [h for h in hooks if h.get("MessageStream") == stream]
    return 200, {"Webhooks": hooks}


def get_webhook(ctx: _Context) -> tuple[int, Any]:
    assert ctx.server is not None
    hook_id = int(ctx.params["id"])
    for hook in ctx.server.get("Webhooks", []):
        if hook["ID"] == hook_id:
            return 200, hook
    raise ApiError(404, 12, "Webhook not found.")


_ROUTES: list[tuple[str, re.Pattern[str], str, Callable[[_Context], tuple[int, Any]]]] = []


def route(method: str, pattern: str, kind: str):
    """Register an endpoint of the emulator (used by this module and by write endpoints)."""

    def register(handler: Callable[[_Context], tuple[int, Any]]):
        _ROUTES.append((method, re.compile(pattern), kind, handler))
        return handler

    return register


route("GET", r"/servers", "Account")(list_servers)
route("GET", r"/servers/(?P<id>\d+)", "Account")(get_server)
route("GET", r"/server", "Server")(current_server)
route("GET", r"/senders", "Account")(list_senders)
route("GET", r"/senders/(?P<id>\d+)", "Account")(get_sender)
route("GET", r"/domains", "Account")(list_domains)
route("GET", r"/domains/(?P<id>\d+)", "Account")(get_domain)
route("GET", r"/message-streams", "Server")(list_streams)
route("GET", r"/webhooks", "Server")(list_webhooks)
route("GET", r"/webhooks/(?P<id>\d+)", "Server")(get_webhook)


def _find_route(method: str, path: str):
    for entry in _ROUTES:
        if entry[0] == method and entry[1].fullmatch(path):
            return entry
    return None


def _route_name(path: str) -> str:
    return re.sub(r"/\d+", "/{id}", path)


# -- write endpoints (the operational scenarios) --------------------------------------------

SERVER_DEFAULTS: dict[str, Any] = {
    "Color": "Purple",
    "SmtpApiActivated": True,
    "RawEmailEnabled": False,
    "InboundHookUrl": "",
    "BounceHookUrl": "",
    "OpenHookUrl": "",
    "DeliveryHookUrl": "",
    "ClickHookUrl": "",
    "PostFirstOpenOnly": False,
    "InboundDomain": "",
    "InboundSpamThreshold": 0,
    "TrackOpens": False,
    "TrackLinks": "None",
    "IncludeBounceContentInHook": True,
    "EnableSmtpApiErrorHooks": False,
}
SERVER_READ_ONLY = (
    "ID",
    "ApiTokens",
    "ServerLink",
    "InboundAddress",
    "InboundHash",
    "DeliveryType",
    "MessageStreams",
    "Webhooks",
)
COLORS = {"purple", "blue", "turquoise", "green", "red", "yellow", "grey", "orange"}
PUBLIC_DOMAINS = {"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com"}


def _body(ctx: _Context) -> dict[str, Any]:
    if not isinstance(ctx.body, dict):
        raise ApiError(422, 402, "Received invalid JSON input.")
    return ctx.body


def _check_server_fields(ctx: _Context, body: dict[str, Any], own_id: int | None) -> None:
    name = body.get("Name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(422, 608, "Server name missing or invalid.")
    if any(s["Name"] == name and s["ID"] != own_id for s in ctx.emulator.servers()):
        raise ApiError(422, 603, "This server name already exists.")
    color = body.get("Color")
    if color is not None and str(color).lower() not in COLORS:
        raise ApiError(422, 607, "Invalid server color.")


def create_server(ctx: _Context) -> tuple[int, Any]:
    body = _body(ctx)
    _check_server_fields(ctx, body, None)
    limit = ctx.emulator.server_limit
    if limit is not None and len(ctx.emulator.servers()) >= limit:
        # Postmark documents no ErrorCode for the plan's server cap; this is the emulator's.
        raise ApiError(422, 605, f"You have reached the limit of {limit} servers for your plan.")
    server_id = ctx.emulator.new_id()
    token = str(uuid.UUID(int=ctx.emulator._rng.getrandbits(128), version=4))
    server = {
        "ID": server_id,
        **SERVER_DEFAULTS,
        **{k: v for k, v in body.items() if k not in SERVER_READ_ONLY},
        "ApiTokens": [token],
        "DeliveryType": body.get("DeliveryType", "Live"),
        "ServerLink": f"https://account.postmarkapp.com/servers/{server_id}/streams",
        "InboundAddress": f"{server_id:08x}@inbound.postmarkapp.com",
        "InboundHash": f"{server_id:08x}",
        "MessageStreams": [
            {
                "ID": "outbound",
                "ServerID": server_id,
                "Name": "Default Transactional Stream",
                "Description": None,
                "MessageStreamType": "Transactional",
                "CreatedAt": "2026-11-27T00:00:00-05:00",
                "UpdatedAt": None,
                "ArchivedAt": None,
                "ExpectedPurgeDate": None,
                "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "None"},
            },
        ],
        "Webhooks": [],
    }
    ctx.emulator.servers().append(server)
    return 200, _public_server(server)


def edit_server(ctx: _Context) -> tuple[int, Any]:
    """PUT replaces the whole object: a field left out goes back to its default."""
    server = ctx.emulator.server(int(ctx.params["id"]))
    if server is None:
        raise ApiError(404, 601, "Server does not exist.")
    body = _body(ctx)
    _check_server_fields(ctx, body, server["ID"])
    kept = {k: server[k] for k in SERVER_READ_ONLY if k in server}
    server.clear()
    server.update(SERVER_DEFAULTS)
    server.update({k: v for k, v in body.items() if k not in SERVER_READ_ONLY})
    server.update(kept)
    return 200, _public_server(server)


def delete_server(ctx: _Context) -> tuple[int, Any]:
    server = ctx.emulator.server(int(ctx.params["id"]))
    if server is None:
        raise ApiError(404, 601, "Server does not exist.")
    if not ctx.emulator.account.get("ServerDeleteEnabled", True):
        raise ApiError(422, 604, "You don't have delete access.")
    ctx.emulator.account["Servers"] = [s for s in ctx.emulator.servers() if s is not server]
    return 200, {"ErrorCode": 0, "Message": f"Server {server['ID']} removed."}


def create_sender(ctx: _Context) -> tuple[int, Any]:
    body = _body(ctx)
    email = body.get("FromEmail")
    if not body.get("Name") or not isinstance(email, str) or "@" not in email:
        raise ApiError(422, 520, "Name and FromEmail are required.")
    domain = email.rpartition("@")[2].lower()
    if domain in PUBLIC_DOMAINS:
        raise ApiError(422, 503, "You cannot use a public domain.")
    senders = ctx.emulator.account.setdefault("SenderSignatures", [])
    if any(s["EmailAddress"].lower() == email.lower() for s in senders):
        raise ApiError(422, 504, "This signature already exists.")
    sender = {
        "ID": ctx.emulator.new_id(),
        "Domain": domain,
        "EmailAddress": email,
        "ReplyToEmailAddress": body.get("ReplyToEmail", ""),
        "Name": body["Name"],
        "Confirmed": False,
        "SPFVerified": False,
        "DKIMVerified": False,
        "ReturnPathDomainVerified": False,
        "ConfirmationPersonalNote": body.get("ConfirmationPersonalNote"),
    }
    senders.append(sender)
    return 200, sender


def _stream_or_fail(ctx: _Context, stream: Any) -> None:
    assert ctx.server is not None
    if stream not in {s["ID"] for s in ctx.server.get("MessageStreams", [])}:
        raise ApiError(422, 1235, "The 'MessageStream' provided does not exist on this server.")


def _check_url(url: Any) -> None:
    if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
        raise ApiError(422, 606, "Invalid webhook URL.")


def create_webhook(ctx: _Context) -> tuple[int, Any]:
    assert ctx.server is not None
    body = _body(ctx)
    _check_url(body.get("Url"))
    stream = body.get("MessageStream", "outbound")
    _stream_or_fail(ctx, stream)
    hook = {
        "ID": ctx.emulator.new_id(),
        "Url": body["Url"],
        "MessageStream": stream,
        "HttpAuth": body.get("HttpAuth"),
        "HttpHeaders": body.get("HttpHeaders", []),
        "Triggers": body.get("Triggers", {}),
    }
    ctx.server.setdefault("Webhooks", []).append(hook)
    return 200, hook


def _own_hook(ctx: _Context) -> dict[str, Any]:
    assert ctx.server is not None
    for hook in ctx.server.get("Webhooks", []):
        if hook["ID"] == int(ctx.params["id"]):
            return hook
    raise ApiError(404, 12, "Webhook not found.")


def edit_webhook(ctx: _Context) -> tuple[int, Any]:
    hook = _own_hook(ctx)
    body = _body(ctx)
    if "Url" in body:
        _check_url(body["Url"])
    hook.update(
        {k: v for k, v in body.items() if k in ("Url", "HttpAuth", "HttpHeaders", "Triggers")}
    )
    return 200, hook


def delete_webhook(ctx: _Context) -> tuple[int, Any]:
    hook = _own_hook(ctx)
    assert ctx.server is not None
    ctx.server["Webhooks"] = [h for h in ctx.server["Webhooks"] if h is not hook]
    return 200, {"ErrorCode": 0, "Message": f"Webhook {hook['ID']} removed."}


route("POST", r"/servers", "Account")(create_server)
route("PUT", r"/servers/(?P<id>\d+)", "Account")(edit_server)
route("DELETE", r"/servers/(?P<id>\d+)", "Account")(delete_server)
route("POST", r"/senders", "Account")(create_sender)
route("POST", r"/webhooks", "Server")(create_webhook)
route("PUT", r"/webhooks/(?P<id>\d+)", "Server")(edit_webhook)
route("DELETE", r"/webhooks/(?P<id>\d+)", "Server")(delete_webhook)
