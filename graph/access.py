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
from operator import attrgetter
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


@dataclass(slots=True)
class AccessRow:
    """One (principal, resource, access) with how it is held and the evidence for it."""

    row_id: str
    run: int
    principal: str
    principal_name: str
    principal_type: str
    resource: str
    resource_name: str
    access: str
    access_kind: str
    grant: str
    path: str
    source: str
    evidence: str
    last_verified: str
    implied_by: str = ""  # the id of the row whose account-wide access implies this one
    how: str = "direct"  # or what implies it, as the `reachable` view says it
    flags: Sequence[str] = ()  # the review sets a list, shared by rows of the same flags
    change: str = ""  # since the review's baseline: added, changed (was ...), removed ...
    risk: str = ""  # high, medium or low (the review sets it)
    open_item: str = ""  # a remediation item still open on it (the review sets it)
    previous: tuple[str, str, str, str] = ("", "", "", "")  # last review's decision, reviewer,
    # justification, and whether the access changed since (the review sets it)
    owner: tuple[str, str, str] = ("", "", "")  # owner, purpose, suggested reviewer (the
    # annotations: graph/annotations.py; the review sets it)
    parts: Sequence[AccessRow] = ()  # the edges a merged row covers (a list when merged)

    @property
    def implied(self) -> bool:
        return bool(self.implied_by)

    @property
    def covers(self) -> str:
        """What a merged row stands for, edge by edge: `kind: access -> resource | ...`."""
        if not self.parts:
            return ""
        return " | ".join(f"{p.access_kind}: {p.access} -> {p.resource}" for p in self.parts)

    def values(self) -> list[str]:
        """The row in REVIEW_COLUMNS order, raw (the decision columns empty)."""
        return [
            self.row_id,
            str(self.run),
            self.principal,
            self.principal_name,
            self.principal_type,
            self.resource,
            self.resource_name,
            *self.owner[:2],
            self.access,
            self.access_kind,
            self.covers,
            self.path,
            self.source,
            self.evidence,
            self.last_verified,
            ";".join(self.flags),
            self.risk,
            self.change,
            self.open_item,
            *self.previous,
            self.owner[2],
            "",
            "",
            "",
            "",
        ]

    def cells(self) -> dict[str, str]:
        """Column -> cell text as a file shows it (neutralised against formulas)."""
        return dict(zip(REVIEW_COLUMNS, map(safe_cell, self.values()), strict=True))

    def triple(self) -> tuple[str, str, str]:
        return (self.principal, self.resource, self.access)


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

    def name_missing(self, rows: Iterable[AccessRow]) -> None:
        """The names of resources of no declared role (read at the end, in one pass)."""
        if not self.missing:
            return
        for ident, kind, source, data in self.store.node_tuples(self.run.id, ids=self.missing):
            node_data(self.nodes, ident, kind, source, data, as_of=run_time(self.run))
        for row in rows:
            if row.resource in self.missing:
                data = self.nodes.get(row.resource)
                row.resource_name = (
                    name_from(data, row.resource, self.schema)
                    if data
                    else f"{row.resource} (not in this run)"
                )


def _principal_facts(
    reader: _Reader, src: str, run_times: Mapping[int, str]
) -> tuple[str, str, str, str, str] | None:
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
    return reader.name(src), principal_type, evidence_of(principal, reader.run), verified, holder


def _explicit(reader: _Reader, run_times: Mapping[int, str]) -> list[AccessRow]:
    schema, run = reader.schema, reader.run
    access_kinds = {k: e for k, e in schema.edges.items() if e.access}
    # What each row of a kind, principal or resource shares, looked up once per row. The
    # id, kind and source strings kept are the first of each: SQLite hands out a new
    # string per row, and 190,000 rows of the same few thousand ids add up.
    kinds = {k: (k, k.rpartition(":")[2], e.grant or "") for k, e in access_kinds.items()}
    sources: dict[str, str] = {}
    per_principal: dict[str, tuple[str, str, str, str, str, str] | None] = {}
    resources: dict[str, tuple[str, str]] = {}  # id -> (id, name)
    values: dict[tuple[str, str], str] = {}  # (edge kind, attribute text) -> access value
    rows: list[AccessRow] = []
    for src, dst, _disc, kind, source, attrs, _first in reader.store.edge_tuples(
        run.id, kinds=access_kinds
    ):
        facts = per_principal.get(src, False)
        if facts is False:
            found = _principal_facts(reader, src, run_times)
            facts = per_principal[src] = None if found is None else (src, *found)
        if facts is None:
            continue
        src, principal_name, principal_type, evidence, verified, holder = facts
        resource = resources.get(dst)
        if resource is None:
            resource = resources[dst] = (dst, reader.name(dst))
        dst, resource_name = resource
        value = values.get((kind, attrs))
        if value is None:
            edge = access_kinds[kind]
            value = str(attrs_from_json(attrs).get(edge.access) or edge.access)
            values[(kind, attrs)] = value
        kind, local_kind, grant = kinds[kind]
        source = sources.setdefault(source, source)
        step = f"{src} -{kind}-> {dst}"
        rows.append(
            AccessRow(
                _row_id(src, local_kind, dst),
                run.id,
                src,
                principal_name,
                principal_type,
                dst,
                resource_name,
                value,
                kind,
                grant,
                f"{holder} | {step}" if holder else step,
                source,
                evidence,
                verified,
            )
        )
    reader.name_missing(rows)
    return _people_first(rows, attrgetter("principal", "access_kind", "resource"))


def _people_first(rows: list[AccessRow], key: Any) -> list[AccessRow]:
    """Rows sorted by (not a person's, `key`): the people's sorted, then the others'."""
    people = [r for r in rows if r.principal_type == "human"]
    others = [r for r in rows if r.principal_type != "human"]
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
        key = (row.access_kind, row.access)
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
                    row.run,
                    row.principal,
                    row.principal_name,
                    row.principal_type,
                    resource,
                    reader.name(resource),
                    level,
                    row.access_kind,
                    row.grant,
                    f"{row.path} -> {row.resource}",
                    row.source,
                    row.evidence,
                    row.last_verified,
                    implied_by=row.row_id,
                    how=f"implied: {row.access_kind} {row.access} spans {row.resource}",
                )
            )
    return _people_first(rows, attrgetter("principal", "resource"))


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
    parts = sorted(parts, key=lambda r: (r.grant != "scope", r.access_kind, r.resource))
    first = parts[0]
    steps = [p.path.rsplit(" | ", 1)[-1] for p in parts[1:]]
    return AccessRow(
        first.row_id,
        first.run,
        first.principal,
        first.principal_name,
        first.principal_type,
        first.resource,
        first.resource_name,
        "; ".join(p.access for p in parts),
        "; ".join(p.access_kind for p in parts),
        first.grant,
        " | ".join([first.path, *steps]),
        first.source,
        first.evidence,
        first.last_verified,
        flags=sorted({flag for p in parts for flag in p.flags}),
        parts=parts,
    )


def review_rows(explicit: Iterable[AccessRow]) -> ReviewRows:
    """One row per decision (the contract above), unsorted: see `sort_review_rows`."""
    by_credential: dict[str, list[AccessRow]] = {}
    rows: list[AccessRow] = []
    for row in explicit:
        if row.principal_type == "credential":
            by_credential.setdefault(row.principal, []).append(row)
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
        worst[row.principal] = min(rank, worst.get(row.principal, rank))
        first.setdefault(row.principal, row)
    # each principal's place once; then a row's key is (that place, its own order)
    ordered = sorted(
        first.values(),
        key=lambda r: (
            GROUP_ORDER.get(r.principal_type, len(GROUP_ORDER)),
            worst[r.principal],
            r.principal_name.casefold(),
            r.principal,
        ),
    )
    place = {r.principal: at for at, r in enumerate(ordered)}
    rows.sort(
        key=lambda r: (
            place[r.principal],
            RISK_ORDER.get(r.risk, unranked),
            r.resource_name.casefold(),
            r.row_id,
        )
    )


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
