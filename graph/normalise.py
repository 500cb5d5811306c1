"""Values a person or an API spells in more than one way, brought to one form at the door.

- `fold` is the comparison key: NFC-normalised, case-folded, surrounding space trimmed and
  inner runs of space made one (` ACCOUNT  ADMIN ` and `Account Admin` fold alike).
- `canonical(value, choices)` is the declared choice a typed value means (`account owner`
  -> `Account Owner` when the member format declares `Account Owner`), or None. Whatever
  compares a stored value with declared ones (roles, access levels, yes/no cells, the
  access values that span an account) calls it, so an old database holding `account owner`
  still matches.
- `canonical_email` is how an email is stored and joined on: NFC and case-folded, so the
  NFD and NFC spellings of one address, in any case, are one person.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection

_SPACE = re.compile(r"\s+")


def nfc(text: str) -> str:
    """`text` in Unicode normal form C (composed: `e` + U+0301 becomes `é`)."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """The comparison key of `text`: NFC, case-folded, spaces trimmed and collapsed."""
    folded = _SPACE.sub(" ", text.strip())
    if folded.isascii():
        return folded.lower()
    return nfc(nfc(folded).casefold())  # case folding can leave text decomposed


def canonical(value: str, choices: Collection[str]) -> str | None:
    """The choice `value` means when compared by `fold`, or None if it means none."""
    if value in choices:  # as declared already: most cells of a filled template
        return value
    return _by_fold(tuple(choices)).get(fold(value))


@functools.lru_cache(maxsize=256)
def _by_fold(choices: tuple[str, ...]) -> dict[str, str]:
    """fold(choice) -> choice; of two choices that fold alike, the first."""
    return {fold(choice): choice for choice in reversed(choices)}


def canonical_email(email: str) -> str:
    """An email as it is stored and joined on: trimmed, NFC, case-folded."""
    return fold(email)


def lookalike_keys(name: str) -> set[str]:
    """Keys two names share when a person could take one for the other: the same once
    spaces, case and invisible format characters (bidi controls, zero-width joiners) are
    dropped and look-alike letters (Cyrillic `а`, `1` for `l`) made one, after Unicode's
    confusables (UTS #39 skeletons). Empty for a name of nothing visible."""
    visible = "".join(ch for ch in name if not ch.isspace() and unicodedata.category(ch) != "Cf")
    if not visible:
        return set()
    return {_skeleton(fold(visible)), fold(_skeleton(visible))}


def _skeleton(text: str) -> str:
    table = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(table.get(ch, ch) for ch in decomposed))


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each character of a confusable class -> the class's one representative (an ASCII
    member where there is one). confusable_homoglyphs ships Unicode's confusables.txt as
    pairs in both directions but no skeleton function, so the classes are the pairs'
    connected components (networkx's union-find); a sequence (`rn` for `m`) is left out."""
    from confusable_homoglyphs.confusables import confusables_data
    from networkx.utils import UnionFind

    classes = UnionFind()
    for char, homoglyphs in confusables_data.items():
        for homoglyph in homoglyphs:
            other = "".join(c for c in homoglyph["c"] if unicodedata.category(c) != "Cf")
            if len(char) == 1 and len(other) == 1:
                classes.union(char, other)
    table = {}
    for members in classes.to_sets():
        representative = min(members, key=lambda c: (not c.isascii(), c))
        table.update(dict.fromkeys(members, representative))
    return table
