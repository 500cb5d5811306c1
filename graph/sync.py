"""One sync: the host resolves the account, a connector collects, the store records the run
(applying it only if complete)."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .access import kind_fact_rows
from .interfaces import (
    Account,
    Collection,
    ConfigError,
    Connector,
    ProgressCallback,
    SourceError,
    SyncOptions,
    credential_verifier,
    secret_description,
)
from .plugins import plugin_versions
from .schema import SchemaRegistry, registry, undeclared_warnings
from .secrets import fingerprint, secret_from_env
from .store import Store, storage_error, storage_errors

log = logging.getLogger("idgraph.sync")


@dataclass
class SyncResult:
    run_id: int
    status: str
    collection: Collection
    counts: dict[str, Any]
    account: Account
    rotated_from: str | None = None


@dataclass(frozen=True)
class ResolvedAccount:
    account: Account
    credential: str
    rotated_from: str | None


def read_secret(connector: Connector, environ: Mapping[str, str]) -> str:
    """The connector's credential from its environment variable."""
    what = secret_description(connector)
    return secret_from_env(connector.secret_env, what, environ)


def resolve_account(
    store: Store,
    connector: Connector,
    secret: str,
    label: str | None,
    options: SyncOptions | None = None,
) -> ResolvedAccount:
    """Which account this credential is: the label given, the label its fingerprint is
    known under, or (for a first account) the fingerprint itself; never a silent second scope.
    """
    credential = fingerprint(secret)
    known = store.known_accounts(connector.name)
    holder = store.account_of_credential(connector.name, credential)
    if label is not None:
        label = label.strip()
        if not label or any(c in label for c in ":/\\") or not label.isprintable():
            raise ConfigError(
                f"--account-label {label!r}: use letters, digits, '.', '-' or '_' (no ':')"
            )
        if holder is not None and holder != label:
            raise ConfigError(
                f"this {connector.secret_env} belongs to account {holder!r} in {store.path}: "
                f"use --account-label {holder} (or leave it out)"
            )
        rotated = known.get(label)
        return ResolvedAccount(
            Account(connector.name, label),
            credential,
            rotated if rotated is not None and rotated != credential else None,
        )
    if holder is not None:
        return ResolvedAccount(Account(connector.name, holder), credential, None)
    if known:
        verify = credential_verifier(connector)
        if verify is not None:
            verify(secret, options)  # a credential the source refuses: its error (exit 4)
        raise ConfigError(
            f"{connector.secret_env} holds a credential of no account known in {store.path} "
            f"(known {connector.name} accounts: {', '.join(sorted(known))}): pass "
            "--account-label NAME for a new account, or the label of the account whose "
            "credential was rotated"
        )
    return ResolvedAccount(Account(connector.name, credential), credential, None)


def _validated_options(
    connector: Connector, options: SyncOptions | Mapping[str, Any] | None
) -> SyncOptions:
    if isinstance(options, SyncOptions):
        return options
    try:
        return connector.options_class.model_validate(dict(options or {}))
    except ValueError as exc:
        raise ConfigError(f"{connector.name} options: {exc}") from None


INTERRUPTED = "interrupted (Ctrl-C) while the connector read the source"


def _collect(
    store: Store,
    connector: Connector,
    run_id: int,
    account: Account,
    secret: str,
    options: SyncOptions,
    progress: ProgressCallback,
) -> Collection:
    """The connector's collection; the run is recorded failed if collecting raised."""
    warming: list[bool] = []

    def reported(what: str, done: int, total: int | None) -> None:
        # What recording the run needs is imported on a thread while the connector reads,
        # from its first progress report: inside its event loop, where Ctrl-C cancels the
        # reading. Started before, a Ctrl-C landing in the main thread's own imports (the
        # HTTP client's) while that thread imported left a module lock held: a hang.
        if not warming:
            warming.append(True)
            store.warm_up()
        progress(what, done, total)

    try:
        return connector.collect(account=account, secret=secret, options=options, progress=reported)
    except (ConfigError, SourceError) as exc:  # one line and exit 3 or 4, run failed
        store.finish_run(run_id, status="failed", errors=[str(exc)])
        exc.run_id = run_id  # named in the --json answer
        raise
    except KeyboardInterrupt as exc:
        store.finish_run(run_id, status="failed", errors=[INTERRUPTED])
        exc.run_id = run_id  # type: ignore[attr-defined]  # named in the --json answer
        raise
    except BaseException as exc:
        store.finish_run(run_id, status="failed", errors=[f"internal error: {type(exc).__name__}"])
        raise


def _run_status(
    collection: Collection, connector: Connector, account: Account, schema: SchemaRegistry
) -> str:
    """Check the collection against the account and schema (adding what is wrong to its
    errors and warnings), then judge it complete, partial or failed."""
    if collection.scope != account.scope:
        collection.errors.append(
            f"the {connector.name} connector returned scope {collection.scope!r} for "
            f"account {account.scope!r}: nothing applied"
        )
        collection.complete = False
    collection.warnings += undeclared_warnings(
        schema, connector.name, collection.nodes, collection.edges
    )
    if collection.complete and not collection.errors:
        return "complete"
    return "partial" if collection.nodes else "failed"


def _finish(
    store: Store,
    connector: Connector,
    run_id: int,
    status: str,
    collection: Collection,
    resolved: ResolvedAccount,
    schema: SchemaRegistry,
) -> dict[str, Any]:
    """Record the run (applied if complete) and its counts; a storage error fails the run."""

    def remember() -> None:
        if status == "complete":  # a refused credential is no rotation: only a complete run
            store.remember_account(
                connector.name, resolved.account.label, resolved.credential, run_id
            )
            if resolved.rotated_from:
                store.record_rotation(run_id, resolved.rotated_from)

    try:
        counts = store.finish_run(
            run_id,
            status=status,
            nodes=collection.nodes,
            edges=collection.edges,
            errors=collection.errors,
            warnings=collection.warnings,
            stats={
                **collection.stats,
                "nodes_seen": len(collection.nodes),
                "edges_seen": len(collection.edges),
            },
            also=remember,
            kind_facts=lambda: kind_fact_rows(schema),
        )
    except (sqlite3.Error, OSError) as exc:
        # The write was rolled back: record the run failed, so none is left `running`
        # (if even that cannot be written, the next run's lock marks it failed).
        error = storage_error(store.path, exc)
        with contextlib.suppress(sqlite3.Error, OSError):
            store.finish_run(run_id, status="failed", errors=[str(error)])
        raise error from None
    if status == "complete":  # what the run shows of the remediation items
        from .remediation import track_quietly

        track_quietly(store, run_id)
    if status == "complete" and any(
        part.get(change) for part in counts.values() for change in part
    ):
        with contextlib.suppress(sqlite3.Error, OSError):  # the run stands; `nodes
            store.refresh_search_index()  # --search` refreshes the index again
    return counts


def sync(
    store: Store,
    connector: Connector,
    *,
    secret: str,
    options: SyncOptions | Mapping[str, Any] | None = None,
    account_label: str | None = None,
    progress: ProgressCallback = lambda *_: None,
    lock_wait: float = 30.0,
) -> SyncResult:
    """Collect with `connector` and record the run; only a complete run changes the graph."""
    options = _validated_options(connector, options)
    schema = registry()  # two plugins declaring one kind: refused before anything is stored
    with store.write_lock(lock_wait):
        with storage_errors(store.path):
            resolved = resolve_account(store, connector, secret, account_label, options)
            account = resolved.account
            run_id = store.start_run(
                kind="sync",
                connector=connector.name,
                scope=account.scope,
                account_label=account.label,
                plugin_versions=plugin_versions(),
                credential=resolved.credential,
            )
        collection = _collect(store, connector, run_id, account, secret, options, progress)
        status = _run_status(collection, connector, account, schema)
        counts = _finish(store, connector, run_id, status, collection, resolved, schema)
        log.info(
            "run %d (%s) %s",
            run_id,
            account.scope,
            status,
            extra={
                "event": "run_finished",
                "run": run_id,
                "status": status,
                "scope": account.scope,
                "counts": counts,
                "requests": collection.stats.get("requests"),
                "retries": collection.stats.get("retries"),
            },
        )
        return SyncResult(
            run_id=run_id,
            status=status,
            collection=collection,
            counts=counts,
            account=account,
            rotated_from=resolved.rotated_from if status == "complete" else None,
        )
