"""Review checks over a Postmark account's graph."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from idgraph.plugin import Finding, ReviewContext, ascii_domain

from .names import (
    ACCOUNT,
    DELIVERS_TO,
    DOMAIN,
    ENDPOINT,
    MEMBER_OF,
    SENDER,
    SERVER,
    TEAM_MEMBER,
    WEBHOOK,
)

DEFAULT_MAX_ADMINS = 3


def _nodes(context: ReviewContext, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    return iter(context.nodes_of_kind(kind))


def _host_allowed(host: str, allowed: set[str]) -> bool:
    """Whether `host` is an allowed domain or under one: its suffixes looked up, not every
    allowed domain compared (an account may list hundreds)."""
    parts = host.split(".")
    return any(".".join(parts[i:]) in allowed for i in range(len(parts)))


class DomainUnverified:
    name = "domain-unverified"
    description = "A domain whose SPF, DKIM or Return-Path is not verified."

    def run(self, context: ReviewContext) -> list[Finding]:
        findings = []
        for node, data in _nodes(context, DOMAIN):
            missing = [
                label
                for label, key in (
                    ("SPF", "spf_verified"),
                    ("DKIM", "dkim_verified"),
                    ("Return-Path", "return_path_verified"),
                )
                if not data.get(key)
            ]
            if missing:
                severity = "medium" if "DKIM" in missing else "low"
                findings.append(
                    Finding(
                        self.name,
                        severity,
                        node,
                        f"{data.get('name')}: {', '.join(missing)} not verified",
                    )
                )
        return findings


class SenderUnconfirmed:
    name = "sender-unconfirmed"
    description = "A sender signature nobody confirmed (the mailbox may be unmonitored)."

    def run(self, context: ReviewContext) -> list[Finding]:
        return [
            Finding(self.name, "low", node, f"{data.get('email')} was never confirmed")
            for node, data in _nodes(context, SENDER)
            if not data.get("confirmed")
        ]


class SmtpApiOn:
    name = "smtp-api-enabled"
    description = "A server with the SMTP API on (its tokens also work as SMTP credentials)."

    def run(self, context: ReviewContext) -> list[Finding]:
        return [
            Finding(
                self.name,
                "low",
                node,
                f"server {data.get('name')!r}: SMTP API is on; its tokens are also SMTP passwords",
            )
            for node, data in _nodes(context, SERVER)
            if data.get("smtp_api_activated")
        ]


class ManyTokens:
    name = "server-multiple-tokens"
    description = "A server holding more than one API token."

    def run(self, context: ReviewContext) -> list[Finding]:
        return [
            Finding(
                self.name,
                "medium",
                node,
                f"server {data.get('name')!r} holds {data.get('token_count')} tokens: "
                "one is usually enough; the others may be forgotten",
            )
            for node, data in _nodes(context, SERVER)
            if (data.get("token_count") or 0) > 1
        ]


class WebhookRisks:
    name = "webhook"
    description = (
        "Webhooks over plain http, to hosts outside the allow-list (default: the "
        "account's own domains), or without HTTP auth; legacy hook URLs."
    )
    # each finding it makes, described for the report (one text per finding)
    descriptions = {
        "webhook-plain-http": "A webhook over plain http: event data (recipients, message "
        "content) crosses the network unencrypted, readable and changeable on the way.",
        "webhook-outside-allowlist": "A webhook to a host outside the allow-list (default: "
        "the account's own domains): event data leaves for a third party.",
        "webhook-credentials-in-url": "A webhook URL that carries user:password itself, "
        "where logs and proxies keep it; HTTP auth keeps it out of the URL.",
        "webhook-no-auth": "A webhook with neither HTTP auth nor a secret header: anyone "
        "who learns the URL can post forged events to it.",
        "legacy-hook-url": "A server-level hook URL (Bounce, Open, ...) that predates "
        "/webhooks: easy to forget, reviewed nowhere else.",
    }

    def run(self, context: ReviewContext) -> list[Finding]:
        listed = [ascii_domain(d) for d in context.options.get("allow_domains") or []] or [
            ascii_domain(data["name"]) for _n, data in _nodes(context, DOMAIN)
        ]
        allowed = set(listed)
        shown = ", ".join(listed) or "none"
        hosts = {n: d.get("host", "") for n, d in _nodes(context, ENDPOINT)}
        delivers = {}
        for src, dst, _d in context.edges_of_kind(DELIVERS_TO):
            delivers.setdefault(src, hosts.get(dst, ""))
        findings = []
        for node, data in _nodes(context, WEBHOOK):
            url = data.get("url", "")
            host = delivers.get(node, "")
            if data.get("scheme") != "https":
                findings.append(
                    Finding(
                        "webhook-plain-http", "high", node, f"{url} sends event data unencrypted"
                    )
                )
            if not _host_allowed(host, allowed):
                findings.append(
                    Finding(
                        "webhook-outside-allowlist",
                        "medium",
                        node,
                        f"{host} is not under an allowed domain ({shown})",
                    )
                )
            if data.get("url_credentials"):
                findings.append(
                    Finding(
                        "webhook-credentials-in-url",
                        "medium",
                        node,
                        f"{url} carries a password in the URL itself, where "
                        "logs and proxies keep it; use HTTP auth instead",
                    )
                )
            elif not data.get("http_auth") and not data.get("http_headers"):
                findings.append(
                    Finding(
                        "webhook-no-auth",
                        "medium",
                        node,
                        f"{url} has neither HTTP auth nor a secret header",
                    )
                )
        for node, data in _nodes(context, SERVER):
            for trigger, url in sorted((data.get("legacy_hook_urls") or {}).items()):
                findings.append(
                    Finding(
                        "legacy-hook-url",
                        "low",
                        node,
                        f"server {data.get('name')!r} still has a legacy {trigger} hook URL {url}",
                    )
                )
        return findings


class Attestation:
    name = "attestation"
    description = "An account with no attested members, or more admins than --max-admins."
    descriptions = {
        "attestation-missing": "An account whose team members nobody attested: who can log "
        "in to the web UI is unknown to the review.",
        "too-many-admins": "More owners and admins than --max-admins: each can change every "
        "server, token and sender of the account.",
        "member-no-2fa": "A team member without two-factor authentication: a stolen "
        "password alone opens the account.",
    }

    def run(self, context: ReviewContext) -> list[Finding]:
        limit = int(context.options.get("max_admins") or DEFAULT_MAX_ADMINS)
        members_of: dict[str, list[tuple[str, dict]]] = {}
        for src, dst, d in context.edges_of_kind(MEMBER_OF):
            members_of.setdefault(dst, []).append((src, d))
        findings = []
        for account, data in _nodes(context, ACCOUNT):
            members = members_of.get(account, [])
            if not members:
                findings.append(
                    Finding(
                        "attestation-missing",
                        "high",
                        account,
                        f"account {data.get('label')!r}: no team members "
                        "attested; run `idgraph attest template postmark`",
                    )
                )
            admins = [u for u, d in members if d.get("role_level") in ("owner", "admin")]
            if len(admins) > limit:
                findings.append(
                    Finding(
                        "too-many-admins",
                        "medium",
                        account,
                        f"{len(admins)} owners/admins (more than {limit}): "
                        + ", ".join(sorted(a.rsplit(":", 1)[1] for a in admins)),
                    )
                )
        for node, data in _nodes(context, TEAM_MEMBER):
            if data.get("two_factor") == "no":
                findings.append(
                    Finding(
                        "member-no-2fa",
                        "medium",
                        node,
                        f"{data.get('email')} has no two-factor authentication",
                    )
                )
        return findings


class MemberOutsideDomains:
    name = "member-outside-domains"
    description = (
        "An attested team member whose email domain is none of the account's verified "
        "domains: a personal address, an outside contractor, or a leaver's forward."
    )

    def run(self, context: ReviewContext) -> list[Finding]:
        verified: dict[str, set[str]] = {}
        for _node, data in _nodes(context, DOMAIN):
            if data.get("verified"):
                verified.setdefault(data.get("scope", ""), set()).add(ascii_domain(data["name"]))
        findings = []
        for node, data in _nodes(context, TEAM_MEMBER):
            scope = str(data.get("scope", "")).removeprefix("attested:")
            domains = verified.get(scope, set())
            email = str(data.get("email", ""))
            domain = ascii_domain(email.rpartition("@")[2])
            if not any(domain == d or domain.endswith("." + d) for d in domains):
                known = ", ".join(sorted(domains)) or "none"
                findings.append(
                    Finding(
                        self.name,
                        "medium",
                        node,
                        f"{email}: not in the account's verified domains ({known})",
                    )
                )
        return findings


ALL_CHECKS = [
    DomainUnverified(),
    SenderUnconfirmed(),
    SmtpApiOn(),
    ManyTokens(),
    WebhookRisks(),
    Attestation(),
    MemberOutsideDomains(),
]
