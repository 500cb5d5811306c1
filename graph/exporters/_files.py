"""Writing export files whole or not at all."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..csvinput import RISKY_FIRST, safe_cell


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
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    bom: bool = False,
) -> Path:
    """A CSV whose every cell is neutralised against formula injection, streamed to disk.

    `bom`: start with a UTF-8 byte-order mark, for files a person opens in a spreadsheet
    (without one, Excel's double-click and LibreOffice's default import read UTF-8 as the
    Windows code page: `…` shows as `â€¦`)."""
    neutralise: Callable[[object], str] = safe_cell
    risky = RISKY_FIRST

    def cells(row: Sequence[object]) -> list[object]:
        # most cells are plain text that starts safely: test them inline, neutralise the rest
        return [
            v if v.__class__ is str and (not v or v[0] not in risky) else neutralise(v) for v in row
        ]

    with atomic_file(path) as handle:
        if bom:
            handle.write("\ufeff")
        writer = csv.writer(handle, lineterminator="\r\n")  # RFC 4180; quotes a CR in a cell
        writer.writerow([neutralise(h) for h in header])
        writer.writerows(map(cells, rows))
    return path
