"""The terminal consoles, made on first use: rich is some 70 modules to import, and a
`--json` run, or one that prints nothing, needs none of them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["LazyConsole", "err_console", "escape", "out_console", "table"]


class LazyConsole:
    """A rich Console, made from `options` (a function, so it is read when first used) the
    first time an attribute is asked for; `.console` is the Console itself."""

    def __init__(self, options: Callable[[], dict[str, Any]]) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options())
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def _out_options() -> dict[str, Any]:
    # Wide when piped, so tables are not cut; markup off for text that comes from the API.
    tty = sys.stdout.isatty()
    return {"highlight": False, "width": None if tty else 160, "soft_wrap": not tty}


# one line per problem on stderr
err_console = LazyConsole(lambda: {"stderr": True, "highlight": False, "soft_wrap": True})
out_console = LazyConsole(_out_options)


def escape(text: str) -> str:
    """`text` with rich markup escaped, to print as it is."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def table(*columns: str, **options: Any) -> Table:
    """A rich Table with these column headers."""
    from rich.table import Table

    return Table(*columns, **options)
