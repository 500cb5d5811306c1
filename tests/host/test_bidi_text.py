"""Names with bidi controls (graph/text.py): escaped for a terminal, isolated for a page, so
a right-to-left override never reorders the text around it (tests/postmark/test_bidi.py:
the same through the commands and report.html)."""

from __future__ import annotations

from idgraph.graph.text import bidi_isolated, terminal_text

RLO, RLI, PDI, FSI = "\u202e", "\u2067", "\u2069", "\u2068"
EVIL = f"Billing {RLO}lanretni"  # shows as "Billing internal" on a bidi terminal
HEBREW = "שרת ראשי"  # a right-to-left name, legitimately


def test_terminal_text_escapes_bidi_controls():
    assert terminal_text(EVIL) == "Billing \\u202elanretni"
    assert terminal_text(f"{RLI}x{PDI}\u200f") == "\\u2067x\\u2069\\u200f"
    assert terminal_text(HEBREW) == HEBREW  # right-to-left letters are text, not controls
    assert bidi_isolated("plain") == "plain"
    assert bidi_isolated(EVIL) == f"{FSI}{EVIL}{PDI}"
    # an isolate left open is closed, a stray PDI dropped: the override ends where it should
    assert bidi_isolated(f"{RLI}{HEBREW}") == f"{FSI}{RLI}{HEBREW}{PDI}{PDI}"
    assert bidi_isolated(f"x{PDI}{RLO}y") == f"{FSI}x{RLO}y{PDI}"
    assert outside_isolates(f"a {bidi_isolated(f'{PDI}{RLO}b')} c") == "a  c"


def outside_isolates(text: str) -> str:
    """What of `text` is outside every isolate (LRI, RLI or FSI ... its PDI)."""
    outside, depth = [], 0
    for char in text:
        if char in "\u2066\u2067\u2068":
            depth += 1
        elif char == PDI and depth:
            depth -= 1
        elif not depth:
            outside.append(char)
    return "".join(outside)
