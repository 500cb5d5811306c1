"""`Store`: one idgraph database, the one object the rest of idgraph reads and writes it
through. Each method is a step of the store's modules (file, ledger, versions, views,
reviews) on this store's connection."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..memory import gc_paused
from ..model import Edge, Node
from . import chain, ledger, reviews, versions
from .file import StoreError, atomic, check_file, file_lock, open_connection, storage_errors
from .ledger import RUN_STATUSES, Run, RunNotFound, utcnow

if TYPE_CHECKING:
    import sqlite_utils


def _import_for_writes() -> None:
    """What recording a run needs and the open path does not (sqlite-utils, the views)."""
    import sqlite_utils  # noqa: F401

    from . import views  # noqa: F401


class Store:
    """One SQLite file (WAL mode, owner-only permissions) holding every run."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        """Open (or, with `create`, make) the database at `path`. Every way the file can be
        unusable (missing, a folder, not SQLite, damaged, read-only, newer schema, another
        program's database) is one `StoreError` naming the file and what to do."""
        self.path = Path(path)
        check_file(self.path, create)
        # Two processes creating one new file race on its first migrations: SQLite answers
        # "locked" at once (a stale read snapshot is not waited for), so the set-up is retried.
        deadline = time.monotonic() + 30.0
        while True:
            try:
                with storage_errors(self.path):
                    self.conn = open_connection(self.path)
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

    def close(self) -> None:
        self.conn.close()

    def for_reading_whole_runs(self) -> None:
        """A small page cache (8 MB instead of the 64 MB that keeps a write's index
        inserts fast) for a process that reads whole runs, an export: a
        scan of a table larger than the cache gains nothing from it (the OS caches the
        file), and SQLite's sorter spills to a temporary file past that size instead of
        holding a whole ordered run in memory (at 100,000 nodes the export's peak RSS fell
        by about 60 MB, docs/performance.md)."""
        self.conn.execute("PRAGMA cache_size = -8192")

    @contextmanager
    def write_lock(self, wait: float = 30.0) -> Iterator[None]:
        """Hold `<db>.lock` for the whole run; a second writer waits up to `wait` seconds.
        Runs left `running` by a killed process are marked failed once the lock is held."""
        with file_lock(self.path, wait):
            with atomic(self.conn):
                ledger.fail_interrupted_runs(self.conn)
            yield

    # -- the run ledger and the accounts ----------------------------------------------------

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
        with atomic(self.conn):
            return ledger.insert_run(self.conn, row)

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
        kind_facts: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """Record how a run ended; a complete run applies its nodes and edges, in one
        transaction with the ledger row. When it changes the graph, the views are brought up
        to date with it, and their per-kind facts with `kind_facts()`
        (`access.kind_fact_rows` of the loaded schemas), if given. Returns the counts
        written."""
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"unknown run status {status!r}")
        counts: dict[str, Any] = {}
        written = chain.Written()  # what the ledger digests, without reading it back
        with self.db.atomic(), gc_paused():  # the rows made make no cycles
            if status == "complete":
                scope = self.run(run_id).scope
                apply = versions.apply_versions
                counts = {
                    "nodes": apply(
                        self.conn,
                        "node_versions",
                        "id",
                        scope,
                        run_id,
                        versions.node_rows(nodes),
                        close_missing,
                        written,
                    ),
                    "edges": apply(
                        self.conn,
                        "edge_versions",
                        "key",
                        scope,
                        run_id,
                        versions.edge_rows(edges),
                        close_missing,
                        written,
                    ),
                }
            ledger.record_run_end(
                self.conn,
                run_id,
                status=status,
                counts=counts,
                errors=errors or [],
                warnings=warnings or [],
                stats=stats or {},
            )
            if also is not None and status == "complete":
                also()
            if status == "complete":
                # last: the digest covers all of the above
                chain.chain_run(self.conn, run_id, written)
                written = chain.Written()  # the rows let go before the views' refresh
            if status == "complete" and any(
                part.get(change) for part in counts.values() for change in part
            ):
                # in the run's transaction: a kill undoes both
                self.refresh_views(None if kind_facts is None else kind_facts())
        return counts

    def record_rotation(self, run_id: int, previous_credential: str) -> None:
        """Note on a run (inside its transaction) the account's previous credential."""
        ledger.record_rotation(self.conn, run_id, previous_credential)

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

    def run(self, run_id: int) -> Run:
        return ledger.read_run(self.conn, run_id, self.path)

    def runs(self, limit: int | None = None) -> list[Run]:
        """The runs, newest first."""
        return ledger.read_runs(self.conn, limit)

    def complete_run(self, run_id: int | None = None, *, kind: str | None = None) -> Run:
        """`run_id` if it is complete, else the latest complete run (of `kind`, if given)."""
        if run_id is not None:
            run = self.run(run_id)
            if run.status != "complete":
                raise RunNotFound(
                    f"run {run_id} is {run.status}, not complete: only complete runs can be read"
                )
            return run
        found = ledger.latest_complete_run(self.conn, kind)
        if found is None:
            raise RunNotFound(f"{self.path} holds no complete run yet: run `idgraph sync` first")
        return found

    def latest_run_per_scope(self, run_id: int) -> dict[str, int]:
        """scope -> the latest complete run of that scope up to `run_id` (when each open
        version was last confirmed)."""
        return ledger.latest_run_per_scope(self.conn, run_id)

    def complete_runs_by_connector(self) -> dict[str, list[int]]:
        """connector -> the ids of its complete runs, oldest first."""
        return ledger.complete_runs_by_connector(self.conn)

    def synced_account_labels(self, connector: str, as_of: int | None = None) -> list[str]:
        """The labels of a connector's accounts with a complete sync (up to run `as_of`)."""
        return ledger.synced_account_labels(self.conn, connector, as_of)

    def known_accounts(self, connector: str) -> dict[str, str]:
        """label -> the fingerprint of the credential of each account of a connector."""
        return ledger.known_accounts(self.conn, connector)

    def account_of_credential(self, connector: str, credential: str) -> str | None:
        """The label of the account this credential fingerprint is known as, if any."""
        return ledger.account_of_credential(self.conn, connector, credential)

    def remember_account(self, connector: str, label: str, fingerprint: str, run_id: int) -> None:
        """Record (inside a run's transaction) that this credential is this account's now."""
        ledger.remember_account(self.conn, connector, label, fingerprint, run_id)

    # -- reading the graph ------------------------------------------------------------------

    def nodes(self, run_id: int) -> list[Node]:
        """The nodes at a run, as records."""
        return versions.nodes(self.conn, run_id)

    def node_tuples(
        self,
        run_id: int,
        *,
        kinds: Iterable[str] | None = None,
        ids: Iterable[str] | None = None,
    ) -> Iterator[versions.NodeTuple]:
        """(id, kind, source, attributes with first_seen and scope) of each node at a run,
        only of `kinds` and with `ids` when given."""
        return versions.node_tuples(self.conn, run_id, kinds=kinds, ids=ids)

    def edge_tuples(self, run_id: int, *, kinds: Iterable[str] | None = None) -> sqlite3.Cursor:
        """(src, dst, discriminator, kind, source, attributes JSON, first_seen) of each edge
        at a run, only of `kinds` when given."""
        return versions.edge_tuples(self.conn, run_id, kinds=kinds)

    def access_edges(self, run_id: int, kinds: Iterable[str]) -> sqlite3.Cursor:
        """(src, dst, kind, source, attributes JSON) of each edge of `kinds` at a run."""
        return versions.access_edges(self.conn, run_id, kinds)

    def node_tuples_in_graph_order(self, run_id: int) -> Iterator[versions.NodeTuple]:
        """`node_tuples` in the graph's node order, one id's versions together (for a
        reader that streams the graph instead of loading it)."""
        return versions.node_tuples_in_graph_order(self.conn, run_id)

    def edge_tuples_in_graph_order(self, run_id: int) -> sqlite3.Cursor:
        """`edge_tuples` in the graph's edge order (grouped by tail, then head)."""
        return versions.edge_tuples_in_graph_order(self.conn, run_id)

    def edge_count(self, run_id: int) -> int:
        """How many edges the graph of a run has (one per tail, head and key)."""
        return versions.edge_count(self.conn, run_id)

    def missing_ends(self, run_id: int) -> sqlite3.Cursor:
        """(id, source) of each edge end that is no node at the run, in edge order."""
        return versions.missing_ends(self.conn, run_id)

    def node_kinds(self, run_id: int) -> set[str]:
        """The node kinds present at a run."""
        return versions.node_kinds(self.conn, run_id)

    def versions_changed_between(self, table: str, run_a: int, run_b: int) -> list[dict[str, Any]]:
        """Version rows opened or closed in (run_a, run_b]."""
        return versions.versions_changed_between(self.conn, table, run_a, run_b)

    def node_history(self, ident: str) -> list[dict[str, Any]]:
        return versions.node_history(self.conn, ident)

    def row_counts(self) -> dict[str, int]:
        return versions.row_counts(self.conn)

    # -- the views and the search index -----------------------------------------------------

    def refresh_views(self, kind_facts: list[dict[str, Any]] | None) -> bool:
        """Bring the query views up to date, and their per-kind facts when given
        (`access.kind_fact_rows`); whether the facts changed. The full-text index is
        refreshed apart: `refresh_search_index`."""
        from .views import ensure_objects, refresh_kind_facts

        if kind_facts is None:
            ensure_objects(self.db)
            return False
        return refresh_kind_facts(self.db, kind_facts)

    def refresh_search_index(self) -> None:
        """Bring the full-text index (`node_search`) in line with the current graph: after
        a complete run is committed, apart from it (a kill in between leaves an index one
        run behind, which the next refresh or `idgraph nodes --search` brings up to date)."""
        from .views import refresh_search

        with self.db.atomic():
            refresh_search(self.db)

    def use_views_as_of(self, run_id: int) -> None:
        """On this connection, the views read the graph as of complete run `run_id`."""
        from .views import as_of_views

        as_of_views(self.conn, run_id)

    def node_candidates(self, principals: bool) -> list[dict[str, Any]]:
        """One row per current node (principals, or not): what a user may name it by."""
        from .views import node_candidates

        return node_candidates(self.conn, principals)

    def find_nodes(
        self, *, kinds: tuple[str, ...], text: str | None, search_index: bool
    ) -> list[dict[str, Any]]:
        """Current nodes of `kinds` with `text` in their names (see `views.find_nodes`)."""
        from .views import find_nodes

        return find_nodes(self.db, kinds=kinds, text=text, search_index=search_index)

    # -- reviews: decisions and attestations ------------------------------------------------

    def latest_reviewed_run(self, up_to: int) -> int | None:
        """The latest run up to `up_to` whose review decisions were imported, if any."""
        return reviews.latest_reviewed_run(self.conn, up_to)

    def decisions_of_run(self, run_id: int) -> list[dict[str, Any]]:
        return reviews.decisions_of_run(self.conn, run_id)

    def replace_decisions(self, records: Iterable[dict[str, Any]]) -> None:
        """Store decisions (inside the caller's transaction), each replacing an earlier
        decision of its (run, row)."""
        reviews.replace_decisions(self.db, records)

    def record_attestation(self, record: dict[str, Any]) -> None:
        """Add an attestation's record (inside the transaction of its run's finish)."""
        reviews.record_attestation(self.db, record)

    def attestations(self, account_label: str | None = None) -> list[dict[str, Any]]:
        """Attestations of complete runs, newest first."""
        return reviews.attestations(self.conn, account_label)
