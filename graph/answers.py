"""How a command that ends in an error answers a machine: exit codes shared with the
console script, and the JSON answer of `--json`. Light (json and sys alone): the console
script imports it when Ctrl-C interrupts its start-up."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports it
INTERRUPTED_MESSAGE = "interrupted (Ctrl-C)"


def asks_json(args: Sequence[str]) -> str | None:
    """The machine format the command line asks for, `json` (`--json`, `--format json`) or
    `ndjson`, else None: read from the arguments, since a usage error ends the command
    before its options are parsed."""
    for at, arg in enumerate(args):
        if arg == "--json":
            return "json"
        value = arg.partition("=")[2] if arg.startswith("--format=") else None
        if arg == "--format" and at + 1 < len(args):
            value = args[at + 1]
        if value in ("json", "ndjson"):
            return value
    return None


def answer_error(
    argv: Sequence[str], exit_code: int, message: str, details: Mapping[str, Any] | None = None
) -> None:
    """The JSON answer of an error on stdout, when the command line asks for JSON."""
    fmt = asks_json(argv)
    if fmt is None:
        return
    answer = {"status": "error", "exit_code": exit_code, "error": message, **(details or {})}
    sys.stdout.write(json.dumps(answer, indent=2 if fmt == "json" else None) + "\n")
    sys.stdout.flush()


def interrupted(argv: Sequence[str]) -> NoReturn:
    """Ctrl-C: the JSON answer if asked for, one line on stderr, exit 130."""
    answer_error(argv, EXIT_INTERRUPTED, INTERRUPTED_MESSAGE)
    sys.stderr.write(f"Error: {INTERRUPTED_MESSAGE}\n")
    sys.exit(EXIT_INTERRUPTED)
