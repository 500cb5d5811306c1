"""One row per decision a person can make: a credential is one row whatever edges it has,
a member one row per resource; people first, then credentials, riskiest first."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.synthetic import synthetic_account
from idgraph.graph.access import RISK_ORDER
from idgraph.graph.decisions import DecisionsInvalid, import_decisions
from idgraph.graph.host import write_review_pack
from idgraph.graph.review import build_review
from idgraph.graph.store import Store

from .fixtures import attest_fixture, sync_fixture
from .test_review_pack import _fill

SERVERS = 300


def _members_csv(path: Path, servers: list[dict]) -> Path:
    """An owner and users with view/full/none on each server (columns by server id)."""
    rows = [["owner@acme-corp.example", "Owner", "Account Owner", "yes"] + [""] * len(servers)]
    for index in range(5):
        levels = [("view", "full", "none")[(index + i) % 3] for i in range(len(servers))]
        rows.append([f"user{index}@acme-corp.example", f"User {index}", "User", "yes", *levels])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["email", "name", "role", "two_factor", *(f"server:{s['ID']}" for s in servers)]
        )
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def big_account(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decision-rows")
    account = synthetic_account(SERVERS, senders=20, domains=5, seed=3)
    store = Store(folder / "idgraph.db")
    try:
        with PostmarkEmulator(account) as emulator:
            assert sync_fixture(store, emulator).status == "complete"
        attest_fixture(store, _members_csv(folder / "members.csv", account["Servers"]))
    finally:
        store.close()
    write_review_pack(folder / "idgraph.db", folder / "pack", formats=["review-csv"])
    rows = list(csv.DictReader((folder / "pack" / "review.csv").open(encoding="utf-8-sig")))
    return folder, account, rows


def test_a_300_server_review_has_one_row_per_credential_and_per_person_and_resource(big_account):
    folder, account, rows = big_account
    tokens = sum(len(s["ApiTokens"]) for s in account["Servers"])
    credentials = [r["principal"] for r in rows if r["principal_type"] == "credential"]
    assert len(credentials) == len(set(credentials)) == tokens + 1  # and the Account token
    people = [(r["principal"], r["resource"]) for r in rows if r["principal_type"] == "human"]
    assert len(people) == len(set(people))
    server_token = next(r for r in rows if r["principal"].startswith("postmark:server_token:"))
    assert server_token["access"].startswith("server API") and "; send-as" in server_token["access"]
    assert server_token["covers"].count(" | ") == 1
    # every edge of the engine is covered by exactly one row
    store = Store(folder / "idgraph.db")
    try:
        context = build_review(store)
        edges = {r.row_id for r in context.rows}
        covered = [p.row_id for r in context.review_rows for p in (r.parts or [r])]
    finally:
        store.close()
    assert sorted(covered) == sorted(edges)


def test_people_first_then_credentials_each_riskiest_first(big_account):
    _folder, _account, rows = big_account
    groups = [r["principal_type"] for r in rows]
    assert groups == sorted(groups, key=lambda t: {"human": 0, "credential": 1}[t])
    assert rows[0]["principal"] == "postmark:team_member:owner@acme-corp.example"
    assert {r["risk"] for r in rows} <= set(RISK_ORDER)
    worst_of: dict[str, int] = {}
    for row in rows:
        rank = RISK_ORDER[row["risk"]]
        worst_of[row["principal"]] = min(rank, worst_of.get(row["principal"], rank))
    order = [(r["principal_type"], worst_of[r["principal"]]) for r in rows]
    for kind in ("human", "credential"):
        ranks = [rank for t, rank in order if t == kind]
        assert ranks == sorted(ranks), kind
    owner_rows = [r for r in rows if r["principal"].endswith("owner@acme-corp.example")]
    assert owner_rows[0]["risk"] == "high"  # the owner's role spans the account


def test_a_decision_on_a_token_covers_its_send_as_and_old_edge_ids_are_named(store, emulator):
    """The merged row keeps the id of the token's grants row (decisions stored on it carry);
    a file still naming the send-as row id is refused with the row it is part of now."""
    sync_fixture(store, emulator)
    attest_fixture(store)
    context = build_review(store)
    token = next(r for r in context.review_rows if r.principal.startswith("postmark:server_token"))
    grants, send_as = token.parts
    assert grants.access_kind == "postmark:grants" and token.row_id == grants.row_id
    assert context.review.find(send_as.row_id) is token
    pack = store.path.parent / "pack"
    write_review_pack(store.path, pack, formats=["review-csv"])

    def revoke(row):
        if row["row_id"] == token.row_id:
            row.update(decision="revoke", justification="unused")

    result = import_decisions(store, _fill(pack, revoke), reviewer="lead@acme-corp.example")
    assert result["decisions"]["revoke"] == 1
    steps = (pack / "remediation.md").read_text()
    assert "delete the token" in steps and "send as every confirmed" not in steps

    def old_id(row):
        if row["row_id"] == token.row_id:
            row.update(row_id=send_as.row_id, decision="keep")

    with pytest.raises(DecisionsInvalid) as info:
        import_decisions(store, _fill(pack, old_id), reviewer="lead@acme-corp.example")
    assert f"{send_as.row_id} is part of row {token.row_id} now" in str(info.value.problems)


def test_the_300_server_review_shows_owner_and_purpose_wherever_annotated(big_account, tmp_path):
    from idgraph.graph.annotations import import_annotations

    folder, account, _rows = big_account
    server = f"postmark:server:{account['Servers'][7]['ID']}"
    annotations = tmp_path / "annotations.csv"
    annotations.write_text(
        f"target,owner,purpose,expected_until\n{server},owner7@acme-corp.example,payments mail,\n"
    )
    store = Store(folder / "idgraph.db")
    try:
        import_annotations(store, annotations, annotated_by="lead@acme-corp.example")
        rows = build_review(store).review_rows
    finally:
        store.close()
    on_server = [r for r in rows if r.resource == server]
    assert {r.principal_type for r in on_server} == {"human", "credential"}
    for row in on_server:
        assert row.owner == (
            "owner7@acme-corp.example",
            "payments mail",
            "owner7@acme-corp.example",
        )
    assert all(r.owner == ("", "", "") for r in rows if r.resource != server)
