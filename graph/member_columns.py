"""A member file's resource columns: named by id and name, read back by id.

A template column is `<prefix><id> <name>` (`server:11001 Acme Production`): the id binds
it, the name is for the person reading. Two resources of one name, or of names that differ
only in spaces, case, bidi controls or look-alike letters, get their own columns. A column
the template did not write is read back by its id (the name after it may have changed),
or, for a template of an older version (`server:Acme Production`), by a name that only one
resource has; otherwise the import names the column and the resources it could mean.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from .normalise import fold
from .text import terminal_text


def resource_label(key: str, name: str) -> str:
    """`11001 Acme Production`: a resource's id, and its name as one line with every
    control and bidi character shown escaped (a header cell never reorders or breaks)."""
    shown = " ".join(terminal_text(name).split())
    return f"{key} {shown}" if shown else key


def template_columns(prefix: str, resources: Mapping[str, str]) -> dict[str, str]:
    """Column -> resource key for every resource (key -> name), ordered by name, then id."""
    ordered = sorted(resources.items(), key=lambda item: (fold(item[1]), item[1], item[0]))
    return {prefix + resource_label(key, name): key for key, name in ordered}


class ColumnIndex:
    """The resources of an account (key -> name), indexed to read a column back: by its
    template label, its leading id, its name as written, and its name as `fold` compares."""

    def __init__(self, resources: Mapping[str, str]) -> None:
        self.resources = resources
        self.by_label = {resource_label(key, name): key for key, name in resources.items()}
        self.by_name: dict[str, list[str]] = defaultdict(list)
        self.by_fold: dict[str, list[str]] = defaultdict(list)
        for key, name in resources.items():
            self.by_name[name.strip()].append(key)
            self.by_fold[fold(name)].append(key)

    def candidates(self, rest: str) -> list[str]:
        """The keys of the resources a column (without its prefix) may name: the one whose
        template label it is; else the one whose id it starts with, and those of that name
        (compared exactly, else as `fold` does)."""
        if rest in self.by_label:
            return [self.by_label[rest]]
        first = rest.split(maxsplit=1)[0] if rest.strip() else ""
        by_id = [first] if first in self.resources else []
        by_name = self.by_name.get(rest.strip()) or self.by_fold.get(fold(rest), [])
        return sorted({*by_id, *by_name})
