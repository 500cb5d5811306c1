"""`MemberFormat`: what a connector declares of a member file read off its app's web UI
(`register_member_formats`); graph/attestation.py is the engine that reads one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .normalise import canonical


@dataclass(frozen=True)
class MemberFormat:
    """A connector's member file: one row per member (email, name, role, two_factor) and a
    column `<resource_prefix><resource name>` per resource with its access value.

    `roles` maps each role as the UI writes it (`Account Owner`) to a level; members whose
    level is in `all_access_levels` reach every resource (`full_access`) and leave those
    cells empty; with `owner_level` set, exactly one row must have it. A role, access value
    or yes/no cell is matched case-, space- and NFC-insensitively and stored as declared
    here (`account owner` is stored `Account Owner`); emails NFC and case-folded.
    """

    connector: str
    title: str
    member_kind: str
    account_kind: str
    resource_kind: str
    resource_key: str  # the resource node's property that is its id key
    roles: Mapping[str, str]
    where_in_the_ui: str
    resource_prefix: str = "resource:"
    access_values: tuple[str, ...] = ("full", "view", "none")
    full_access: str = "full"
    all_access_levels: frozenset[str] = frozenset({"owner", "admin"})
    owner_level: str | None = "owner"
    access_property: str = "resource_access"
    member_edge: str = ""  # default `<connector>:member_of`
    access_edge: str = ""  # default `<connector>:can_access`
    identity_edge: str = "is"  # the host's shared kind
    corroborate: Callable[[Any, str, set[str]], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        # A connector's own edge kinds carry its namespace (docs/plugins.md)
        if not self.member_edge:
            object.__setattr__(self, "member_edge", f"{self.connector}:member_of")
        if not self.access_edge:
            object.__setattr__(self, "access_edge", f"{self.connector}:can_access")

    @property
    def role_names(self) -> str:
        return ", ".join(self.roles)

    def role(self, typed: str) -> str | None:
        """The declared role a typed one means (`account owner` -> `Account Owner`)."""
        return canonical(typed, self.roles)

    def access_value(self, typed: str) -> str | None:
        """The declared access value a typed one means (` FULL ` -> `full`)."""
        return canonical(typed, self.access_values)

    def api_scope(self, label: str) -> str:
        return f"{self.connector}:{label}"

    def attested_scope(self, label: str) -> str:
        return f"attested:{self.connector}:{label}"
