"""Team members read off an app's web UI: the template, strict validation, and the import.

A host capability: a connector whose app has no member API registers a `MemberFormat`
(`register_member_formats`): its columns, roles, access values and where in the UI each is
read. The import checks the whole file before anything is written; a valid file becomes one
attestation run in its own scope (`attested:<connector>:<label>`), apart from the API history.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import os
import re
import sqlite3
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .access import kind_fact_rows
from .csvinput import (
    EMAIL,
    MAX_PROBLEMS_KEPT,
    InputInvalid,
    csv_writer,
    formula_problems,
    input_limit,
    read_rows,
    safe_cell,
)
from .member_columns import ColumnIndex, resource_label, template_columns
from .member_format import MemberFormat
from .model import Edge, Node, node_id, person_id
from .normalise import canonical, canonical_email, nfc
from .remediation import track_quietly
from .schema import registry
from .secrets import redact_url
from .store import RunNotFound, Store
from .view import load_graph

BASE_COLUMNS = ["email", "name", "role", "two_factor"]
TWO_FACTOR_VALUES = ("yes", "no", "unknown")
PERSON = "person"
# The largest evidence file hashed (a PDF or an export of the web UI's member page)
MAX_EVIDENCE_BYTES = 256 * 1024 * 1024


class AttestationInvalid(InputInvalid):
    """The member file (or an option of its import) has problems, each named."""


@dataclass
class Member:
    email: str
    name: str
    role: str
    level: str
    two_factor: str
    access: dict[str, str] = field(default_factory=dict)  # resource key -> access value


def account_resources(store: Store, fmt: MemberFormat, label: str) -> dict[str, str]:
    """Resource key -> name in the latest complete API run of the account (keyed by id: two
    resources may share a name)."""
    _run, graph = load_graph(store)
    scope = fmt.api_scope(label)
    resources = {
        str(data.get(fmt.resource_key)): str(data.get("name", node))
        for node, data in graph.nodes(data=True)
        if data["kind"] == fmt.resource_kind and data.get("scope") == scope
    }
    if not any(
        data["kind"] == fmt.account_kind and data.get("scope") == scope
        for _n, data in graph.nodes(data=True)
    ):
        raise _no_sync_of(store, fmt, label)
    return resources


def _no_sync_of(store: Store, fmt: MemberFormat, label: str) -> RunNotFound:
    return RunNotFound(
        f"no complete sync of {fmt.title} account {label!r} in {store.path}: run "
        f"`idgraph sync {fmt.connector} --account-label {label}` first"
    )


def known_labels(store: Store, fmt: MemberFormat, as_of: int | None = None) -> list[str]:
    """The labels of the connector's accounts with a complete sync (up to run `as_of`)."""
    return store.synced_account_labels(fmt.connector, as_of)


def resolve_label(store: Store, fmt: MemberFormat, label: str | None) -> str:
    """The account label given, or the connector's only account in the store."""
    if label:
        return label
    labels = known_labels(store, fmt)
    if len(labels) == 1:
        return labels[0]
    if not labels:
        raise RunNotFound(f"{store.path} holds no complete {fmt.title} sync: run one first")
    raise RunNotFound(
        f"{store.path} holds several {fmt.title} accounts ({', '.join(labels)}): "
        "name one with --account-label"
    )


def previous_members(store: Store, fmt: MemberFormat, label: str) -> dict[str, dict[str, Any]]:
    """email -> the attributes of the member in the latest attestation of the account."""
    scope = fmt.attested_scope(label)
    try:
        run = store.complete_run()
    except RunNotFound:
        return {}
    return {
        canonical_email(node.attrs["email"]): node.attrs
        for node in store.nodes(run.id)
        if node.kind == fmt.member_kind and node.attrs.get("scope") == scope
    }


def write_template(store: Store, fmt: MemberFormat, label: str, *, long: bool = False) -> str:
    """The CSV template: a column per resource, pre-filled from the previous attestation;
    `long`: one row per person and resource with access instead (many resources)."""
    header, rows = template_rows(store, fmt, label)
    if long:
        header, rows = _long_rows(header, rows, fmt)
    buffer = io.StringIO()
    buffer.write("\ufeff")  # a spreadsheet reads UTF-8 (accented names) only with the BOM
    writer = csv_writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_template_workbook(store: Store, fmt: MemberFormat, label: str, path: Path) -> Path:
    """The template as .xlsx: text cells, drop-downs for role, two_factor and every resource
    column, the notes on a second sheet."""
    from .spreadsheet import Column, Sheet, write_workbook

    header, rows = template_rows(store, fmt, label)
    roles = sorted(fmt.roles)
    columns = [
        Column("email", width=32, locked=False),
        Column("name", width=24, locked=False),
        Column("role", width=18, locked=False, choices=roles, prompt="as the UI shows it"),
        Column("two_factor", width=12, locked=False, choices=TWO_FACTOR_VALUES),
        *(
            Column(name, width=max(14, len(name) + 2), locked=False, choices=fmt.access_values)
            for name in header[len(BASE_COLUMNS) :]
        ),
    ]
    notes = [[line] for line in fmt.where_in_the_ui.splitlines()]
    return write_workbook(
        path,
        [
            Sheet("Members", columns, rows),
            Sheet("Where to read each value", [Column("notes", width=100)], notes, wrap=True),
        ],
    )


def _long_rows(
    header: list[str], rows: list[list[str]], fmt: MemberFormat
) -> tuple[list[str], list[list[str]]]:
    """The wide template in long form: a row per person and resource with access, a person
    with none (or an account-wide role) on one row with resource and access empty."""
    base = len(BASE_COLUMNS)
    labels = [column[len(fmt.resource_prefix) :] for column in header[base:]]
    long = []
    for row in rows:
        granted = [
            [*row[:base], safe_cell(label), value]
            for label, value in zip(labels, row[base:], strict=True)
            if value not in ("", "none")
        ]
        long += granted or [[*row[:base], "", ""]]
    return [*BASE_COLUMNS, *LONG_COLUMNS], long


def template_rows(store: Store, fmt: MemberFormat, label: str) -> tuple[list[str], list[list[str]]]:
    """The template's header and its rows, pre-filled from the previous attestation; every
    cell neutralised so a formula typed into the UI never comes back live."""
    columns = template_columns(fmt.resource_prefix, account_resources(store, fmt, label))
    previous = previous_members(store, fmt, label)
    rows = []
    for email in sorted(previous):
        attrs = previous[email]
        access = {str(k): v for k, v in (attrs.get(fmt.access_property) or {}).items()}
        every = attrs.get("role_level") in fmt.all_access_levels
        role = attrs.get("role") or ""
        rows.append(
            [
                safe_cell(v)
                for v in [
                    email,
                    attrs.get("name") or "",
                    fmt.role(role) or role,  # an older import may have stored it as typed
                    attrs.get("two_factor") or "",
                ]
                + ["" if every else access.get(key, "none") for key in columns.values()]
            ]
        )
    return BASE_COLUMNS + list(columns), rows


def parse_members(
    path: Path, fmt: MemberFormat, resources: Mapping[str, str], encoding: str | None = None
) -> list[Member]:
    """Validate the whole file; raise AttestationInvalid listing every problem. Cells are
    compared trimmed: a spreadsheet may add or drop surrounding spaces."""
    name = str(path)
    rows = read_rows(path, encoding=encoding, error=AttestationInvalid)
    header = [cell.strip() for cell in rows[0]]
    while header and not header[-1]:
        header.pop()  # trailing empty columns a spreadsheet adds
    numbered = list(enumerate(rows[1:], start=2))
    long_problems: list[str] = []
    if header == [*BASE_COLUMNS, *LONG_COLUMNS]:  # one row per person and resource
        header, numbered, long_problems = _long_to_wide(name, fmt, numbered, resources)
    # every problem in one pass: the header's, each row's, then the owner count
    by_column, problems = _resource_columns(name, fmt, header, resources)
    if any(column not in header for column in BASE_COLUMNS):  # no row can be read
        raise AttestationInvalid(problems)
    problems += long_problems
    members: list[Member] = []
    emails: dict[str, int] = {}
    owners = []
    for number, raw_cells in numbered:
        if len(problems) >= MAX_PROBLEMS_KEPT:
            problems.append(
                f"{name}: row {number}: not read, after {len(problems):,} problems: fix those first"
            )
            break
        cells = [cell.strip() for cell in raw_cells]
        while len(cells) > len(header) and not cells[-1]:
            cells.pop()
        if not any(cells):
            continue
        if len(cells) != len(header):
            problems.append(
                f"{name}: row {number}: has {len(cells)} cells, the header has {len(header)}"
            )
            continue
        where = f"{name}: row {number}"
        row = dict(zip(header, cells, strict=True))
        problems += formula_problems(where, row)
        member, found = _member(where, row, fmt, by_column)
        problems += found
        if member.email in emails:
            problems.append(
                f"{where}: column 'email': {member.email} already appears in row "
                f"{emails[member.email]}"
            )
        elif member.email:
            emails[member.email] = number
        if member.level and member.level == fmt.owner_level:
            owners.append(number)
        members.append(member)
    if not members and not problems:
        problems.append(f"{name}: the file has a header but no member rows")
    if fmt.owner_level and len(owners) != 1 and members:
        rows_text = ", ".join(str(r) for r in owners) or "none"
        problems.append(
            f"{name}: column 'role': exactly one {fmt.owner_level} is needed, found "
            f"{len(owners)} (rows: {rows_text})"
        )
    if problems:
        raise AttestationInvalid(problems)
    return members


LONG_COLUMNS = ["resource", "access"]  # the long form's columns after BASE_COLUMNS


def _long_to_wide(
    name: str,
    fmt: MemberFormat,
    numbered: list[tuple[int, list[str]]],
    resources: Mapping[str, str],
) -> tuple[list[str], list[tuple[int, list[str]]], list[str]]:
    """A long-form file (one row per person and resource with access; a person with none,
    or an account-wide role, on one row with both empty) as the wide rows `parse_members`
    reads, each numbered by the person's first row; and the problems only the long rows
    can name (an unknown resource, a resource twice for one person)."""
    columns = template_columns(fmt.resource_prefix, resources)
    column_of = {key: column for column, key in columns.items()}
    index = ColumnIndex(resources)
    people: dict[str, tuple[int, list[str], dict[str, str]]] = {}
    problems = []
    for number, raw in numbered:
        cells = [c.strip() for c in raw] + [""] * (len(BASE_COLUMNS) + 2 - len(raw))
        if not any(cells):
            continue
        email = canonical_email(cells[0]) if cells[0] else f"(row {number})"
        _first, _base, access = people.setdefault(email, (number, cells[:4], {}))
        resource, value = cells[4], cells[5]
        if not resource:
            continue
        keys = index.candidates(resource)
        if len(keys) != 1:
            problems.append(
                f"{name}: row {number}: column 'resource': {resource!r} names "
                f"{'no' if not keys else len(keys)} resource(s) of the latest sync: use the "
                "id, as the long template writes it"
            )
        elif column_of[keys[0]] in access:
            problems.append(f"{name}: row {number}: column 'resource': {resource!r} again")
        else:
            access[column_of[keys[0]]] = value or "none"
    wide = [
        (first, [*base, *(access.get(column, "") for column in columns)])
        for first, base, access in people.values()
    ]
    return [*BASE_COLUMNS, *columns], wide, problems


def _resource_columns(
    name: str, fmt: MemberFormat, header: list[str], resources: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Column -> resource key for the header's resource columns (`member_columns`), and a
    problem naming each missing, doubled, unknown or ambiguous column."""
    prefix = fmt.resource_prefix
    kind = fmt.resource_kind.rsplit(":", 1)[-1]
    problems = [f"{name}: row 1: column {c!r} is missing" for c in BASE_COLUMNS if c not in header]
    by_column: dict[str, str] = {}
    seen_columns: set[str] = set()
    index = ColumnIndex(resources)
    for column in header:
        if column in seen_columns:
            problems.append(f"{name}: row 1: column {column!r} appears twice")
        seen_columns.add(column)
        if not column.startswith(prefix):
            if column not in BASE_COLUMNS:
                problems.append(f"{name}: row 1: column {column!r} is not a template column")
            continue
        keys = index.candidates(column[len(prefix) :])
        if len(keys) == 1:
            by_column[column] = keys[0]
            continue
        labels = [resource_label(key, resources[key]) for key in keys]
        if keys:
            problems.append(
                f"{name}: row 1: column {column!r} could name {len(keys)} {kind}s "
                f"({', '.join(labels)}): name one by id, as in {prefix + labels[0]!r}"
            )
        else:
            labels = [prefix + resource_label(k, n) for k, n in sorted(resources.items())]
            close = difflib.get_close_matches(column, labels, n=1, cutoff=0.5)
            hint = f"did you mean {' or '.join(map(repr, close))}?" if close else ""
            problems.append(
                f"{name}: row 1: column {column!r}: no {kind} of that id or name in the "
                f"latest sync ({hint or f'{len(labels)} known: `idgraph attest template`'})"
            )
    problems += _resource_coverage(name, prefix, by_column, resources)
    return by_column, problems


def _resource_coverage(
    name: str, prefix: str, by_column: Mapping[str, str], resources: Mapping[str, str]
) -> list[str]:
    """A problem for each resource no column names, and each that two columns name."""
    columns: dict[str, list[str]] = {}
    for column, key in by_column.items():
        columns.setdefault(key, []).append(column)
    problems = []
    for column, key in template_columns(prefix, resources).items():
        found = columns.get(key, [])
        if not found:
            problems.append(f"{name}: row 1: column {column!r} is missing")
        elif len(found) > 1:
            problems.append(
                f"{name}: row 1: columns {', '.join(map(repr, found))} all name {column!r}"
            )
    return problems


def _member(
    where: str, row: dict[str, str], fmt: MemberFormat, by_column: Mapping[str, str]
) -> tuple[Member, list[str]]:
    """One row as a Member, every value in its canonical form, and the row's problems."""
    problems: list[str] = []
    email = canonical_email(row["email"])
    if not EMAIL.match(email):
        problems.append(f"{where}: column 'email': {row['email']!r} is not an email address")
        email = ""
    role = fmt.role(row["role"])
    level = fmt.roles[role] if role is not None else ""
    if role is None:
        problems.append(
            f"{where}: column 'role': {row['role']!r} is not a {fmt.title} role "
            f"(known: {fmt.role_names})"
        )
    two_factor = canonical(row["two_factor"] or "unknown", TWO_FACTOR_VALUES)  # blank: unknown
    if two_factor is None:
        problems.append(
            f"{where}: column 'two_factor': {row['two_factor']!r} is not one "
            f"of {', '.join(TWO_FACTOR_VALUES)} (or blank for unknown)"
        )
    access: dict[str, str] = {}
    for column, key in by_column.items():
        if row[column] == "":
            continue  # blank: no access (admins: every resource anyway)
        value = fmt.access_value(row[column])
        if value is None:
            problems.append(
                f"{where}: column {column!r}: {row[column]!r} is not one of "
                f"{', '.join(fmt.access_values)} (or blank for none)"
            )
        elif value != "none":
            access[key] = value
    if level in fmt.all_access_levels:
        access = {key: fmt.full_access for key in by_column.values()}
    member = Member(email, nfc(row["name"]), role or "", level, two_factor or "", access)
    return member, problems


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
        limit = input_limit("MAX_EVIDENCE_BYTES", MAX_EVIDENCE_BYTES)
    except InputInvalid as exc:
        raise AttestationInvalid(exc.problems) from None
    try:
        # O_NONBLOCK: opening a named pipe would otherwise wait for a writer, forever
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            found = os.fstat(handle.fileno())
            if not stat.S_ISREG(found.st_mode):  # /dev/zero, a pipe: no end to hash
                raise AttestationInvalid(
                    [f"{evidence}: the evidence must be a regular file (or an https:// link)"]
                )
            if found.st_size > limit:
                raise AttestationInvalid(
                    [
                        f"{evidence}: the evidence file has {found.st_size:,} bytes, more than "
                        f"the {limit:,} idgraph hashes (IDGRAPH_MAX_EVIDENCE_BYTES)"
                    ]
                )
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise AttestationInvalid(
            [f"{evidence}: the evidence file cannot be read ({exc.strerror})"]
        ) from None
    return Evidence(path.name, digest)


# What every member of one import shares: who attested, when, until when, the evidence and
# the file (`build_attestation`'s record). `idgraph diff` tells these once per import.
PROVENANCE = (
    "attested_by",
    "attested_at",
    "expires_at",
    "evidence",
    "evidence_sha256",
    "file_sha256",
    "import_id",
)


def build_attestation(
    fmt: MemberFormat,
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
    account = node_id(fmt.account_kind, label)
    nodes: list[Node] = []
    edges: list[Edge] = []
    for member in members:
        member_node = node_id(fmt.member_kind, member.email)
        nodes.append(
            Node(
                id=member_node,
                kind=fmt.member_kind,
                source="attested",
                attrs={
                    "email": member.email,
                    "name": member.name,
                    "role": member.role,
                    "role_level": member.level,
                    "two_factor": member.two_factor,
                    fmt.access_property: member.access,
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
                kind=fmt.member_edge,
                source="attested",
                attrs={"role": member.role, "role_level": member.level},
            )
        )
        edges.append(Edge(src=member_node, dst=person, kind=fmt.identity_edge, source="attested"))
        if member.level in fmt.all_access_levels:
            # The role reaches every resource: its one role edge is the access (revoked by
            # changing the role); per-resource rows would offer a step the UI cannot take.
            continue
        for key, permission in sorted(member.access.items()):
            edges.append(
                Edge(
                    src=member_node,
                    dst=node_id(fmt.resource_kind, key),
                    kind=fmt.access_edge,
                    source="attested",
                    attrs={"permission": permission},
                )
            )
    return nodes, edges, record


MAX_VALID_DAYS = 3660


def _checked_attester(attested_by: str, valid_days: int) -> str:
    """The attester's canonical email, once it and the validity are known good."""
    attested_by = canonical_email(attested_by)
    if not EMAIL.match(attested_by):
        raise AttestationInvalid([f"--attested-by: {attested_by!r} is not an email address"])
    if not 1 <= valid_days <= MAX_VALID_DAYS:
        raise AttestationInvalid(
            [f"--valid-days: {valid_days} must be between 1 and {MAX_VALID_DAYS}"]
        )
    return attested_by


def _record_attestation(
    store: Store,
    fmt: MemberFormat,
    path: Path,
    label: str,
    members: list[Member],
    run_id: int,
    nodes: list[Node],
    edges: list[Edge],
    record: dict[str, Any],
) -> dict[str, Any]:
    """Finish the attestation run with its nodes, edges and record; its counts."""

    def add_record() -> None:
        store.record_attestation(
            {
                "run_id": run_id,
                "connector": fmt.connector,
                "account_label": label,
                "file_name": path.name,
                "members": len(members),
                **{k: v for k, v in record.items() if k != "import_id"},
            }
        )

    counts = store.finish_run(
        run_id,
        status="complete",
        nodes=nodes,
        edges=edges,
        also=add_record,
        kind_facts=lambda: kind_fact_rows(registry()),
    )
    track_quietly(store, run_id)  # what the attestation shows of the remediation items
    with contextlib.suppress(sqlite3.Error, OSError):  # the attestation stands
        store.refresh_search_index()
    return counts


def import_members(
    store: Store,
    fmt: MemberFormat,
    path: Path,
    *,
    label: str,
    attested_by: str,
    evidence: str | None,
    valid_days: int,
    now: datetime | None = None,
    lock_wait: float = 30.0,
    encoding: str | None = None,
) -> dict[str, Any]:
    """Validate `path` whole, then record one attestation run; nothing is written on error."""
    from .plugins import plugin_versions

    attested_by = _checked_attester(attested_by, valid_days)
    resources = account_resources(store, fmt, label)
    members = parse_members(path, fmt, resources, encoding=encoding)
    proof = read_evidence(evidence)
    file_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    before = previous_members(store, fmt, label)
    attested_at = now or datetime.now(UTC)
    scope = fmt.attested_scope(label)
    with store.write_lock(lock_wait):
        run_id = store.start_run(
            kind="attestation",
            connector=fmt.connector,
            scope=scope,
            account_label=label,
            plugin_versions=plugin_versions(),
        )
        nodes, edges, record = build_attestation(
            fmt,
            members,
            label=label,
            attested_by=attested_by,
            attested_at=attested_at,
            valid_days=valid_days,
            evidence=proof,
            file_sha256=file_sha256,
            import_id=run_id,
        )

        counts = _record_attestation(store, fmt, path, label, members, run_id, nodes, edges, record)
    emails = {m.email for m in members}
    return {
        "run_id": run_id,
        "connector": fmt.connector,
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


def attestation_status(
    store: Store,
    formats: Mapping[str, MemberFormat],
    now: datetime | None = None,
    *,
    as_of: int | None = None,
) -> list[dict[str, Any]]:
    """Per account of every connector with a member format: none, valid or stale (with
    `as_of`, from the attestations recorded up to that run)."""
    result = []
    for fmt in sorted(formats.values(), key=lambda f: f.connector):
        for label in known_labels(store, fmt, as_of):
            latest = [
                r
                for r in store.attestations(label)
                if r.get("connector") == fmt.connector and (as_of is None or r["run_id"] <= as_of)
            ]
            base = {"connector": fmt.connector, "account_label": label}
            if not latest:
                result.append({**base, "status": "none"})
                continue
            record = latest[0]
            result.append(
                {
                    **base,
                    "status": "stale" if is_stale(record["expires_at"], now) else "valid",
                    "attested_by": record["attested_by"],
                    "attested_at": record["attested_at"],
                    "expires_at": record["expires_at"],
                    "members": record["members"],
                    "import_id": record["run_id"],
                }
            )
    return result


def unattested(store: Store, run_id: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """The accounts whose team members have no valid attestation as of a run (none, or
    expired), each with the sentence that says so and what to run: an export before
    attestation must not read as an account with no members."""
    from .plugins import get_member_formats

    found = []
    for row in attestation_status(store, get_member_formats(), now, as_of=run_id):
        if row["status"] == "valid":
            continue
        connector, label = row["connector"], row["account_label"]
        state = (
            "not attested"
            if row["status"] == "none"
            else f"attestation {row['import_id']} expired on {row['expires_at']}"
        )
        found.append(
            {
                **row,
                "state": state,
                "note": f"{connector} account {label}: team members: {state} — run "
                f"`idgraph attest template {connector} --account-label {label} --out "
                f"members.csv`, fill it in from the web UI, then `idgraph attest import "
                f"{connector} members.csv --account-label {label} --attested-by YOU`",
            }
        )
    return found


def corroborate(store: Store, fmt: MemberFormat, label: str) -> dict[str, Any]:
    """Attested member emails set against what the connector's API shows."""
    if label not in known_labels(store, fmt):
        raise _no_sync_of(store, fmt, label)
    _run, graph = load_graph(store)
    scope = fmt.attested_scope(label)
    members = {
        d["email"]
        for _n, d in graph.nodes(data=True)
        if d["kind"] == fmt.member_kind and d.get("scope") == scope
    }
    report: dict[str, Any] = {"connector": fmt.connector, "account_label": label}
    if fmt.corroborate is not None:
        report.update(fmt.corroborate(graph, fmt.api_scope(label), members))
    return report
