"""The `idgraph` console script: the command line, and Ctrl-C while it loads as one line
(and a JSON answer with --json) and exit 130, not a traceback: this module imports nothing
heavy, and `idgraph.graph.answers` only once interrupted."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from idgraph.graph.cli import main as command_line
    except KeyboardInterrupt:
        from idgraph.graph.answers import interrupted

        interrupted(sys.argv[1:])
    command_line()
