"""One sync: a connector collects, the store records the run (applying it only if complete)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .interfaces import Collection, ConfigError, Connector, ProgressCallback
from .plugins import plugin_versions
from .store import Store

log = logging.getLogger("idgraph.sync")


@dataclass
class SyncResult:
    run_id: int
    status: str
    collection: Collection
    counts: dict[str, Any]


def sync(
    store: Store,
    connector: Connector,
    *,
    options: Mapping[str, Any],
    environ: Mapping[str, str],
    progress: ProgressCallback = lambda *_: None,
    lock_wait: float = 30.0,
) -> SyncResult:
    """Collect with `connector` and record the run; only a complete run changes the graph."""
    with store.write_lock(lock_wait):
        run_id = store.start_run(
            kind="sync",
            connector=connector.name,
            scope=f"{connector.name}:?",
            account_label=options.get("account_label"),
            plugin_versions=plugin_versions(),
        )
        try:
            collection = connector.collect(options=options, environ=environ, progress=progress)
        except ConfigError as exc:
            store.finish_run(run_id, status="failed", errors=[str(exc)])
            raise
        except BaseException as exc:
            store.finish_run(
                run_id, status="failed", errors=[f"internal error: {type(exc).__name__}"]
            )
            raise
        if collection.complete and not collection.errors:
            status = "complete"
        elif collection.nodes:
            status = "partial"
        else:
            status = "failed"
        counts = store.finish_run(
            run_id,
            status=status,
            scope=collection.scope,
            nodes=collection.nodes,
            edges=collection.edges,
            errors=collection.errors,
            warnings=collection.warnings,
            stats={
                **collection.stats,
                "nodes_seen": len(collection.nodes),
                "edges_seen": len(collection.edges),
            },
        )
        log.info("run %d (%s) %s: %s", run_id, collection.scope, status, counts)
        for problem in collection.errors + collection.warnings:
            log.warning("run %d: %s", run_id, problem)
        return SyncResult(run_id=run_id, status=status, collection=collection, counts=counts)
