"""Host services the command line and a plugin's own commands call: sync an account,
attest a file, write the review pack, record a write made through an API. Each opens the
store, does one thing, and closes it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .interfaces import ConfigError, ExporterUnavailable
from .interfaces import reads_review as exporter_reads_review
from .secrets import fingerprint
from .store import Store

if TYPE_CHECKING:
    from .interfaces import Connector, ProgressCallback, SyncOptions
    from .sync import SyncResult


def sync_account(
    db_path: Path,
    connector: Connector,
    *,
    secret: str,
    options: SyncOptions,
    account_label: str | None,
    progress: ProgressCallback,
    lock_wait: float,
) -> SyncResult:
    """Sync one account of a connector into `db_path` (see `graph/sync.py`)."""
    from .sync import sync

    store = Store(db_path)
    try:
        return sync(
            store,
            connector,
            secret=secret,
            options=options,
            account_label=account_label,
            progress=progress,
            lock_wait=lock_wait,
        )
    finally:
        store.close()


def attest_file(
    db_path: Path,
    connector_name: str,
    file: Path,
    *,
    attested_by: str,
    evidence: str | None,
    valid_days: int = 90,
    account_label: str | None = None,
    encoding: str | None = None,
) -> dict[str, Any]:
    """Import a member file for a connector's account (see `idgraph attest import`)."""
    from .attestation import import_members, resolve_label
    from .plugins import get_member_formats

    fmt = get_member_formats()[connector_name]
    store = Store(db_path, create=False)
    try:
        label = resolve_label(store, fmt, account_label)
        return import_members(
            store,
            fmt,
            file,
            label=label,
            attested_by=attested_by,
            evidence=evidence,
            valid_days=valid_days,
            encoding=encoding,
        )
    finally:
        store.close()


def write_review_pack(
    db_path: Path,
    out_dir: Path,
    *,
    formats: Sequence[str] = (),
    run_id: int | None = None,
    since: int | None = None,
    options: dict[str, Any] | None = None,
    force: bool = False,
    sign_key: Path | None = None,
    by_reviewer: bool = False,
) -> tuple[Any, list[str], list[str]]:
    """The review of a complete run written by each exporter (all by default), then the
    pack's manifest (`graph/evidence.py`), signed with `sign_key` if given. Returns the
    review, the files written, and why any exporter could not write here. Files already in
    `out_dir` are replaced only with `force` (see `graph/files.py`), and checked before any
    is written. `by_reviewer`: also one review-<reviewer>.xlsx per suggested reviewer, before
    the manifest (which lists every file of the pack)."""
    from .evidence import MANIFEST_NAME, load_signer, predicate_of, write_manifest
    from .files import check_writable, replacing, undone_on_failure
    from .plugins import get_exporters
    from .review import build_review

    exporters = get_exporters()
    names = list(formats or sorted(exporters))
    signer = load_signer(sign_key) if sign_key is not None else None
    store = Store(db_path, create=False)
    store.for_reading_whole_runs()
    try:
        for name in [*names, None] if out_dir.is_dir() else ():
            filename = exporters[name].filename if name else MANIFEST_NAME
            check_writable(out_dir / filename, force=force, database=db_path)
        context = build_review(store, run_id, since=since, options=options or {}, lazy=True)
        reads_review = {name: exporter_reads_review(exporters[name]) for name in names}
        context.work_out()  # before any exporter loads the graph: the checks read SQL
        context.evidence = predicate_of(context, signer)  # the report shows its digest
        files: dict[str, str] = {}
        extra: list[str] = []  # a file an exporter writes beside its own; --by-reviewer's
        skipped = []
        try:
            with undone_on_failure(out_dir, voucher=out_dir / MANIFEST_NAME):
                # the files that read the review first; then its rows go, before the graph
                # exports stream the whole graph
                for name in sorted(names, key=lambda n: not reads_review[n]):
                    if not reads_review[name]:
                        context.release_rows()
                    try:
                        with replacing(force):
                            files[name] = str(exporters[name].export(context, out_dir))
                        extra += _companions(exporters[name], context, out_dir)
                    except ExporterUnavailable as exc:
                        skipped.append(str(exc))
                    if context._graph is not None:  # an exporter loaded the whole graph: it goes
                        context.release_graph()  # before the next (which reads it again if it must)
                if by_reviewer:
                    from .exporters.review_xlsx import write_by_reviewer

                    extra += [str(p) for p in write_by_reviewer(context, out_dir, force=force)]
                with replacing(force):
                    manifest = str(write_manifest(context, out_dir, signer))
        except OSError as exc:
            raise ConfigError(
                f"cannot write the review pack to {out_dir}: {exc.filename or out_dir}: "
                f"{exc.strerror or exc}; choose a folder you can write (--out)"
            ) from None
        context.release_graph()  # the files are written
        context.work_out()  # the caller counts the rows and findings
    finally:
        store.close()
    written = [*(files[name] for name in names if name in files), *extra, manifest]
    return context, written, skipped


def _companions(exporter: Any, context: Any, out_dir: Path) -> list[str]:
    """The files an exporter writes beside its own (`extension_filename`; review.csv's
    access-removed.csv when there is a baseline), so the export lists every file."""
    names = [getattr(exporter, "extension_filename", None)]
    if getattr(exporter, "name", "") == "review-csv" and context.changes is not None:
        names.append("access-removed.csv")
    return [str(out_dir / name) for name in names if name and (out_dir / name).is_file()]


def record_write(
    db_path: Path,
    connector_name: str,
    *,
    secret: str,
    action: dict[str, Any],
    account_label: str | None = None,
) -> int:
    """Record a write made through an API in the run history, under the account the
    credential is known as (or the label given)."""
    store = Store(db_path)
    try:
        if account_label is None:
            credential = fingerprint(secret)
            account_label = store.account_of_credential(connector_name, credential) or credential
        return store.record_write(
            connector=connector_name, account_label=account_label, action=action
        )
    finally:
        store.close()
