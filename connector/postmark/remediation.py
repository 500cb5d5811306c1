"""Turning a revoke decision on a Postmark review row into the exact step (never executed)."""

from __future__ import annotations

from typing import Any

from .names import CAN_ACCESS, CAN_SEND_AS

UI = "https://account.postmarkapp.com"


class PostmarkRemediator:
    name = "postmark"

    def steps(self, row: dict[str, str], graph: Any) -> str | None:
        principal, resource, kind = row["principal"], row["resource"], row.get("access_kind", "")
        if not principal.startswith("postmark:"):
            return None
        data = graph.nodes[principal] if principal in graph else {}
        target = graph.nodes[resource] if resource in graph else {}
        if principal.startswith("postmark:team_member:"):
            email = principal.split(":", 2)[2]
            server = _server(target, resource)
            if row.get("decision") == "modify":
                return _modify_member(row, email, kind, server)
            if kind == CAN_ACCESS:
                return (
                    f"No API exists. In the web UI ({UI}) open Account > Users, edit "
                    f"**{email}**, and set the access to server {server} to *No access*. "
                    "Then re-attest (`idgraph attest template postmark`)."
                )
            return (
                f"No API exists. In the web UI ({UI}) open Account > Users and remove "
                f"**{email}** from the account (an owner must first transfer ownership). "
                "Then re-attest (`idgraph attest template postmark`)."
            )
        if principal.startswith("postmark:server_token:"):
            suffix = data.get("suffix", "")
            server_id = data.get("server_id")
            server = _server(graph.nodes.get(f"postmark:server:{server_id}", {}), server_id)
            if kind == CAN_SEND_AS:
                return (
                    "Postmark cannot limit a server token to some From identities: every "
                    "token of the account can send as every confirmed sender signature and "
                    "verified domain. To end it, delete the token (as for its scope row) or "
                    "remove an identity account-wide with `DELETE /senders/{id}` or "
                    "`DELETE /domains/{id}` and the Account token (not executed here). Token: "
                    f"server {server}, ending …{suffix}."
                )
            return (
                f"No API deletes a server token. In the web UI ({UI}) open server "
                f"{server} > API Tokens, generate a "
                f"replacement if the token is in use, update its users, then delete the "
                f"token ending in **…{suffix}**."
            )
        if principal.startswith("postmark:account_token:"):
            return (
                f"No API rotates the Account token. In the web UI ({UI}) open Account > "
                f"API Tokens and regenerate the token ending in **…{data.get('suffix', '')}**"
                "; update every system that uses it (idgraph's POSTMARK_ACCOUNT_TOKEN "
                "included)."
            )
        return None


def _server(data: dict[str, Any], ident: object) -> str:
    """A server as a step names it: its name and its ID (two servers may share a name)."""
    key = str(ident).rsplit(":", 1)[-1]
    name = data.get("name")
    return f"**{name}** (ID {key})" if name else f"ID {key}"


# The server access levels as the UI names them, and the words a justification may use.
_LEVELS = (
    ("View only", ("view", "viewer", "read")),
    ("Full access", ("full", "admin access", "server admin")),
    ("No access", ("no access", "none")),
)


def _modify_member(row: dict[str, str], email: str, kind: str, server: str) -> str:
    """A modify decision: change the access (never remove the member)."""
    from .members import ROLES

    why = (row.get("justification") or "").strip()
    said = why.lower()
    current = row.get("access", "")
    users = f"No API exists. In the web UI ({UI}) open Account > Users, edit **{email}**"
    after = " Then re-attest (`idgraph attest template postmark`)."
    if kind == CAN_ACCESS:
        wanted = next((label for label, words in _LEVELS if any(w in said for w in words)), None)
        if wanted is None and "full" in current.lower():
            wanted = "View only"  # a modify of full access: reduce it
        if wanted:
            return (
                f"{users}, and change the access to server {server} from {current} to "
                f"*{wanted}* (a change, not a removal).{after}"
            )
        return (
            f"{users}, and change the access to server {server} (now {current}) as the "
            f"reviewer asks: {why}.{after}"
        )
    role = next((r for r in sorted(ROLES, key=len, reverse=True) if r.lower() in said), None)
    change = f"to *{role.title()}*" if role else f"as the reviewer asks ({why})"
    return (
        f"{users}, and change the role (now {current}) {change}; keep the member in the "
        f"account (a change, not a removal).{after}"
    )
