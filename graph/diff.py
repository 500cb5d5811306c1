"""What changed between two complete runs: nodes and edges appeared, disappeared, changed."""

from __future__ import annotations

import json
from typing import Any

from .store import Store


def _state_at(rows: list[dict[str, Any]], key: str, run_id: int) -> dict[str, dict[str, Any]]:
    return {
        row[key]: row
        for row in rows
        if row["opened_run"] <= run_id and (row["closed_run"] is None or row["closed_run"] > run_id)
    }


def _attr_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    before, after = json.loads(old["attrs"]), json.loads(new["attrs"])
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def diff_runs(store: Store, run_a: int | None = None, run_b: int | None = None) -> dict[str, Any]:
    """Changes from complete run A to complete run B (default: the latest two)."""
    if run_a is None or run_b is None:
        complete = [r for r in store.runs() if r.status == "complete" and r.kind != "write"]
        if run_b is None:
            run_b = complete[0].id if complete else store.complete_run().id
        if run_a is None:
            earlier = [r.id for r in complete if r.id < run_b]
            if not earlier:
                from .store import RunNotFound

                raise RunNotFound(f"there is no complete run before run {run_b} to compare with")
            run_a = earlier[0]
    a, b = store.complete_run(run_a), store.complete_run(run_b)
    if a.id > b.id:
        a, b = b, a
    result: dict[str, Any] = {"from_run": a.id, "to_run": b.id}
    for table, key, label in (("node_versions", "id", "nodes"), ("edge_versions", "key", "edges")):
        rows = store.versions_changed_between(table, a.id, b.id)
        before, after = _state_at(rows, key, a.id), _state_at(rows, key, b.id)
        entries: dict[str, dict[str, list[Any]]] = {"api": {}, "attested": {}}
        for ident in sorted(set(before) | set(after)):
            old, new = before.get(ident), after.get(ident)
            row = new or old
            assert row is not None
            if old and new and old["hash"] == new["hash"]:
                continue
            change: dict[str, Any] = {"id": ident, "kind": row["kind"], "scope": row["scope"]}
            if old is None:
                change["change"] = "appeared"
            elif new is None:
                change["change"] = "disappeared"
            else:
                change["change"] = "changed"
                change["attributes"] = _attr_changes(old, new)
            entries[row["source"]].setdefault(change["change"], []).append(change)
        result[label] = entries
    return result


def count_changes(result: dict[str, Any]) -> int:
    return sum(
        len(items)
        for part in ("nodes", "edges")
        for source in result[part].values()
        for items in source.values()
    )
