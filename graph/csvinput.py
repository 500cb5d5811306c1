"""Reading a file a person filled in, as any spreadsheet saves it: one reader for member files
and review decisions, every problem named by file, row and column.

`read_rows(path)` accepts what Excel, LibreOffice Calc and Google Sheets write:

- `.xlsx` (read with openpyxl; every cell as text: numbers and dates that came back typed
  are turned back into the text they were typed as);
- CSV in UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8" adds one), CRLF, LF
  or CR line ends, `,` `;` or tab as the delimiter (detected from the header; an ambiguous
  file is refused naming the candidates);
- another encoding only when named (`encoding="cp1252"`); otherwise refused with the
  encoding it looks like and the "Save as" choice that fixes it.

Every cell is trimmed of surrounding spaces and empty trailing columns are dropped, so each
check (the formula check included) sees what a spreadsheet would act on.

Every file is read within limits (docs/reliability.md): its size (`MAX_INPUT_BYTES`), a
workbook's size once unzipped (`MAX_XLSX_UNZIPPED_BYTES`, checked from the zip's own
index before a cell is parsed), its rows (`MAX_INPUT_ROWS`) and each cell's length
(`MAX_CELL_CHARS`). The first three can be raised through the environment
(`IDGRAPH_MAX_INPUT_BYTES`, `IDGRAPH_MAX_XLSX_UNZIPPED_BYTES`, `IDGRAPH_MAX_INPUT_ROWS`)
for an account whose review really is larger.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

# the local part may hold any letter (an internationalised address, RFC 6531)
EMAIL = re.compile(r"^[\w.%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
SAVE_AS_UTF8 = (
    'save it again as "CSV UTF-8 (Comma delimited)" in Excel, or as '
    '"Text CSV, Character set: Unicode (UTF-8)" in LibreOffice'
)
_BOM = b"\xef\xbb\xbf"

MAX_INPUT_BYTES = 32 * 1024 * 1024  # a member or decisions file as stored
MAX_XLSX_UNZIPPED_BYTES = 128 * 1024 * 1024  # a workbook's parts once unzipped
MAX_INPUT_ROWS = 200_000  # a review of the largest benchmark account has some 20,000 rows
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
MAX_PROBLEMS_SHOWN = 50  # a refused file lists this many problems, then how many more
MAX_PROBLEMS_KEPT = 10_000  # a file this wrong is read no further (memory stays bounded)
_XLSX_SUFFIXES = (".xlsx", ".xlsm")


class InputInvalid(Exception):
    """A file a person filled in has problems; each names the file, row and column."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_rows(
    path: Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    error: type[InputInvalid] = InputInvalid,
) -> list[list[str]]:
    """The rows of a CSV or .xlsx file (header first), every cell trimmed text.

    `encoding`: a CSV's encoding when it is not UTF-8 (e.g. `cp1252`); `sheet`: the
    worksheet to read from a workbook if it has one of that name (else the first). Empty
    trailing columns are dropped; blank rows are kept (so row numbers match the file's).
    Raises `error` (an InputInvalid) listing the problem.
    """
    try:
        rows = _read(path, encoding, sheet)
    except InputInvalid as exc:
        raise error(exc.problems) from None
    if rows and rows[0] and rows[0][0].startswith(MOJIBAKE_BOM):
        raise error(
            [
                f"{path}: row 1: the file begins with {MOJIBAKE_BOM!r}: a UTF-8 file was opened "
                "as Western (cp1252 / Latin-1) text and saved, so accents are garbled too; "
                "open the file idgraph wrote again with character set Unicode (UTF-8) "
                "(LibreOffice: Text Import > Character set), or use review.xlsx"
            ]
        )
    return rows


MOJIBAKE_BOM = "\u00ef\u00bb\u00bf"  # a UTF-8 byte-order mark read as cp1252: "ï»¿"


def read_csv_rows(
    path: Path,
    *,
    allow_bom: bool = True,
    error: type[InputInvalid] = InputInvalid,
    encoding: str | None = None,
) -> list[list[str]]:
    """`read_rows` under its older name. A BOM is accepted whatever `allow_bom` says
    (Excel's "CSV UTF-8" writes one); the argument stays so callers keep working."""
    del allow_bom
    return read_rows(path, encoding=encoding, error=error)


def input_limit(name: str, default: int) -> int:
    """A limit, or the whole number `IDGRAPH_<name>` in the environment gives instead."""
    variable = f"IDGRAPH_{name}"
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise InputInvalid([f"{variable}={raw!r}: give a whole number of at least 1"])
    return int(raw)


def read_capped(path: Path, limit: int, limit_name: str) -> bytes:
    """The bytes of `path`, refused past `limit` (read no further, so `/dev/zero` or a file
    that grows ends at once)."""
    name = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputInvalid([f"{name}: cannot be read ({exc.strerror})"]) from None
    if len(data) > limit:
        raise InputInvalid(
            [f"{name}: larger than {limit:,} bytes, the most idgraph reads ({limit_name})"]
        )
    return data


def _read(path: Path, encoding: str | None, sheet: str | None) -> list[list[str]]:
    name = str(path)
    limit = input_limit("MAX_INPUT_BYTES", MAX_INPUT_BYTES)
    data = read_capped(path, limit, "IDGRAPH_MAX_INPUT_BYTES")
    if path.suffix.lower() in _XLSX_SUFFIXES or data[:4] == b"PK\x03\x04":
        raw_rows = _xlsx_rows(name, data, sheet)
    else:
        raw_rows = _csv_rows(name, data, encoding)
    rows = _tidy(_bounded(name, raw_rows))
    if not rows or not any(cell for row in rows for cell in row):
        raise InputInvalid([f"{name}: the file is empty"])
    return rows


# -- CSV -------------------------------------------------------------------------------------


def _csv_rows(name: str, data: bytes, encoding: str | None) -> Iterable[list[str]]:
    if not data.strip():
        raise InputInvalid([f"{name}: the file is empty"])
    text = _decode(name, data, encoding)
    if "\x00" in text:
        raise InputInvalid([f"{name}: the file holds NUL bytes: it is not a CSV file"])
    delimiter = _delimiter(name, text)
    try:
        yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    except csv.Error as exc:
        raise InputInvalid([f"{name}: not a readable CSV file ({exc})"]) from None


def _decode(name: str, data: bytes, encoding: str | None) -> str:
    if data.startswith(_BOM):
        data, encoding = data[len(_BOM) :], "utf-8"  # a UTF-8 byte-order mark settles it
    if encoding:
        try:
            return data.decode(encoding)
        except LookupError:
            raise InputInvalid([f"{name}: {encoding!r} is not an encoding Python knows"]) from None
        except UnicodeDecodeError as exc:
            row = data[: exc.start].count(b"\n") + 1
            raise InputInvalid(
                [f"{name}: row {row}: byte {exc.start} cannot be read as {encoding}"]
            ) from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputInvalid(
            [
                f"{name}: row 1: byte 0 is not UTF-8: the file is UTF-16 (Excel's "
                f"'Unicode Text'); {SAVE_AS_UTF8}"
            ]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        looks = _looks_like(data)
        raise InputInvalid(
            [
                f"{name}: row {row}: byte {exc.start} is not UTF-8 (0x{data[exc.start]:02x}); "
                f"the file looks like {looks} (Excel's plain 'CSV' on Windows writes that): "
                f"{SAVE_AS_UTF8}, or name the encoding it has (--encoding {looks})"
            ]
        ) from None


def _looks_like(data: bytes) -> str:
    """The 8-bit code page a non-UTF-8 file most likely has."""
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def _delimiter(name: str, text: str) -> str:
    """The delimiter the header uses; if several split it, the one every row agrees with."""
    first = text.lstrip("\r\n")
    candidates = {}
    for delimiter in DELIMITERS:
        try:
            header = next(csv.reader(io.StringIO(first, newline=""), delimiter=delimiter), [])
        except csv.Error:
            continue
        width = len(_trim_trailing([cell.strip() for cell in header]))
        if width > 1:
            candidates[delimiter] = width
    if len(candidates) <= 1:
        return next(iter(candidates), ",")
    scores = {}
    for delimiter, width in candidates.items():
        try:
            rows = list(csv.reader(io.StringIO(first, newline=""), delimiter=delimiter))
        except csv.Error:
            continue
        scores[delimiter] = sum(
            1 for row in rows[1:] if len(_trim_trailing([c.strip() for c in row])) == width
        )
    best = max(scores.values(), default=0)
    winners = [d for d, score in scores.items() if score == best]
    if len(winners) == 1:
        return winners[0]
    names = " and ".join(f"{DELIMITERS[d]} ({d!r})" for d in sorted(winners))
    raise InputInvalid(
        [
            f"{name}: row 1: the columns could be separated by {names}: cannot tell which; "
            "save the file with one delimiter (comma)"
        ]
    )


# -- xlsx ------------------------------------------------------------------------------------


def _xlsx_rows(name: str, data: bytes, sheet: str | None) -> Iterable[list[str]]:
    try:
        from openpyxl import load_workbook
    except ImportError:  # pragma: no cover - openpyxl is a dependency
        raise InputInvalid([f"{name}: reading .xlsx needs openpyxl"]) from None
    _check_unzipped_size(name, data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException, XML errors
        raise InputInvalid([f"{name}: not a readable .xlsx workbook ({exc})"]) from None
    try:
        names = workbook.sheetnames
        if not names:
            raise InputInvalid([f"{name}: the workbook has no sheet"])
        worksheet = workbook[sheet if sheet in names else names[0]]
        for row in worksheet.iter_rows(values_only=True):
            yield [cell_text(value) for value in row]
    finally:
        workbook.close()


def _check_unzipped_size(name: str, data: bytes) -> None:
    """Refuse a workbook whose parts unzip to more than the limit, from the zip's index,
    before openpyxl parses a cell (an 1.8 MB file can hold a 400 MB cell). zipfile stops
    each part at its indexed size, so the index cannot understate what is read."""
    limit = input_limit("MAX_XLSX_UNZIPPED_BYTES", MAX_XLSX_UNZIPPED_BYTES)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InputInvalid([f"{name}: not a readable .xlsx workbook ({exc})"]) from None
    if unzipped > limit:
        raise InputInvalid(
            [
                f"{name}: the workbook unzips to {unzipped:,} bytes, more than the "
                f"{limit:,} idgraph reads (IDGRAPH_MAX_XLSX_UNZIPPED_BYTES)"
            ]
        )


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text it was typed as.

    A number a spreadsheet converted is given back without a float's artefacts (`1.0` ->
    `1`; integral values up to 2**53 exactly); a date without a time as `YYYY-MM-DD`;
    a formula as its source (`=...`), so the formula check refuses it.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) <= 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


# -- shared ----------------------------------------------------------------------------------


def _bounded(name: str, rows: Iterable[list[str]]) -> list[list[str]]:
    """The rows, refused at the first past `MAX_INPUT_ROWS` or the first cell longer than
    `MAX_CELL_CHARS` (named by row and column)."""
    max_rows = input_limit("MAX_INPUT_ROWS", MAX_INPUT_ROWS)
    kept = []
    for number, row in enumerate(rows, start=1):
        if number > max_rows:
            raise InputInvalid(
                [
                    f"{name}: more than {max_rows:,} rows, the most idgraph reads "
                    "(IDGRAPH_MAX_INPUT_ROWS)"
                ]
            )
        for column, cell in enumerate(row, start=1):
            if len(cell) > MAX_CELL_CHARS:
                raise InputInvalid(
                    [
                        f"{name}: row {number}: column {column}: {len(cell):,} characters, "
                        f"more than a spreadsheet cell holds ({MAX_CELL_CHARS:,})"
                    ]
                )
        kept.append(row)
    return kept


def shown_problems(problems: list[str]) -> list[str]:
    """The first `MAX_PROBLEMS_SHOWN` problems, then one line saying how many more."""
    more = len(problems) - MAX_PROBLEMS_SHOWN
    if more <= 0:
        return problems
    return problems[:MAX_PROBLEMS_SHOWN] + [f"... and {more:,} more problem(s) not shown"]


def _trim_trailing(cells: list[str]) -> list[str]:
    end = len(cells)
    while end and cells[end - 1] == "":
        end -= 1
    return cells[:end]


def _tidy(rows: Sequence[Sequence[str]]) -> list[list[str]]:
    """Cells trimmed; columns past the header's last named one dropped where empty; trailing
    blank rows dropped."""
    rows = [[cell.strip() for cell in row] for row in rows]
    while rows and not any(rows[-1]):
        rows.pop()
    if not rows:
        return []
    width = len(_trim_trailing(rows[0]))
    tidy = []
    for row in rows:
        end = len(row)
        while end > width and row[end - 1] == "":
            end -= 1
        tidy.append(row[:end])
    return tidy


def formula_problems(
    where: str, row: dict[str, str], columns: list[str] | None = None
) -> list[str]:
    """A problem for each cell that a spreadsheet would run as a formula (leading spaces
    count for nothing: ` =HYPERLINK(...)` is a formula once trimmed)."""
    problems = []
    for column in columns or list(row):
        value = row[column].lstrip(" ")
        if value.startswith(FORMULA_START):
            problems.append(
                f"{where}: column {column!r}: starts with {value[0]!r}, which a "
                "spreadsheet runs as a formula; remove it"
            )
    return problems


_FORMULA_FIRST = frozenset(FORMULA_START)
RISKY_FIRST = _FORMULA_FIRST | {" "}  # a cell starting otherwise is safe as it is


def csv_writer(handle: Any) -> Any:
    """The one CSV writer of every file and listing idgraph writes: RFC 4180 line ends
    (CRLF), so a CR or LF inside a cell is quoted and never starts a row of its own (with
    LF line ends Python's writer leaves a bare CR unquoted)."""
    return csv.writer(handle, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet never evaluates: a leading = + - @ tab or CR (after any
    spaces) gets a `'`."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if not text or text[0] not in RISKY_FIRST:  # almost every cell: one set lookup
        return text
    return "'" + text if text.lstrip(" ")[:1] in _FORMULA_FIRST else text
