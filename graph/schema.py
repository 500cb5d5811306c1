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
from dataclasses import dataclass, field
from typing import Literal

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
    edges=(),
)


class SchemaRegistry:
    """Every registered schema, looked up by kind."""

    def __init__(self, schemas: Iterable[ConnectorSchema]) -> None:
        self.schemas = [SHARED, *sorted(schemas, key=lambda s: s.connector)]
        self.nodes: dict[str, NodeKind] = {}
        self.edges: dict[str, EdgeKind] = {}
        for schema in self.schemas:
            for node in schema.nodes:
                self.nodes.setdefault(node.kind, node)
            for edge in schema.edges:
                self.edges.setdefault(edge.kind, edge)

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


def registry() -> SchemaRegistry:
    """The schemas of every loaded plugin."""
    from .plugins import get_schemas

    return SchemaRegistry(get_schemas())


def render_markdown(reg: SchemaRegistry | None = None) -> str:
    """docs/graph-schema.md."""
    reg = reg or registry()
    lines = [
        "# Graph schema",
        "",
        "Generated from the schemas the loaded plugins register (`register_schemas`) by "
        "`python -m idgraph.graph.schema > docs/graph-schema.md`; a test keeps the two equal.",
        "",
        "Node ids are `<namespace>:<kind>:<key>` (e.g. `postmark:server:11001`), except the "
        "cross-connector kinds `person:<email>` and `endpoint:<host>`. They are stable across "
        "runs. Every node and edge carries `source` (`api` or `attested`).",
        "",
        "## Properties on every node",
        "",
        "| property | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {text} |" for name, text in COMMON_NODE_PROPERTIES.items()]
    lines.append("")
    for schema in reg.schemas:
        lines += [f"## {schema.title}", ""]
        if schema.description:
            lines += [schema.description, ""]
        if schema.nodes:
            lines += ["### Node kinds", ""]
        for node in schema.nodes:
            lines += [
                f"#### `{node.kind}`",
                "",
                node.description,
                "",
                f"- key: {node.key}",
                f"- comes from: {node.origin}",
            ]
            if node.role:
                lines.append(f"- role: {node.role}")
            if node.principal:
                lines.append(f"- in the access review: a {node.principal} principal")
            lines += ["", "| property | meaning |", "|---|---|"]
            lines += [f"| `{name}` | {text} |" for name, text in node.properties.items()]
            lines.append("")
        if schema.edges:
            lines += ["### Edge kinds", ""]
        for edge in schema.edges:
            lines += [
                f"#### `{edge.kind}`",
                "",
                edge.description,
                "",
                f"- ends: {edge.ends}",
                f"- comes from: {edge.origin}",
            ]
            if edge.access:
                lines.append(
                    f"- in the access review: one row per edge ({edge.grant}); "
                    f"access = its {edge.access}"
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
    lines += _views_markdown()
    return "\n".join(lines).rstrip() + "\n"


def _views_markdown() -> list[str]:
    from .queries import VIEW_DESCRIPTIONS

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
