"""The public plugin API of idgraph: everything a connector may use of the host.

A connector imports this module and nothing else of idgraph (import-linter keeps it so):

    from idgraph.plugin import Collection, ConnectorSchema, Node, Edge, hookimpl
"""

from idgraph.graph.hookspecs import hookimpl
from idgraph.graph.interfaces import (
    Collection,
    ConfigError,
    Finding,
    ProgressCallback,
    SourceError,
)
from idgraph.graph.model import Edge, Node, node_id, person_id
from idgraph.graph.schema import CANONICAL_PERMISSIONS, ConnectorSchema, EdgeKind, NodeKind
from idgraph.graph.secrets import REDACTED, fingerprint, redact_url, token_suffix, url_host

__all__ = [
    "CANONICAL_PERMISSIONS",
    "REDACTED",
    "Collection",
    "ConfigError",
    "ConnectorSchema",
    "Edge",
    "EdgeKind",
    "Finding",
    "Node",
    "NodeKind",
    "ProgressCallback",
    "SourceError",
    "fingerprint",
    "hookimpl",
    "node_id",
    "person_id",
    "redact_url",
    "token_suffix",
    "url_host",
]
