"""The `idgraph` console script: the command line, and Ctrl-C while it loads as one line
and exit 130 (`EXIT_INTERRUPTED`), not a traceback: this module imports nothing heavy."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from idgraph.graph.cli import main as command_line
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted (Ctrl-C)\n")
        sys.exit(130)
    command_line()
