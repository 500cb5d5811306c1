"""The access engine: who holds what access on which resource, as of a complete run.

Contract (every output reads these rows; none works access out by itself):

- **Explicit rows.** One `AccessRow` per access edge (an edge kind the schema declares with
  `access`) whose source is a principal (a node kind of role `member` or `credential`), as
  of a complete run, read from the store with SQL kind by kind. Its access is the edge's
  declared access property (the kind itself when absent), its path the principal's holder
  edges (`holds`) then the access edge, its evidence where the principal comes from (the
  API run, or the attestation: who, when, evidence and file digests).
- **Implied rows.** An explicit row whose access value *spans the account* (the edge kind's
  `spans_account`, compared with `fold`: NFC, case and spacing ignored) implies access on
  every node of role `resource` in the scope of the row's resource (the account). An
  implied row carries the spanning row's principal, kind, grant, source and evidence, the
  strongest level a per-resource grant can give (`implied_level`; the spanning value where
  the schema declares no per-resource grant) and `implied_by`: the spanning row's id.
- **Effective access** of a (principal, resource) pair: the implied value if the pair has
  an implied row (an account-wide role covers everything), else the explicit value.
- **Changes** between two runs are worked out once, from the two runs' explicit rows, by
  row id (`changes_between`).
- **Review rows** (`review_rows`): one row per decision a person can make. A member's rows
  stay one per (member, resource); a credential's explicit rows (a server token's `grants`
  and `can_send_as`) become one row, since nobody can revoke one edge of a token and keep
  the other: its id is the id of its scope row (`grant` `scope`, else its first row), so
  decisions stored on that row carry over; its access joins the parts' values with `; `,
  its `covers` names each part (kind, access, resource), and `aliases` maps every part's id
  to the merged row's (a decision stored on a send-as row id reads as one on the token).
  They are grouped people, then credentials, then anything else (integrations), each
  sorted by `risk` (set by the review from the findings and the access's permissions).

The SQL views `access_paths` and `reachable` (graph/store/views.py) state the same rules in
SQL for SQL clients, with the folded spanning values and the implied level written to
`kind_facts` by `spans_facts`; test_one_answer.py (the connector's end-to-end tests)
asserts that every output agrees.
Cells are neutralised (`safe_cell`) where they are written, never here.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .csvinput import safe_cell
from .model import attrs_from_json

if TYPE_CHECKING:
    from .schema import SchemaRegistry
    from .store import Run, Store

ROW_ID_PREFIX = "r-"
UNCHANGED = "unchanged"  # a row of the baseline run, with the same access
FIRST_REVIEW = "first review"  # no baseline: no reviewed run before this one, no --since

REVIEW_COLUMNS = [
    "row_id",
    "run",
    "principal",
    "principal_name",
    "principal_type",
    "resource",
    "resource_name",
    "owner",
    "purpose",
    "access",
    "access_kind",
    "covers",
    "path",
    "source",
    "evidence",
    "last_verified",
    "flags",
    "risk",
    "change_since_last_review",
    "open_item",
    "previous_decision",
    "previous_reviewer",
    "previous_justification",
    "changed_since_previous",
    "suggested_reviewer",
    "decision",
    "reviewer",
    "review_date",
    "justification",
]


def fold(value: object) -> str:
    """A value as compared: NFC, runs of spaces as one, case-folded."""
    return unicodedata.normalize("NFC", " ".join(str(value).split())).casefold()


def row_id(principal: str, kind: str, resource: str) -> str:
    """`r-` + 16 hex: the letter keeps a spreadsheet from reading the id as a number
    (`9705615772979639` -> 9.70561577297964E+15, `522e003017105919` -> 1.79E+308).

    The kind is hashed without its `<connector>:` namespace (principal and resource ids
    carry the connector already), so a kind given its namespace later (the built-in
    connector's, in schema 5) keeps the row ids stored decisions and reviewers' files cite."""
    return _row_id(principal, kind.rpartition(":")[2], resource)


def _row_id(principal: str, local_kind: str, resource: str) -> str:
    digest = hashlib.sha256(f"{principal}|{local_kind}|{resource}".encode()).hexdigest()[:16]
    return ROW_ID_PREFIX + digest


@dataclass(slots=True, eq=False)  # a record is itself: hashed by identity, as a cache key
class Principal:
    """What every row of a principal in a run shares, held once and read through its rows."""

    run: int
    ident: str
    name: str
    type: str
    evidence: str
    last_verified: str
    holder: str  # its holder edges as a path (`a -holds-> b | ...`), "" when none


@dataclass(slots=True, eq=False)
class Resource:
    """A resource as its rows show it (its name is set late for a node of no declared role)."""

    ident: str
    name: str


class AccessRow:
    """One (principal, resource, access) with how it is held and the evidence for it.

    Compact: what a row shares with the principal's other rows (name, type, evidence, holder
    path), the resource's and the edge kind's is one shared record each, read through the
    attributes below; the path is put together when read. 190,000 rows of 23 fields each
    held 200 MB at 100,000 nodes."""

    __slots__ = (
        "row_id",
        "access",
        "source",
        "flags",
        "change",
        "risk",
        "open_item",
        "previous",
        "owner",
        "parts",
        "who",
        "on",
        "edge",
        "_path",
        "_implied",
    )

    def __init__(
        self,
        row_id: str,
        who: Principal,
        on: Resource,
        edge: tuple[str, str],
        access: str,
        source: str,
        *,
        path: str | None = None,
        implied: tuple[str, str] | None = None,
        parts: Sequence[AccessRow] = (),
        flags: Sequence[str] = (),
    ) -> None:
        self.row_id = row_id
        self.who = who  # the principal's shared record
        self.on = on  # the resource's shared record
        self.edge = edge  # (edge kind, grant), shared by the kind's rows
        self.access = access
        self.source = source
        self._path = path  # None: the holder path then this edge, made when read
        self._implied = implied  # (implied_by, how) of an implied row
        self.parts = parts  # the edges a merged row covers (a list when merged)
        self.flags = flags  # the review sets a list, shared by rows of the same flags
        self.change = ""  # since the review's baseline: added, changed (was ...), removed ...
        self.risk = ""  # high, medium or low (the review sets it)
        self.open_item = ""  # a remediation item still open on it (the review sets it)
        # last review's decision, reviewer, justification, and whether the access changed
        # since; owner, purpose, suggested reviewer (graph/annotations.py): the review sets them
        self.previous: tuple[str, str, str, str] = _NO_PREVIOUS
        self.owner: tuple[str, str, str] = _NO_OWNER

    @classmethod
    def of(  # noqa: PLR0913 - the fields a row shows, as the dataclass it was took them
        cls,
        row_id: str,
        run: int,
        principal: str,
        principal_name: str,
        principal_type: str,
        resource: str,
        resource_name: str,
        access: str,
        access_kind: str,
        grant: str,
        path: str,
        source: str,
        evidence: str,
        last_verified: str,
    ) -> AccessRow:
        """A row from its fields, records of its own (a plugin's or a test's row)."""
        who = Principal(run, principal, principal_name, principal_type, evidence, last_verified, "")
        return cls(
            row_id, who, Resource(resource, resource_name), (access_kind, grant), access, source,
            path=path,
        )  # fmt: skip

    run = property(lambda self: self.who.run)
    principal = property(lambda self: self.who.ident)
    principal_name = property(lambda self: self.who.name)
    principal_type = property(lambda self: self.who.type)
    evidence = property(lambda self: self.who.evidence)
    last_verified = property(lambda self: self.who.last_verified)
    resource = property(lambda self: self.on.ident)
    resource_name = property(lambda self: self.on.name)
    access_kind = property(lambda self: self.edge[0])
    grant = property(lambda self: self.edge[1])

    @property
    def implied_by(self) -> str:
        """The id of the row whose account-wide access implies this one ("" if direct)."""
        return self._implied[0] if self._implied else ""

    @property
    def how(self) -> str:
        """`direct`, or what implies it, as the `reachable` view says it."""
        return self._implied[1] if self._implied else "direct"

    @property
    def implied(self) -> bool:
        return self._implied is not None

    @property
    def path(self) -> str:
        """The principal's holder edges, then the access edge (a merged row: each part's)."""
        if self._path is not None:
            return self._path
        if self.parts:
            return " | ".join([self.parts[0].path, *(p.step for p in self.parts[1:])])
        holder = self.who.holder
        return f"{holder} | {self.step}" if holder else self.step

    @property
    def step(self) -> str:
        """The access edge as a path step: `principal -kind-> resource`."""
        return f"{self.who.ident} -{self.edge[0]}-> {self.on.ident}"

    @property
    def covers(self) -> str:
        """What a merged row stands for, edge by edge: `kind: access -> resource | ...`."""
        if not self.parts:
            return ""
        return " | ".join(f"{p.edge[0]}: {p.access} -> {p.on.ident}" for p in self.parts)

    def _fields(self) -> tuple[Any, ...]:
        return (*self.values()[:16], self.implied_by, self.how, self.grant, self.parts)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not AccessRow:
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it was

    def __repr__(self) -> str:
        return f"AccessRow({self.row_id!r}, {self.principal!r}, {self.access!r}, {self.resource!r})"

    def values(self) -> list[str]:
        """The row in REVIEW_COLUMNS order, raw (the decision columns empty)."""
        who, on, owner = self.who, self.on, self.owner
        return [
            self.row_id,
            str(who.run),
            who.ident,
            who.name,
            who.type,
            on.ident,
            on.name,
            owner[0],
            owner[1],
            self.access,
            self.edge[0],
            self.covers if self.parts else "",
            self.path,
            self.source,
            who.evidence,
            who.last_verified,
            ";".join(self.flags),
            self.risk,
            self.change,
            self.open_item,
            *self.previous,
            owner[2],
            "",
            "",
            "",
            "",
        ]

    def cells(self) -> dict[str, str]:
        """Column -> cell text as a file shows it (neutralised against formulas)."""
        return dict(zip(REVIEW_COLUMNS, map(safe_cell, self.values()), strict=True))

    def triple(self) -> tuple[str, str, str]:
        return (self.who.ident, self.on.ident, self.access)


_NO_PREVIOUS = ("", "", "", "")
_NO_OWNER = ("", "", "")


@dataclass
class Access:
    """A complete run's access: its explicit rows (sorted: people first, then by principal,
    kind and resource) and the rows account-wide access implies."""

    run: Run
    explicit: list[AccessRow]
    implied: list[AccessRow]

    def effective(self) -> dict[tuple[str, str], str]:
        """(principal, resource) -> the access it effectively holds (see the contract)."""
        found = {(r.principal, r.resource): r.access for r in self.explicit}
        found.update({(r.principal, r.resource): r.access for r in self.implied})
        return found

    def all_rows(self) -> list[AccessRow]:
        return [*self.explicit, *self.implied]


def implied_level(schema: SchemaRegistry, spanning: str) -> str:
    """What an account-wide access gives on each resource: the level of a per-resource
    grant (grant `resource`) that implies the most permissions, else the spanning value."""
    best, size = spanning, -1
    for kind in sorted(schema.edge_kinds_with(grant="resource")):
        for level, permissions in schema.edges[kind].levels.items():
            if len(permissions) > size:
                best, size = level, len(permissions)
    return best


def spans(schema: SchemaRegistry, kind: str, access: str) -> bool:
    """Whether `access` on an edge of `kind` covers every resource of the account."""
    edge = schema.edge(kind)
    return bool(edge and edge.spans(access))


def spans_facts(schema: SchemaRegistry, kind: str) -> tuple[list[str], str | None]:
    """For `kind_facts`: the folded values of an edge kind that span the account, and what
    they imply on each resource (None when none does)."""
    edge = schema.edges[kind]
    values = sorted({fold(v) for v in edge.spans_account})
    return values, (implied_level(schema, "") or None) if values else None


# -- reading a run -------------------------------------------------------------------------


def evidence_of(data: Mapping[str, Any], run: Run) -> str:
    """Where a principal's rows come from: the attestation (who, when, digests) or the API."""
    if data.get("source") == "attested":
        parts = [f"attested by {data.get('attested_by')} on {data.get('attested_at')}"]
        if data.get("evidence"):
            parts.append(f"evidence {data['evidence']}")
        if data.get("evidence_sha256"):
            parts.append(f"evidence sha256:{data['evidence_sha256']}")
        parts.append(f"member file sha256:{data.get('file_sha256')}")
        return "; ".join(parts)
    return f"API, {data.get('scope')}, run {run.id}"


def name_from(data: Mapping[str, Any], node: str, schema: SchemaRegistry) -> str:
    """What a reviewer calls a node: its declared label (email, name, fingerprint ...)."""
    kind = schema.node(data.get("kind", ""))
    if kind and kind.label == "fingerprint":
        return f"{data.get('fingerprint')} (…{data.get('suffix', '')})"
    label = data.get(kind.label if kind else "name")
    return str(label if label is not None else node)


def node_data(
    cache: dict[str, dict[str, Any]],
    ident: str,
    kind: str,
    source: str,
    data: dict[str, Any],
    *,
    as_of: str,
) -> dict[str, Any]:
    """A node's attributes as the graph holds them (kind, source, stale flag), cached. An
    attestation is stale when it had expired at `as_of`, the run's time (never the clock:
    the same run reads the same, exported today or next year)."""
    known = cache.get(ident)
    if known is not None:
        return known
    data["kind"] = kind
    data["source"] = source
    data["sources"] = [source]
    if source == "attested" and "expires_at" in data:
        data["attestation_stale"] = data["expires_at"] < as_of
    cache[ident] = data
    return data


def run_time(run: Run) -> str:
    """When a run read its source (its end): the time its graph is true at."""
    return run.finished or run.started


class _Reader:
    """One run's nodes of a declared role, holder paths and names, each read once."""

    def __init__(
        self,
        store: Store,
        run: Run,
        schema: SchemaRegistry,
        nodes: dict[str, dict[str, Any]],
        by_kind: dict[str, list[tuple[str, dict[str, Any]]]] | None,
    ) -> None:
        self.store, self.run, self.schema, self.nodes = store, run, schema, nodes
        self.by_kind = by_kind
        self.names: dict[str, str] = {}
        self.resources: dict[str, Resource] = {}  # one record per resource, its rows share
        self.missing: set[str] = set()
        self.holders: dict[str, list[str]] = {}
        self.principal_types = {k: n.principal for k, n in schema.nodes.items() if n.principal}

    def read_nodes(self) -> None:
        named_kinds = {k for k, n in self.schema.nodes.items() if n.role}
        if self.by_kind is not None:
            for kind in named_kinds:
                self.by_kind.setdefault(kind, [])
        last_seen = self.store.latest_run_per_scope(self.run.id)
        for ident, kind, source, data in self.store.node_tuples(self.run.id, kinds=named_kinds):
            if ident in self.nodes:  # a node of two scopes (a person): keep both's facts
                self.nodes[ident].update(data)
            else:
                data["last_seen"] = last_seen.get(data["scope"])
                node_data(self.nodes, ident, kind, source, data, as_of=run_time(self.run))
            if self.by_kind is not None:
                self.by_kind[kind].append((ident, self.nodes[ident]))
        holding = self.schema.edge_kinds_with(holds=True)
        for src, dst, _disc, kind, _source, _attrs, _first in self.store.edge_tuples(
            self.run.id, kinds=holding
        ):
            self.holders.setdefault(dst, []).append(f"{src} -{kind}-> {dst}")

    def name(self, node: str) -> str:
        known = self.names.get(node)
        if known is None:
            data = self.nodes.get(node)
            if data is None:
                self.missing.add(node)  # of a kind with no declared role, or gone
                known = node
            else:
                known = name_from(data, node, self.schema)
            self.names[node] = known
        return known

    def resource(self, node: str) -> Resource:
        """The record a resource's rows share, made on first use."""
        found = self.resources.get(node)
        if found is None:
            found = self.resources[node] = Resource(node, self.name(node))
        return found

    def name_missing(self) -> None:
        """The names of resources of no declared role (read at the end, in one pass)."""
        if not self.missing:
            return
        for ident, kind, source, data in self.store.node_tuples(self.run.id, ids=self.missing):
            node_data(self.nodes, ident, kind, source, data, as_of=run_time(self.run))
        for ident in self.missing:
            record = self.resources.get(ident)
            if record is not None:
                data = self.nodes.get(ident)
                record.name = (
                    name_from(data, ident, self.schema) if data else f"{ident} (not in this run)"
                )


def _principal_facts(reader: _Reader, src: str, run_times: Mapping[int, str]) -> Principal | None:
    """What every row of a principal shares (name, type, evidence, last verified, holder
    path); None if `src` is no principal of this run."""
    principal = reader.nodes.get(src)
    principal_type = reader.principal_types.get(principal["kind"]) if principal else None
    if principal is None or principal_type is None:
        return None
    if principal.get("source") == "attested":
        verified = str(principal.get("attested_at", ""))
    else:
        verified = run_times.get(principal.get("last_seen") or reader.run.id, "")
    holder = " | ".join(reader.holders.get(src, ()))
    evidence = evidence_of(principal, reader.run)
    return Principal(
        reader.run.id, src, reader.name(src), principal_type, evidence, verified, holder
    )


def _explicit(reader: _Reader, run_times: Mapping[int, str]) -> list[AccessRow]:
    schema, run = reader.schema, reader.run
    access_kinds = {k: e for k, e in schema.edges.items() if e.access}
    # What each row of a kind, principal or resource shares is one record (the strings in
    # it the first of each: SQLite hands out a new string per row, and 190,000 rows of the
    # same few thousand ids add up), looked up once per row.
    kinds = {k: ((k, e.grant or ""), k.rpartition(":")[2]) for k, e in access_kinds.items()}
    sources: dict[str, str] = {}
    per_principal: dict[str, Principal | None] = {}
    resources, resource = reader.resources, reader.resource
    values: dict[tuple[str, str], str] = {}  # (edge kind, attribute text) -> access value
    rows: list[AccessRow] = []
    for src, dst, kind, source, attrs in reader.store.access_edges(run.id, access_kinds):
        who = per_principal.get(src, False)
        if who is False:
            who = per_principal[src] = _principal_facts(reader, src, run_times)
        if who is None:
            continue
        on = resources.get(dst) or resource(dst)
        value = values.get((kind, attrs))
        if value is None:
            edge = access_kinds[kind]
            value = str(attrs_from_json(attrs).get(edge.access) or edge.access)
            values[(kind, attrs)] = value
        edge_facts, local_kind = kinds[kind]
        source = sources.setdefault(source, source)
        rows.append(
            AccessRow(_row_id(who.ident, local_kind, on.ident), who, on, edge_facts, value, source)
        )
    reader.name_missing()
    return _people_first(rows, lambda r: (r.who.ident, r.edge[0], r.on.ident))


def _people_first(rows: list[AccessRow], key: Any) -> list[AccessRow]:
    """Rows sorted by (not a person's, `key`): the people's sorted, then the others'."""
    people = [r for r in rows if r.who.type == "human"]
    others = [r for r in rows if r.who.type != "human"]
    people.sort(key=key)
    others.sort(key=key)
    return people + others


def _implied(reader: _Reader, explicit: list[AccessRow]) -> list[AccessRow]:
    schema = reader.schema
    resource_kinds = schema.node_kinds_with_role("resource")
    in_scope: dict[str, list[str]] = {}
    for ident, data in reader.nodes.items():
        if data.get("kind") in resource_kinds:
            in_scope.setdefault(data.get("scope", ""), []).append(ident)
    rows = []
    spanning: dict[tuple[str, str], bool] = {}  # few distinct (kind, access): each asked once
    for row in explicit:
        key = (row.edge[0], row.access)
        wide = spanning.get(key)
        if wide is None:
            wide = spanning[key] = spans(schema, *key)
        if not wide:
            continue
        account = reader.nodes.get(row.resource)
        level = implied_level(schema, row.access)
        for resource in sorted(in_scope.get(account.get("scope", "") if account else "", ())):
            rows.append(
                AccessRow(
                    row_id(row.principal, f"{row.access_kind}~implied", resource),
                    row.who,
                    reader.resource(resource),
                    row.edge,
                    level,
                    row.source,
                    path=f"{row.path} -> {row.resource}",
                    implied=(
                        row.row_id,
                        f"implied: {row.access_kind} {row.access} spans {row.resource}",
                    ),
                )
            )
    return _people_first(rows, lambda r: (r.who.ident, r.on.ident))


def read_access(
    store: Store,
    run: Run,
    schema: SchemaRegistry,
    run_times: Mapping[int, str] | None = None,
    *,
    nodes: dict[str, dict[str, Any]] | None = None,
    by_kind: dict[str, list[tuple[str, dict[str, Any]]]] | None = None,
) -> Access:
    """Every access row of a complete run (the contract above). `nodes` collects the nodes
    read (id -> attributes), `by_kind` the same by kind, for the checks that follow."""
    if run_times is None:
        run_times = {r.id: r.finished or "" for r in store.runs()}
    reader = _Reader(store, run, schema, {} if nodes is None else nodes, by_kind)
    reader.read_nodes()
    explicit = _explicit(reader, run_times)
    return Access(run, explicit, _implied(reader, explicit))


# -- review rows ----------------------------------------------------------------------------

GROUP_ORDER = {"human": 0, "credential": 1}  # then integrations and any other principal
RISK_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass
class ReviewRows:
    """The rows a person decides on, and the per-edge row ids a merged row stands for."""

    rows: list[AccessRow]
    aliases: dict[str, str]  # a merged part's row id -> its review row's id

    def find(self, ident: str) -> AccessRow | None:
        """The review row of a row id: its own, or the merged row an edge's id is part of
        (of every row given, also after `rows` is narrowed: `--scope changed`)."""
        if self._by_id is None:  # made when first asked: most exports never ask
            self._by_id = {r.row_id: r for r in self._given}
        return self._by_id.get(self.aliases.get(ident, ident))

    def __post_init__(self) -> None:
        self._given = self.rows
        self._by_id: dict[str, AccessRow] | None = None


def merge_rows(parts: list[AccessRow]) -> AccessRow:
    """A credential's explicit rows as one decision: the id, resource, path and evidence of
    its scope row (else its first), each part's access and kind joined with `; `."""
    parts = sorted(parts, key=lambda r: (r.edge[1] != "scope", r.edge[0], r.on.ident))
    first = parts[0]
    return AccessRow(  # its path is the first part's, then each other part's edge
        first.row_id,
        first.who,
        first.on,
        ("; ".join(p.edge[0] for p in parts), first.edge[1]),
        "; ".join(p.access for p in parts),
        first.source,
        flags=sorted({flag for p in parts for flag in p.flags}),
        parts=parts,
    )


def review_rows(explicit: Iterable[AccessRow]) -> ReviewRows:
    """One row per decision (the contract above), unsorted: see `sort_review_rows`."""
    by_credential: dict[str, list[AccessRow]] = {}
    rows: list[AccessRow] = []
    for row in explicit:
        if row.who.type == "credential":
            by_credential.setdefault(row.who.ident, []).append(row)
        else:
            rows.append(row)
    aliases: dict[str, str] = {}
    for parts in by_credential.values():
        if len(parts) == 1:
            rows.append(parts[0])
            continue
        merged = merge_rows(parts)
        aliases.update({p.row_id: merged.row_id for p in parts if p.row_id != merged.row_id})
        rows.append(merged)
    return ReviewRows(rows, aliases)


def sort_review_rows(rows: list[AccessRow]) -> None:
    """People, then credentials, then the rest; in each, the principals of the riskiest
    row first, a principal's rows together, riskiest first."""
    worst: dict[str, int] = {}
    first: dict[str, AccessRow] = {}  # a row of each principal: what its place depends on
    unranked = len(RISK_ORDER)
    for row in rows:
        rank = RISK_ORDER.get(row.risk, unranked)
        principal = row.who.ident
        worst[principal] = min(rank, worst.get(principal, rank))
        first.setdefault(principal, row)
    # each principal's place once; then a row's key is (that place, its own order)
    ordered = sorted(
        first.values(),
        key=lambda r: (
            GROUP_ORDER.get(r.who.type, len(GROUP_ORDER)),
            worst[r.who.ident],
            r.who.name.casefold(),
            r.who.ident,
        ),
    )
    place = {r.who.ident: at for at, r in enumerate(ordered)}
    folded: dict[str, str] = {}  # resource name -> casefolded: few names, many rows

    def key(row: AccessRow) -> tuple[int, int, str, str]:
        name = row.on.name
        fold_name = folded.get(name)
        if fold_name is None:
            fold_name = folded[name] = name.casefold()
        return (place[row.who.ident], RISK_ORDER.get(row.risk, unranked), fold_name, row.row_id)

    rows.sort(key=key)


# -- what changed ----------------------------------------------------------------------------


@dataclass
class Changes:
    """Explicit access that changed between a baseline run and this one, by row id."""

    since: Run
    added: list[AccessRow]
    changed: list[tuple[AccessRow, str]]  # the row now, and its access then
    removed: list[AccessRow]  # rows of the baseline no longer here

    def label(self, row: AccessRow) -> str:
        """review.csv's change_since_last_review for a row of this run."""
        return self._labels.get(row.row_id, UNCHANGED)

    def __post_init__(self) -> None:
        self._labels = {r.row_id: "added" for r in self.added}
        self._labels.update({r.row_id: f"changed (was {was})" for r, was in self.changed})


def changes_between(before: Iterable[AccessRow], now: Iterable[AccessRow], since: Run) -> Changes:
    """What changed from `before` (the baseline run's explicit rows) to `now`."""
    old = {r.row_id: r for r in before}
    added, changed = [], []
    for row in now:
        was = old.pop(row.row_id, None)
        if was is None:
            added.append(row)
        elif fold(was.access) != fold(row.access):
            changed.append((row, was.access))
    removed = sorted(old.values(), key=lambda r: (r.principal, r.resource))
    for row in removed:
        row.change = f"removed since run {since.id}"
    return Changes(since, added, changed, removed)


def kind_fact_rows(schema: SchemaRegistry) -> list[dict[str, Any]]:
    """Per kind, what the views need; an edge kind's account-spanning values folded and
    what they imply on each resource, as the access engine (graph/access.py) decides."""
    rows: list[dict[str, Any]] = []
    for kind, node in sorted(schema.nodes.items()):
        rows.append(
            {
                "what": "node",
                "kind": kind,
                "role": node.role,
                "label": node.label,
                "principal": node.principal,
                "access": None,
                "grant": None,
                "spans_account": "[]",
                "holds": 0,
                "implies": None,
            }
        )
    for kind, edge in sorted(schema.edges.items()):
        spanning, implies = spans_facts(schema, kind)
        rows.append(
            {
                "what": "edge",
                "kind": kind,
                "role": None,
                "label": None,
                "principal": None,
                "access": edge.access,
                "grant": edge.grant,
                "spans_account": json.dumps(spanning),
                "holds": int(edge.holds),
                "implies": implies,
            }
        )
    return rows
