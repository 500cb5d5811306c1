"""What plugins provide: connectors (collect a graph), exporters and review checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from .model import Edge, Node

if TYPE_CHECKING:  # for the annotations only: the protocols import no host machinery
    import networkx as nx

    from .access import Access, AccessRow, Changes
    from .schema import SchemaRegistry
    from .store import Run

ProgressCallback = Callable[[str, int, int | None], None]
"""progress(step description, done, total or None)."""


class ConfigError(Exception):
    """The user's configuration is missing or wrong (an env var, an option)."""

    run_id: int | None = None  # the run it failed, when a sync had started one


class SourceError(Exception):
    """A connector's source (its API, or the network to it) failed or refused."""

    run_id: int | None = None  # the run it failed (the host sets it)


class SyncOptions(BaseModel):
    """The base of a connector's sync options (llm-style): each field becomes an option of
    `idgraph sync NAME`, named after the field, with its description as help. A field whose
    `json_schema_extra` has `envvar` is also read from that environment variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Account:
    """The account one sync reads, as the host resolved it: its label and history scope."""

    connector: str
    label: str

    @property
    def scope(self) -> str:
        return f"{self.connector}:{self.label}"


@dataclass
class Collection:
    """What a connector saw in one run: nodes, edges, and how complete the picture is.

    `scope` is the account's scope (`account.scope`): the host records what it returns."""

    scope: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """A risky fact a review check found: which check, how bad, about which node, and why."""

    check: str
    severity: str  # high | medium | low | info
    node: str
    message: str


class Connector(Protocol):
    """A source of nodes and edges; it never touches the store.

    `secret_env` names the environment variable of its credential: the host reads it (never
    an argument), fingerprints it to know the account, and passes it to `collect`.

    Optional (the host reads them when defined; docs/plugins.md lists them):
    `secret_description`, what the credential is, in the error when `secret_env` is unset
    (default "the NAME credential"); `verify_credential(secret, options)`, raising
    SourceError when the source refuses the credential: the host calls it before it refuses
    a credential of no known account, so a wrong kind of token is named as such."""

    name: str
    description: str
    secret_env: str
    options_class: type[SyncOptions]
    secret_description: str  # optional

    def collect(
        self,
        *,
        account: Account,
        secret: str,
        options: Any,
        progress: ProgressCallback,
    ) -> Collection:
        """Read the source and return what it saw (raise ConfigError for bad configuration)."""
        ...

    def verify_credential(self, secret: str, options: Any) -> None:
        """Optional: raise SourceError naming what is wrong with a credential."""
        ...


def secret_description(connector: Connector) -> str:
    """What the connector's credential is (its optional `secret_description`)."""
    return getattr(connector, "secret_description", f"the {connector.name} credential")


def credential_verifier(connector: Connector) -> Callable[[str, Any], None] | None:
    """The connector's optional `verify_credential`, if it defines one."""
    return getattr(connector, "verify_credential", None)


class ReviewContext(Protocol):
    """What an exporter or a check may read of a review: a complete run, its access rows and
    findings, what changed, its graph, and lookups by kind and role (graph/review.py)."""

    @property
    def run(self) -> Run: ...
    @property
    def options(self) -> Mapping[str, Any]: ...
    @property
    def schema(self) -> SchemaRegistry: ...
    @property
    def access(self) -> Access: ...
    @property
    def rows(self) -> list[AccessRow]: ...
    @property
    def review_rows(self) -> list[AccessRow]: ...  # the rows a person decides on
    @property
    def row_count(self) -> int: ...
    @property
    def findings(self) -> list[Finding]: ...
    @property
    def changes(self) -> Changes | None: ...
    @property
    def graph(self) -> nx.MultiDiGraph: ...
    def graph_nodes(self) -> Iterator[tuple[str, dict[str, Any]]]: ...  # streamed
    def graph_edges(self) -> Iterator[tuple[str, str, str, dict[str, Any]]]: ...  # streamed
    def in_edge_kinds(self, nodes: Iterable[str]) -> dict[str, dict[str, list[str]]]: ...
    def nodes_of_kind(self, kind: str) -> list[tuple[str, dict[str, Any]]]: ...
    def edges_of_kind(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]: ...
    def nodes_with_role(self, role: str) -> list[tuple[str, dict[str, Any]]]: ...
    def node(self, ident: str) -> dict[str, Any]: ...
    def name(self, node: str) -> str: ...
    def names(self, nodes: Iterable[str]) -> dict[str, str]: ...  # a few, without the graph


class ExporterUnavailable(Exception):
    """An exporter cannot write its file here (an optional package is missing). `reason`
    says what to install, e.g. "pip install 'idgraph[veza]'". The host skips that file,
    tells the user the reason, and writes the rest of the pack."""

    def __init__(self, exporter: str, reason: str) -> None:
        super().__init__(f"{exporter}: not written: {reason}")
        self.exporter = exporter
        self.reason = reason


class Exporter(Protocol):
    """Writes one file of the review pack from a complete run's graph.

    An exporter that reads only the graph (`graph_nodes()`, `graph_edges()`, `graph`) and
    `context.run` (no rows, no findings) may say so with the optional class attribute
    `reads_review = False`: such exporters run after the others, once the review's rows are
    let go (the pack's manifest reads the rows whatever the exporters)."""

    name: str
    filename: str
    description: str
    reads_review: bool  # optional, default True

    def export(self, context: ReviewContext, out_dir: Path) -> Path: ...


def reads_review(exporter: Exporter) -> bool:
    """Whether the exporter reads the review (its optional `reads_review`, default True)."""
    return getattr(exporter, "reads_review", True)


class Check(Protocol):
    """A review check: finds risky facts in a graph."""

    name: str
    description: str

    def run(self, context: ReviewContext) -> list[Finding]: ...


class Remediator(Protocol):
    """Says how to carry out a revoke decision on a review row (never does it)."""

    name: str

    def steps(self, row: dict[str, str], graph: Any) -> str | None:
        """Markdown steps for this row's decision, or None if not this plugin's. `row` also
        carries `decision` (`revoke` or `modify`: a modify changes the access, it does not
        remove it) and the reviewer's `justification`."""
        ...
