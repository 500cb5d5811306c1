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

import re
import unicodedata
from collections.abc import Iterable

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


def canonical(value: str, choices: Iterable[str]) -> str | None:
    """The choice `value` means when compared by `fold`, or None if it means none."""
    wanted = fold(value)
    return next((choice for choice in choices if fold(choice) == wanted), None)


def canonical_email(email: str) -> str:
    """An email as it is stored and joined on: trimmed, NFC, case-folded."""
    return fold(email)
