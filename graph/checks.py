"""Built-in review checks that hold for any connector (a default plugin)."""

from __future__ import annotations

from .hookspecs import hookimpl
from .interfaces import Finding


class StaleAttestation:
    name = "attestation-stale"
    description = "An attested fact whose attestation has expired."

    def run(self, context) -> list[Finding]:
        return [
            Finding(
                self.name,
                "high",
                node,
                f"attested by {data.get('attested_by')}, expired {data.get('expires_at')}: "
                "attest the members again",
            )
            for node, data in context.graph.nodes(data=True)
            if data.get("attestation_stale") and data.get("kind", "").endswith(":team_member")
        ]


class UnmatchedMember:
    name = "member-unmatched"
    description = (
        "A team member whose person node no other connector knows (only when "
        "another connector is synced)."
    )

    def run(self, context) -> list[Finding]:
        graph = context.graph
        namespaces = {
            n.split(":", 1)[0] for n in graph.nodes if not n.startswith(("person:", "endpoint:"))
        }
        findings = []
        for node, data in graph.nodes(data=True):
            if not data.get("kind", "").endswith(":team_member"):
                continue
            own = node.split(":", 1)[0]
            if namespaces <= {own}:
                return []  # no other connector: nothing to match against
            persons = [v for _u, v, d in graph.out_edges(node, data=True) if d["kind"] == "is"]
            matched = any(
                u.split(":", 1)[0] not in (own, "person")
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


@hookimpl
def register_checks(register):
    register(StaleAttestation())
    register(UnmatchedMember())
