"""The SQLite store, the only home of idgraph's SQL: a run ledger and versioned nodes and
edges.

A version row says "from run `opened_run` until run `closed_run` (exclusive), this node or
edge looked like this". Only complete runs open or close versions, and only within their own
scope (one connector account, or one account's attestations), so the store grows with
changes, not with runs, and "the graph as of run N" is a plain range query.

The modules, by what they hold:

- `file`: the database file: checked, opened (WAL, 0600, migrated), locked; `StoreError`;
- `upgrade`: the schema version, a new file's statements (`NEW_SCHEMA`), bringing an older
  file up to date with `migrations` (sqlite-utils);
- `ledger`: the runs and the accounts (which credential each account is known by);
- `chain`: each complete run's content digest, chained (`idgraph verify --db`), and what a
  pack's manifest and evidence summary read;
- `versions`: applying a complete run, reading the graph as of a run;
- `views`: the SQL views, their kind facts and the full-text search index;
- `reviews`: review decisions (and each row's latest answer before a run) and attestations;
- `remediation`: the remediation items a revoke or modify opens, as later runs mark them;
- `annotations`: owners, purpose and expected end of resources and credentials;
- `database`: `Store`, the object everything else calls.
"""

from .database import Store
from .file import StoreBusy, StoreError, storage_error, storage_errors
from .ledger import RUN_STATUSES, Run, RunNotFound, utcnow
from .upgrade import MIGRATION_NAMES, NEW_SCHEMA, SCHEMA_VERSION

__all__ = [
    "MIGRATION_NAMES",
    "NEW_SCHEMA",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "Run",
    "RunNotFound",
    "Store",
    "StoreBusy",
    "StoreError",
    "storage_error",
    "storage_errors",
    "utcnow",
]
