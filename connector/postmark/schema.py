"""The Postmark connector's graph schema: its node and edge kinds, registered with the host.

docs/graph-schema.md is generated from it (with every other loaded connector's).

Each kind's key says how far Postmark guarantees its ID unique: an ID the API looks up with
a server's token (stream, webhook) is unique on that server only, so the key includes the
server ID; one looked up with the Account token (server, sender signature, domain) is
unique in the account.
"""

from __future__ import annotations

from idgraph.plugin import ConnectorSchema, EdgeKind, NodeKind

from .names import (
    ACCOUNT_TOKEN_SCOPE,
    BELONGS_TO,
    CAN_ACCESS,
    CAN_SEND_AS,
    DELIVERS_TO,
    GRANTS,
    HAS_CREDENTIAL,
    HAS_DOMAIN,
    HAS_SENDER,
    HAS_SENDING_SCOPE,
    HAS_SERVER,
    HAS_STREAM,
    HAS_WEBHOOK,
    INCLUDES,
    MEMBER_OF,
    SERVER_TOKEN_SCOPE,
)

ALL = ("DataRead", "DataWrite", "MetadataRead", "MetadataWrite", "NonData")
# The roles as the UI shows them, by level (postmark-api.md section 6): what each implies.
ADMIN_ROLES = ("Account Owner", "Owner", "Account Admin", "Admin")
ROLE_LEVELS = {
    **{role: ALL for role in ADMIN_ROLES},
    "Teammate": ("MetadataRead",),
    "Technical": ("MetadataRead",),
    "Billing": ("MetadataRead",),
    "User": ("MetadataRead",),
}

NODES = (
    NodeKind(
        "postmark:account",
        "the account label (`--account-label`; default the Account token's fingerprint)",
        "One Postmark account, reached with one Account token.",
        "the sync itself",
        {"label": "the account label"},
        role="account",
        label="label",
    ),
    NodeKind(
        "postmark:account_token",
        "the token's fingerprint",
        "The Account API token used for the sync: an account-wide credential.",
        "the token in POSTMARK_ACCOUNT_TOKEN (never stored)",
        {
            "fingerprint": "`sha256:` + the first 16 hex digits of the token's SHA-256",
            "suffix": "the token's last 4 characters",
        },
        role="credential",
        label="fingerprint",
    ),
    NodeKind(
        "postmark:server",
        "the server ID (unique in the account: the Account token's `GET /servers/{id}` takes "
        "it alone)",
        "A Postmark server.",
        "GET /servers",
        {
            "server_id": "Postmark's numeric server ID",
            "name": "the server's name (free text, set by any account admin)",
            "color": "the UI colour, lower-cased",
            "delivery_type": "`Live` or `Sandbox` (absent on old accounts)",
            "smtp_api_activated": "whether the SMTP API is on",
            "raw_email_enabled": "whether raw email is on",
            "track_opens": "open tracking",
            "track_links": "link tracking mode",
            "inbound_domain": "the inbound domain, if any",
            "token_count": "how many API tokens the server holds",
            "legacy_hook_urls": "the server-level hook URLs (Bounce, Open, ...) that predate "
            "/webhooks, by trigger, secrets stripped",
            "streams_read": "whether its streams and webhooks could be read (false: no token)",
        },
        role="resource",
    ),
    NodeKind(
        "postmark:server_token",
        "the token's fingerprint (a server token is a UUID: unique across servers and accounts)",
        "One entry of a server's ApiTokens: it can send as the account and manage the "
        "server's streams and webhooks.",
        "GET /servers (ApiTokens)",
        {
            "fingerprint": "`sha256:` + the first 16 hex digits of the token's SHA-256",
            "suffix": "the token's last 4 characters",
            "server_id": "the server it belongs to",
        },
        role="credential",
        label="fingerprint",
    ),
    NodeKind(
        "postmark:message_stream",
        "`<server ID>/<stream ID>` (a stream ID such as `outbound` is unique per server only: "
        "`GET /message-streams/{id}` takes the server's token)",
        "A message stream.",
        "GET /message-streams (Server token, archived included)",
        {
            "server_id": "its server",
            "stream_id": "the stream ID, e.g. `outbound`",
            "name": "the stream's name",
            "type": "Transactional, Broadcasts or Inbound",
            "archived": "whether it is archived",
            "archived_at": "when it was archived",
        },
    ),
    NodeKind(
        "postmark:webhook",
        "`<server ID>/<webhook ID>` (a webhook ID is unique per server only: "
        "`GET /webhooks/{id}` takes the server's token; one ID on two servers is two nodes, "
        "and the sync warns)",
        "A webhook: where Postmark posts events.",
        "GET /webhooks (Server token)",
        {
            "webhook_id": "Postmark's webhook ID",
            "server_id": "its server",
            "message_stream": "the stream it belongs to",
            "url": "the URL, userinfo dropped and the whole query `[redacted]`",
            "scheme": "`https` or `http`",
            "triggers": "the enabled triggers",
            "http_auth": "whether Basic auth is set (the password is never kept)",
            "http_auth_username": "the Basic-auth user name",
            "url_credentials": "whether the URL itself carried user:password (dropped here)",
            "http_headers": "custom header names; every value is `[redacted]`",
        },
    ),
    NodeKind(
        "postmark:sender_signature",
        "the signature ID (unique in the account: the Account token's `GET /senders/{id}` "
        "takes it alone)",
        "A sender signature (a From address).",
        "GET /senders (and GET /senders/{id} with --sender-details)",
        {
            "signature_id": "Postmark's ID",
            "email": "the address, NFC and case-folded",
            "name": "the From name",
            "domain": "its domain",
            "confirmed": "confirmed by the mailbox owner",
            "spf_verified": "SPF (detail only)",
            "dkim_verified": "DKIM (detail only)",
            "return_path_verified": "Return-Path (detail only)",
        },
        role="resource",
    ),
    NodeKind(
        "postmark:domain",
        "the domain ID (unique in the account: the Account token's `GET /domains/{id}` takes "
        "it alone)",
        "A sending domain.",
        "GET /domains",
        {
            "domain_id": "Postmark's ID",
            "name": "the domain name",
            "spf_verified": "SPF verified (deprecated by Postmark)",
            "dkim_verified": "DKIM verified",
            "weak_dkim": "a weak (1024-bit) DKIM key",
            "return_path_domain": "the custom Return-Path domain",
            "return_path_verified": "Return-Path verified",
            "verified": "DKIM verified, so the account can send from the domain",
        },
        role="resource",
    ),
    NodeKind(
        "postmark:sending_scope",
        "the account label",
        "Everything the account may send as: its confirmed sender signatures and verified "
        "domains. Any server token of the account can send as any of them.",
        "derived from GET /senders and GET /domains",
        {
            "name": "a summary for reviewers",
            "confirmed_senders": "how many confirmed sender signatures it includes",
            "verified_domains": "how many verified domains it includes",
        },
        role="resource",
    ),
    NodeKind(
        "postmark:team_member",
        "the email, NFC and case-folded (unique in the account: the web UI lists a user once)",
        "A user of the Postmark account, as a person read it off the web UI (source `attested`).",
        "`idgraph attest import postmark` (no API exists)",
        {
            "email": "the user's email, NFC and case-folded",
            "name": "the user's name",
            "role": "the role exactly as the UI showed it",
            "role_level": "`owner`, `admin` or `member`",
            "two_factor": "`yes`, `no` or `unknown`",
            "server_access": "server ID -> `full` or `view` (owners and admins: all full)",
        },
        role="member",
        label="email",
    ),
)

EDGES = (
    EdgeKind(HAS_SERVER, "account -> server", "The account holds the server.", "GET /servers"),
    EdgeKind(
        HAS_CREDENTIAL,
        "account -> account_token, server -> server_token",
        "The credential belongs to it.",
        "the sync token; ApiTokens",
        holds=True,
    ),
    EdgeKind(
        GRANTS,
        "account_token -> account, server_token -> server",
        "What the credential can act on.",
        "Postmark's token model",
        {"scope": "what the token can do there"},
        access="scope",
        grant="scope",
        levels={
            ACCOUNT_TOKEN_SCOPE: ALL,
            SERVER_TOKEN_SCOPE: ALL,
        },
        # the Account token acts on every server, sender signature and domain
        spans_account=frozenset({ACCOUNT_TOKEN_SCOPE}),
    ),
    EdgeKind(
        HAS_STREAM, "server -> message_stream", "The server's stream.", "GET /message-streams"
    ),
    EdgeKind(
        HAS_WEBHOOK,
        "server -> webhook",
        "The server's webhook.",
        "GET /webhooks",
        {"message_stream": "the stream the webhook belongs to"},
    ),
    EdgeKind(
        DELIVERS_TO,
        "webhook -> endpoint, server -> endpoint",
        "Event data leaves Postmark for that host.",
        "webhook URLs; legacy hook URLs",
        {
            "via": "`webhook` or `legacy_hook_url`",
            "triggers": "enabled triggers",
            "trigger": "the legacy hook's trigger",
            "url": "the redacted URL",
        },
    ),
    EdgeKind(
        HAS_SENDER,
        "account -> sender_signature",
        "The account's sender signature.",
        "GET /senders",
    ),
    EdgeKind(HAS_DOMAIN, "account -> domain", "The account's domain.", "GET /domains"),
    EdgeKind(
        BELONGS_TO,
        "sender_signature -> domain",
        "The signature's address is in that domain (or a subdomain of it).",
        "derived",
    ),
    EdgeKind(
        HAS_SENDING_SCOPE,
        "account -> sending_scope",
        "The account's send-as scope.",
        "derived",
    ),
    EdgeKind(
        INCLUDES,
        "sending_scope -> sender_signature | domain",
        "A confirmed sender signature or verified domain the account may send as.",
        "derived",
    ),
    EdgeKind(
        CAN_SEND_AS,
        "server_token -> sending_scope",
        "Any server token of an account can send from every confirmed sender signature and "
        "every verified domain of that account: one edge to the account's sending scope.",
        "derived",
        access="send-as",
        grant="send",
        levels={"send-as": ("DataWrite",)},
    ),
    EdgeKind(
        MEMBER_OF,
        "team_member -> account",
        "The user belongs to the account.",
        "attested",
        {"role": "the role as the UI showed it", "role_level": "`owner`, `admin` or `member`"},
        access="role",
        grant="role",
        levels=ROLE_LEVELS,
        spans_account=frozenset(ADMIN_ROLES),
    ),
    EdgeKind(
        CAN_ACCESS,
        "team_member -> server",
        "The user's access to a server.",
        "attested",
        {"permission": "`full` (Server Admin: can view API tokens) or `view` (Server Viewer)"},
        access="permission",
        grant="resource",
        levels={"full": ALL, "view": ("DataRead", "MetadataRead")},
    ),
)


SCHEMA = ConnectorSchema(
    connector="postmark",
    title="Postmark",
    description="Declared by the Postmark connector (`connector/postmark/schema.py`).",
    nodes=NODES,
    edges=EDGES,
)
