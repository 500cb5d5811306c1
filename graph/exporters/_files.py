"""Writing export files whole or not at all."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..review import safe_cell


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[str]]:
    """A file written via a temporary name and a rename: a reader never sees half of it."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    with atomic_file(path) as handle:
        handle.write(text)
    return path


def write_chunks(path: Path, chunks: Iterable[str]) -> Path:
    with atomic_file(path) as handle:
        handle.writelines(chunks)
    return path


def write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[object]], *, bom: bool = False
) -> Path:
    """A CSV whose every cell is neutralised against formula injection, streamed to disk.

    `bom`: start with a UTF-8 byte-order mark, for files a person opens in a spreadsheet
    (without one, Excel's double-click and LibreOffice's default import read UTF-8 as the
    Windows code page: `…` shows as `â€¦`)."""
    neutralise: Callable[[object], str] = safe_cell
    seen: dict[object, str] = {}  # review rows repeat names, evidence and paths many times

    def cell(value: object) -> str:
        text = seen.get(value) if isinstance(value, str) else None
        if text is None:
            text = neutralise(value)
            if isinstance(value, str) and len(seen) < 200_000:
                seen[value] = text
        return text

    with atomic_file(path) as handle:
        if bom:
            handle.write("\ufeff")
        writer = csv.writer(handle, lineterminator="\r\n")  # RFC 4180; quotes a CR in a cell
        writer.writerow([neutralise(h) for h in header])
        writer.writerows([cell(value) for value in row] for row in rows)
    return path
