"""The graph model: typed nodes and edges and their ids."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from .normalise import canonical_email

Source = Literal["api", "attested"]


_SOURCES = frozenset(("api", "attested"))


# Light records, not pydantic models: a 100,000-node account holds 400,000 of them at once
# (a pydantic instance costs about 1.7 KB); pydantic stays for API payloads and user files.
@dataclass(frozen=True, slots=True)
class Node:
    """A node: `id` is `<namespace>:<kind>:<key>` (or `person:<email>`), stable across runs."""

    id: str
    kind: str
    source: Source = "api"
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in _SOURCES:
            raise ValueError(f"node {self.id}: source must be api or attested, not {self.source!r}")


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed edge of `kind` from `src` to `dst`; `key` tells parallel edges apart."""

    src: str
    dst: str
    kind: str
    source: Source = "api"
    attrs: dict[str, Any] = field(default_factory=dict)
    discriminator: str = ""

    def __post_init__(self) -> None:
        if self.source not in _SOURCES:
            raise ValueError(f"edge {self.src}->{self.dst}: source must be api or attested")

    @property
    def key(self) -> str:
        base = f"{self.src}|{self.kind}|{self.dst}"
        return f"{base}|{self.discriminator}" if self.discriminator else base


def node_id(kind: str, key: object) -> str:
    """The id of a node of `kind` (e.g. `postmark:server`) with `key`."""
    return f"{kind}:{key}"


def person_id(email: str) -> str:
    """The join key across connectors: `person:<email>`, the email NFC and case-folded (one
    person whatever the spelling: `canonical_email`)."""
    return f"person:{canonical_email(email)}"


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def attrs_json(attrs: dict[str, Any]) -> str:
    """The canonical JSON text of a node's or edge's attributes (sorted keys, compact)."""
    if not attrs:
        return "{}"
    try:
        return orjson.dumps(attrs, default=str, option=_ORJSON_OPTIONS).decode()
    except (orjson.JSONEncodeError, TypeError):  # e.g. an integer wider than 64 bits
        return _CANONICAL.encode(attrs)


def attrs_from_json(text: str) -> dict[str, Any]:
    """The attributes back from `attrs_json` text."""
    return orjson.loads(text)


def content_hash(kind: str, source: str, attrs_text: str) -> str:
    """A digest of what a version says (attributes as `attrs_json` text)."""
    return hashlib.blake2b(
        f"{kind}\x1f{source}\x1f{attrs_text}".encode(), digest_size=16
    ).hexdigest()
