"""Postmark's member file: what a person reads off the web UI's Users page, and where.

Postmark has no member API and no SCIM; the host's `idgraph attest` engine reads this
format (template, strict import, expiry, corroboration).
"""

from __future__ import annotations

from typing import Any

from idgraph.plugin import MemberFormat, ascii_domain

from .names import ACCOUNT, CAN_ACCESS, DOMAIN, IS, MEMBER_OF, SENDER, SERVER, TEAM_MEMBER

# The role as the UI writes it (how an import stores it, whatever the case typed) -> its
# level. Postmark's role names changed over time (postmark-api.md section 6): model A
# Owner/Admin/per-server; B Owner/Admin/Teammate; C Owner/Admin/Technical/Billing.
ROLES = {
    "Account Owner": "owner",
    "Owner": "owner",
    "Account Admin": "admin",
    "Admin": "admin",
    "Teammate": "member",
    "Technical": "member",
    "Billing": "member",
    "User": "member",
}

WHERE_IN_THE_UI = """\
Where each value of this template is read in the Postmark web UI
(https://account.postmarkapp.com), signed in as the Account Owner or an Account Admin:

- email, name: Account (top right) > Users (or "Team" in newer accounts): one row per user.
  Copy the email exactly; it is the join key to other systems.
- role: the role shown next to the user, as the UI writes it: Account Owner, Account Admin,
  Owner, Admin, Teammate, Technical, Billing, or User (older accounts show no account role
  for non-admins: write User). Exactly one row must be the owner.
- two_factor: the 2FA status on the Users page: yes, no, or unknown (or leave it blank) if
  the page does not show it. If Account > Security says "Require 2FA", every user has it.
- server:<id> <name> columns: open the user (Edit) > Server access / per-server permissions:
  full (Server Admin, "Full access"), view (Server Viewer, "View only") or none ("No
  access"; a blank cell means none too). Owners and admins see every server: leave their
  server cells empty.

Save as CSV UTF-8 (Excel: "CSV UTF-8 (Comma delimited)"; LibreOffice: Text CSV, character
set Unicode (UTF-8)), or keep the .xlsx, then:
  idgraph attest import postmark FILE --attested-by YOUR_EMAIL --evidence SCREENSHOT_OR_URL
"""


def corroborate(graph: Any, api_scope: str, members: set[str]) -> dict[str, Any]:
    """Members set against the addresses the API shows (sender signatures) and the
    account's verified domains."""
    senders = {
        d["email"]
        for _n, d in graph.nodes(data=True)
        if d["kind"] == SENDER and d.get("scope") == api_scope
    }
    verified = {
        ascii_domain(d["name"])
        for _n, d in graph.nodes(data=True)
        if d["kind"] == DOMAIN and d.get("scope") == api_scope and d.get("verified")
    }

    def in_verified(email: str) -> bool:
        domain = ascii_domain(email.rpartition("@")[2])
        return any(domain == v or domain.endswith("." + v) for v in verified)

    return {
        "members_also_senders": sorted(members & senders),
        "members_only": sorted(members - senders),
        "senders_only": sorted(senders - members),
        "members_outside_verified_domains": sorted(m for m in members if not in_verified(m)),
        "verified_domains": sorted(verified),
    }


MEMBER_FORMAT = MemberFormat(
    connector="postmark",
    title="Postmark",
    member_kind=TEAM_MEMBER,
    account_kind=ACCOUNT,
    resource_kind=SERVER,
    resource_key="server_id",
    roles=ROLES,
    where_in_the_ui=WHERE_IN_THE_UI,
    resource_prefix="server:",
    access_values=("full", "view", "none"),
    full_access="full",
    all_access_levels=frozenset({"owner", "admin"}),
    owner_level="owner",
    access_property="server_access",
    member_edge=MEMBER_OF,
    access_edge=CAN_ACCESS,
    identity_edge=IS,
    corroborate=corroborate,
)
