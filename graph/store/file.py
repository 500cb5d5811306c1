"""The database file: checked before SQLite touches it, opened (WAL, owner-only, migrated),
locked for a run, and every error on it as one line naming the file (`StoreError`)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..interfaces import ConfigError
from .upgrade import (
    IDGRAPH_TABLES,
    MIGRATIONS_TABLE,
    SCHEMA_VERSION,
    migrate,
    schema_version,
    set_schema_version,
    table_names,
)

SQLITE_HEADER = b"SQLite format 3\x00"


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


def check_file(path: Path, create: bool) -> None:
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


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a newer schema, and a foreign SQLite file (never add idgraph's tables to it)."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was made by a newer idgraph (schema {version}; this one knows up to "
            f"{SCHEMA_VERSION}): upgrade idgraph to read it"
        )
    # `_sqlite_migrations` alone is a file another idgraph process is creating right now.
    tables = table_names(conn) - {MIGRATIONS_TABLE}
    if tables and not tables & set(IDGRAPH_TABLES):
        raise StoreError(
            f"{path} is an SQLite database of something else (tables: "
            f"{', '.join(sorted(tables)[:5])}), not an idgraph database: nothing was changed; "
            "point --db at an idgraph database or a new file"
        )


class StoreBusy(Exception):
    """Another idgraph process holds the database file's write lock past the wait bound."""


def create_private(path: Path) -> None:
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
def atomic(conn: sqlite3.Connection) -> Iterator[None]:
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


def open_connection(path: Path) -> sqlite3.Connection:
    """A connection to the idgraph database at `path`, its schema up to date."""
    conn: sqlite3.Connection | None = None
    try:
        create_private(path)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA recursive_triggers = on")  # as sqlite-utils sets it
        conn.execute("PRAGMA busy_timeout = 30000")
        _check_schema(conn, path)
        _enable_wal(conn)
        # WAL with synchronous=NORMAL is crash-safe for the database (a power cut may lose
        # the last transaction, never corrupt); a larger page cache keeps index inserts
        # fast.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -65536")
        if schema_version(conn) == SCHEMA_VERSION:
            return conn  # up to date: no write, so another writer does not hold us up
        # Two processes opening a new file at once would both create the schema: take the
        # write lock first (BEGIN IMMEDIATE waits busy_timeout), then look what is missing.
        conn.execute("BEGIN IMMEDIATE")
        try:
            migrate(conn)
            set_schema_version(conn)
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")
        return conn
    except BaseException:
        if conn is not None:
            conn.close()
        raise


@contextmanager
def file_lock(path: Path, wait: float) -> Iterator[None]:
    """Hold `<db>.lock` (flock); a second holder waits up to `wait` seconds (`StoreBusy`)."""
    lock_path = path.with_name(path.name + ".lock")
    if lock_path.is_dir():
        raise StoreError(
            f"{lock_path} is a folder, but idgraph needs it as its lock file: remove it"
        )
    with storage_errors(lock_path):
        create_private(lock_path)
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
                        f"{path} is in use by another idgraph run (waited {wait:g} s "
                        "for its lock); try again when it has finished"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        handle.close()
