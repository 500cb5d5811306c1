"""report.html's evidence summary: the first screen, one an auditor can file.

It is a reading of the pack manifest's predicate (`graph/evidence.py`): the account and the
runs the review is built from, the population against the API's own totals, the attestation
of the members, the review's decisions with their reviewers and the independence flags, the
remediation, the sign-off, and the digest of the predicate (report.html is itself a subject
of the manifest, so it cannot carry the manifest's own digest).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ..access import spans
from ..evidence import provenance
from ..review import ReviewContext
from ..store.chain import decisions_of_run


def _reconciled(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each paged listing of each sync: the API's TotalCount against the items kept."""
    found = []
    for source in sources:
        for endpoint, read in sorted(source.get("collection", {}).get("listings", {}).items()):
            total, kept = read.get("total_count"), read.get("items")
            found.append(
                {
                    "run": source["id"],
                    "endpoint": endpoint,
                    "total": total,
                    "kept": kept,
                    "pages": read.get("pages_read"),
                    "readings": read.get("readings"),
                    "match": total is not None and total == kept,
                }
            )
    return found


def _matches(reviewer: str, principal: str, principal_name: str) -> bool:
    """The reviewer is this principal (as `review import` tells a self-review)."""
    return reviewer in (principal_name.strip().lower(), principal.rpartition(":")[2].lower())


def _reviewers(context: ReviewContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per reviewer: decisions made, and the independence flags: decisions on their own
    access, and decisions made while holding an account-wide role over what was decided."""
    access = context.access
    admins = {
        (row.principal, row.principal_name)
        for row in access.explicit
        if row.grant == "role" and spans(context.schema, row.access_kind, row.access)
    }
    by_reviewer: dict[str, Counter] = defaultdict(Counter)
    names = context.names(row["principal"] or "" for row in rows)  # not the whole graph
    for row in rows:
        reviewer = (row["reviewer"] or "").strip().lower()
        counts = by_reviewer[reviewer]
        counts["decisions"] += 1
        counts[row["decision"]] += 1
        principal = row["principal"] or ""
        principal_name = names.get(principal, "")
        if _matches(reviewer, row["principal"], principal_name):
            counts["self"] += 1
        if any(_matches(reviewer, p, name) for p, name in admins):
            counts["admin"] += 1
    return [
        {
            "reviewer": reviewer,
            "decisions": counts["decisions"],
            "keep": counts["keep"],
            "revoke": counts["revoke"],
            "modify": counts["modify"],
            "self_review": counts["self"],
            "admin_over_reviewed": counts["admin"],
        }
        for reviewer, counts in sorted(by_reviewer.items())
    ]


def _remediation(context: ReviewContext, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Revokes and modifies still open in this run (the row still holds that access) or
    done (it no longer does)."""
    review = context.review  # a decision is on a review row: a credential's covers its parts

    def present(record: dict[str, Any]) -> bool:
        row = review.find(record["row_id"])
        return row is not None and record["access"] in (row.access, *(p.access for p in row.parts))

    todo = [r for r in rows if r["decision"] in ("revoke", "modify")]
    still = sum(1 for r in todo if present(r))
    return {"open": still, "done": len(todo) - still}


def _attestation_state(attestation: dict[str, Any], finished: str) -> str:
    expires = attestation.get("expiresAt") or ""
    return "valid at the run" if expires and expires >= finished else "expired at the run"


def evidence_summary(context: ReviewContext) -> dict[str, Any]:
    found = context.evidence
    predicate = found.value if found is not None else provenance(context, None)
    decided = predicate.get("decisions") or {}
    rows = decisions_of_run(context.store.conn, decided["run"]) if decided else []
    finished = context.run.finished or ""
    return {
        "predicate": predicate,
        "predicate_sha256": found.sha256 if found is not None else None,
        "sources": predicate["sources"],
        "reconciled": _reconciled(predicate["sources"]),
        "population": sorted(predicate["population"].items()),
        "attestations": [
            {**a, "state": _attestation_state(a, finished)} for a in predicate["attestations"]
        ],
        "decisions": decided or None,
        "reviewers": _reviewers(context, rows),
        "remediation": _remediation(context, rows) if rows else None,
        "signed": isinstance(predicate["signature"], dict),
    }
