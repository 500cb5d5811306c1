"""Reading a CSV file a person filled in: every problem named by file, row and column."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class InputInvalid(Exception):
    """A file a person filled in has problems; each names the file, row and column."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_csv_rows(
    path: Path,
    *,
    allow_bom: bool,
    error: type[InputInvalid] = InputInvalid,
    encoding: str | None = None,
) -> list[list[str]]:
    """The rows of a comma-separated UTF-8 file (header first); raises `error` if unreadable."""
    try:
        if encoding is not None:
            text = path.read_bytes().decode(encoding)
            return list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
        return _read_rows(path, allow_bom)
    except InputInvalid as exc:
        raise error(exc.problems) from None


def _read_rows(path: Path, allow_bom: bool) -> list[list[str]]:
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputInvalid([f"{name}: cannot be read ({exc.strerror})"]) from None
    if not data.strip():
        raise InputInvalid([f"{name}: the file is empty"])
    if data.startswith(b"\xef\xbb\xbf"):
        if not allow_bom:
            raise InputInvalid(
                [
                    f"{name}: row 1: the file starts with a UTF-8 byte-order mark "
                    "(Excel's 'CSV UTF-8'); save it as plain UTF-8 CSV without a BOM"
                ]
            )
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise InputInvalid(
            [
                f"{name}: row {row}: byte {exc.start} is not UTF-8 "
                f"(0x{data[exc.start]:02x}); save the file as UTF-8"
            ]
        ) from None
    if "\x00" in text:
        raise InputInvalid([f"{name}: the file holds NUL bytes: it is not a CSV file"])
    header_line = text.splitlines()[0]
    if "," not in header_line and any(sep in header_line for sep in ";\t|"):
        sep = next(s for s in ";\t|" if s in header_line)
        raise InputInvalid(
            [
                f"{name}: row 1: columns are separated by {sep!r}, not commas; "
                "save as comma-separated CSV"
            ]
        )
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InputInvalid([f"{name}: not a readable CSV file ({exc})"]) from None


def formula_problems(
    where: str, row: dict[str, str], columns: list[str] | None = None
) -> list[str]:
    """A problem for each cell that a spreadsheet would run as a formula."""
    return [
        f"{where}: column {column!r}: starts with {row[column][0]!r}, which a spreadsheet runs "
        "as a formula; remove it"
        for column in (columns or list(row))
        if row[column].lstrip(" ").startswith(FORMULA_START)
    ]


_FORMULA_FIRST = frozenset(FORMULA_START)


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet never evaluates: a leading = + - @ tab or CR (after any
    spaces) gets a `'`."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    return "'" + text if text.lstrip(" ")[:1] in _FORMULA_FIRST else text
