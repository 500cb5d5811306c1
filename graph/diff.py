"""What changed between two complete runs: nodes and edges appeared, disappeared, changed.

Like with like: named no runs, `diff_runs` compares the latest two complete syncs of the
account synced last (with `attested`, its latest two attestations) and lists only that
history's changes, so an attestation after a sync never hides the sync's changes.

Attested changes are told per member first (role, access per resource, the member's own
facts), from the member nodes and access edges the attestation engine writes. What every
member of one import shares (who attested, when, the evidence and file digests, the import
id: `attestation.PROVENANCE`) is one line per import, never repeated per member.
"""

from __future__ import annotations

import json
from typing import Any

from .store import Run, RunNotFound, Store


def _state_at(rows: list[dict[str, Any]], key: str, run_id: int) -> dict[str, dict[str, Any]]:
    return {
        row[key]: row
        for row in rows
        if row["opened_run"] <= run_id and (row["closed_run"] is None or row["closed_run"] > run_id)
    }


def _attr_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, list[Any]]:
    before = json.loads(old["attrs"]) if old else {}
    after = json.loads(new["attrs"]) if new else {}
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def pick_runs(
    store: Store, run_a: int | None, run_b: int | None, *, attested: bool = False
) -> tuple[Run, Run, str | None]:
    """The runs to compare, oldest first, and the one history (scope) to compare them in.

    Both named: any two complete runs, every history. One named: from it to the latest
    complete run of its kind and account. None: the latest two complete syncs (with
    `attested`, attestations) of the account of the latest one."""
    if run_a is not None and run_b is not None:
        a, b = store.complete_run(run_a), store.complete_run(run_b)
        return (a, b, None) if a.id <= b.id else (b, a, None)
    given = store.complete_run(run_a) if run_a is not None else None
    kind = given.kind if given else "attestation" if attested else "sync"
    alike = [r for r in store.runs() if r.status == "complete" and r.kind == kind]
    if given is not None:
        later = [r for r in alike if r.scope == given.scope and r.id > given.id]
        if not later:
            raise RunNotFound(
                f"run {given.id} is the latest complete {kind} of {given.scope}: name a "
                "second run to compare it with"
            )
        return given, later[0], given.scope
    if not alike:
        raise RunNotFound(f"{store.path} holds no complete {kind} to compare")
    latest = alike[0]
    earlier = [r for r in alike if r.scope == latest.scope and r.id < latest.id]
    if not earlier:
        other = "`idgraph diff` compares syncs" if attested else "`--attested` compares those"
        raise RunNotFound(
            f"there is no complete {kind} of {latest.scope} before run {latest.id} to "
            f"compare with ({other}; `idgraph diff A B` any two runs)"
        )
    return earlier[0], latest, latest.scope


def diff_runs(
    store: Store,
    run_a: int | None = None,
    run_b: int | None = None,
    *,
    attested: bool = False,
) -> dict[str, Any]:
    """Changes from complete run A to complete run B (see `pick_runs` for the default)."""
    a, b, scope = pick_runs(store, run_a, run_b, attested=attested)
    result: dict[str, Any] = {"from_run": a.id, "to_run": b.id, "kind": b.kind, "scope": scope}
    changes: dict[str, list[dict[str, Any]]] = {}
    for table, key, label in (("node_versions", "id", "nodes"), ("edge_versions", "key", "edges")):
        rows = store.versions_changed_between(table, a.id, b.id)
        if scope is not None:
            rows = [row for row in rows if row["scope"] == scope]
        changes[label] = _changes(rows, key, a.id, b.id)
    members, provenance, folded = _attested_members(changes)
    result["members"], result["provenance"] = members, provenance
    for label, found in changes.items():
        entries: dict[str, dict[str, list[Any]]] = {"api": {}, "attested": {}}
        for change, source in found:
            if id(change) not in folded:
                entries[source].setdefault(change["change"], []).append(change)
        result[label] = entries
    return result


def _changes(
    rows: list[dict[str, Any]], key: str, run_a: int, run_b: int
) -> list[tuple[dict[str, Any], str]]:
    """(change, source) of each node or edge that appeared, disappeared or changed."""
    before, after = _state_at(rows, key, run_a), _state_at(rows, key, run_b)
    found = []
    for ident in sorted(set(before) | set(after)):
        old, new = before.get(ident), after.get(ident)
        row = new or old
        assert row is not None
        if old and new and old["hash"] == new["hash"]:
            continue
        change: dict[str, Any] = {"id": ident, "kind": row["kind"], "scope": row["scope"]}
        change["change"] = (
            "appeared" if old is None else "disappeared" if new is None else "changed"
        )
        if old is not None and new is not None:
            change["attributes"] = _attr_changes(old, new)
        # kept for folding attested changes per member; not part of the listing
        change["_row"], change["_old"], change["_new"] = row, old, new
        found.append((change, row["source"]))
    return found


def _attested_members(
    changes: dict[str, list[tuple[dict[str, Any], str]]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[int]]:
    """Attested member changes, one entry per member (role and access first), the
    provenance of each import once, and the `id()`s of the changes they fold in."""
    folding = _MemberChanges()
    for change, source in changes["nodes"]:
        if source == "attested":
            folding.node(change)
    for change, source in changes["edges"]:
        if source == "attested":
            folding.edge(change)
    for found in changes.values():
        for change, _source in found:
            for name in ("_row", "_old", "_new"):
                change.pop(name)
    return folding.listed(), list(folding.imports.values()), folding.folded


class _MemberChanges:
    """Attested node and edge changes folded into one entry per member."""

    def __init__(self) -> None:
        from .plugins import get_member_formats
        from .schema import registry

        self.formats = {fmt.member_kind: fmt for fmt in get_member_formats().values()}
        self.schema = registry()
        self.members: dict[str, dict[str, Any]] = {}
        self.imports: dict[tuple[Any, Any], dict[str, Any]] = {}
        self.folded: set[int] = set()

    def entry(self, ident: str, kind: str, change: dict[str, Any]) -> dict[str, Any]:
        return self.members.setdefault(
            ident,
            {"id": ident, "kind": kind, "scope": change["scope"], "change": "changed"},
        )

    def node(self, change: dict[str, Any]) -> None:
        from .attestation import PROVENANCE

        fmt = self.formats.get(change["kind"])
        if fmt is None:
            return
        self.folded.add(id(change))
        found = _attr_changes(change["_old"], change["_new"])
        told = {n: v for n, v in found.items() if n not in PROVENANCE}
        for name in (fmt.access_property, "role_level"):
            told.pop(name, None)  # told by the access edges, and by the role
        if change["change"] != "changed":
            told = {"role": found.get("role", [None, None])}
        member = self.entry(change["id"], change["kind"], change)
        member["change"] = change["change"]
        member.setdefault("attributes", {}).update(told)
        shared = {n: v for n, v in found.items() if n in PROVENANCE}
        if change["change"] == "changed" and shared:
            was, now = shared.get("import_id", [None, None])
            line = self.imports.setdefault(
                (was, now), {"from_import": was, "to_import": now, "members": 0, "fields": shared}
            )
            line["members"] += 1

    def edge(self, change: dict[str, Any]) -> None:
        row = change["_row"]
        fmt = next(
            (f for f in self.formats.values() if row["src"].startswith(f.member_kind + ":")), None
        )
        if fmt is None or row["kind"] not in (fmt.member_edge, fmt.identity_edge, fmt.access_edge):
            return
        self.folded.add(id(change))
        if row["kind"] != fmt.access_edge:
            return  # told by the member's role, or by the member appearing
        declared = self.schema.edge(row["kind"])
        prop = declared.access if declared and declared.access else "permission"
        old, new = (
            json.loads(version["attrs"]).get(prop) if version else None
            for version in (change["_old"], change["_new"])
        )
        member = self.entry(row["src"], fmt.member_kind, change)
        member.setdefault("attributes", {})[f"access to {row['dst']}"] = [old, new]

    def listed(self) -> list[dict[str, Any]]:
        """The members with something to tell, by id; role, then access, then the rest."""
        listed = [m for _i, m in sorted(self.members.items()) if m.get("attributes")]
        for member in listed:
            member["attributes"] = dict(sorted(member["attributes"].items(), key=_told_first))
        return listed


def _told_first(item: tuple[str, Any]) -> tuple[int, str]:
    name = item[0]
    return (0 if name == "role" else 1 if name.startswith("access to ") else 2, name)


def count_changes(result: dict[str, Any]) -> int:
    """Every change listed: per member, and each other node and edge (provenance lines,
    shared by a whole import, are not counted)."""
    return len(result.get("members", ())) + sum(
        len(items)
        for part in ("nodes", "edges")
        for source in result[part].values()
        for items in source.values()
    )


def flat_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per change, members and provenance first, for --format csv/ndjson."""
    runs = {"from_run": result["from_run"], "to_run": result["to_run"]}
    rows = [{**runs, "source": "attested", "what": "member", **m} for m in result["members"]]
    rows += [
        {
            **runs,
            "source": "attested",
            "what": "provenance",
            "change": "changed",
            "id": f"import {line['from_import']} -> {line['to_import']}",
            "kind": "attestation",
            "scope": result["scope"],
            "attributes": line["fields"],
        }
        for line in result["provenance"]
    ]
    rows += [
        {**runs, "source": source, "what": part, **item}
        for source in ("api", "attested")
        for part in ("nodes", "edges")
        for _change, items in sorted(result[part][source].items())
        for item in items
    ]
    return rows
