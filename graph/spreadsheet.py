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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
    cols: list[Column] = field(init=False)

    def __post_init__(self) -> None:
        self.cols = [c if isinstance(c, Column) else Column(c) for c in self.columns]


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


EXCEL_ROWS = 1_048_576  # the last row of a worksheet


def write_workbook(path: Path, sheets: Sequence[Sheet], *, force: bool | None = None) -> Path:
    """Write the workbook by the one rule of `graph/files.py` (`force` as `safe_file`)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill, Protection
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE4EE")
    editable_fill = PatternFill("solid", fgColor="FFF7D6")
    unlocked = Protection(locked=False)
    wrap = Alignment(wrap_text=True, vertical="top")
    for sheet in sheets:
        ws = workbook.create_sheet(sheet.title)
        for index, column in enumerate(sheet.cols):
            ws.column_dimensions[_letter(index)].width = column.width
        if sheet.freeze_header:
            ws.freeze_panes = "A2"

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
        if sheet.autofilter and sheet.cols:
            ws.auto_filter.ref = f"A1:{_letter(len(sheet.cols) - 1)}{count + 1}"
        if sheet.protect:
            ws.protection.sheet = True
            # allowed on the protected sheet: filter, sort, resize, select
            ws.protection.autoFilter = False
            ws.protection.sort = False
            ws.protection.formatColumns = False
            ws.protection.formatRows = False
    with safe_file(path, force=force, binary=True) as handle:
        workbook.save(handle)
    return path
