"""One answer to "who has access": every output gives the access engine's triples.

Hypothesis builds Postmark accounts (server names repeated, padded, confusable, in NFC and
NFD; webhook ids repeated across servers) and member files (roles and levels in any case
and spacing, emails in any case, members with and without access), syncs them through the
emulator and imports them; then review.csv, review.xlsx, the report's matrix, `idgraph
access --to/--of --format json`, the `reachable` and `access_paths` views and the Baton,
Veza and OpenGraph files must give the same (principal, resource, access) triples, for the
latest run and as of the earlier one. The human rows are also checked against what the
member file says (an oracle worked out here, from the file, not from idgraph).
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
import unicodedata
from pathlib import Path

import openpyxl
import pytest
import sqlite_utils
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.synthetic import synthetic_account
from idgraph.connector.postmark.members import MEMBER_FORMAT
from idgraph.graph.access import fold, read_access
from idgraph.graph.attestation import template_rows
from idgraph.graph.cli import cli
from idgraph.graph.exporters.report_model import Names, access_matrix
from idgraph.graph.host import write_review_pack
from idgraph.graph.review import build_review
from idgraph.graph.schema import registry
from idgraph.graph.store import Store
from idgraph.graph.store.views import as_of_views

from .fixtures import attest_fixture, sync_fixture

SERVER_NAMES = ["Acme", "acme", " Acme ", "Аcme", "Café", "Cafe\u0301", "Billing", "Billing"]

ROLES = {
    "Account Owner": True,
    "account owner": True,
    " ACCOUNT ADMIN ": True,
    "Admin": True,
    "User": False,
    "teammate": False,
}
LEVELS = ["full", "FULL", " View ", "view", "none", "None", ""]
EMAILS = ["Ann@Example.com", "bo@example.com", "Zoë@example.com", "dee@example.com"]


@st.composite
def accounts(draw):
    names = draw(st.lists(st.sampled_from(SERVER_NAMES), min_size=2, max_size=4))
    account = synthetic_account(len(names), senders=2, domains=1, seed=draw(st.integers(0, 9)))
    for server, name in zip(account["Servers"], names, strict=True):
        server["Name"] = name
    if draw(st.booleans()):  # one webhook id on two servers (unique per server, per the API)
        hooks = [h for s in account["Servers"] for h in s["Webhooks"]]
        hook = {"ID": 4242, "Url": "https://hooks.example/x", "MessageStream": "outbound"}
        for server in account["Servers"][:2]:
            server["Webhooks"].append({**hook, "Url": f"https://h{server['ID']}.example/x"})
        assert hooks is not None
    owner = draw(st.sampled_from([r for r, spans in ROLES.items() if spans and "wner" in r]))
    members = [(EMAILS[0], owner)]
    for email in EMAILS[1:]:
        if draw(st.booleans()):
            others = [r for r in ROLES if "wner" not in r]  # exactly one owner
            members.append((email, draw(st.sampled_from(others))))
    levels = {
        (email, index): draw(st.sampled_from(LEVELS))
        for email, _role in members
        for index in range(len(names))
    }
    spelling = draw(st.sampled_from(["NFC", "NFD"]))
    return account, members, levels, spelling


def _member_file(path: Path, header, servers_by_column, members, levels, spelling, drop=()):
    """A member file a person filled in, from the template's own header."""
    rows = []
    for email, role in members:
        if email in drop:
            continue
        spans = ROLES[role]
        cells = ["" if spans else levels[(email, index)] for index in servers_by_column]
        typed = unicodedata.normalize(spelling, email.upper() if "Ann" in email else email)
        name = unicodedata.normalize(spelling, f"Zoë {email.split('@')[0]}")
        rows.append([typed, name, role, "yes", *cells])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _column_servers(header, servers):
    """Template column -> the index of its server in `servers` (by id, else by name)."""
    ids = {str(s["ID"]): i for i, s in enumerate(servers)}
    found = []
    for column in header[4:]:
        text = column.split(":", 1)[1]
        key = text.split(" ", 1)[0]
        if key in ids:
            found.append(ids[key])
        else:
            matches = [i for i, s in enumerate(servers) if s["Name"].strip() == text.strip()]
            found.append(matches[0])
    return found


def _oracle(members, levels, servers, drop=()):
    """(person email folded, server id, level) the member file says, owners/admins: full."""
    out = set()
    for email, role in members:
        if email in drop:
            continue
        who = fold(email)
        for index, server in enumerate(servers):
            level = "full" if ROLES[role] else fold(levels[(email, index)]) or "none"
            if level != "none":
                out.add((who, f"postmark:server:{server['ID']}", level))
    return out


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _review_triples(rows: list[dict[str, str]]) -> set:
    """A review file's triples: a merged credential row's from its `covers` (each part's
    `kind: access -> resource`), which must join to its access; at most one row per
    credential and per (person, resource)."""
    found = set()
    for row in rows:
        if not row["covers"]:
            found.add((row["principal"], row["resource"], row["access"]))
            continue
        parts = [part.split(": ", 1)[1].rsplit(" -> ", 1) for part in row["covers"].split(" | ")]
        assert "; ".join(access for access, _resource in parts) == row["access"]
        found |= {(row["principal"], resource, access) for access, resource in parts}
    credentials = [r["principal"] for r in rows if r["principal_type"] == "credential"]
    assert len(credentials) == len(set(credentials))
    people = [(r["principal"], r["resource"]) for r in rows if r["principal_type"] == "human"]
    assert len(people) == len(set(people))
    return found


def _triples_of_pack(pack: Path, account_node: str) -> dict[str, set]:
    review = _review_triples(_read_csv(pack / "review.csv"))
    sheet = openpyxl.load_workbook(pack / "review.xlsx", read_only=True)["Access"]
    rows = list(sheet.iter_rows(values_only=True))
    xlsx = _review_triples(
        [{k: str(v or "") for k, v in zip(rows[0], r, strict=True)} for r in rows[1:] if r[0]]
    )
    baton = {
        (r["principal_id"], r["resource_id"], r["entitlement_slug"])
        for r in _read_csv(pack / "baton-file.csv")
        if r["record_type"] == "direct_user_grant"
    }
    graph = json.loads((pack / "bloodhound-opengraph.json").read_text())["graph"]
    opengraph = {
        (e["start"]["value"], e["end"]["value"], e["properties"]["access"], e["kind"])
        for e in graph["edges"]
        if "access" in e["properties"]
    }
    veza = json.loads((pack / "veza-oaa.json").read_text())
    roles = {r["id"]: r["name"] for r in veza["applications"][0]["local_roles"]}
    veza_triples = set()
    for entry in veza["identity_to_permissions"]:
        for grant in entry.get("application_permissions", []):
            # a permission name is the access value, `role: ` before a role's, and the edge
            # kind after it when two kinds share a value
            name = re.sub(r" \([\w:]+(, account-wide)?\)$", "", grant["permission"])
            name = name.removeprefix("role: ")
            for resource in grant.get("resources") or [account_node]:
                veza_triples.add((entry["identity"], resource, name))
        for role in entry.get("role_assignments", []):
            veza_triples.add((entry["identity"], account_node, roles[role["role"]]))
    return {
        "review.csv": review,
        "review.xlsx": xlsx,
        "baton": baton,
        "opengraph": opengraph,
        "veza": veza_triples,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "x"


def _cli_triples(db: Path, run_id: int, ids: set[str], flag: str) -> set:
    found = set()
    for ident in sorted(ids):
        result = CliRunner().invoke(
            cli, ["access", flag, ident, "--run", str(run_id), "--db", str(db), "--format", "json"]
        )
        assert result.exit_code == 0, result.output
        found |= {
            (r["principal"], r["resource"], r["access"]) for r in json.loads(result.stdout)["rows"]
        }
    return found


def _same(what: str, got: set, want: set) -> None:
    assert got == want, f"{what}: extra {sorted(got - want)[:6]}, missing {sorted(want - got)[:6]}"


def _check_run(db: Path, run_id: int, tmp: Path, oracle: set) -> None:
    store = Store(db)
    try:
        access = read_access(store, store.complete_run(run_id), registry())
        explicit = {r.triple() for r in access.explicit}
        everything = {r.triple() for r in access.all_rows()}
        effective = access.effective()
        account_node = next(r.resource for r in access.explicit if r.grant == "scope")
        account_node = next(
            (r.resource for r in access.explicit if r.resource.startswith("postmark:account:")),
            account_node,
        )
        context = build_review(store, run_id)
        matrix = access_matrix(context, Names(context))
        as_of_views(store.db.conn, run_id)
        view = sqlite_utils.Database(store.db.conn)
        reachable = {
            (r["principal"], r["resource"], r["access"])
            for r in view.query("SELECT * FROM reachable")
        }
        paths = {
            (r["principal"], r["resource"], r["access"])
            for r in view.query("SELECT * FROM access_paths")
        }
    finally:
        store.close()
    pack = tmp / f"pack-{run_id}"
    write_review_pack(db, pack, run_id=run_id)
    files = _triples_of_pack(pack, account_node)
    _same("review.csv", files["review.csv"], explicit)
    _same("review.xlsx", files["review.xlsx"], explicit)
    _same("access_paths", paths, explicit)
    _same("baton", files["baton"], {(p, r, _slug(a)) for p, r, a in explicit})
    _same(
        "opengraph explicit",
        {t[:3] for t in files["opengraph"] if t[3] != "IDG_ImpliedAccess"},
        explicit,
    )
    _same("opengraph", {t[:3] for t in files["opengraph"]}, everything)
    _same("veza", files["veza"], explicit)
    _same("reachable", reachable, everything)
    principals = {p for p, _r, _a in everything}
    resources = {r for _p, r, _a in everything}
    _same("access --of", _cli_triples(db, run_id, principals, "--of"), everything)
    _same("access --to", _cli_triples(db, run_id, resources, "--to"), everything)
    cells = {
        (person["id"], matrix["resources"][i]["id"], cell["value"])
        for person in matrix["people"]
        for i, cell in enumerate(person["cells"])
        if cell["value"] != "none"
    }
    columns = {c["id"] for c in matrix["resources"]}
    people = {p["id"] for p in matrix["people"]}
    _same(
        "matrix",
        cells,
        {(p, r, a) for (p, r), a in effective.items() if r in columns and p in people},
    )
    humans = {
        (fold(p.split(":", 2)[2]), r, fold(a))
        for (p, r), a in effective.items()
        if p.startswith("postmark:team_member:") and r.startswith("postmark:server:")
    }
    _same("member file", humans, oracle)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking a sync takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=accounts())
def test_every_output_gives_the_engines_triples_now_and_as_of_an_earlier_run(tmp_path, case):
    account, members, levels, spelling = case
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # one folder per example
    db = folder / "idgraph.db"
    store = Store(db)
    try:
        with PostmarkEmulator(account) as emulator:
            assert sync_fixture(store, emulator).status == "complete"
        header, _rows = template_rows(store, MEMBER_FORMAT, "acme")
        servers = account["Servers"]
        by_column = _column_servers(header, servers)
        first = _member_file(folder / "m1.csv", header, by_column, members, levels, spelling)
        first_run = attest_fixture(store, first)["run_id"]
        leaver = {members[-1][0]} if len(members) > 1 else set()
        second = _member_file(
            folder / "m2.csv", header, by_column, members, levels, spelling, drop=leaver
        )
        second_run = attest_fixture(store, second)["run_id"]
    finally:
        store.close()
    index_levels = levels
    _check_run(db, second_run, folder, _oracle(members, index_levels, servers, drop=leaver))
    _check_run(db, first_run, folder, _oracle(members, index_levels, servers))


def test_roles_typed_in_another_case_still_span_the_account(store, emulator, tmp_path):
    """`account owner` and ` ACCOUNT ADMIN ` reach every server: in the matrix (implied
    full, never none), in `access --to`, and in the reachable view."""
    from .fixtures import MEMBERS_FILE

    text = MEMBERS_FILE.read_text()
    text = text.replace(",Account Owner,", ",account owner,")
    text = text.replace(",Account Admin,", ", ACCOUNT ADMIN ,")
    members = tmp_path / "members.csv"
    members.write_text(text)
    sync_fixture(store, emulator)
    attest_fixture(store, members)
    context = build_review(store)
    matrix = access_matrix(context, Names(context))
    spanning = [p for p in matrix["people"] if p["spans"]]
    assert len(spanning) == 2
    for person in spanning:
        assert {c["value"] for c in person["cells"]} == {"full"}
        assert all(c["implied"] for c in person["cells"])
    result = CliRunner().invoke(
        cli, ["access", "--to", "Acme Production", "--db", str(store.path), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    reached = {r["principal"] for r in json.loads(result.stdout)["rows"]}
    owner = "postmark:team_member:pat.owner@acme-corp.example"
    admin = "postmark:team_member:it-admin@acme-corp.example"
    assert {owner, admin} <= reached
    view = sqlite_utils.Database(store.path)
    implied = {
        r["principal"]
        for r in view.query(
            "SELECT principal FROM reachable WHERE resource = 'postmark:server:11001' "
            "AND how LIKE 'implied:%'"
        )
    }
    assert {owner, admin} <= implied


@pytest.mark.parametrize("baseline", ["--since", "last reviewed run"])
def test_review_csv_and_the_report_tell_the_same_changes(store, emulator, tmp_path, baseline):
    """The changes are worked out once: review.csv's change column and access-removed.csv
    say what the report's "what changed" says, row for row, against `--since` or, without
    it, against the last reviewed run (review.csv's column was empty there before)."""
    from idgraph.graph.decisions import import_decisions
    from idgraph.graph.exporters.report_model import report_model

    from .fixtures import MEMBERS_FILE

    sync_fixture(store, emulator)
    since = attest_fixture(store)["run_id"]
    if baseline != "--since":  # a decision on the first attestation makes it the baseline
        write_review_pack(store.path, tmp_path / "q1", run_id=since, formats=["review-csv"])
        rows = _read_csv(tmp_path / "q1" / "review.csv")
        rows[0]["decision"] = "keep"
        decided = tmp_path / "decided.csv"
        with decided.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        import_decisions(store, decided, reviewer="lead@acme-corp.example", out_dir=tmp_path)
    text = MEMBERS_FILE.read_text().splitlines()
    text = [line.replace("Dana Ops,User,yes,full", "Dana Ops,User,yes,view") for line in text]
    text = [line for line in text if not line.startswith("sam.dev@")]
    text.append("new.hire@acme-corp.example,New Hire,User,yes,view,none,none,none,none")
    members = tmp_path / "members-q2.csv"
    members.write_text("\n".join(text) + "\n")
    now = attest_fixture(store, members)["run_id"]
    pack = tmp_path / "pack"
    explicit = since if baseline == "--since" else None
    write_review_pack(store.path, pack, run_id=now, since=explicit)
    review = _read_csv(pack / "review.csv")
    csv_added = {
        (r["principal"], r["resource"]) for r in review if r["change_since_last_review"] == "added"
    }
    csv_changed = {
        (r["principal"], r["resource"], r["change_since_last_review"])
        for r in review
        if r["change_since_last_review"].startswith("changed")
    }
    csv_removed = {(r["principal"], r["resource"]) for r in _read_csv(pack / "access-removed.csv")}
    context = build_review(store, now, since=explicit)
    kinds = {k["key"]: k["items"] for k in report_model(context)["changes"]["kinds"]}

    def pairs(key):
        return {(i["principal"]["id"], i["resource"]["id"]) for i in kinds[key]}

    assert csv_added == pairs("access_added") and csv_added
    assert csv_removed == pairs("access_removed") and csv_removed
    assert csv_changed == {
        (i["principal"]["id"], i["resource"]["id"], f"changed (was {i['was']})")
        for i in kinds["access_changed"]
    }
    assert csv_changed


def test_the_change_column_is_never_empty(store, emulator, tmp_path):
    """Before any review every row is a first review; against a baseline each row is added,
    changed or unchanged (issue 25: the change column is always filled)."""
    sync_fixture(store, emulator)
    first = attest_fixture(store)["run_id"]
    write_review_pack(store.path, tmp_path / "q1", run_id=first, formats=["review-csv"])
    rows = _read_csv(tmp_path / "q1" / "review.csv")
    assert rows and {r["change_since_last_review"] for r in rows} == {"first review"}
    write_review_pack(
        store.path, tmp_path / "q2", run_id=first, since=first, formats=["review-csv"]
    )
    rows = _read_csv(tmp_path / "q2" / "review.csv")
    assert {r["change_since_last_review"] for r in rows} == {"unchanged"}
