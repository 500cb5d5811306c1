"""The declarative graph schema: the types a connector declares its kinds with, and the
registry of every declaration the loaded plugins made.

A connector registers a `ConnectorSchema` through the `register_schemas` hook: its node and
edge kinds, each property described, which node kinds are review principals and which edges
are access. The review, the checks and every exporter read these declarations, never a
connector's names. docs/graph-schema.md is generated from the registry
(`python -m idgraph.graph.schema`), and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from .interfaces import ConfigError
from .model import Edge, Node
from .normalise import canonical

Principal = Literal["human", "credential"]
Role = Literal["account", "resource", "member", "credential", "identity", "endpoint"]
Grant = Literal["role", "resource", "scope", "send"]

COMMON_NODE_PROPERTIES = {
    "source": "`api` (read from the API) or `attested` (recorded by a person from the web UI)",
    "first_seen": "the run in which this node first appeared (in its current continuous life)",
    "last_seen": "the latest complete run of its scope that still saw it",
    "scope": "the history it belongs to: `<connector>:<account label>`, or `attested:...`",
}

# Veza's canonical permission types; a level lists those it implies.
CANONICAL_PERMISSIONS = ("DataRead", "DataWrite", "MetadataRead", "MetadataWrite", "NonData")


@dataclass(frozen=True)
class NodeKind:
    """A node kind: its id key, what it is, where it comes from, and its properties.

    `role` says what the node is to a governance platform: `account` (the application's
    root: one per synced account), `resource` (something access is granted on), `member`
    (a human principal of the app), `credential` (a non-human principal: a token or key),
    `identity` (the cross-connector person), `endpoint` (where data leaves the app).
    """

    kind: str
    key: str
    description: str
    origin: str
    properties: dict[str, str] = field(default_factory=dict)
    role: Role | None = None
    label: str = "name"  # the property that names it for a reviewer

    @property
    def principal(self) -> Principal | None:
        """Who holds access in a review: a member is human, a credential is a credential."""
        return {"member": "human", "credential": "credential"}.get(self.role or "")  # type: ignore[return-value]


@dataclass(frozen=True)
class EdgeKind:
    """An edge kind. An access edge (`access` set) is one row of the review.

    `grant` says what kind of access it is: `role` (an account-wide role of a member),
    `resource` (a permission on one resource), `scope` (what a credential may do), `send`
    (what a credential may send as). `levels` maps each access value to the canonical
    permissions it implies (view = reads only); `holds` marks the edge from a credential's
    holder to the credential, shown as the path of the credential's rows.
    """

    kind: str
    ends: str
    description: str
    origin: str
    properties: dict[str, str] = field(default_factory=dict)
    access: str | None = None  # the property that says how much access; the kind if absent
    grant: Grant | None = None
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    spans_account: frozenset[str] = frozenset()  # access values that cover every resource
    holds: bool = False

    def spans(self, access: str) -> bool:
        """Whether `access` covers every resource of the account, compared as `canonical`
        does (an old database may hold a role as typed: `account owner`)."""
        return canonical(access, self.spans_account) is not None


@dataclass(frozen=True)
class ConnectorSchema:
    """Everything a connector declares about the graph it yields."""

    connector: str
    title: str
    nodes: tuple[NodeKind, ...]
    edges: tuple[EdgeKind, ...]
    description: str = ""


SHARED = ConnectorSchema(
    connector="idgraph",
    title="Shared kinds (the join across connectors)",
    description="Declared by the host: every connector links to these by id.",
    nodes=(
        NodeKind(
            "person",
            "the email, NFC and case-folded (`canonical_email`)",
            "A person or mailbox: the join key across connectors.",
            "any connector: addresses it reads; attested team members",
            {"email": "the address"},
            role="identity",
            label="email",
        ),
        NodeKind(
            "endpoint",
            "the URL host",
            "A host that receives data from an app (e.g. webhooks).",
            "any connector that sends data out",
            {"host": "the host name"},
            role="endpoint",
            label="host",
        ),
    ),
    edges=(
        EdgeKind(
            "is",
            "a connector's member, user or address -> person",
            "The address is that person's or mailbox's: the join across connectors.",
            "any connector; the attestation engine for every attested member",
        ),
    ),
)

# What the host's attestation engine (graph/attestation.py) writes on every member it
# imports: added to each node kind declared with role `member`, beside what the connector
# declares (a connector's own text for one of these names wins in the docs).
MEMBER_PROPERTIES = {
    "email": "the member's email, lower-cased",
    "name": "the member's name",
    "role": "the role as the UI showed it",
    "role_level": "`owner`, `admin` or `member`",
    "two_factor": "`yes`, `no` or `unknown`",
    "attested_by": "who read the UI",
    "attested_at": "when",
    "expires_at": "when the attestation goes stale (default 90 days)",
    "evidence": "the evidence URL, or the evidence file's name",
    "evidence_sha256": "the SHA-256 of the evidence file (it is not copied)",
    "file_sha256": "the SHA-256 of the imported member file",
    "import_id": "the attestation run that recorded it",
    "attestation_stale": "computed when read: `expires_at` had passed when the run ended",
}


class SchemaConflict(ConfigError):
    """Two plugins declare one kind: the host cannot tell whose meaning holds (exit 3)."""


def _with_member_properties(node: NodeKind) -> NodeKind:
    if node.role != "member":
        return node
    return replace(node, properties={**MEMBER_PROPERTIES, **node.properties})


def _check_namespace(schema: ConnectorSchema, plugin: str) -> None:
    """A connector's kinds are `<its connector>:<name>`: a bare `grants`, or a kind in
    another connector's namespace, is refused at load (it would be read as someone else's)."""
    prefix = f"{schema.connector}:"
    for what, kinds in (("node", schema.nodes), ("edge", schema.edges)):
        for declared in kinds:
            if not declared.kind.startswith(prefix) or declared.kind == prefix:
                raise SchemaConflict(
                    f"plugin {plugin!r} declares the {what} kind {declared.kind!r} outside its "
                    f"namespace: name it `{prefix}{_local(declared.kind)}` (only the host "
                    "declares shared kinds such as `person` and `is`)"
                )


class SchemaRegistry:
    """Every registered schema, looked up by kind."""

    def __init__(
        self, schemas: Iterable[ConnectorSchema], plugins: Iterable[str] | None = None
    ) -> None:
        """`plugins`: the name of the plugin that registered each schema (default: its
        connector). Raises `SchemaConflict` naming both plugins when two declare one kind
        (the host's shared kinds included): whose levels and roles hold is no choice to
        make silently, nor by name order."""
        schemas = list(schemas)
        owners = list(plugins) if plugins is not None else [s.connector for s in schemas]
        pairs = sorted(zip(owners, schemas, strict=True), key=lambda p: (p[1].connector, p[0]))
        pairs.insert(0, ("idgraph (the host)", SHARED))
        self.schemas = [schema for _owner, schema in pairs]
        self.nodes: dict[str, NodeKind] = {}
        self.edges: dict[str, EdgeKind] = {}
        self.declared_by: dict[tuple[str, str], str] = {}  # ("node"|"edge", kind) -> plugin
        for owner, schema in pairs:
            if schema is not SHARED:
                _check_namespace(schema, owner)
            for node in schema.nodes:
                self._declare("node", node.kind, owner)
                self.nodes[node.kind] = _with_member_properties(node)
            for edge in schema.edges:
                self._declare("edge", edge.kind, owner)
                self.edges[edge.kind] = edge

    def _declare(self, what: str, kind: str, plugin: str) -> None:
        first = self.declared_by.setdefault((what, kind), plugin)
        if first != plugin:
            raise SchemaConflict(
                f"the {what} kind {kind!r} is declared by two plugins, {first!r} and "
                f"{plugin!r}: a kind has one meaning, so neither is loaded over the other; "
                "the one whose namespace it is not must rename its own "
                f"(`<its connector>:{_local(kind)}`) or use the kind without declaring it"
            )

    def node(self, kind: str) -> NodeKind | None:
        return self.nodes.get(kind)

    def edge(self, kind: str) -> EdgeKind | None:
        return self.edges.get(kind)

    def node_kinds_with_role(self, role: str) -> set[str]:
        return {k for k, n in self.nodes.items() if n.role == role}

    def edge_kinds_with(self, *, grant: str | None = None, holds: bool | None = None) -> set[str]:
        return {
            k
            for k, e in self.edges.items()
            if (grant is None or e.grant == grant) and (holds is None or e.holds == holds)
        }


class EmittedCheck:
    """What a connector emitted against what it declared (its own schema and the host's
    shared kinds): each undeclared kind, and each undeclared property of a declared kind,
    is one warning naming it, the connector, and how many nodes or edges carried it.

    Cheap by design: per element one dict look-up and one C-level subset test of its
    property names against the kind's declared ones (about half a microsecond: 12 ms of a
    300-server sync, docs/performance.md); only an element that breaks the schema costs more.
    """

    def __init__(self, reg: SchemaRegistry, connector: str) -> None:
        self.connector = connector
        own = [s for s in reg.schemas if s.connector in (connector, SHARED.connector)]
        self.allowed: dict[str, dict[str, set[str]]] = {"node": {}, "edge": {}}
        for schema in own:
            for node in schema.nodes:
                properties = reg.nodes.get(node.kind, node).properties
                self.allowed["node"][node.kind] = {*COMMON_NODE_PROPERTIES, *properties}
            for edge in schema.edges:
                self.allowed["edge"][edge.kind] = set(edge.properties)
        self.undeclared: dict[tuple[str, str, str], int] = {}  # (what, kind, property) -> n

    def check(self, what: str, items: Iterable[Node | Edge]) -> None:
        declared = self.allowed[what].get
        for item in items:
            names = declared(item.kind)
            if names is None or not names.issuperset(item.attrs):
                self._count(what, item, names)

    def _count(self, what: str, item: Node | Edge, names: set[str] | None) -> None:
        found = [""] if names is None else [name for name in item.attrs if name not in names]
        for name in found:
            key = (what, item.kind, name)
            self.undeclared[key] = self.undeclared.get(key, 0) + 1

    def warnings(self) -> list[str]:
        found = []
        for (what, kind, name), count in sorted(self.undeclared.items()):
            many = f"{count} {what}{'s' if count > 1 else ''}"
            if name:
                found.append(
                    f"schema: the {self.connector} connector emitted property {name!r} on "
                    f"{what} kind {kind!r}, which its schema does not declare ({many})"
                )
            else:
                found.append(
                    f"schema: the {self.connector} connector emitted {what} kind {kind!r}, "
                    f"which its schema does not declare ({many})"
                )
        return found


def undeclared_warnings(
    reg: SchemaRegistry, connector: str, nodes: Iterable[Node], edges: Iterable[Edge]
) -> list[str]:
    """The warnings of `EmittedCheck` for one collection."""
    check = EmittedCheck(reg, connector)
    check.check("node", nodes)
    check.check("edge", edges)
    return check.warnings()


def _local(kind: str) -> str:
    """A kind without its `<connector>:` namespace."""
    return kind.rpartition(":")[2]


def registry() -> SchemaRegistry:
    """The schemas of every loaded plugin (`SchemaConflict` when two declare one kind)."""
    from .plugins import get_schemas_by_plugin

    found = get_schemas_by_plugin()
    return SchemaRegistry([schema for _p, schema in found], [plugin for plugin, _s in found])


_MARKDOWN_HEAD = [
    "# Graph schema",
    "",
    "Generated from the schemas the loaded plugins register (`register_schemas`) by "
    "`python -m idgraph.graph.schema > docs/graph-schema.md`; a test keeps the two equal.",
    "",
    "Node ids are `<namespace>:<kind>:<key>` (e.g. `postmark:server:11001`), except the "
    "cross-connector kinds `person:<email>` and `endpoint:<host>`. They are stable across "
    "runs. Every node and edge carries `source` (`api` or `attested`).",
    "",
    'The schema is enforced (docs/plugins.md, "The schema is enforced"):',
    "",
    "- every kind of a connector's own is namespaced, `<connector>:<kind>`, edge kinds "
    "too; only the shared kinds the host declares below (`person`, `endpoint`, `is`) are "
    "bare;",
    "- a kind is declared by one plugin: a second declaration (or a redeclared shared "
    "kind) is an error when the plugins load, naming both (exit 3);",
    "- at sync, every node and edge a connector emits is checked against its declared "
    "kinds and their properties: an undeclared kind or property is a warning of the run, "
    "naming it and the connector;",
    "- a node's key is unique in the scope the source's API guarantees for that id (an "
    "id unique per server is keyed with its server);",
    "- every node kind with role `member` carries the member properties the host's "
    "attestation engine writes, beside its own;",
    "- review row ids hash `principal|kind|resource` with the kind without its "
    "namespace, so a kind namespaced later keeps its rows' ids.",
    "",
    "## Properties on every node",
    "",
    "| property | meaning |",
    "|---|---|",
]


def render_markdown(reg: SchemaRegistry | None = None) -> str:
    """docs/graph-schema.md."""
    reg = reg or registry()
    lines = list(_MARKDOWN_HEAD)
    lines += [f"| `{name}` | {text} |" for name, text in COMMON_NODE_PROPERTIES.items()]
    lines.append("")
    for schema in reg.schemas:
        lines += [f"## {schema.title}", ""]
        if schema.description:
            lines += [schema.description, ""]
        if schema.nodes:
            lines += ["### Node kinds", ""]
        for declared in schema.nodes:
            # a member kind with the host's member properties
            lines += _node_markdown(reg.nodes[declared.kind])
        if schema.edges:
            lines += ["### Edge kinds", ""]
        for edge in schema.edges:
            lines += _edge_markdown(edge)
    lines += _views_markdown()
    return "\n".join(lines).rstrip() + "\n"


def _kind_head(kind: str, description: str, detail: str, origin: str) -> list[str]:
    return [f"#### `{kind}`", "", description, "", detail, f"- comes from: {origin}"]


def _node_markdown(node: NodeKind) -> list[str]:
    """A node kind's section of docs/graph-schema.md."""
    lines = _kind_head(node.kind, node.description, f"- key: {node.key}", node.origin)
    if node.role:
        lines.append(f"- role: {node.role}")
    if node.principal:
        lines.append(f"- in the access review: a {node.principal} principal")
    lines += ["", "| property | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in node.properties.items()]
    lines.append("")
    return lines


def _edge_markdown(edge: EdgeKind) -> list[str]:
    """An edge kind's section of docs/graph-schema.md."""
    lines = _kind_head(edge.kind, edge.description, f"- ends: {edge.ends}", edge.origin)
    if edge.access:
        lines.append(
            f"- in the access review: one row per edge ({edge.grant}); access = its {edge.access}"
        )
    for level, permissions in edge.levels.items():
        lines.append(f"  - `{level}`: {', '.join(permissions) or 'nothing'}")
    if edge.spans_account:
        spans = ", ".join(f"`{v}`" for v in sorted(edge.spans_account))
        lines.append(f"- reaches every resource of the account when the access is {spans}")
    if edge.holds:
        lines.append("- in the access review: the path to the credential's holder")
    lines.append("")
    if edge.properties:
        lines += ["| property | meaning |", "|---|---|"]
        lines += [f"| `{name}` | {text} |" for name, text in edge.properties.items()]
        lines.append("")
    return lines


def _views_markdown() -> list[str]:
    from .store.views import VIEW_DESCRIPTIONS

    lines = [
        "## SQL views",
        "",
        "The database holds views to ask the graph in plain SQL (`sqlite3`, `sqlite-utils`, "
        "Datasette with `docs/datasette-metadata.json`). They read the latest complete run of "
        "each scope; per-kind facts (principal kinds, the access property of each edge kind, "
        "account-wide access values) come from the `kind_facts` table, written from these "
        "schemas. `idgraph access --to/--of` and `idgraph nodes` read the same views (with "
        "`--run N`, as of that complete run). `node_search` (+ `node_search_fts`, FTS5) "
        "indexes current node ids, names and emails: `kind_facts` is brought up to date in "
        "the transaction of each complete run that changes the graph, the search index right "
        "after that run is committed (and by `idgraph nodes --search`).",
        "",
        "![the access_paths view of the demo's database in Datasette, filtered to one server]"
        "(img/datasette-access-paths.png)",
        "",
        "| view | rows |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {text} |" for name, text in VIEW_DESCRIPTIONS.items()]
    return [*lines, ""]


if __name__ == "__main__":
    print(render_markdown(), end="")
