"""Writing .xlsx workbooks a person fills in (openpyxl, streamed).

`write_workbook(path, [Sheet(...), ...])` writes every cell as text (typed `s`, number
format `@`, so nothing a person types or a value like `9705615772979639` turns into a
number or a date), neutralised with `safe_cell` like every CSV cell, with a frozen header
and an autofilter. A sheet can offer drop-down lists (data validation) per column and lock
columns: with `protect=True` the sheet is protected (no password: it guards against slips,
not people) and only the columns marked `locked=False` can be edited; filtering, sorting and
resizing columns stay allowed.

The review workbook (`graph/exporters/review_xlsx.py`) uses it; so can a member template.
"""

from __future__ import annotations

import contextlib
import shutil
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from .files import safe_file
from .review import safe_cell
from .text import xml_text


@dataclass(frozen=True)
class Column:
    """One column: its header, width, whether a protected sheet locks it, and the values
    its drop-down offers (empty: free text)."""

    name: str
    width: float = 16
    locked: bool = True
    choices: Sequence[str] = ()
    prompt: str = ""  # shown when a cell of the column is selected


@dataclass
class Sheet:
    title: str
    columns: Sequence[Column | str]
    rows: Iterable[Sequence[object]]
    protect: bool = False
    freeze_header: bool = True
    autofilter: bool = True
    wrap: bool = False  # wrap long text (instructions)
    frozen_columns: int = 0  # columns kept in view beside the frozen header (who)
    cols: list[Column] = field(init=False)

    def __post_init__(self) -> None:
        self.cols = [c if isinstance(c, Column) else Column(c) for c in self.columns]


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


EXCEL_ROWS = 1_048_576  # the last row of a worksheet


class _DatedZip(zipfile.ZipFile):
    """A zip whose every member carries one date (and mode): the same workbook written
    twice is the same bytes (zipfile stamps each member with the time of writing)."""

    def __init__(self, file: IO[bytes], when: datetime) -> None:
        super().__init__(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self.when = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, 0)

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.when)
        info.compress_type = self.compression
        info.external_attr = 0o600 << 16
        return info

    def writestr(self, zinfo_or_arcname: Any, data: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = self._info(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, *args, **kwargs)

    def write(self, filename: Any, arcname: Any = None, *args: Any, **kwargs: Any) -> None:
        """A write-only sheet's temporary file, streamed in under the fixed date."""
        with open(filename, "rb") as source, self.open(self._info(arcname), "w") as target:
            shutil.copyfileobj(source, target, 1 << 20)


def _layout(ws: Any, sheet: Sheet) -> None:
    """Column widths, the frozen header (and columns), and how the sheet prints."""
    for index, column in enumerate(sheet.cols):
        ws.column_dimensions[_letter(index)].width = column.width
    if sheet.freeze_header:
        ws.freeze_panes = f"{_letter(sheet.frozen_columns)}2"
    _print_setup(ws, sheet)


def _protect(ws: Any) -> None:
    ws.protection.sheet = True
    # allowed on the protected sheet: filter, sort, resize, select
    ws.protection.autoFilter = False
    ws.protection.sort = False
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


def _print_setup(ws: Any, sheet: Sheet) -> None:
    """Landscape, one page wide (as many long), the header row on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if sheet.freeze_header:
        ws.print_title_rows = "1:1"


def _save(workbook: Any, handle: IO[bytes], when: datetime | None) -> None:
    if when is None:
        workbook.save(handle)
        return
    from openpyxl.writer.excel import ExcelWriter

    # as openpyxl's save, but the document's times are the given one, not the clock's
    when = when.replace(tzinfo=None, microsecond=0)
    workbook.properties.created = workbook.properties.modified = when
    archive = _DatedZip(handle, when)
    try:
        ExcelWriter(workbook, archive).save()
    except BaseException:
        # an interrupted save leaves the zip open: closed now, into the staged file that is
        # then discarded, not by the garbage collector at exit, which reports it on stderr
        with contextlib.suppress(Exception):
            archive.close()
        raise


def write_workbook(
    path: Path,
    sheets: Sequence[Sheet],
    *,
    force: bool | None = None,
    when: datetime | None = None,
) -> Path:
    """Write the workbook by the one rule of `graph/files.py` (`force` as `safe_file`).
    `when` (UTC): the time the workbook records (its properties, its zip members), so that
    it is the same bytes each time; default: now."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill, Protection

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE4EE")
    editable_fill = PatternFill("solid", fgColor="FFF7D6")
    unlocked = Protection(locked=False)
    wrap = Alignment(wrap_text=True, vertical="top")
    with _closed_on_failure(workbook):
        for sheet in sheets:
            ws = workbook.create_sheet(sheet.title)
            _layout(ws, sheet)

            def style(column: Column, header: bool, ws=ws, sheet=sheet) -> object:
                """A column's cell style, worked out once: setting a style per cell costs
                openpyxl a lookup in its style tables for every attribute."""
                item = WriteOnlyCell(ws)
                item.number_format = "@"
                if header:
                    item.font, item.fill = bold, fill
                elif not column.locked:
                    item.protection, item.fill = unlocked, editable_fill
                if sheet.wrap:
                    item.alignment = wrap
                return item._style

            def cell(value: object, style: object, ws=ws) -> WriteOnlyCell:
                text = xml_text(safe_cell(value))  # a worksheet is XML: no control characters
                item = WriteOnlyCell(ws, value=text)
                item.data_type = "s"
                item._style = style  # shared, never changed: each row is written as it is added
                return item

            ws.append([cell(c.name, style(c, header=True)) for c in sheet.cols])
            styles = [style(c, header=False) for c in sheet.cols]
            count = 0
            for row in sheet.rows:
                ws.append([cell(value, s) for value, s in zip(row, styles, strict=True)])
                count += 1
            _add_validations(ws, sheet, count)
            if sheet.autofilter and sheet.cols:
                ws.auto_filter.ref = f"A1:{_letter(len(sheet.cols) - 1)}{count + 1}"
            if sheet.protect:
                _protect(ws)
        with safe_file(path, force=force, binary=True) as handle:
            _save(workbook, handle, when)
    return path


@contextmanager
def _closed_on_failure(workbook: Any) -> Iterator[None]:
    """On any exception, Ctrl-C included, close the write-only sheets (each holds a file
    and a row writer) now, not in the garbage collector at exit, which reports them."""
    try:
        yield
    except BaseException:
        for sheet in workbook.worksheets:
            with contextlib.suppress(Exception):
                sheet.close()
        raise


def _add_validations(ws: Any, sheet: Sheet, count: int) -> None:
    """A sheet's drop-downs and input prompts, one data validation a column that has them;
    `count`: the rows written under the header."""
    from openpyxl.worksheet.datavalidation import DataValidation

    # an open sheet (a member template) gets rows a person adds: its drop-downs cover
    # the whole column; a protected one (the review) only the rows it holds
    last = max(count + 1, 2) if sheet.protect else EXCEL_ROWS
    for index, column in enumerate(sheet.cols):
        if not column.choices and not column.prompt:
            continue
        letter = _letter(index)
        if column.choices:
            validation = DataValidation(
                type="list",
                formula1='"' + ",".join(column.choices) + '"',
                allow_blank=True,
                showErrorMessage=True,
                errorTitle=f"{column.name}: not a choice",
                error=f"Choose one of: {', '.join(column.choices)} (or leave it empty).",
            )
        else:
            validation = DataValidation(allow_blank=True)
        if column.prompt:
            validation.showInputMessage = True
            validation.promptTitle = column.name
            validation.prompt = column.prompt
        validation.add(f"{letter}2:{letter}{last}")
        ws.data_validations.append(validation)
