"""Text that came from an API: one sanitiser at the transform boundary, and the escapes used
where text leaves idgraph (XML, terminals).

- `clean_text` replaces unpaired UTF-16 surrogates (`"Caf\\ud83d"`, from a JSON escape) with
  U+FFFD: such a string cannot be encoded as UTF-8, so orjson, SQLite's text and every file
  writer would fail on it. `clean_graph` applies it to every string of nodes and edges and
  names each object it changed.
- Control characters (ESC of `\\x1b[31m`, NUL, ...) and bidi controls (U+202E RIGHT-TO-LEFT
  OVERRIDE, ...) are facts and are kept in the data; `xml_text` and `terminal_text` escape
  them where they would break XML or a terminal (a bidi control would reorder what a
  terminal shows after it). In HTML, names are isolated instead (`<bdi>` in the report's
  template, `bidi_isolated` where no markup can go), so a right-to-left name shows as
  written and never reorders its neighbours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from .model import Edge, Node

# Characters XML 1.0 cannot hold at all, not even as a character reference.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# C0 and C1 controls and DEL: a terminal would act on them. Bidi controls (ALM, LRM, RLM,
# the embeddings and overrides LRE..RLO, the isolates LRI..PDI): it would reorder by them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str) -> tuple[str, bool]:
    """`value` with each unpaired surrogate replaced by U+FFFD, and whether any was."""
    if value.isascii():
        return value, False
    try:
        value.encode("utf-8")
        return value, False
    except UnicodeEncodeError:
        # UTF-16 joins a split but valid pair back into one character; a lone half stays
        # invalid and becomes U+FFFD.
        fixed = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return fixed, True


def _clean(value: Any, path: str, changed: list[str]) -> Any:
    if isinstance(value, str):
        fixed, was = clean_text(value)
        if was:
            changed.append(path)
        return fixed
    if isinstance(value, dict):
        return {
            _clean(k, f"{path}.{k}" if path else str(k), changed): _clean(
                v, f"{path}.{k}" if path else str(k), changed
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v, f"{path}[{i}]", changed) for i, v in enumerate(value)]
    return value


def clean_graph(
    nodes: Iterable[Node], edges: Iterable[Edge], warnings: list[str]
) -> tuple[list[Node], list[Edge]]:
    """Nodes and edges with every string cleaned by `clean_text`; one warning per object
    changed, naming it and its fields."""
    nodes, edges = list(nodes), list(edges)
    if _all_valid(nodes, edges):  # the usual case, checked in one C call
        return nodes, edges
    clean_nodes: list[Node] = []
    for node in nodes:
        changed: list[str] = []
        ident = _clean(node.id, "id", changed)
        attrs = _clean(node.attrs, "", changed)
        if changed:
            node = replace(node, id=ident, attrs=attrs)
            warnings.append(_warning(f"{node.kind} {ident}", changed))
        clean_nodes.append(node)
    clean_edges: list[Edge] = []
    for edge in edges:
        changed = []
        update = {
            "src": _clean(edge.src, "src", changed),
            "dst": _clean(edge.dst, "dst", changed),
            "discriminator": _clean(edge.discriminator, "discriminator", changed),
            "attrs": _clean(edge.attrs, "", changed),
        }
        if changed:
            edge = replace(edge, **update)
            warnings.append(_warning(f"{edge.kind} edge {edge.src} -> {edge.dst}", changed))
        clean_edges.append(edge)
    return clean_nodes, clean_edges


def _all_valid(nodes: list[Node], edges: list[Edge]) -> bool:
    """Whether every string is valid Unicode: orjson refuses an unpaired surrogate."""
    import orjson

    try:
        orjson.dumps(
            [
                [(n.id, n.attrs) for n in nodes],
                [(e.src, e.dst, e.discriminator, e.attrs) for e in edges],
            ],
            default=str,
            option=orjson.OPT_NON_STR_KEYS,
        )
    except (orjson.JSONEncodeError, TypeError):
        return False
    return True


def _warning(what: str, fields: list[str]) -> str:
    return (
        f"{terminal_text(what)}: invalid Unicode (an unpaired surrogate) in "
        f"{', '.join(sorted(set(fields)))} was replaced by U+FFFD"
    )


def xml_text(value: str) -> str:
    """`value` with the characters XML 1.0 cannot hold written as `\\xNN` / `\\uNNNN`."""
    return _XML_INVALID.sub(_escape, value)


def terminal_text(value: str) -> str:
    """`value` with control characters written as `\\xNN` and bidi controls as `\\uNNNN`,
    so a terminal shows, not runs, them (an ESC from the API cannot recolour or move the
    cursor, an RLO cannot reverse the rest of the line)."""
    return _CONTROL.sub(_escape, value)


_ISOLATE_OPEN = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI
_ISOLATE_CLOSE = "\u2069"  # PDI


def bidi_isolated(value: str) -> str:
    """`value` between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE, for text where no
    markup (`<bdi>`) can go: an HTML `<title>`, SVG text. Any override inside ends there:
    an isolate the value leaves open is closed first, and a stray PDI (which would close
    this isolate early) is dropped."""
    if value.isascii():
        return value
    kept, depth = [], 0
    for char in value:
        if char in _ISOLATE_OPEN:
            depth += 1
        elif char == _ISOLATE_CLOSE:
            if not depth:
                continue
            depth -= 1
        kept.append(char)
    return "\u2068" + "".join(kept) + _ISOLATE_CLOSE * (depth + 1)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
