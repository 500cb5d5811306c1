"""The SQLite store: a run ledger and versioned nodes and edges.

A version row says "from run `opened_run` until run `closed_run` (exclusive), this node or
edge looked like this". Only complete runs open or close versions, and only within their own
scope (one connector account, or one account's attestations), so the store grows with
changes, not with runs, and "the graph as of run N" is a plain range query.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .interfaces import ConfigError
from .model import Edge, Node, attrs_from_json, attrs_json, content_hash

if TYPE_CHECKING:
    import sqlite_utils

RUN_STATUSES = ("running", "complete", "partial", "failed")


# The schema this idgraph writes, kept in PRAGMA user_version: one more per migration. A file
# with a higher number was made by a newer idgraph and is refused, never half-read.
SCHEMA_VERSION = 7
IDGRAPH_TABLES = ("runs", "node_versions", "edge_versions")
SQLITE_HEADER = b"SQLite format 3\x00"
MIGRATIONS_TABLE = "_sqlite_migrations"  # sqlite-utils' record of the migrations applied
MIGRATION_NAMES = (
    "m001_initial",
    "m002_attestations",
    "m003_review_decisions",
    "m004_accounts",
    "m005_namespaced_edge_kinds",  # data only: NEW_SCHEMA holds no statement of it
    "m006_remediation_items",
    "m007_annotations",
)

# What graph/migrations.py makes of a new file, statement by statement (as sqlite-utils
# writes it): a new file gets this, and sqlite-utils is imported only once the run is being
# recorded, meanwhile. tests/test_store_schema.py checks it against the migrations.
NEW_SCHEMA = (
    'CREATE TABLE "_sqlite_migrations" (\n   "id" INTEGER PRIMARY KEY,\n   "migration_set" TEXT,'
    '\n   "name" TEXT,\n   "applied_at" TEXT\n);',
    'CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"\n    ON "_sqlite_migrations"'
    ' ("migration_set", "name");',
    'CREATE TABLE "runs" (\n   "id" INTEGER PRIMARY KEY,\n   "kind" TEXT,\n   "connector" TEXT,'
    '\n   "scope" TEXT,\n   "account_label" TEXT,\n   "started" TEXT,\n   "finished" TEXT,'
    '\n   "status" TEXT,\n   "counts" TEXT,\n   "errors" TEXT,\n   "warnings" TEXT,'
    '\n   "stats" TEXT,\n   "plugin_versions" TEXT\n);',
    'CREATE TABLE "node_versions" (\n   "scope" TEXT,\n   "id" TEXT,\n   "kind" TEXT,'
    '\n   "source" TEXT,\n   "attrs" TEXT,\n   "hash" TEXT,\n   "first_seen" INTEGER,'
    '\n   "opened_run" INTEGER,\n   "closed_run" INTEGER,'
    '\n   PRIMARY KEY ("scope", "id", "opened_run")\n);',
    'CREATE INDEX "idx_node_versions_opened_run"\n    ON "node_versions" ("opened_run");',
    'CREATE INDEX "idx_node_versions_closed_run"\n    ON "node_versions" ("closed_run");',
    'CREATE TABLE "edge_versions" (\n   "scope" TEXT,\n   "key" TEXT,\n   "src" TEXT,'
    '\n   "dst" TEXT,\n   "discriminator" TEXT,\n   "kind" TEXT,\n   "source" TEXT,'
    '\n   "attrs" TEXT,\n   "hash" TEXT,\n   "first_seen" INTEGER,\n   "opened_run" INTEGER,'
    '\n   "closed_run" INTEGER,\n   PRIMARY KEY ("scope", "key", "opened_run")\n);',
    'CREATE INDEX "idx_edge_versions_opened_run"\n    ON "edge_versions" ("opened_run");',
    'CREATE INDEX "idx_edge_versions_closed_run"\n    ON "edge_versions" ("closed_run");',
    'CREATE TABLE "attestations" (\n   "run_id" INTEGER PRIMARY KEY REFERENCES "runs"("id"),'
    '\n   "connector" TEXT,\n   "account_label" TEXT,\n   "file_name" TEXT,'
    '\n   "file_sha256" TEXT,\n   "attested_by" TEXT,\n   "attested_at" TEXT,'
    '\n   "expires_at" TEXT,\n   "evidence" TEXT,\n   "evidence_sha256" TEXT,'
    '\n   "members" INTEGER\n);',
    'CREATE TABLE "review_decisions" (\n   "id" INTEGER PRIMARY KEY,'
    '\n   "run_id" INTEGER REFERENCES "runs"("id"),\n   "row_id" TEXT,\n   "principal" TEXT,'
    '\n   "resource" TEXT,\n   "access" TEXT,\n   "access_kind" TEXT,\n   "decision" TEXT,'
    '\n   "reviewer" TEXT,\n   "review_date" TEXT,\n   "justification" TEXT,'
    '\n   "imported_at" TEXT,\n   "imported_by" TEXT,\n   "file_sha256" TEXT\n);',
    'CREATE INDEX "idx_review_decisions_run_id_row_id"\n    ON "review_decisions" ("run_id",'
    ' "row_id");',
    'CREATE TABLE "accounts" (\n   "connector" TEXT,\n   "label" TEXT,\n   "fingerprint" TEXT,'
    '\n   "first_run" INTEGER,\n   "last_run" INTEGER,\n   PRIMARY KEY ("connector", "label")\n);',
    'ALTER TABLE "runs" ADD COLUMN "credential" TEXT;',
    'ALTER TABLE "runs" ADD COLUMN "rotated_from" TEXT;',
    'CREATE TABLE "remediation_items" (\n   "id" INTEGER PRIMARY KEY,'
    '\n   "decided_run" INTEGER REFERENCES "runs"("id"),\n   "row_id" TEXT,'
    '\n   "principal" TEXT,\n   "resource" TEXT,\n   "access" TEXT,\n   "access_kind" TEXT,'
    '\n   "source" TEXT,\n   "scope" TEXT,\n   "decision" TEXT,\n   "reviewer" TEXT,'
    '\n   "justification" TEXT,'
    '\n   "opened_at" TEXT,\n   "status" TEXT,\n   "evidence_run" INTEGER,'
    '\n   "evidence_at" TEXT,\n   "fixed_run" INTEGER,\n   "closed_by" TEXT\n);',
    'CREATE INDEX "idx_remediation_items_row_id"\n    ON "remediation_items" ("row_id");',
    'CREATE TABLE "annotations" (\n   "id" INTEGER PRIMARY KEY,\n   "target" TEXT,'
    '\n   "owner" TEXT,\n   "purpose" TEXT,\n   "expected_until" TEXT,'
    '\n   "annotated_by" TEXT,\n   "annotated_at" TEXT,\n   "file_sha256" TEXT\n);',
    'CREATE INDEX "idx_annotations_target"\n    ON "annotations" ("target");',
)


class StoreError(ConfigError):
    """The database file cannot be used: one line naming it and what to do (exit 3)."""


def storage_error(path: Path, exc: BaseException) -> StoreError:
    """One clear line for an SQLite or OS error on the database file at `path`."""
    if isinstance(exc, StoreError):
        return exc
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, OSError) and not isinstance(exc, sqlite3.Error):
        text = exc.strerror or text
        where = Path(exc.filename) if exc.filename else path
        if isinstance(exc, NotADirectoryError):
            return StoreError(f"{where}: a part of this path is a file, not a folder ({text})")
        if isinstance(exc, IsADirectoryError):
            return StoreError(f"{where} is a folder, not a file: remove it or choose another path")
        if isinstance(exc, PermissionError):
            return StoreError(f"{where} cannot be written ({text}): check its permissions")
        if "no space" in lowered or getattr(exc, "errno", None) == 28:
            return StoreError(f"{where}: the disk is full: free space, then run again")
        return StoreError(f"{where}: {text}")
    if "disk is full" in lowered or "disk i/o" in lowered:
        return StoreError(
            f"{path}: the disk is full or failing (SQLite: {text}): free space, then run again; "
            "the graph stays as of the last complete run"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(
            f"{path} is read-only (SQLite: {text}): idgraph writes the file (and its -wal and "
            "-shm files beside it) even to read; make them and their folder writable"
        )
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return StoreError(
            f"{path} is damaged or not an SQLite database (SQLite: {text}): restore it from "
            "a backup, or point --db at another file"
        )
    if "unable to open" in lowered:
        return StoreError(
            f"{path} cannot be opened (SQLite: {text}): check that its folder exists and is "
            "writable"
        )
    return StoreError(f"{path}: database error (SQLite: {text})")


@contextmanager
def storage_errors(path: Path) -> Iterator[None]:
    """Every SQLite or OS error on the database as a `StoreError` naming the file."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise storage_error(path, exc) from None


def _check_file(path: Path, create: bool) -> None:
    """Refuse, before SQLite touches it, a path that cannot be an idgraph database."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise StoreError(f"{path}: {parent} is a file, not a folder")
            break
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file: choose a file path")
    if not path.exists():
        if not create:
            raise StoreError(f"no idgraph database at {path}: run a sync first")
        return
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError as exc:  # e.g. chmod 000
        raise StoreError(
            f"{path} cannot be read ({exc.strerror or exc}): idgraph reads and writes it (and "
            "its -wal and -shm files beside it); check its permissions"
        ) from None
    if head and head != SQLITE_HEADER:
        raise StoreError(
            f"{path} is not an SQLite database: point --db at an idgraph database or a new file"
        )


def _table_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a newer schema, and a foreign SQLite file (never add idgraph's tables to it)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was made by a newer idgraph (schema {version}; this one knows up to "
            f"{SCHEMA_VERSION}): upgrade idgraph to read it"
        )
    # `_sqlite_migrations` alone is a file another idgraph process is creating right now.
    tables = _table_names(conn) - {MIGRATIONS_TABLE}
    if tables and not tables & set(IDGRAPH_TABLES):
        raise StoreError(
            f"{path} is an SQLite database of something else (tables: "
            f"{', '.join(sorted(tables)[:5])}), not an idgraph database: nothing was changed; "
            "point --db at an idgraph database or a new file"
        )


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to date, inside the caller's transaction: a new file gets
    NEW_SCHEMA; an older one the migrations it lacks (sqlite-utils is imported only then)."""
    tables = _table_names(conn)
    if not tables:
        for statement in NEW_SCHEMA:
            conn.execute(statement)
        applied_at = str(datetime.now(UTC))  # as sqlite-utils records it
        conn.executemany(
            f'INSERT INTO "{MIGRATIONS_TABLE}" ("applied_at", "migration_set", "name") '
            "VALUES (?, 'idgraph', ?)",
            [(applied_at, name) for name in MIGRATION_NAMES],
        )
        return
    applied: set[str] = set()
    if MIGRATIONS_TABLE in tables:
        applied = {
            row[0]
            for row in conn.execute(
                f"SELECT name FROM \"{MIGRATIONS_TABLE}\" WHERE migration_set = 'idgraph'"
            )
        }
    if set(MIGRATION_NAMES) <= applied:
        return
    import sqlite_utils

    from .migrations import migrations

    migrations.apply(sqlite_utils.Database(conn))


class StoreBusy(Exception):
    """Another idgraph process holds the database file's write lock past the wait bound."""


class RunNotFound(Exception):
    """The run asked for does not exist or did not complete."""


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Run:
    id: int
    kind: str
    connector: str
    scope: str
    account_label: str | None
    started: str
    finished: str | None
    status: str
    counts: dict[str, Any]
    errors: list[str]
    warnings: list[str]
    stats: dict[str, Any]
    plugin_versions: dict[str, str]
    credential: str | None = None  # the fingerprint of the credential the run used
    rotated_from: str | None = None  # the account's previous credential, if it changed

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        def load(name: str, default: Any) -> Any:
            return json.loads(row[name]) if row.get(name) else default

        return cls(
            id=row["id"],
            kind=row["kind"],
            connector=row["connector"],
            scope=row["scope"],
            account_label=row["account_label"],
            started=row["started"],
            finished=row["finished"],
            status=row["status"],
            counts=load("counts", {}),
            errors=load("errors", []),
            warnings=load("warnings", []),
            stats=load("stats", {}),
            plugin_versions=load("plugin_versions", {}),
            credential=row.get("credential"),
            rotated_from=row.get("rotated_from"),
        )


def _create_private(path: Path) -> None:
    """Create an empty file readable by the owner only (0600), if it does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _enable_wal(conn: sqlite3.Connection, wait: float = 30.0) -> None:
    """Switch to WAL. Another connection switching the same new file at that moment makes
    SQLite answer "database is locked" at once, without its busy timeout: try again."""
    deadline = time.monotonic() + wait
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=wal")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


@contextmanager
def _atomic(conn: sqlite3.Connection) -> Iterator[None]:
    """A transaction, or a savepoint inside an open one (as sqlite-utils' `atomic`)."""
    if conn.in_transaction:
        conn.execute("SAVEPOINT idgraph_atomic")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO SAVEPOINT idgraph_atomic")
                conn.execute("RELEASE SAVEPOINT idgraph_atomic")
            raise
        conn.execute("RELEASE SAVEPOINT idgraph_atomic")
        return
    conn.execute("BEGIN")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def _import_for_writes() -> None:
    """What recording a run needs and the open path does not (sqlite-utils, the queries)."""
    import sqlite_utils  # noqa: F401

    from . import queries, schema  # noqa: F401


class Store:
    """One SQLite file (WAL mode, owner-only permissions) holding every run."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        """Open (or, with `create`, make) the database at `path`. Every way the file can be
        unusable (missing, a folder, not SQLite, damaged, read-only, newer schema, another
        program's database) is one `StoreError` naming the file and what to do."""
        self.path = Path(path)
        _check_file(self.path, create)
        # Two processes creating one new file race on its first migrations: SQLite answers
        # "locked" at once (a stale read snapshot is not waited for), so the set-up is retried.
        deadline = time.monotonic() + 30.0
        while True:
            try:
                with storage_errors(self.path):
                    self.conn = self._open()
                break
            except StoreError as exc:
                if "database is locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        self._db: sqlite_utils.Database | None = None

    @property
    def db(self) -> sqlite_utils.Database:
        """The connection as a sqlite-utils Database, made (and sqlite-utils imported) when
        first asked for: opening, locking and starting a run do not need it."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def warm_up(self) -> None:
        """Import, on a thread, what recording a run needs: a sync calls this as its
        connector starts reading, so the import overlaps the wait for answers."""
        threading.Thread(target=_import_for_writes, name="idgraph-import", daemon=True).start()

    def _open(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = None
        try:
            _create_private(self.path)
            conn = sqlite3.connect(self.path)
            conn.execute("PRAGMA recursive_triggers = on")  # as sqlite-utils sets it
            conn.execute("PRAGMA busy_timeout = 30000")
            _check_schema(conn, self.path)
            _enable_wal(conn)
            # WAL with synchronous=NORMAL is crash-safe for the database (a power cut may lose
            # the last transaction, never corrupt); a larger page cache keeps index inserts
            # fast.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -65536")
            if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return conn  # up to date: no write, so another writer does not hold us up
            # Two processes opening a new file at once would both create the schema: take the
            # write lock first (BEGIN IMMEDIATE waits busy_timeout), then look what is missing.
            conn.execute("BEGIN IMMEDIATE")
            try:
                _migrate(conn)
                if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            except BaseException:
                conn.rollback()
                raise
            conn.execute("COMMIT")
            return conn
        except BaseException:
            if conn is not None:
                conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    # -- locking ----------------------------------------------------------------------------

    @contextmanager
    def write_lock(self, wait: float = 30.0) -> Iterator[None]:
        """Hold `<db>.lock` for the whole run; a second writer waits up to `wait` seconds."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        if lock_path.is_dir():
            raise StoreError(
                f"{lock_path} is a folder, but idgraph needs it as its lock file: remove it"
            )
        with storage_errors(lock_path):
            _create_private(lock_path)
            handle = open(lock_path, "a")  # noqa: SIM115 - held for the whole context
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusy(
                            f"{self.path} is in use by another idgraph run (waited {wait:g} s "
                            "for its lock); try again when it has finished"
                        ) from None
                    time.sleep(0.1)
            self._fail_interrupted_runs()
            yield
        finally:
            handle.close()

    def _fail_interrupted_runs(self) -> None:
        """Runs still marked running while nobody holds the lock were killed mid-way."""
        with _atomic(self.conn):
            self.conn.execute(
                "UPDATE runs SET status = 'failed', finished = ?, errors = ? "
                "WHERE status = 'running'",
                [utcnow(), json.dumps(["interrupted: the process ended before the run finished"])],
            )

    # -- runs -------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        kind: str,
        connector: str,
        scope: str,
        account_label: str | None,
        plugin_versions: dict[str, str],
        credential: str | None = None,
        rotated_from: str | None = None,
    ) -> int:
        row = {
            "kind": kind,
            "connector": connector,
            "scope": scope,
            "account_label": account_label,
            "credential": credential,
            "rotated_from": rotated_from,
            "started": utcnow(),
            "status": "running",
            "plugin_versions": json.dumps(plugin_versions),
        }
        with _atomic(self.conn):
            cursor = self.conn.execute(
                f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            return int(cursor.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        nodes: Iterable[Node] = (),
        edges: Iterable[Edge] = (),
        errors: list[str] | None = None,
        warnings: list[str] | None = None,
        stats: dict[str, Any] | None = None,
        close_missing: bool = True,
        also: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Record how a run ended; a complete run applies its nodes and edges, in one
        transaction with the ledger row. Returns the counts written."""
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"unknown run status {status!r}")
        counts: dict[str, Any] = {}
        with self.db.atomic():
            if status == "complete":
                run_scope = self.run(run_id).scope
                counts = {
                    "nodes": self._apply(
                        "node_versions", "id", run_scope, run_id, _node_rows(nodes), close_missing
                    ),
                    "edges": self._apply(
                        "edge_versions", "key", run_scope, run_id, _edge_rows(edges), close_missing
                    ),
                }
            self.db.execute(
                "UPDATE runs SET status = ?, finished = ?, counts = ?, errors = ?, warnings = ?, "
                "stats = ? WHERE id = ?",
                [
                    status,
                    utcnow(),
                    json.dumps(counts),
                    json.dumps(errors or []),
                    json.dumps(warnings or []),
                    json.dumps(stats or {}),
                    run_id,
                ],
            )
            if also is not None and status == "complete":
                also()
            if status == "complete" and any(
                part.get(change) for part in counts.values() for change in part
            ):
                self.refresh_queries()  # in the run's transaction: a kill undoes both
        return counts

    def refresh_queries(self) -> None:
        """Bring the query views and their kind facts up to date (the full-text index is
        refreshed after the run's commit: `refresh_search_index`)."""
        from .queries import ensure_objects, refresh_kind_facts

        ensure_objects(self.db)
        refresh_kind_facts(self.db)

    def refresh_search_index(self) -> None:
        """Bring the full-text index (`node_search`) in line with the current graph: after
        a complete run is committed, apart from it (a kill in between leaves an index one
        run behind, which the next refresh or `idgraph nodes --search` brings up to date)."""
        from .queries import refresh_search

        with self.db.atomic():
            refresh_search(self.db)

    def _apply(
        self,
        table: str,
        key: str,
        scope: str,
        run_id: int,
        rows: Iterable[tuple[Any, ...]],
        close_missing: bool,
    ) -> dict[str, dict[str, int]]:
        """Open versions for new or changed rows, close changed and missing ones.

        `rows` are tuples in `_COLUMNS[table]` order; kind is the column after the key
        columns, hash the last one.
        """
        conn = self.db.conn
        current = {
            row[0]: (row[1], row[2], row[3])
            for row in conn.execute(
                f"SELECT {key}, hash, first_seen, kind FROM {table} "
                "WHERE scope = ? AND closed_run IS NULL",
                [scope],
            )
        }
        kind_at = _COLUMNS[table].index("kind")
        inserts: list[tuple[Any, ...]] = []
        closes: list[tuple[int, str, str]] = []
        counts: dict[str, Counter] = {
            "created": Counter(),
            "changed": Counter(),
            "removed": Counter(),
        }
        seen: set[str] = set()
        for row in rows:
            ident = row[0]
            if ident in seen:
                continue  # the same node from two paths: the first one stands
            seen.add(ident)
            previous = current.get(ident)
            if previous is None:
                first_seen = run_id
                counts["created"][row[kind_at]] += 1
            elif previous[0] != row[-1]:
                first_seen = previous[1]
                closes.append((run_id, scope, ident))
                counts["changed"][row[kind_at]] += 1
            else:
                continue
            inserts.append((scope, *row, first_seen, run_id))
        if close_missing:
            for ident, (_hash, _first, kind) in current.items():
                if ident not in seen:
                    closes.append((run_id, scope, ident))
                    counts["removed"][kind] += 1
        conn.executemany(
            f"UPDATE {table} SET closed_run = ? WHERE scope = ? AND {key} = ? "
            "AND closed_run IS NULL",
            closes,
        )
        columns = ("scope", *_COLUMNS[table], "first_seen", "opened_run")
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            inserts,
        )
        return {name: dict(counter) for name, counter in counts.items()}

    def run(self, run_id: int) -> Run:
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            raise RunNotFound(f"there is no run {run_id} in {self.path}")
        return Run.from_row(rows[0])

    def runs(self, limit: int | None = None) -> list[Run]:
        sql = "SELECT * FROM runs ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return [Run.from_row(row) for row in self.db.query(sql)]

    def complete_run(self, run_id: int | None = None, *, kind: str | None = None) -> Run:
        """`run_id` if it is complete, else the latest complete run (of `kind`, if given)."""
        if run_id is not None:
            run = self.run(run_id)
            if run.status != "complete":
                raise RunNotFound(
                    f"run {run_id} is {run.status}, not complete: only complete runs can be read"
                )
            return run
        sql = "SELECT * FROM runs WHERE status = 'complete'"
        params: list[Any] = []
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        else:
            sql += " AND kind != 'write'"  # a recorded API write holds no graph
        rows = list(self.db.query(sql + " ORDER BY id DESC LIMIT 1", params))
        if not rows:
            raise RunNotFound(f"{self.path} holds no complete run yet: run `idgraph sync` first")
        return Run.from_row(rows[0])

    # -- reading the graph ------------------------------------------------------------------

    def nodes_as_of(self, run_id: int) -> list[Node]:
        return [
            Node(id=i, kind=k, source=s, attrs=a) for i, k, s, a in self.node_rows_as_of(run_id)
        ]

    def edges_as_of(self, run_id: int) -> list[Edge]:
        return [
            Edge(
                src=u,
                dst=v,
                kind=a["kind"],
                source=a["source"],
                discriminator=d,
                attrs={k: x for k, x in a.items() if k not in ("kind", "source")},
            )
            for u, v, key, a in self.edge_rows_as_of(run_id)
            for d in [key.partition("|")[2]]
        ]

    def node_rows_as_of(self, run_id: int) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """(id, kind, source, attributes with first_seen and scope) of each node at a run."""
        loads = attrs_from_json
        for ident, kind, source, attrs, first_seen, scope in self.db.conn.execute(
            "SELECT id, kind, source, attrs, first_seen, scope FROM node_versions NOT INDEXED "
            "WHERE opened_run <= ? AND (closed_run IS NULL OR closed_run > ?)",
            [run_id, run_id],
        ):
            data = loads(attrs)
            data["first_seen"] = first_seen
            data["scope"] = scope
            yield ident, kind, source, data

    def edge_rows_as_of(self, run_id: int) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """(src, dst, graph key, attributes with kind, source and first_seen) of each edge.

        The graph key is the kind (plus the discriminator of parallel edges of one kind):
        unique per (src, dst), and far cheaper to read than the stored key.
        """
        decoded: dict[str, dict[str, Any]] = {}  # many edges share one attribute text
        for src, dst, disc, kind, source, attrs, first_seen in self.edge_cursor_as_of(run_id):
            known = decoded.get(attrs)
            if known is None:
                known = attrs_from_json(attrs)
                if len(decoded) < 50_000:
                    decoded[attrs] = known
            yield (
                src,
                dst,
                f"{kind}|{disc}" if disc else kind,
                {**known, "kind": kind, "source": source, "first_seen": first_seen},
            )

    def node_rows_of_kinds(
        self, run_id: int, kinds: Iterable[str]
    ) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """`node_rows_as_of`, only the nodes of these kinds (SQL filters, JSON is decoded
        only for what is kept)."""
        kinds = sorted(set(kinds))
        if not kinds:
            return
        marks = ", ".join("?" * len(kinds))
        loads = attrs_from_json
        for ident, kind, source, attrs, first_seen, scope in self.db.conn.execute(
            "SELECT id, kind, source, attrs, first_seen, scope FROM node_versions NOT INDEXED "
            f"WHERE opened_run <= ? AND (closed_run IS NULL OR closed_run > ?) "
            f"AND kind IN ({marks})",
            [run_id, run_id, *kinds],
        ):
            data = loads(attrs)
            data["first_seen"] = first_seen
            data["scope"] = scope
            yield ident, kind, source, data

    def node_rows_with_ids(
        self, run_id: int, idents: Iterable[str]
    ) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """`node_rows_as_of`, only these nodes (one pass over the run's rows)."""
        wanted = json.dumps(sorted(set(idents)))
        for ident, kind, source, attrs, first_seen, scope in self.db.conn.execute(
            "SELECT id, kind, source, attrs, first_seen, scope FROM node_versions NOT INDEXED "
            "WHERE opened_run <= ? AND (closed_run IS NULL OR closed_run > ?) "
            "AND id IN (SELECT value FROM json_each(?))",
            [run_id, run_id, wanted],
        ):
            data = attrs_from_json(attrs)
            data["first_seen"] = first_seen
            data["scope"] = scope
            yield ident, kind, source, data

    def edge_cursor_of_kinds(self, run_id: int, kinds: Iterable[str]) -> sqlite3.Cursor:
        """Raw edge rows (as `edge_cursor_as_of`) of these kinds only."""
        kinds = sorted(set(kinds)) or [""]
        marks = ", ".join("?" * len(kinds))
        return self.db.conn.execute(
            "SELECT src, dst, discriminator, kind, source, attrs, first_seen "
            "FROM edge_versions NOT INDEXED "
            f"WHERE opened_run <= ? AND (closed_run IS NULL OR closed_run > ?) "
            f"AND kind IN ({marks})",
            [run_id, run_id, *kinds],
        )

    def kinds_as_of(self, run_id: int) -> set[str]:
        """The node kinds present at a run."""
        return {
            row[0]
            for row in self.db.conn.execute(
                "SELECT DISTINCT kind FROM node_versions "
                "WHERE opened_run <= ? AND (closed_run IS NULL OR closed_run > ?)",
                [run_id, run_id],
            )
        }

    def edge_cursor_as_of(self, run_id: int) -> sqlite3.Cursor:
        """Raw rows (src, dst, discriminator, kind, source, attrs JSON, first_seen)."""
        return self.db.conn.execute(
            "SELECT src, dst, discriminator, kind, source, attrs, first_seen "
            "FROM edge_versions NOT INDEXED "  # a full scan beats the index for a whole run
            "WHERE opened_run <= ? AND (closed_run IS NULL OR closed_run > ?)",
            [run_id, run_id],
        )

    def last_seen(self, run_id: int) -> dict[str, int]:
        """scope -> the latest complete run of that scope up to `run_id` (when each open
        version was last confirmed)."""
        return {
            row[0]: row[1]
            for row in self.db.conn.execute(
                "SELECT scope, MAX(id) FROM runs WHERE status = 'complete' AND id <= ? "
                "GROUP BY scope",
                [run_id],
            )
        }

    def versions_changed_between(self, table: str, run_a: int, run_b: int) -> list[dict[str, Any]]:
        """Version rows opened or closed in (run_a, run_b]."""
        return list(
            self.db.query(
                f"SELECT * FROM {table} WHERE (opened_run > :a AND opened_run <= :b) "
                "OR (closed_run > :a AND closed_run <= :b)",
                {"a": run_a, "b": run_b},
            )
        )

    def node_history(self, ident: str) -> list[dict[str, Any]]:
        return list(
            self.db.query("SELECT * FROM node_versions WHERE id = ? ORDER BY opened_run", [ident])
        )

    def record_write(
        self, *, connector: str, account_label: str | None, action: dict[str, Any]
    ) -> int:
        """Record a write made through the API (create, update, delete) in the run history."""
        run_id = self.start_run(
            kind="write",
            connector=connector,
            scope=f"write:{connector}:{account_label or '-'}",
            account_label=account_label,
            plugin_versions={},
        )
        self.finish_run(run_id, status="complete", stats=action, close_missing=False)
        return run_id

    def known_accounts(self, connector: str) -> dict[str, str]:
        """label -> the fingerprint of the credential of each account of a connector."""
        return dict(
            self.conn.execute(
                "SELECT label, fingerprint FROM accounts WHERE connector = ?", [connector]
            )
        )

    def remember_account(self, connector: str, label: str, fingerprint: str, run_id: int) -> None:
        """Record (inside a run's transaction) that this credential is this account's now."""
        self.db.execute(
            "INSERT INTO accounts (connector, label, fingerprint, first_run, last_run) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (connector, label) DO UPDATE SET "
            "fingerprint = excluded.fingerprint, last_run = excluded.last_run",
            [connector, label, fingerprint, run_id, run_id],
        )

    def record_attestation(self, record: dict[str, Any]) -> None:
        """Add an attestation's record (inside the transaction of its run's finish)."""
        self.db["attestations"].insert(record)

    def attestations(self, account_label: str | None = None) -> list[dict[str, Any]]:
        """Attestations of complete runs, newest first."""
        sql = (
            "SELECT a.* FROM attestations a JOIN runs r ON r.id = a.run_id "
            "WHERE r.status = 'complete'"
        )
        params: list[Any] = []
        if account_label is not None:
            sql += " AND a.account_label = ?"
            params.append(account_label)
        return list(self.db.query(sql + " ORDER BY a.run_id DESC", params))

    def row_counts(self) -> dict[str, int]:
        return {name: self.db[name].count for name in ("runs", "node_versions", "edge_versions")}


_COLUMNS = {
    "node_versions": ("id", "kind", "source", "attrs", "hash"),
    "edge_versions": ("key", "src", "dst", "discriminator", "kind", "source", "attrs", "hash"),
}


def _node_rows(nodes: Iterable[Node]) -> Iterator[tuple[Any, ...]]:
    for node in nodes:
        text = attrs_json(node.attrs)
        yield node.id, node.kind, node.source, text, content_hash(node.kind, node.source, text)


def _edge_rows(edges: Iterable[Edge]) -> Iterator[tuple[Any, ...]]:
    # most edges carry no attributes: their hash depends on kind and source alone
    bare: dict[tuple[str, str], str] = {}
    for edge in edges:
        text = attrs_json(edge.attrs)
        if text == "{}":
            digest = bare.get((edge.kind, edge.source))
            if digest is None:
                digest = bare[edge.kind, edge.source] = content_hash(edge.kind, edge.source, text)
        else:
            digest = content_hash(edge.kind, edge.source, text)
        yield (
            edge.key,
            edge.src,
            edge.dst,
            edge.discriminator,
            edge.kind,
            edge.source,
            text,
            digest,
        )
