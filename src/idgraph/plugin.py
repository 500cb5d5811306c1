"""The public plugin API of idgraph: everything a connector may use of the host.

A connector imports this module and nothing else of idgraph (import-linter keeps it so):

    from idgraph.plugin import Collection, ConnectorSchema, Edge, Node, hookimpl

The names, by what they are for:

- hooks: `hookimpl` (see docs/plugins.md for every hook);
- the graph a connector yields: `Node`, `Edge`, `node_id`, `person_id`, `Collection`,
  `Account` (the account the host resolved for a sync), `SyncOptions` (the base of a
  connector's options class), `ProgressCallback`;
- its declarations: `ConnectorSchema`, `NodeKind`, `EdgeKind`, `CANONICAL_PERMISSIONS`,
  `MemberFormat` (a member file read off a web UI);
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
  (the declared value a typed one means, compared case-, space- and NFC-insensitively);
- for a plugin's own commands: `Failure`, the `EXIT_*` codes, `db_option`, `json_option`,
  `user_errors`, `out_console`, `run_sync`, `print_sync_summary`, `attest_file`,
  `write_review_pack`, `record_write`.
"""

from idgraph.graph.attestation import MemberFormat
from idgraph.graph.cli import (
    EXIT_API,
    EXIT_BUSY,
    EXIT_CONFIG,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_USAGE,
    Failure,
    db_option,
    json_option,
    out_console,
    print_sync_summary,
    run_sync,
    user_errors,
)
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
from idgraph.graph.host import attest_file, record_write, write_review_pack
from idgraph.graph.interfaces import (
    Account,
    Collection,
    ConfigError,
    Finding,
    ProgressCallback,
    SourceError,
    SyncOptions,
)
from idgraph.graph.model import Edge, Node, node_id, person_id
from idgraph.graph.normalise import canonical, canonical_email
from idgraph.graph.schema import CANONICAL_PERMISSIONS, ConnectorSchema, EdgeKind, NodeKind
from idgraph.graph.secrets import REDACTED, fingerprint, redact_url, token_suffix, url_host
from idgraph.graph.sync import secret_from_env
from idgraph.graph.text import clean_graph, clean_text, terminal_text, xml_text
from idgraph.graph.urls import ascii_domain, read_url

__all__ = [
    "CANONICAL_PERMISSIONS",
    "EMAIL",
    "EXIT_API",
    "EXIT_BUSY",
    "EXIT_CONFIG",
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_INPUT_BYTES",
    "REDACTED",
    "Account",
    "Collection",
    "ConfigError",
    "ConnectorSchema",
    "Edge",
    "EdgeKind",
    "Failure",
    "FileRefused",
    "Finding",
    "InputInvalid",
    "MemberFormat",
    "Node",
    "NodeKind",
    "ProgressCallback",
    "SourceError",
    "SyncOptions",
    "ascii_domain",
    "attest_file",
    "canonical",
    "canonical_email",
    "clean_graph",
    "clean_text",
    "db_option",
    "fingerprint",
    "formula_problems",
    "hookimpl",
    "json_option",
    "node_id",
    "out_console",
    "person_id",
    "print_sync_summary",
    "read_capped",
    "read_csv_rows",
    "read_url",
    "record_write",
    "redact_url",
    "run_sync",
    "safe_cell",
    "safe_file",
    "secret_from_env",
    "shown_problems",
    "terminal_text",
    "token_suffix",
    "url_host",
    "user_errors",
    "write_problem",
    "write_review_pack",
    "xml_text",
]
