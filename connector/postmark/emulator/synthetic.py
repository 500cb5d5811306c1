"""Synthetic Postmark accounts of any size, in the fixture shape the emulator serves."""

from __future__ import annotations

import random
import uuid
from typing import Any

_COLORS = ["Purple", "Blue", "Turquoise", "Green", "Red", "Yellow", "Grey", "Orange"]
_TRIGGERS = ["Open", "Click", "Delivery", "Bounce", "SpamComplaint", "SubscriptionChange"]


def _token(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _dns(rng: random.Random, host: str) -> dict[str, Any]:
    dkim = rng.random() < 0.8
    return {
        "SPFVerified": rng.random() < 0.8,
        "SPFHost": host,
        "SPFTextValue": "v=spf1 a mx include:spf.mtasv.net ~all",
        "DKIMVerified": dkim,
        "WeakDKIM": False,
        "DKIMHost": f"pm._domainkey.{host}" if dkim else "",
        "DKIMTextValue": "k=rsa; p=MIGf-synthetic" if dkim else "",
        "DKIMPendingHost": "",
        "DKIMPendingTextValue": "",
        "DKIMRevokedHost": "",
        "DKIMRevokedTextValue": "",
        "SafeToRemoveRevokedKeyFromDNS": False,
        "DKIMUpdateStatus": "Verified" if dkim else "Pending",
        "ReturnPathDomain": f"pm-bounces.{host}",
        "ReturnPathDomainVerified": rng.random() < 0.6,
        "ReturnPathDomainCNAMEValue": "pm.mtasv.net",
    }


def synthetic_account(
    servers: int = 300,
    *,
    senders: int = 700,
    domains: int = 100,
    seed: int = 0,
    label: str = "synthetic",
) -> dict[str, Any]:
    """An account of `servers` servers (1-3 tokens, 2-4 streams, 0-3 webhooks each)."""
    rng = random.Random(seed)
    domain_names = [f"brand{i}.example" for i in range(domains)]
    account: dict[str, Any] = {
        "Label": label,
        "AccountTokens": [_token(rng)],
        "Servers": [],
        "SenderSignatures": [],
        "Domains": [
            {"ID": 500_000 + i, "Name": name, **_dns(rng, name)}
            for i, name in enumerate(domain_names)
        ],
    }
    webhook_id = 1_000_000
    for i in range(servers):
        server_id = 100_000 + i
        stream_specs = [("outbound", "Transactional"), ("inbound", "Inbound")]
        for extra in range(rng.randint(0, 2)):
            stream_specs.append((f"broadcasts-{extra}", "Broadcasts"))
        streams = [
            {
                "ID": stream_id,
                "ServerID": server_id,
                "Name": stream_id.title(),
                "Description": None,
                "MessageStreamType": kind,
                "CreatedAt": "2024-01-01T00:00:00-05:00",
                "UpdatedAt": None,
                "ArchivedAt": "2025-01-01T00:00:00-05:00" if rng.random() < 0.05 else None,
                "ExpectedPurgeDate": None,
                "SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "None"},
            }
            for stream_id, kind in stream_specs
        ]
        webhooks = []
        for _ in range(rng.randint(0, 3)):
            webhook_id += 1
            url = f"https://hooks{rng.randint(0, 40)}.example/pm/{webhook_id}"
            if rng.random() < 0.1:  # secrets some real URLs carry
                url = url.replace("https://", f"https://pm:pw-{_token(rng)}@")
            if rng.random() < 0.1:
                url += f"?key=qs-{_token(rng)}"
            hook: dict[str, Any] = {
                "ID": webhook_id,
                "Url": url,
                "MessageStream": rng.choice(streams)["ID"],
                "Triggers": {name: {"Enabled": rng.random() < 0.5} for name in _TRIGGERS},
            }
            if rng.random() < 0.5:
                hook["HttpAuth"] = {"Username": "pm", "Password": f"pw-{_token(rng)}"}
            if rng.random() < 0.3:
                hook["HttpHeaders"] = [{"Name": "X-Secret", "Value": f"hdr-{_token(rng)}"}]
            webhooks.append(hook)
        account["Servers"].append(
            {
                "ID": server_id,
                "Name": f"Server {i:05d}",
                "ApiTokens": [_token(rng) for _ in range(rng.choice([1, 1, 1, 2, 3]))],
                "Color": rng.choice(_COLORS),
                "SmtpApiActivated": rng.random() < 0.3,
                "RawEmailEnabled": False,
                "DeliveryType": "Live",
                "ServerLink": f"https://account.postmarkapp.com/servers/{server_id}/streams",
                "InboundHookUrl": None,
                "BounceHookUrl": None,
                "OpenHookUrl": None,
                "DeliveryHookUrl": None,
                "ClickHookUrl": None,
                "PostFirstOpenOnly": False,
                "TrackOpens": rng.random() < 0.5,
                "TrackLinks": "None",
                "MessageStreams": streams,
                "Webhooks": webhooks,
            }
        )
    for i in range(senders):
        domain = rng.choice(domain_names)
        account["SenderSignatures"].append(
            {
                "ID": 700_000 + i,
                "Domain": domain,
                "EmailAddress": f"sender{i}@{domain}",
                "ReplyToEmailAddress": "",
                "Name": f"Sender {i}",
                "Confirmed": rng.random() < 0.9,
                **_dns(rng, domain),
            }
        )
    return account
