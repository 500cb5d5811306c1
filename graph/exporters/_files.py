"""Writing export files whole or not at all."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from ..csvinput import RISKY_FIRST, csv_writer, safe_cell
from ..files import safe_file

# A cell after the first starting with a character `safe_cell` looks at, in a row's cells
# joined by NUL (a NUL inside a cell can only make a row go by cell for nothing, never skip
# one). The pattern starts with a literal: the regex engine skips ahead to each NUL.
_CELL_SEPARATOR = "\x00"
_RISKY_START = re.compile(
    f"{_CELL_SEPARATOR}[{''.join(re.escape(c) for c in sorted(RISKY_FIRST))}]"
)


@contextmanager
def atomic_file(path: Path) -> Iterator[IO[str]]:
    """An export file, by the one rule of `graph/files.py`: never through a link or over a
    database, over an existing file only with --force, whole or not at all."""
    with safe_file(path) as handle:
        yield handle


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
    risky_start = _RISKY_START.search

    def cells(row: Sequence[object]) -> Sequence[object]:
        # almost every row is text whose every cell starts safely: one C-level join and
        # search tells; only a row of another type or with a cell to neutralise goes by cell
        try:
            joined = _CELL_SEPARATOR.join(row)  # type: ignore[arg-type]
        except TypeError:  # a cell that is no str
            joined = "="
        if (not joined or joined[0] not in risky) and risky_start(joined) is None:
            return row
        return [
            v if v.__class__ is str and (not v or v[0] not in risky) else neutralise(v) for v in row
        ]

    with atomic_file(path) as handle:
        if bom:
            handle.write("\ufeff")
        writer = csv_writer(handle)
        writer.writerow([neutralise(h) for h in header])
        writer.writerows(map(cells, rows))
    return path


def json_text(value: Any) -> str:
    """Compact JSON (orjson; Python's json for what orjson refuses)."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):  # e.g. an integer wider than 64 bits
        return json.dumps(value, default=str)


def json_items(items: Iterable[Any], size: int = 5000) -> Iterator[str]:
    """JSON texts of items, comma-separated, a chunk of `size` at a time."""
    batch: list[Any] = []
    first = True
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield ("" if first else ",") + json_text(batch)[1:-1]
            first, batch = False, []
    if batch:
        yield ("" if first else ",") + json_text(batch)[1:-1]
