"""Team members read off Postmark's web UI: the template, strict validation, and the import.

Postmark has no member API and no SCIM, so a person copies the Users page into a CSV. The
import checks the whole file before anything is written; a valid file becomes one
attestation run in its own scope (`attested:postmark:<label>`), apart from the API history.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from idgraph.graph.csvinput import EMAIL, InputInvalid, formula_problems, read_csv_rows
from idgraph.graph.model import Edge, Node, node_id, person_id
from idgraph.graph.secrets import redact_url
from idgraph.graph.store import RunNotFound, Store
from idgraph.graph.view import load_graph

from .names import ACCOUNT, PERSON, SERVER, TEAM_MEMBER

BASE_COLUMNS = ["email", "name", "role", "two_factor"]
SERVER_PREFIX = "server:"
ACCESS_VALUES = ("full", "view", "none")
TWO_FACTOR_VALUES = ("yes", "no", "unknown")
# The role as the UI shows it -> its level. Postmark's role names changed over time
# (postmark-api.md section 6): model A Owner/Admin/per-server; B Owner/Admin/Teammate;
# C Owner/Admin/Technical/Billing.
ROLES = {
    "account owner": "owner",
    "owner": "owner",
    "account admin": "admin",
    "admin": "admin",
    "teammate": "member",
    "technical": "member",
    "billing": "member",
    "user": "member",
}
ATTESTED_CONNECTOR = "postmark"

WHERE_IN_THE_UI = """\
Where each value of this template is read in the Postmark web UI
(https://account.postmarkapp.com), signed in as the Account Owner or an Account Admin:

- email, name: Account (top right) > Users (or "Team" in newer accounts): one row per user.
  Copy the email exactly; it is the join key to other systems.
- role: the role shown next to the user, as the UI writes it: Account Owner, Account Admin,
  Owner, Admin, Teammate, Technical, Billing, or User (older accounts show no account role
  for non-admins: write User). Exactly one row must be the owner.
- two_factor: the 2FA status on the Users page: yes, no, or unknown if the page does not
  show it. If Account > Security says "Require 2FA", every user has it.
- server:<name> columns: open the user (Edit) > Server access / per-server permissions:
  full (Server Admin, "Full access"), view (Server Viewer, "View only") or none ("No
  access"). Owners and admins see every server: leave their server cells empty.

Save as CSV, comma-separated, UTF-8 without a byte-order mark, then:
  idgraph attest import postmark FILE --attested-by YOUR_EMAIL --evidence SCREENSHOT_OR_URL
"""


class AttestationInvalid(InputInvalid):
    """The member file (or an option of its import) has problems, each named."""


@dataclass
class Member:
    email: str
    name: str
    role: str
    level: str
    two_factor: str
    access: dict[str, str] = field(default_factory=dict)  # server id -> full | view


def account_servers(store: Store, label: str) -> dict[str, int]:
    """Server name -> id in the latest complete API run of the account."""
    _run, graph = load_graph(store)
    servers = {
        data["name"]: data["server_id"]
        for _n, data in graph.nodes(data=True)
        if data["kind"] == SERVER and data.get("scope") == f"postmark:{label}"
    }
    if not any(
        data["kind"] == ACCOUNT and data.get("label") == label
        for _n, data in graph.nodes(data=True)
    ):
        raise RunNotFound(
            f"no complete sync of Postmark account {label!r} in {store.path}: run "
            f"`idgraph sync postmark --account-label {label}` first"
        )
    return servers


def resolve_label(store: Store, label: str | None) -> str:
    """The account label given, or the only Postmark account in the store."""
    if label:
        return label
    labels = sorted(
        {
            row["account_label"] or row["scope"].split(":", 1)[1]
            for row in store.db.query(
                "SELECT DISTINCT scope, account_label FROM runs WHERE kind = 'sync' "
                "AND connector = 'postmark' AND status = 'complete'"
            )
        }
    )
    if len(labels) == 1:
        return labels[0]
    if not labels:
        raise RunNotFound(f"{store.path} holds no complete Postmark sync: run one first")
    raise RunNotFound(
        f"{store.path} holds several Postmark accounts ({', '.join(labels)}): "
        "name one with --account-label"
    )


def previous_members(store: Store, label: str) -> dict[str, dict[str, Any]]:
    """email -> the attributes of the member in the latest attestation of the account."""
    scope = attested_scope(label)
    return {
        node.attrs["email"]: node.attrs
        for node in _attested_nodes(store, scope)
        if node.kind == TEAM_MEMBER
    }


def _attested_nodes(store: Store, scope: str) -> list[Node]:
    try:
        run = store.complete_run()
    except RunNotFound:
        return []
    return [n for n in store.nodes_as_of(run.id) if n.attrs.get("scope") == scope]


def attested_scope(label: str) -> str:
    return f"attested:postmark:{label}"


def write_template(store: Store, label: str) -> str:
    """The CSV template: a column per server, pre-filled from the previous attestation."""
    servers = account_servers(store, label)
    names = sorted(servers)
    by_id = {server_id: name for name, server_id in servers.items()}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; quotes a CR in a cell
    writer.writerow(BASE_COLUMNS + [SERVER_PREFIX + name for name in names])
    previous = previous_members(store, label)
    for email in sorted(previous):
        attrs = previous[email]
        access = {by_id.get(int(k)): v for k, v in (attrs.get("server_access") or {}).items()}
        admin = attrs.get("role_level") in ("owner", "admin")
        writer.writerow(
            [email, attrs.get("name") or "", attrs.get("role") or "", attrs.get("two_factor") or ""]
            + ["" if admin else access.get(name, "none") for name in names]
        )
    return buffer.getvalue()


def parse_members(path: Path, servers: dict[str, int]) -> list[Member]:
    """Validate the whole file; raise AttestationInvalid listing every problem."""
    name = str(path)
    rows = read_csv_rows(path, allow_bom=False, error=AttestationInvalid)
    header = [cell.strip() for cell in rows[0]]
    problems: list[str] = []
    missing = [c for c in BASE_COLUMNS if c not in header]
    missing += [SERVER_PREFIX + s for s in sorted(servers) if SERVER_PREFIX + s not in header]
    for column in missing:
        problems.append(f"{name}: row 1: column {column!r} is missing")
    seen_columns: set[str] = set()
    for column in header:
        if column in seen_columns:
            problems.append(f"{name}: row 1: column {column!r} appears twice")
        seen_columns.add(column)
        if column.startswith(SERVER_PREFIX) and column[len(SERVER_PREFIX) :] not in servers:
            problems.append(
                f"{name}: row 1: column {column!r}: no server of that name in the latest sync "
                f"(known: {', '.join(sorted(servers)) or 'none'})"
            )
        elif not column.startswith(SERVER_PREFIX) and column not in BASE_COLUMNS:
            problems.append(f"{name}: row 1: column {column!r} is not a template column")
    if problems:
        raise AttestationInvalid(problems)
    members: list[Member] = []
    emails: dict[str, int] = {}
    owners = []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            problems.append(
                f"{name}: row {number}: has {len(cells)} cells, the header has {len(header)}"
            )
            continue
        row = dict(zip(header, cells, strict=True))
        where = f"{name}: row {number}"
        problems += formula_problems(where, row)
        email = row["email"].strip().lower()
        if not EMAIL.match(email):
            problems.append(f"{where}: column 'email': {row['email']!r} is not an email address")
        elif email in emails:
            problems.append(
                f"{where}: column 'email': {email} already appears in row {emails[email]}"
            )
        else:
            emails[email] = number
        role = row["role"].strip()
        level = ROLES.get(role.lower())
        if level is None:
            problems.append(
                f"{where}: column 'role': {role!r} is not a Postmark role (known: Account "
                "Owner, Account Admin, Owner, Admin, Teammate, Technical, Billing, User)"
            )
        elif level == "owner":
            owners.append(number)
        two_factor = row["two_factor"].strip().lower()
        if two_factor not in TWO_FACTOR_VALUES:
            problems.append(
                f"{where}: column 'two_factor': {row['two_factor']!r} is not one "
                f"of {', '.join(TWO_FACTOR_VALUES)}"
            )
        access: dict[str, str] = {}
        for server_name, server_id in servers.items():
            column = SERVER_PREFIX + server_name
            value = row[column].strip().lower()
            if value == "" and level in ("owner", "admin"):
                continue
            if value not in ACCESS_VALUES:
                problems.append(
                    f"{where}: column {column!r}: {row[column]!r} is not one of full, view, none"
                )
            elif value != "none":
                access[str(server_id)] = value
        if level in ("owner", "admin"):
            access = {str(server_id): "full" for server_id in servers.values()}
        members.append(Member(email, row["name"].strip(), role, level or "", two_factor, access))
    if not members and not problems:
        problems.append(f"{name}: the file has a header but no member rows")
    if len(owners) != 1 and not problems:
        rows_text = ", ".join(str(r) for r in owners) or "none"
        problems.append(
            f"{name}: column 'role': exactly one account owner is needed, found "
            f"{len(owners)} (rows: {rows_text})"
        )
    if problems:
        raise AttestationInvalid(problems)
    return members


@dataclass
class Evidence:
    text: str | None
    sha256: str | None


def read_evidence(evidence: str | None) -> Evidence:
    """A URL is kept (secrets stripped); a file is kept only as its SHA-256."""
    if not evidence:
        return Evidence(None, None)
    if re.match(r"^[a-z]+://", evidence, re.I):
        return Evidence(redact_url(evidence), None)
    path = Path(evidence)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise AttestationInvalid(
            [f"{evidence}: the evidence file cannot be read ({exc.strerror})"]
        ) from None
    return Evidence(path.name, digest)


def build_attestation(
    members: list[Member],
    *,
    label: str,
    attested_by: str,
    attested_at: datetime,
    valid_days: int,
    evidence: Evidence,
    file_sha256: str,
    import_id: int,
) -> tuple[list[Node], list[Edge], dict[str, Any]]:
    """Members -> attested nodes and edges, and the attestation record."""
    expires_at = attested_at + timedelta(days=valid_days)
    record = {
        "attested_by": attested_by,
        "attested_at": attested_at.isoformat(timespec="seconds"),
        "expires_at": expires_at.isoformat(timespec="seconds"),
        "evidence": evidence.text,
        "evidence_sha256": evidence.sha256,
        "file_sha256": file_sha256,
        "import_id": import_id,
    }
    account = node_id(ACCOUNT, label)
    nodes: list[Node] = []
    edges: list[Edge] = []
    for member in members:
        member_node = node_id(TEAM_MEMBER, member.email)
        nodes.append(
            Node(
                id=member_node,
                kind=TEAM_MEMBER,
                source="attested",
                attrs={
                    "email": member.email,
                    "name": member.name,
                    "role": member.role,
                    "role_level": member.level,
                    "two_factor": member.two_factor,
                    "server_access": member.access,
                    **record,
                },
            )
        )
        person = person_id(member.email)
        nodes.append(Node(id=person, kind=PERSON, source="attested", attrs={"email": member.email}))
        edges.append(
            Edge(
                src=member_node,
                dst=account,
                kind="member_of",
                source="attested",
                attrs={"role": member.role, "role_level": member.level},
            )
        )
        edges.append(Edge(src=member_node, dst=person, kind="is", source="attested"))
        for server_id, permission in sorted(member.access.items()):
            edges.append(
                Edge(
                    src=member_node,
                    dst=node_id(SERVER, server_id),
                    kind="can_access",
                    source="attested",
                    attrs={"permission": permission},
                )
            )
    return nodes, edges, record


def import_members(
    store: Store,
    path: Path,
    *,
    label: str,
    attested_by: str,
    evidence: str | None,
    valid_days: int,
    now: datetime | None = None,
    lock_wait: float = 30.0,
) -> dict[str, Any]:
    """Validate `path` whole, then record one attestation run; nothing is written on error."""
    if not EMAIL.match(attested_by.strip()):
        raise AttestationInvalid([f"--attested-by: {attested_by!r} is not an email address"])
    if valid_days < 1:
        raise AttestationInvalid([f"--valid-days: {valid_days} must be 1 or more"])
    servers = account_servers(store, label)
    members = parse_members(path, servers)
    proof = read_evidence(evidence)
    file_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    before = previous_members(store, label)
    attested_at = now or datetime.now(UTC)
    from idgraph.graph.plugins import plugin_versions

    scope = attested_scope(label)
    with store.write_lock(lock_wait):
        run_id = store.start_run(
            kind="attestation",
            connector=ATTESTED_CONNECTOR,
            scope=scope,
            account_label=label,
            plugin_versions=plugin_versions(),
        )
        nodes, edges, record = build_attestation(
            members,
            label=label,
            attested_by=attested_by.strip().lower(),
            attested_at=attested_at,
            valid_days=valid_days,
            evidence=proof,
            file_sha256=file_sha256,
            import_id=run_id,
        )

        def add_record() -> None:
            store.record_attestation(
                {
                    "run_id": run_id,
                    "connector": ATTESTED_CONNECTOR,
                    "account_label": label,
                    "file_name": path.name,
                    "members": len(members),
                    **{k: v for k, v in record.items() if k != "import_id"},
                }
            )

        counts = store.finish_run(
            run_id, status="complete", scope=scope, nodes=nodes, edges=edges, also=add_record
        )
    emails = {m.email for m in members}
    return {
        "run_id": run_id,
        "account_label": label,
        "members": len(members),
        "added": sorted(emails - set(before)),
        "removed": sorted(set(before) - emails),
        "expires_at": record["expires_at"],
        "counts": counts,
    }


def is_stale(expires_at: str | None, now: datetime | None = None) -> bool:
    if not expires_at:
        return True
    return datetime.fromisoformat(expires_at) < (now or datetime.now(UTC))


def attestation_status(store: Store, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per Postmark account in the store: none, valid or stale attestation."""
    labels = sorted(
        {
            row["account_label"]
            for row in store.db.query(
                "SELECT DISTINCT account_label FROM runs WHERE connector = 'postmark' "
                "AND status = 'complete' AND account_label IS NOT NULL"
            )
        }
    )
    result = []
    for label in labels:
        latest = store.attestations(label)
        if not latest:
            result.append({"account_label": label, "status": "none"})
            continue
        record = latest[0]
        result.append(
            {
                "account_label": label,
                "status": "stale" if is_stale(record["expires_at"], now) else "valid",
                "attested_by": record["attested_by"],
                "attested_at": record["attested_at"],
                "expires_at": record["expires_at"],
                "members": record["members"],
                "import_id": record["run_id"],
            }
        )
    return result


def corroborate(store: Store, label: str) -> dict[str, Any]:
    """Attested member emails set against the people the API shows (sender signatures)."""
    _run, graph = load_graph(store)
    api_scope, att_scope = f"postmark:{label}", attested_scope(label)
    members = {
        d["email"]
        for _n, d in graph.nodes(data=True)
        if d["kind"] == TEAM_MEMBER and d.get("scope") == att_scope
    }
    senders = {
        d["email"]
        for _n, d in graph.nodes(data=True)
        if d["kind"] == "postmark:sender_signature" and d.get("scope") == api_scope
    }
    verified = {
        d["name"].lower()
        for _n, d in graph.nodes(data=True)
        if d["kind"] == "postmark:domain" and d.get("scope") == api_scope and d.get("verified")
    }

    def in_verified(email: str) -> bool:
        domain = email.rpartition("@")[2]
        return any(domain == v or domain.endswith("." + v) for v in verified)

    return {
        "account_label": label,
        "members_also_senders": sorted(members & senders),
        "members_only": sorted(members - senders),
        "senders_only": sorted(senders - members),
        "members_outside_verified_domains": sorted(m for m in members if not in_verified(m)),
        "verified_domains": sorted(verified),
    }
