"""`idgraph --log-format json`: one JSON object per log line (time, level, logger, event,
run, counts, ...), for log shippers. The loaded connectors' credentials, if any appears in a
message, are replaced by their fingerprints before a line is written."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from .secrets import fingerprint

FIELDS = ("run", "status", "scope", "counts", "requests", "retries")


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, fingerprint(secret))
        return text

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or "message",
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
        return self.scrub(json.dumps(line, default=str))


def connector_secrets() -> list[str]:
    """The values of the loaded connectors' credential variables in this environment."""
    from .plugins import get_connectors

    return [os.environ.get(c.secret_env, "") for c in get_connectors().values()]


def use_text_logs() -> logging.Logger:
    """Undo `use_json_logs` (in-process callers, such as tests, run several commands)."""
    logger = logging.getLogger("idgraph")
    for handler in list(logger.handlers):
        if getattr(handler, "_idgraph_json", False):
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
            logger.propagate = True
    return logger


def use_json_logs(level: int, stream: TextIO) -> None:
    """Send the `idgraph` loggers' records to `stream` as JSON lines."""
    logger = use_text_logs()
    handler = logging.StreamHandler(stream)
    handler._idgraph_json = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter(connector_secrets()))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
