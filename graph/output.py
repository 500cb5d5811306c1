"""Printing rows for people and machines: `--format table|csv|json|ndjson`.

CSV output is spreadsheet-safe: every cell goes through `safe_cell`, so a name an API
returned that starts with `=` reads as text, never as a formula, and rows end in CRLF, so a
CR or LF inside a name is quoted and never starts a row of its own. A table shows control
and bidi characters escaped (`terminal_text`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from typing import Any

import click

from .csvinput import csv_writer, safe_cell
from .text import terminal_text

FORMATS = ("table", "csv", "json", "ndjson")


def format_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--format` (default table) and `--json`, an alias of `--format json`."""
    command = click.option(
        "--json", "as_json", is_flag=True, help="Print JSON for machines (= --format json)."
    )(command)
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people; csv (spreadsheet-safe), json or ndjson for machines.",
    )(command)


def chosen_format(output_format: str, as_json: bool) -> str:
    return "json" if as_json else output_format


def emit_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: str,
    *,
    title: str | None = None,
    document: Any = None,
) -> None:
    """Print `rows` (dicts) in `fmt`; for json, `document` (default: the rows) is printed."""
    if fmt == "json":
        click.echo(json.dumps(rows if document is None else document, indent=2, default=str))
    elif fmt == "ndjson":
        for row in rows:
            click.echo(json.dumps(row, default=str))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv_writer(buffer)
        writer.writerow([safe_cell(c) for c in columns])
        for row in rows:
            writer.writerow([safe_cell(_text(row.get(c))) for c in columns])
        click.echo(buffer.getvalue(), nl=False)
    else:
        from .console import escape, out_console, table

        shown = table(*columns, title=escape(terminal_text(title)) if title else None)
        for column in shown.columns:  # a narrow column wraps its ids, never cuts them to "…"
            column.overflow = "fold"
        for row in rows:
            shown.add_row(*(escape(terminal_text(_text(row.get(c)))) for c in columns))
        out_console.print(shown)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)
