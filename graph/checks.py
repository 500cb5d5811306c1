"""Built-in review checks that hold for any connector (a default plugin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .hookspecs import hookimpl
from .interfaces import Finding
from .normalise import lookalike_keys

if TYPE_CHECKING:
    from .review import ReviewContext  # the host's own: its checks also read the store


class StaleAttestation:
    name = "attestation-stale"
    description = "An attested fact whose attestation has expired."

    def run(self, context: ReviewContext) -> list[Finding]:
        return [
            Finding(
                self.name,
                "high",
                node,
                f"attested by {data.get('attested_by')}, expired {data.get('expires_at')}: "
                "attest the members again",
            )
            for node, data in context.nodes_with_role("member")
            if data.get("attestation_stale")
        ]


class UnmatchedMember:
    name = "member-unmatched"
    description = (
        "A team member whose person node no other connector knows (only when "
        "another connector is synced)."
    )

    def run(self, context: ReviewContext) -> list[Finding]:
        shared = context.schema.node_kinds_with_role("identity") | (
            context.schema.node_kinds_with_role("endpoint")
        )
        own_kinds = {kind.split(":", 1)[0] for kind in context.store.node_kinds(context.run.id)}
        namespaces = {k for k in own_kinds if k not in shared}
        members = context.nodes_with_role("member")
        if len(namespaces) < 2 or not members:
            return []  # no other connector: nothing to match against
        graph = context.graph
        identities = context.schema.node_kinds_with_role("identity")
        findings = []
        for node, _data in members:
            own = node.split(":", 1)[0]
            persons = [
                v for v in graph.successors(node) if graph.nodes[v].get("kind") in identities
            ]
            matched = any(
                u.split(":", 1)[0] != own and graph.nodes[u].get("kind") not in shared
                for person in persons
                for u in graph.predecessors(person)
            )
            if not matched:
                findings.append(
                    Finding(
                        self.name,
                        "medium",
                        node,
                        "no other connector knows this person: a leaver, "
                        "an outside contractor, or a personal address?",
                    )
                )
        return findings


class AccessToGoneResource:
    name = "access-to-gone-resource"
    description = (
        "Access recorded (usually attested) on a resource the latest sync no longer shows: "
        "deleted since, or renamed to a new id; attest the members again."
    )

    def run(self, context: ReviewContext) -> list[Finding]:
        to_resource = context.schema.edge_kinds_with(grant="resource")
        rows = [row for row in context.rows if row.edge[0] in to_resource]
        resources = {row.on.ident for row in rows}  # few, each asked once
        missing = {resource for resource in resources if not context.node_exists(resource)}
        gone: dict[str, list[str]] = {}
        for row in rows if missing else ():
            if row.on.ident in missing:
                gone.setdefault(row.on.ident, []).append(row.who.name)
        return [
            Finding(
                self.name,
                "medium",
                resource,
                f"{len(who)} access path(s) ({', '.join(sorted(who)[:5])}) to {resource}, "
                "which the latest sync no longer shows",
            )
            for resource, who in sorted(gone.items())
        ]


class ResourceNamesConfusable:
    name = "resource-names-confusable"
    description = (
        "Resources of one account whose names are the same, or differ only in spaces, case, "
        "bidi controls or look-alike letters: a person choosing by name may pick the wrong "
        "one (member templates name each by id)."
    )

    def run(self, context: ReviewContext) -> list[Finding]:
        from networkx.utils import UnionFind

        named: dict[str, str] = {}
        alike = UnionFind()
        first_with_key: dict[tuple[str, str], str] = {}
        for node, data in context.nodes_with_role("resource"):
            label = context.schema.nodes[data["kind"]].label or "name"
            named[node] = str(data.get(label) or "")
            for key in lookalike_keys(named[node]):
                first = first_with_key.setdefault((data.get("scope", ""), key), node)
                alike.union(first, node)
        return [
            Finding(
                self.name,
                "medium",
                min(group),
                f"{len(group)} resources have names a person can take for one another: "
                + ", ".join(f"{named[n]!r} ({n})" for n in sorted(group))
                + "; rename them apart, and choose them by id meanwhile",
            )
            for group in alike.to_sets()
            if len(group) > 1
        ]


class CredentialWithoutOwner:
    name = "credential-without-owner"
    description = (
        "A credential nobody is named as owner of (idgraph annotate): no one to ask whether "
        "it is still needed, or to rotate it when its holder leaves."
    )

    def run(self, context) -> list[Finding]:
        from .store import annotations as stored_annotations

        known = stored_annotations.annotations(context.store.db.conn)
        return [
            Finding(
                self.name,
                "low",
                node,
                "no owner recorded: `idgraph annotate template`, fill owner and purpose, "
                "`idgraph annotate import`",
            )
            for node, _data in context.nodes_with_role("credential")
            if not (known.get(node) or {}).get("owner")
        ]


@hookimpl
def register_checks(register):
    register(StaleAttestation())
    register(UnmatchedMember())
    register(AccessToGoneResource())
    register(ResourceNamesConfusable())
    register(CredentialWithoutOwner())
