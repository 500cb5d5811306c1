"""The public plugin API of idgraph: the types, hooks and helpers a connector may use.

A connector imports this package and nothing else of idgraph (import-linter keeps it so):

    from idgraph.plugin import Collection, ConnectorSchema, Edge, Node, hookimpl

It imports no command-line library: a plugin's own commands take their helpers from
`idgraph.plugin.cli` (see there).

The names, by what they are for:

- hooks: `hookimpl` (see docs/plugins.md for every hook);
- the graph a connector yields: `Node`, `Edge`, `node_id`, `person_id`, `Collection`,
  `Account` (the account the host resolved for a sync), `SyncOptions` (the base of a
  connector's options class), `ProgressCallback`;
- its declarations: `ConnectorSchema`, `NodeKind`, `EdgeKind`, `CANONICAL_PERMISSIONS`,
  `MemberFormat` (a member file read off a web UI);
- what a plugin implements: the protocols `Connector`, `Exporter`, `Check`, `Remediator`;
  `ReviewContext`, what an exporter or a check may read of a review, and `AccessRow`, one
  row of it (its `rows` and `review_rows`);
- review checks: `Finding`;
- errors: `ConfigError` (exit 3), `SourceError` (exit 4), `InputInvalid` (a file's problems,
  each named);
- helpers: `fingerprint`, `token_suffix`, `redact_url`, `url_host`, `REDACTED` (secrets);
  `read_url`, `ascii_domain` (the one URL reader; domain names IDNA-encoded);
  `read_csv_rows`, `formula_problems`, `safe_cell`, `EMAIL` (spreadsheet input and output);
  `secret_from_env`; `safe_file`, `write_problem`, `FileRefused` (a file a person points at:
  never through a link, over a database or, unless forced, over a file; written whole);
  `read_capped`, `MAX_INPUT_BYTES` (a file read no further than a limit), `shown_problems`
  (the first 50 problems of a refused file, then how many more);
  `clean_text`, `clean_graph` (invalid Unicode from an API, at the transform boundary),
  `terminal_text`, `xml_text` (escapes where text leaves idgraph);
  `canonical_email` (how an email is stored and joined on: NFC, case-folded), `canonical`
  (the declared value a typed one means, compared case-, space- and NFC-insensitively).
"""

from idgraph.graph.access import AccessRow
from idgraph.graph.csvinput import (
    EMAIL,
    MAX_INPUT_BYTES,
    InputInvalid,
    formula_problems,
    read_capped,
    read_csv_rows,
    safe_cell,
    shown_problems,
)
from idgraph.graph.files import FileRefused, safe_file, write_problem
from idgraph.graph.hookspecs import hookimpl
from idgraph.graph.interfaces import (
    Account,
    Check,
    Collection,
    ConfigError,
    Connector,
    Exporter,
    Finding,
    ProgressCallback,
    Remediator,
    ReviewContext,
    SourceError,
    SyncOptions,
)
from idgraph.graph.member_format import MemberFormat
from idgraph.graph.model import Edge, Node, node_id, person_id
from idgraph.graph.normalise import canonical, canonical_email
from idgraph.graph.schema import CANONICAL_PERMISSIONS, ConnectorSchema, EdgeKind, NodeKind
from idgraph.graph.secrets import (
    REDACTED,
    fingerprint,
    redact_url,
    secret_from_env,
    token_suffix,
    url_host,
)
from idgraph.graph.text import clean_graph, clean_text, terminal_text, xml_text
from idgraph.graph.urls import ascii_domain, read_url

__all__ = [
    "AccessRow",
    "CANONICAL_PERMISSIONS",
    "EMAIL",
    "MAX_INPUT_BYTES",
    "REDACTED",
    "Account",
    "Check",
    "Collection",
    "ConfigError",
    "Connector",
    "ConnectorSchema",
    "Edge",
    "EdgeKind",
    "Exporter",
    "FileRefused",
    "Finding",
    "InputInvalid",
    "MemberFormat",
    "Node",
    "NodeKind",
    "ProgressCallback",
    "Remediator",
    "ReviewContext",
    "SourceError",
    "SyncOptions",
    "ascii_domain",
    "canonical",
    "canonical_email",
    "clean_graph",
    "clean_text",
    "fingerprint",
    "formula_problems",
    "hookimpl",
    "node_id",
    "person_id",
    "read_capped",
    "read_csv_rows",
    "read_url",
    "redact_url",
    "safe_cell",
    "safe_file",
    "secret_from_env",
    "shown_problems",
    "terminal_text",
    "token_suffix",
    "url_host",
    "write_problem",
    "xml_text",
]
