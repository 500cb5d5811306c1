"""One rule for every file idgraph writes where a person points (`--out`, token files).

- never through a symbolic link, and never over a folder, device or pipe;
- never over an SQLite file (its header) or the database in use and its side files;
- never over an existing file unless the person said `--force`;
- always whole: written to a new temporary file in the same folder, flushed to disk
  (fsync), then renamed over the name, so a reader, a crash or a full disk never leaves
  half a file, and a refusal or failure changes nothing.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any

from .interfaces import ConfigError

SQLITE_HEADER = b"SQLite format 3\x00"
DATABASE_SIDE_FILES = ("", "-wal", "-shm", "-journal", ".lock")

# A command's --force, for writers that cannot be handed it (a plugin's exporter)
replace_existing: ContextVar[bool] = ContextVar("replace_existing", default=False)


class PublishedFiles:
    """The files published within `undone_on_failure`: each with whether a file was at its
    name before this call first published it there."""

    def __init__(self, voucher: Path | None) -> None:
        self.existed: dict[Path, bool] = {}
        self.voucher = voucher

    def about_to_publish(self, path: Path) -> None:
        if path in self.existed:
            return
        existed = os.path.lexists(path)
        if existed and self.voucher is not None and self.voucher not in self.existed:
            # a file the voucher lists is about to change: it must not vouch for the mix
            # should this call stop (even killed, when nothing can clean up) before its own
            self.voucher.unlink(missing_ok=True)
        self.existed[path] = existed

    def undo(self) -> None:
        """Remove the files this call created; the voucher too if any file was replaced."""
        for path, existed in self.existed.items():
            if not existed:
                with suppress(OSError):
                    path.unlink(missing_ok=True)
        if self.voucher is not None and any(self.existed.values()):
            with suppress(OSError):
                self.voucher.unlink(missing_ok=True)


_publishing: ContextVar[PublishedFiles | None] = ContextVar("publishing", default=None)


class FileRefused(ConfigError):
    """A file idgraph will not write (exit 3); nothing was written."""


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def _is_database_file(path: Path, database: Path | None) -> bool:
    if database is None:
        return False
    for suffix in DATABASE_SIDE_FILES:
        side = database.with_name(database.name + suffix)
        try:
            if side.exists() and os.path.samefile(side, path):
                return True
        except OSError:
            continue
    return False


def write_problem(path: Path, *, force: bool = False, database: Path | None = None) -> str | None:
    """Why idgraph must not write `path` (one line naming it), or None when it may."""
    if path.is_symlink():
        return f"{path}: is a symbolic link; idgraph never writes through one: name a plain file"
    parent = path.parent
    if not parent.is_dir():
        return f"{path}: the folder {parent} does not exist"
    try:
        info = path.stat()
    except FileNotFoundError:
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"{path}: the folder {parent} is not writable"
        return None
    except OSError as exc:
        return f"{path}: cannot be checked ({exc.strerror})"
    if stat.S_ISDIR(info.st_mode):
        return f"{path}: is a folder"
    if not stat.S_ISREG(info.st_mode):
        return f"{path}: is not a regular file (a device or pipe); idgraph writes only files"
    if _is_database_file(path, database) or _is_sqlite(path):
        return f"{path}: is an SQLite database; idgraph never writes over one: name another file"
    if not force:
        return f"{path}: already exists; idgraph replaces a file only with --force"
    return None


def check_writable(path: Path, *, force: bool = False, database: Path | None = None) -> None:
    """Raise `FileRefused` when `write_problem` finds a reason not to write `path`."""
    problem = write_problem(path, force=force, database=database)
    if problem:
        raise FileRefused(problem)


@contextmanager
def replacing(force: bool) -> Iterator[None]:
    """Within: writers not handed `force` (exporters, workbooks) replace files only if it
    is true."""
    token = replace_existing.set(force)
    try:
        yield
    finally:
        replace_existing.reset(token)


def _default_permissions() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _sync_folder(folder: Path) -> None:
    """Make a rename durable (best effort: some file systems cannot open a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class StagedFile:
    """A file written under a temporary name beside `path` (created 0600, then given
    `permissions` or the umask's mode), published by `publish()`; `publish(exclusive=True)`
    never replaces a file that appeared meanwhile (a hard link, which fails when the name
    exists): for secrets that exist once."""

    def __init__(self, path: Path, *, binary: bool = False, permissions: int | None = None) -> None:
        self.path = path
        descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self.temporary = Path(name)
        try:
            os.fchmod(descriptor, _default_permissions() if permissions is None else permissions)
            self.handle: IO[Any] = (
                os.fdopen(descriptor, "wb")
                if binary
                else os.fdopen(descriptor, "w", encoding="utf-8", newline="")
            )
        except BaseException:
            os.close(descriptor)
            self.temporary.unlink(missing_ok=True)
            raise

    def finish(self) -> None:
        """Flush the content to disk: after this only the rename is left."""
        if not self.handle.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()

    def publish(self, *, exclusive: bool = False) -> Path:
        self.finish()
        recording = _publishing.get()
        if exclusive:
            try:
                os.link(self.temporary, self.path)
            except FileExistsError:
                raise FileRefused(f"{self.path}: already exists; nothing was replaced") from None
            if recording is not None:
                recording.existed.setdefault(self.path, False)  # refused had a file been there
            self.temporary.unlink()
        else:
            if recording is not None:  # noted before the rename: an interrupt may come after
                recording.about_to_publish(self.path)
            os.replace(self.temporary, self.path)
        _sync_folder(self.path.parent)
        return self.path

    def discard(self) -> None:
        if not self.handle.closed:
            self.handle.close()
        self.temporary.unlink(missing_ok=True)


def stage_file(
    path: Path,
    *,
    force: bool = False,
    database: Path | None = None,
    binary: bool = False,
    permissions: int | None = None,
) -> StagedFile:
    """Check `path` by the rule above and open its temporary file (see `StagedFile`)."""
    check_writable(path, force=force, database=database)
    try:
        return StagedFile(path, binary=binary, permissions=permissions)
    except OSError as exc:
        raise FileRefused(f"{path}: cannot be written ({exc.strerror or exc})") from None


@contextmanager
def safe_file(
    path: Path,
    *,
    force: bool | None = None,
    database: Path | None = None,
    binary: bool = False,
    permissions: int | None = None,
    exclusive: bool = False,
) -> Iterator[IO[Any]]:
    """Write `path` by the rule above: check, write a temporary file, fsync, rename.
    `force` None: as `replace_existing` says."""
    force = replace_existing.get() if force is None else force
    staged = stage_file(
        path, force=force, database=database, binary=binary, permissions=permissions
    )
    try:
        yield staged.handle
        check_writable(path, force=force, database=database)  # nothing swapped in meanwhile
        staged.publish(exclusive=exclusive)
    finally:
        staged.discard()


@contextmanager
def undone_on_failure(folder: Path, *, voucher: Path | None = None) -> Iterator[PublishedFiles]:
    """Make `folder` (and its missing parents) and, within, note every file published
    (`safe_file`, `stage_file`). On any exception, Ctrl-C included: remove the files created,
    then the folders made if empty, and re-raise. A file replaced cannot be restored; the
    `voucher` (a manifest of the folder's files) is removed before the first replacement,
    and on failure if any file was replaced. Nothing else is touched."""
    published = PublishedFiles(voucher)
    token = _publishing.set(published)
    made: list[Path] = []
    try:
        made += [f for f in (folder, *folder.parents) if not os.path.lexists(f)]
        folder.mkdir(parents=True, exist_ok=True)
        yield published
    except BaseException:
        published.undo()
        for made_folder in made:  # the deepest first; one not empty stops it
            try:
                made_folder.rmdir()
            except FileNotFoundError:  # interrupted while the folders were being made
                continue
            except OSError:
                break
        raise
    finally:
        _publishing.reset(token)
