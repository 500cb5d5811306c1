"""A Postmark-shaped synthetic graph of about N nodes and 3N edges, for bench/scale.py."""

from __future__ import annotations

import random

from idgraph.graph.model import Edge, Node


def synthetic_graph(nodes: int = 100_000, seed: int = 0) -> tuple[list[Node], list[Edge]]:
    """Servers, tokens, streams, webhooks, endpoints and team members; ~nodes, ~3*nodes edges."""
    rng = random.Random(seed)
    servers = max(nodes * 15 // 100, 10)
    members = max(nodes // 200, 5)
    account = "postmark:account:bench"
    scope = "postmark:sending_scope:bench"
    out_nodes = [
        Node(id=account, kind="postmark:account", source="api", attrs={"label": "bench"}),
        Node(id=scope, kind="postmark:sending_scope", source="api", attrs={"name": "bench"}),
    ]
    out_edges = [
        Edge(
            src=account,
            dst=scope,
            kind="postmark:has_sending_scope",
            source="api",
            attrs={},
            discriminator="",
        )
    ]

    def node(ident, kind, source="api", **attrs):
        out_nodes.append(Node(id=ident, kind=kind, source=source, attrs=attrs))

    def edge(src, dst, kind, source="api", **attrs):
        out_edges.append(
            Edge(src=src, dst=dst, kind=kind, source=source, attrs=attrs, discriminator="")
        )

    endpoints = [f"endpoint:hooks{i}.example" for i in range(max(nodes // 50, 2))]
    for endpoint in endpoints:
        node(endpoint, "endpoint", host=endpoint.split(":", 1)[1])
    server_ids = []
    for i in range(servers):
        server = f"postmark:server:{i}"
        server_ids.append(server)
        node(
            server,
            "postmark:server",
            server_id=i,
            name=f"Server {i}",
            color="red",
            smtp_api_activated=rng.random() < 0.3,
            token_count=1,
            legacy_hook_urls={},
        )
        edge(account, server, "postmark:has_server")
        for t in range(1 + (i % 2)):
            token = f"postmark:server_token:sha256:{i:08x}{t:08x}"
            node(
                token,
                "postmark:server_token",
                fingerprint=token[22:],
                suffix=f"{i % 9999:04d}",
                server_id=i,
            )
            edge(server, token, "postmark:has_credential")
            edge(token, server, "postmark:grants", scope="server API")
            edge(token, scope, "postmark:can_send_as")
        for stream in ("outbound", "inbound", "broadcasts"):
            ident = f"postmark:message_stream:{i}/{stream}"
            node(ident, "postmark:message_stream", server_id=i, stream_id=stream, archived=False)
            edge(server, ident, "postmark:has_stream")
        hook = f"postmark:webhook:{i}/{i}"
        node(
            hook,
            "postmark:webhook",
            webhook_id=i,
            server_id=i,
            url=f"https://h/{i}",
            scheme="https",
            triggers=["Bounce"],
            http_auth=True,
            http_headers={},
        )
        edge(server, hook, "postmark:has_webhook", message_stream="outbound")
        edge(
            hook, rng.choice(endpoints), "postmark:delivers_to", via="webhook", url=f"https://h/{i}"
        )
    target_edges = nodes * 3
    per_member = max((target_edges - len(out_edges)) // members, 1)
    for m in range(members):
        email = f"member{m}@bench.example"
        member = f"postmark:team_member:{email}"
        node(
            member,
            "postmark:team_member",
            "attested",
            email=email,
            role="User",
            role_level="member",
            two_factor="yes",
            attested_at="2026-11-01T00:00:00+00:00",
            expires_at="2027-01-30T00:00:00+00:00",
            attested_by="a@bench.example",
        )
        edge(member, account, "postmark:member_of", "attested", role="User", role_level="member")
        for server in rng.sample(server_ids, min(per_member, len(server_ids))):
            edge(member, server, "postmark:can_access", "attested", permission="view")
    return out_nodes, out_edges
