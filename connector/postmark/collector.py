"""Get (HTTP through the client) and transform (API objects -> nodes and edges) for Postmark.

Secrets are dropped in `transform`: tokens become fingerprints, webhook passwords and header
values are never copied, URLs lose their userinfo and query values. The host loads the result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from idgraph.plugin import (
    REDACTED,
    Edge,
    Node,
    ascii_domain,
    canonical_email,
    clean_graph,
    fingerprint,
    node_id,
    person_id,
    read_url,
    redact_url,
    token_suffix,
    url_host,
)

from ._client import PostmarkClient
from ._errors import InvalidToken, NotFound, PostmarkError, UnprocessableEntity, WrongTokenKind
from ._models import Domain, MessageStream, SenderSignature, Server, Webhook, build_validator
from ._tasks import together
from .names import (
    ACCOUNT,
    ACCOUNT_TOKEN,
    ACCOUNT_TOKEN_SCOPE,
    BELONGS_TO,
    CAN_SEND_AS,
    DELIVERS_TO,
    DOMAIN,
    ENDPOINT,
    GRANTS,
    HAS_CREDENTIAL,
    HAS_DOMAIN,
    HAS_SENDER,
    HAS_SENDING_SCOPE,
    HAS_SERVER,
    HAS_STREAM,
    HAS_WEBHOOK,
    INCLUDES,
    IS,
    PERSON,
    SENDER,
    SENDING_SCOPE,
    SERVER,
    SERVER_TOKEN,
    SERVER_TOKEN_SCOPE,
    STREAM,
    WEBHOOK,
)

# servers read at once per request slot (a server whose token is paused waits aside)
SERVERS_PER_SLOT = 8


@dataclass
class RawAccount:
    """Everything `fetch_account` read, still as API objects (tokens in memory only)."""

    servers: list[Server]
    senders: list[SenderSignature]
    domains: list[Domain]
    streams: dict[int, list[MessageStream]] = field(default_factory=dict)
    webhooks: dict[int, list[Webhook]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    vanished: set[int] = field(default_factory=set)


class _AccountRead:
    """One `fetch_account`: what it has read, and its progress (calls done of those known)."""

    def __init__(
        self,
        client: PostmarkClient,
        *,
        sender_details: bool,
        progress: Callable[[str, int, int | None], None],
        parts: frozenset[str],
        on_read: Callable[[RawAccount, Server | None], None],
    ) -> None:
        self.client, self.sender_details, self.parts = client, sender_details, parts
        self.progress, self.on_read = progress, on_read
        self.raw = RawAccount(servers=[], senders=[], domains=[])
        # the server listing goes alone first: everything after waits for it, and the
        # Account token's other listings sent with it could meet a limit per token before
        # it and make it wait its turn (docs/postmark.md, "Rate limits")
        self.servers_listed = asyncio.Event()
        self.done = 0
        self.total: int | None = None

    def advance(self, what: str) -> None:
        self.done += 1
        self.progress(what, self.done, self.total)

    async def one_server(self, server: Server) -> None:
        try:
            await _fetch_server(self.client, server, self.raw)
        finally:
            self.advance("reading each server's message streams and webhooks")
        self.on_read(self.raw, server)

    async def one_sender(self, index: int) -> None:
        raw = self.raw
        try:
            raw.senders[index] = await self.client.get_sender_signature(raw.senders[index].id)
        except PostmarkError as exc:
            raw.errors.append(f"sender signature {raw.senders[index].id}: {exc}")
        finally:
            self.advance("reading sender signature details")

    async def servers_and_their_parts(self) -> None:
        if not self.parts & {"servers", "streams"}:
            self.servers_listed.set()
            return
        # set only once listed: a failed listing fails the read, and `together` cancels
        # the other listings still waiting for it (none is sent in vain)
        self.raw.servers = await self.client.list_servers()
        self.servers_listed.set()
        if "streams" in self.parts:
            self.total = (self.total or 0) + len(self.raw.servers)
            self.progress(
                "reading each server's message streams and webhooks", self.done, self.total
            )
            # as many workers as requests may be in flight, each taking the next server:
            # the first calls go out at once, not after a task for every server has started
            waiting = iter(self.raw.servers)

            async def worker() -> None:
                for server in waiting:
                    await self.one_server(server)

            # SERVERS_PER_SLOT workers per request slot: servers whose token is paused (a 429)
            # leave the slots to others
            workers = self.client.concurrency * SERVERS_PER_SLOT
            await together(*(worker() for _ in range(workers)))

    async def senders_and_their_details(self) -> None:
        if "senders" not in self.parts:
            return
        self.raw.senders = await self.client.list_sender_signatures()
        if self.sender_details:
            self.total = (self.total or 0) + len(self.raw.senders)
            await together(*(self.one_sender(i) for i in range(len(self.raw.senders))))

    async def domains(self) -> None:
        if "domains" in self.parts:
            self.raw.domains = await self.client.list_domains()

    async def senders_and_domains(self) -> None:
        await self.servers_listed.wait()
        await together(self.senders_and_their_details(), self.domains())
        self.on_read(self.raw, None)


async def _build_server_validator(client: PostmarkClient) -> None:
    # Every server's calls wait for the server listing to be validated, and building the
    # Server validator takes longer than that: build it while the answer is on its way
    await client.request_written()
    build_validator(Server)


async def fetch_account(
    client: PostmarkClient,
    *,
    sender_details: bool = False,
    progress: Callable[[str, int, int | None], None] = lambda *_: None,
    parts: frozenset[str] = frozenset({"servers", "senders", "domains", "streams"}),
    on_read: Callable[[RawAccount, Server | None], None] = lambda *_: None,
) -> RawAccount:
    """Read servers, senders and domains (Account token), then each server's streams and
    webhooks with that server's own token, `client.concurrency` at a time; only `parts`.

    A server's streams and webhooks are asked for as soon as the server listing is read,
    while the sender and domain listings may still be on their way. `on_read(raw, server)`
    is called once a server's own calls are done, and `on_read(raw, None)` once the sender
    and domain listings are: what they read does not change afterwards."""

    read = _AccountRead(
        client, sender_details=sender_details, progress=progress, parts=parts, on_read=on_read
    )
    progress("listing servers, sender signatures and domains", 0, None)
    meanwhile = asyncio.create_task(_build_server_validator(client))
    try:
        await together(read.servers_and_their_parts(), read.senders_and_domains())
    finally:
        meanwhile.cancel()
    raw = read.raw
    if raw.vanished:
        raw.servers = [s for s in raw.servers if s.id not in raw.vanished]
    return raw


async def _fetch_server(client: PostmarkClient, server: Server, raw: RawAccount) -> None:
    label = f"server {server.id} ({server.name!r})"
    if not server.api_tokens:
        raw.warnings.append(
            f"{label} has no API token in ApiTokens: its message streams and webhooks "
            "cannot be read and are left out"
        )
        return
    last_error: PostmarkError | None = None
    for token in server.api_tokens:
        try:
            streams, hooks = await together(
                client.list_message_streams(token), client.list_webhooks(token)
            )
        except PostmarkError as exc:
            if _says_gone(exc):
                last_error = exc
                continue  # this token (or its server) is gone since the listing: try the next
            raw.errors.append(f"{label}: {exc}")
            return
        raw.streams[server.id] = streams
        raw.webhooks[server.id] = hooks
        return
    # One rule for "gone", whatever the server's own calls answered (401, 404, 422 "not
    # found"/"invalid token"): ask the account. Really gone: left out with a warning, and
    # the run stays complete. Still there: its streams and webhooks are unknown, so the
    # run is partial.
    try:
        await client.get_server(server.id)
    except NotFound:
        raw.vanished.add(server.id)
        raw.warnings.append(f"{label} was deleted while the sync ran; it is left out")
        return
    except PostmarkError as exc:
        last_error = exc
    raw.errors.append(
        f"{label}: it is still listed, but every token in its ApiTokens was refused or said "
        f"it is gone ({last_error})"
    )


# ErrorCodes with which Postmark says a token or the object it names does not exist.
_GONE_CODES = frozenset({10, 601})
_GONE_WORDS = ("not found", "does not exist", "invalid token", "bad or missing")


def _says_gone(exc: PostmarkError) -> bool:
    """Whether a server's own call answered that its token or the server is gone."""
    if isinstance(exc, (WrongTokenKind, InvalidToken, NotFound)):
        return True
    if isinstance(exc, UnprocessableEntity):
        said = exc.api_message.lower()
        return exc.error_code in _GONE_CODES or any(word in said for word in _GONE_WORDS)
    return False


def transform(
    raw: RawAccount, *, account_label: str, account_token: str
) -> tuple[list[Node], list[Edge]]:
    """API objects -> nodes and edges of the identity graph; no secret survives this step,
    and no invalid Unicode (replaced, with a warning in `raw.warnings`)."""
    return Transformer(account_label=account_label, account_token=account_token).graph(raw)


@dataclass
class _Share:
    """The nodes and edges of a server, or of the sender and domain listings, in the order
    the graph lists them."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    endpoints: dict[str, Node] = field(default_factory=dict)  # where a server's hooks deliver
    server_tokens: list[str] = field(default_factory=list)
    send_as: list[str] = field(default_factory=list)  # verified domains, confirmed senders
    warnings: list[str] = field(default_factory=list)  # text clean_graph had to replace

    def cleaned(self) -> _Share:
        """Every string copied from the API passes one sanitiser: invalid Unicode is
        replaced (and named in a warning) before anything encodes it."""
        self.nodes, self.edges = clean_graph(self.nodes, self.edges, self.warnings)
        return self


def _endpoint(share: _Share, url: str) -> str:
    """The endpoint node a URL delivers to (made once per share)."""
    host = url_host(url) or "(no host)"
    endpoint = node_id(ENDPOINT, host)
    if endpoint not in share.endpoints:
        share.endpoints[endpoint] = Node(id=endpoint, kind=ENDPOINT, attrs={"host": host})
    return endpoint


def _server_node(raw: RawAccount, server: Server, server_node: str) -> Node:
    legacy = {trigger: redact_url(url) for trigger, url in server.legacy_hook_urls.items()}
    return Node(
        id=server_node,
        kind=SERVER,
        attrs={
            "server_id": server.id,
            "name": server.name,
            "color": (server.color or "").lower() or None,
            "delivery_type": server.delivery_type,
            "smtp_api_activated": server.smtp_api_activated,
            "raw_email_enabled": server.raw_email_enabled,
            "track_opens": server.track_opens,
            "track_links": server.track_links,
            "inbound_domain": server.inbound_domain,
            "token_count": len(server.api_tokens),
            "legacy_hook_urls": legacy,
            "streams_read": server.id in raw.streams,
        },
    )


def _add_server_tokens(share: _Share, server: Server, server_node: str) -> None:
    for token in server.api_tokens:
        token_fp = fingerprint(token)
        token_node = node_id(SERVER_TOKEN, token_fp)
        share.server_tokens.append(token_node)
        share.nodes.append(
            Node(
                id=token_node,
                kind=SERVER_TOKEN,
                attrs={
                    "fingerprint": token_fp,
                    "suffix": token_suffix(token),
                    "server_id": server.id,
                },
            )
        )
        share.edges.append(Edge(src=server_node, dst=token_node, kind=HAS_CREDENTIAL))
        share.edges.append(
            Edge(
                src=token_node,
                dst=server_node,
                kind=GRANTS,
                attrs={"scope": SERVER_TOKEN_SCOPE},
            )
        )


def _add_legacy_hooks(share: _Share, server: Server, server_node: str) -> None:
    for trigger, url in sorted(server.legacy_hook_urls.items()):
        share.edges.append(
            Edge(
                src=server_node,
                dst=_endpoint(share, url),
                kind=DELIVERS_TO,
                discriminator=f"legacy:{trigger}",
                attrs={"via": "legacy_hook_url", "trigger": trigger, "url": redact_url(url)},
            )
        )


def _add_streams(share: _Share, raw: RawAccount, server: Server, server_node: str) -> None:
    for stream in raw.streams.get(server.id, []):
        stream_node = node_id(STREAM, f"{server.id}/{stream.id}")
        share.nodes.append(
            Node(
                id=stream_node,
                kind=STREAM,
                attrs={
                    "server_id": server.id,
                    "stream_id": stream.id,
                    "name": stream.name,
                    "type": stream.message_stream_type,
                    "archived": stream.archived,
                    "archived_at": stream.archived_at,
                },
            )
        )
        share.edges.append(Edge(src=server_node, dst=stream_node, kind=HAS_STREAM))


def _add_webhooks(share: _Share, raw: RawAccount, server: Server, server_node: str) -> None:
    for hook in raw.webhooks.get(server.id, []):
        # a webhook ID is unique per server only (GET /webhooks/{id} takes a Server token)
        hook_node = node_id(WEBHOOK, f"{server.id}/{hook.id}")
        url, read = redact_url(hook.url), read_url(hook.url)
        auth = hook.http_auth
        share.nodes.append(
            Node(
                id=hook_node,
                kind=WEBHOOK,
                attrs={
                    "webhook_id": hook.id,
                    "server_id": server.id,
                    "message_stream": hook.message_stream,
                    "url": url,
                    "scheme": read.scheme,
                    "triggers": hook.enabled_triggers,
                    "http_auth": bool(auth and (auth.username or auth.password)),
                    "url_credentials": read.userinfo,
                    "http_auth_username": auth.username if auth else None,
                    "http_headers": {h.name: REDACTED for h in hook.http_headers},
                },
            )
        )
        share.edges.append(
            Edge(
                src=server_node,
                dst=hook_node,
                kind=HAS_WEBHOOK,
                attrs={"message_stream": hook.message_stream},
            )
        )
        share.edges.append(
            Edge(
                src=hook_node,
                dst=_endpoint(share, hook.url),
                kind=DELIVERS_TO,
                attrs={"via": "webhook", "triggers": hook.enabled_triggers, "url": url},
            )
        )


class Transformer:
    """`transform` in shares: `read` (fetch_account's `on_read`) turns a server into nodes
    and edges as soon as its calls are done, and the senders and domains as soon as they are
    listed, while other requests are in flight; `graph` puts the shares together (and makes
    any share not read yet), in the same order as `transform` from scratch."""

    def __init__(self, *, account_label: str, account_token: str) -> None:
        self.account_label = account_label
        self.account_token = account_token
        self.account = node_id(ACCOUNT, account_label)
        self._servers: dict[int, _Share] = {}
        self._listings: _Share | None = None

    def read(self, raw: RawAccount, server: Server | None) -> None:
        if server is None:
            self._listings = self._listings_share(raw).cleaned()
        else:
            self._servers[server.id] = self._server_share(raw, server).cleaned()

    def graph(self, raw: RawAccount) -> tuple[list[Node], list[Edge]]:
        account, account_label, account_token = self.account, self.account_label, self.account_token
        account_fp = fingerprint(account_token)
        account_token_id = node_id(ACCOUNT_TOKEN, account_fp)
        head = _Share(
            nodes=[
                Node(id=account, kind=ACCOUNT, attrs={"label": account_label}),
                Node(
                    id=account_token_id,
                    kind=ACCOUNT_TOKEN,
                    attrs={"fingerprint": account_fp, "suffix": token_suffix(account_token)},
                ),
            ],
            edges=[
                Edge(src=account, dst=account_token_id, kind=HAS_CREDENTIAL),
                Edge(
                    src=account_token_id,
                    dst=account,
                    kind=GRANTS,
                    attrs={"scope": ACCOUNT_TOKEN_SCOPE},
                ),
            ],
        )
        shares = [head.cleaned()]
        raw.warnings += _webhook_ids_on_several_servers(raw)
        endpoints: dict[str, Node] = {}
        server_tokens: list[str] = []
        for server in raw.servers:
            share = self._servers.get(server.id) or self._server_share(raw, server).cleaned()
            shares.append(share)
            server_tokens += share.server_tokens
            for endpoint, node in share.endpoints.items():
                endpoints.setdefault(endpoint, node)
        shares.append(_Share(nodes=list(endpoints.values())).cleaned())
        listings = self._listings or self._listings_share(raw).cleaned()
        shares.append(listings)
        send_as = listings.send_as
        # Send-as rights are account-wide: one scope node, so the graph grows with tokens plus
        # identities, not tokens times identities (docs/architecture.md).
        scope = node_id(SENDING_SCOPE, account_label)
        confirmed = sum(1 for target in send_as if target.startswith(SENDER))
        tail = _Share(
            nodes=[
                Node(
                    id=scope,
                    kind=SENDING_SCOPE,
                    attrs={
                        "name": f"{account_label}: {confirmed} confirmed sender signatures, "
                        f"{len(send_as) - confirmed} verified domains",
                        "confirmed_senders": confirmed,
                        "verified_domains": len(send_as) - confirmed,
                    },
                )
            ],
            edges=[Edge(src=account, dst=scope, kind=HAS_SENDING_SCOPE)],
        )
        tail.edges += [Edge(src=scope, dst=target, kind=INCLUDES) for target in send_as]
        tail.edges += [Edge(src=token, dst=scope, kind=CAN_SEND_AS) for token in server_tokens]
        shares.append(tail.cleaned())
        nodes: list[Node] = []
        edges: list[Edge] = []
        for share in shares:
            nodes += share.nodes
            edges += share.edges
            raw.warnings += share.warnings
        return nodes, edges

    def _server_share(self, raw: RawAccount, server: Server) -> _Share:
        """A server's nodes and edges: itself, its tokens, its legacy hook URLs, its streams
        and its webhooks, in that order."""
        share = _Share()
        server_node = node_id(SERVER, server.id)
        share.nodes.append(_server_node(raw, server, server_node))
        share.edges.append(Edge(src=self.account, dst=server_node, kind=HAS_SERVER))
        _add_server_tokens(share, server, server_node)
        _add_legacy_hooks(share, server, server_node)
        _add_streams(share, raw, server, server_node)
        _add_webhooks(share, raw, server, server_node)
        return share

    def _listings_share(self, raw: RawAccount) -> _Share:
        share = _Share()
        nodes, edges, send_as, account = share.nodes, share.edges, share.send_as, self.account
        domain_by_name: dict[str, str] = {}
        for domain in raw.domains:
            domain_node = node_id(DOMAIN, domain.id)
            name = ascii_domain(domain.name)  # IDN and punycode spellings are one name
            domain_by_name[name] = domain_node
            verified = bool(domain.dkim_verified)
            nodes.append(
                Node(
                    id=domain_node,
                    kind=DOMAIN,
                    attrs={
                        "domain_id": domain.id,
                        "name": name,
                        "spf_verified": domain.spf_verified,
                        "dkim_verified": domain.dkim_verified,
                        "weak_dkim": domain.weak_dkim,
                        "return_path_domain": domain.return_path_domain,
                        "return_path_verified": domain.return_path_domain_verified,
                        "verified": verified,
                    },
                )
            )
            edges.append(Edge(src=account, dst=domain_node, kind=HAS_DOMAIN))
            if verified:
                send_as.append(domain_node)
        persons: dict[str, Node] = {}
        for sender in raw.senders:
            sender_node = node_id(SENDER, sender.id)
            email = canonical_email(sender.email_address)
            sender_domain = ascii_domain(sender.domain or email.rpartition("@")[2])
            nodes.append(
                Node(
                    id=sender_node,
                    kind=SENDER,
                    attrs={
                        "signature_id": sender.id,
                        "email": email,
                        "name": sender.name,
                        "domain": sender_domain,
                        "confirmed": sender.confirmed,
                        "spf_verified": sender.spf_verified,
                        "dkim_verified": sender.dkim_verified,
                        "return_path_verified": sender.return_path_domain_verified,
                    },
                )
            )
            edges.append(Edge(src=account, dst=sender_node, kind=HAS_SENDER))
            owner = _closest_domain(sender_domain, domain_by_name)
            if owner:
                edges.append(Edge(src=sender_node, dst=owner, kind=BELONGS_TO))
            person = person_id(email)
            persons.setdefault(person, Node(id=person, kind=PERSON, attrs={"email": email}))
            edges.append(Edge(src=sender_node, dst=person, kind=IS))
            if sender.confirmed:
                send_as.append(sender_node)
        nodes.extend(persons.values())
        return share


def _webhook_ids_on_several_servers(raw: RawAccount) -> list[str]:
    """A warning per webhook ID that two or more servers use: Postmark numbers webhooks per
    server, so each is its own node (`<server ID>/<webhook ID>`), but a reader matching a
    webhook by its ID alone would mix them up."""
    servers_of: dict[int, list[Server]] = {}
    for server in raw.servers:
        for hook_id in dict.fromkeys(hook.id for hook in raw.webhooks.get(server.id, [])):
            servers_of.setdefault(hook_id, []).append(server)
    return [
        f"webhook ID {hook_id} is on "
        + " and ".join(f"server {s.id} ({s.name!r})" for s in servers)
        + ": a webhook ID is unique per server only, so each server's is kept as its own "
        "webhook (" + ", ".join(node_id(WEBHOOK, f"{s.id}/{hook_id}") for s in servers) + ")"
        for hook_id, servers in sorted(servers_of.items())
        if len(servers) > 1
    ]


def _closest_domain(name: str, domain_by_name: dict[str, str]) -> str | None:
    """The account domain that is `name` or its nearest parent."""
    labels = name.split(".")
    for start in range(len(labels) - 1):
        candidate = ".".join(labels[start:])
        if candidate in domain_by_name:
            return domain_by_name[candidate]
    return None
