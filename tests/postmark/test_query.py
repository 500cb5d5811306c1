"""Asking the graph: the SQL views and `idgraph access` / `idgraph nodes` give the same
answers, now and as of an earlier run, and CSV output is spreadsheet-safe."""

import csv
import io
import json

import sqlite_utils
from click.testing import CliRunner
from idgraph.graph.access import read_access
from idgraph.graph.cli import EXIT_CONFIG, EXIT_USAGE, cli
from idgraph.graph.schema import registry
from idgraph.graph.store.views import VIEW_NAMES, as_of_views

from .fixtures import MEMBERS_FILE, attest_fixture, sync_fixture

DANA = "dana.ops@acme-corp.example"
SAM = "sam.dev@acme-corp.example"
KEY = ("principal", "resource", "access", "access_kind", "how")


def _cli(db, *args):
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    return result


def _cli_rows(db, *args):
    result = _cli(db, "access", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _keys(rows):
    return sorted(tuple(str(row[k]) for k in KEY) for row in rows)


def _who_reaches(conn_db, server_name):
    return list(
        conn_db.query(
            "SELECT * FROM reachable WHERE resource = "
            "(SELECT id FROM current_nodes WHERE name = ? AND role = 'resource')",
            [server_name],
        )
    )


def _what_does(conn_db, email):
    return list(
        conn_db.query(
            "SELECT * FROM reachable WHERE principal = "
            "(SELECT id FROM current_nodes WHERE email = ? AND principal = 'human')",
            [email],
        )
    )


def _review_keys(store, run_id, *, resource=None, principal=None):
    """The access engine's explicit rows for one resource or principal."""
    access = read_access(store, store.complete_run(run_id), registry())
    return sorted(
        (r.principal, r.resource, r.access, r.access_kind, "direct")
        for r in access.explicit
        if resource in (None, r.resource) and principal in (None, r.principal)
    )


def _history(store, emulator, tmp_path):
    """run 1 sync, run 2 attest; then sam leaves and dana drops to view on Acme Production
    (run 3, attest) and the server is renamed (run 4, sync)."""
    sync_fixture(store, emulator)
    attest_fixture(store)
    lines = MEMBERS_FILE.read_text().splitlines()
    changed = [
        line.replace(f"{DANA},Dana Ops,User,yes,full", f"{DANA},Dana Ops,User,yes,view")
        for line in lines
        if not line.startswith(SAM)
    ]
    members = tmp_path / "members-q2.csv"
    members.write_text("\n".join(changed) + "\n")
    attest_fixture(store, members)
    emulator.server(11001)["Name"] = "Acme Production EU"
    assert sync_fixture(store, emulator).status == "complete"
    return store.path


def test_the_views_exist_and_read_the_latest_complete_run(store, emulator):
    sync_fixture(store, emulator)
    attest_fixture(store)
    db = sqlite_utils.Database(store.path)
    assert set(VIEW_NAMES) <= set(db.view_names())
    members = {row["email"]: row for row in db.query("SELECT * FROM team_members")}
    assert members[DANA]["role"] == "User" and members[DANA]["two_factor"] == "yes"
    assert members[DANA]["attested_by"] == "a@acme-corp.example" and members[DANA]["expires_at"]
    tokens = list(db.query("SELECT * FROM tokens WHERE suffix = '001a'"))
    assert len(tokens) == 1 and tokens[0]["resource"] == "postmark:server:11001"
    assert tokens[0]["fingerprint"].startswith("sha256:") and tokens[0]["first_seen"]
    changes = list(db.query("SELECT DISTINCT run, change FROM changes ORDER BY run"))
    assert changes == [{"run": 1, "change": "opened"}, {"run": 2, "change": "opened"}]
    hits = {
        row["id"]
        for row in db.query(
            "SELECT id FROM node_search WHERE rowid IN "
            "(SELECT rowid FROM node_search_fts WHERE node_search_fts MATCH 'dana*')"
        )
    }
    assert f"postmark:team_member:{DANA}" in hits


def test_access_paths_view_equals_the_review_rows(store, emulator):
    sync_fixture(store, emulator)
    attest_fixture(store)
    db = sqlite_utils.Database(store.path)
    view = _keys(db.query("SELECT *, 'direct' AS how FROM access_paths"))
    assert view == _review_keys(store, None)
    assert len(view) > 20


def test_who_reaches_a_server_sql_and_cli_agree_now_and_as_of_an_earlier_run(
    store, emulator, tmp_path
):
    path = _history(store, emulator, tmp_path)
    db = sqlite_utils.Database(path)
    server = "postmark:server:11001"

    now_sql = _who_reaches(db, "Acme Production EU")
    now_cli = _cli_rows(path, "--to", "Acme Production EU")
    assert now_cli["resource"] == server and now_cli["run"] == 4
    assert _keys(now_cli["rows"]) == _keys(now_sql)
    people = {(r["principal_name"], r["access"], r["how"]) for r in now_sql}
    assert (DANA, "view", "direct") in people
    assert not any(r["principal_name"] == SAM for r in now_sql)
    # the owner and the admin reach it through their account-wide role
    implied = {
        r["principal_name"]
        for r in now_sql
        if r["how"].startswith("implied") and r["principal_type"] == "human"
    }
    assert implied == {"pat.owner@acme-corp.example", "it-admin@acme-corp.example"}
    direct = [r for r in now_sql if r["how"] == "direct"]
    assert _keys(direct) == _review_keys(store, None, resource=server)

    old = sqlite_utils.Database(path)
    as_of_views(old.conn, 2)
    then_sql = _who_reaches(old, "Acme Production")  # its name as of run 2
    then_cli = _cli_rows(path, "--to", "Acme Production", "--run", "2")
    assert then_cli["run"] == 2 and then_cli["resource"] == server
    assert _keys(then_cli["rows"]) == _keys(then_sql)
    assert {(r["principal_name"], r["access"]) for r in then_sql} >= {(DANA, "full"), (SAM, "view")}
    assert _keys([r for r in then_sql if r["how"] == "direct"]) == _review_keys(
        store, 2, resource=server
    )
    # by today's name, run 2 knows no such server
    assert _cli(path, "access", "--to", "Acme Production EU", "--run", "2").exit_code == EXIT_CONFIG


def test_what_a_person_can_do_sql_and_cli_agree_now_and_as_of_an_earlier_run(
    store, emulator, tmp_path
):
    path = _history(store, emulator, tmp_path)
    dana = f"postmark:team_member:{DANA}"
    now_sql = _what_does(sqlite_utils.Database(path), DANA)
    now_cli = _cli_rows(path, "--of", DANA)
    assert now_cli["principal"] == dana
    assert _keys(now_cli["rows"]) == _keys(now_sql) == _review_keys(store, None, principal=dana)
    by_server = {r["resource_name"]: r["access"] for r in now_sql}
    assert by_server["Acme Production EU"] == "view" and by_server["Acme Staging"] == "full"

    old = sqlite_utils.Database(path)
    as_of_views(old.conn, 2)
    then_sql = _what_does(old, DANA)
    then_cli = _cli_rows(path, "--of", DANA.upper(), "--run", "2")
    assert _keys(then_cli["rows"]) == _keys(then_sql) == _review_keys(store, 2, principal=dana)
    assert {r["resource_name"]: r["access"] for r in then_sql}["Acme Production"] == "full"

    # sam is gone now, but was there as of run 2
    assert _cli(path, "access", "--of", SAM).exit_code == EXIT_CONFIG
    assert _cli_rows(path, "--of", SAM, "--run", "2")["rows"]


def test_a_token_by_its_last_four(store, emulator):
    sync_fixture(store, emulator)
    rows = _cli_rows(store.path, "--of", "001a")["rows"]
    assert {r["resource"] for r in rows} >= {"postmark:server:11001"}


def test_ambiguous_and_unknown_names(store, emulator):
    sync_fixture(store, emulator)
    many = _cli(store.path, "access", "--to", "server:1100")
    assert many.exit_code == EXIT_USAGE and "postmark:server:11002" in many.stderr
    unknown = _cli(store.path, "access", "--to", "Acme Prodution")
    assert unknown.exit_code == EXIT_CONFIG and "Acme Production" in unknown.stderr
    both = _cli(store.path, "access", "--to", "x", "--of", "y")
    assert both.exit_code == EXIT_USAGE


def test_csv_output_neutralises_formula_cells(store, emulator):
    emulator.server(11001)["Name"] = '=HYPERLINK("http://evil.example","x")'
    sync_fixture(store, emulator)
    result = _cli(store.path, "access", "--of", "001a", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    names = {r["resource_name"] for r in rows}
    assert '\'=HYPERLINK("http://evil.example","x")' in names
    assert not any(v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())
    nodes = _cli(store.path, "nodes", "--kind", "postmark:server", "--format", "csv")
    assert nodes.exit_code == 0 and "'=HYPERLINK" in nodes.stdout


def test_nodes_by_kind_and_search(store, emulator):
    sync_fixture(store, emulator)
    attest_fixture(store)
    servers = json.loads(_cli(store.path, "nodes", "--kind", "postmark:server", "--json").stdout)
    assert len(servers) == 5 and {s["kind"] for s in servers} == {"postmark:server"}
    found = _cli(store.path, "nodes", "--search", "dana", "--format", "ndjson").stdout
    ids = {json.loads(line)["id"] for line in found.splitlines()}
    assert f"postmark:team_member:{DANA}" in ids
    old = _cli(store.path, "nodes", "--search", "dana", "--run", "1", "--format", "ndjson")
    assert f"postmark:team_member:{DANA}" not in old.stdout  # attested in run 2


def test_datasette_lists_the_views_with_their_metadata(store, emulator):
    import asyncio
    from pathlib import Path

    from datasette.app import Datasette
    from idgraph.graph.store.views import VIEW_DESCRIPTIONS

    metadata = json.loads(
        (Path(__file__).resolve().parents[2] / "docs/datasette-metadata.json").read_text()
    )
    described = metadata["databases"]["idgraph"]["tables"]
    assert {v: described[v]["description"] for v in VIEW_NAMES} == VIEW_DESCRIPTIONS
    sync_fixture(store, emulator)
    attest_fixture(store)

    async def ask():
        ds = Datasette([str(store.path)], metadata=metadata)
        listing = await ds.client.get("/idgraph.json")
        rows = await ds.client.get(
            "/idgraph/access_paths.json?_shape=array&principal_name__contains=dana"
        )
        search = await ds.client.get("/idgraph/node_search.json?_search=dana&_shape=array")
        return listing.json(), rows.json(), search.json()

    listing, rows, search = asyncio.run(ask())
    assert {v["name"] for v in listing["views"]} >= set(VIEW_NAMES)
    assert {r["access"] for r in rows} == {"User", "full", "view"}
    assert any(r["id"] == f"postmark:team_member:{DANA}" for r in search)


def test_runs_findings_and_diff_honour_format(store, emulator):
    sync_fixture(store, emulator)
    attest_fixture(store)
    runs = _cli(store.path, "runs", "--format", "ndjson")
    assert [json.loads(line)["id"] for line in runs.stdout.splitlines()] == [2, 1]
    assert json.loads(_cli(store.path, "runs", "--json").stdout)[0]["id"] == 2
    findings = _cli(store.path, "findings", "--format", "csv")
    assert findings.exit_code == 0, findings.output
    header, *rows = list(csv.reader(io.StringIO(findings.stdout)))
    assert header == ["severity", "check", "node", "message"] and rows
    diff = _cli(store.path, "diff", "1", "2", "--format", "csv")
    assert diff.exit_code == 0, diff.output
    rows = list(csv.DictReader(io.StringIO(diff.stdout)))
    assert {r["source"] for r in rows} == {"attested"} and {r["change"] for r in rows} == {
        "appeared"
    }
    assert [r["what"] for r in rows][:5] == ["member"] * 5  # per member first
    as_json = json.loads(_cli(store.path, "diff", "1", "2", "--json").stdout)
    assert as_json["to_run"] == 2 and len(rows) == len(as_json["members"]) + sum(
        len(items) for part in ("nodes", "edges") for items in as_json[part]["attested"].values()
    )


def test_show_suggests_close_matches(store, emulator):
    sync_fixture(store, emulator)
    result = _cli(store.path, "show", "postmark:server:1101")
    assert result.exit_code == EXIT_CONFIG
    assert "did you mean" in result.stderr and "postmark:server:11001" in result.stderr
    by_name = _cli(store.path, "show", "Acme Prodution")
    assert "postmark:server:11001" in by_name.stderr


def test_log_format_json_one_object_per_line_without_secrets(tmp_path, emulator):
    db = tmp_path / "logs.db"
    token = emulator.account_tokens[0]
    env = {"POSTMARK_ACCOUNT_TOKEN": token, "POSTMARK_API_URL": emulator.url}
    result = CliRunner().invoke(
        cli,
        ["--log-format", "json", "sync", "postmark", "--db", str(db), "--account-label", "acme"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "event"} <= set(line) for line in lines)
    (finished,) = [line for line in lines if line["event"] == "run_finished"]
    assert finished["run"] == 1 and finished["status"] == "complete"
    assert finished["counts"]["nodes"]["created"]["postmark:server"] == 5
    secrets = {token, *(t for s in emulator.servers() for t in s.get("ApiTokens", []))}
    assert not any(secret in result.stderr for secret in secrets)
    (warning,) = [line for line in lines if line["event"] == "sync_warning"]
    assert warning["run"] == 1 and "11005" in warning["message"]


def test_sync_only_some_parts_is_recorded_partial_and_changes_nothing(tmp_path, emulator):
    from idgraph.graph.cli import EXIT_INCOMPLETE
    from idgraph.graph.store import Store

    db = tmp_path / "only.db"
    env = {"POSTMARK_ACCOUNT_TOKEN": emulator.account_tokens[0], "POSTMARK_API_URL": emulator.url}
    args = ["sync", "postmark", "--db", str(db), "--account-label", "acme", "--json"]
    result = CliRunner().invoke(cli, [*args, "--only", "servers,senders"], env=env)
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "partial"
    assert any("not read: domains, streams" in w for w in summary["warnings"])
    assert summary["stats"]["requests"] == 2  # one page of servers, one of senders
    store = Store(db)
    try:
        assert store.row_counts()["node_versions"] == 0
        assert store.run(summary["run_id"]).warnings == summary["warnings"]
    finally:
        store.close()
    bad = CliRunner().invoke(cli, [*args, "--only", "servers,users"], env=env)
    assert bad.exit_code == EXIT_USAGE and "users" in bad.stderr  # a bad option value


def test_the_search_index_follows_renames_and_removals(store, emulator):
    from idgraph.graph.store.views import refresh_search

    sync_fixture(store, emulator)
    db = sqlite_utils.Database(store.path)

    def found(words):
        return {
            row["id"]
            for row in db.query(
                "SELECT id FROM node_search WHERE rowid IN (SELECT rowid FROM node_search_fts "
                "WHERE node_search_fts MATCH ?)",
                [words],
            )
        }

    assert "postmark:server:11002" in found('"staging"')
    emulator.server(11002)["Name"] = "Acme Preview"
    emulator.servers().remove(emulator.server(11003))
    sync_fixture(store, emulator)
    assert "postmark:server:11002" in found('"preview"')
    assert "postmark:server:11002" not in found('"staging"')
    assert "postmark:server:11003" not in found('"billing"')
    assert refresh_search(db) == db.execute("SELECT COUNT(*) FROM current_nodes").fetchone()[0]


def test_a_server_by_its_id_alone_and_who_reaches_it_implied(store, emulator):
    """`--to 11001` is the server, not its streams; admins and the Account token reach it
    through their account-wide rights (implied), members through their own access."""
    sync_fixture(store, emulator)
    attest_fixture(store)
    answer = _cli_rows(store.path, "--to", "11001")
    assert answer["resource"] == "postmark:server:11001"
    how = {r["principal"]: r["how"] for r in answer["rows"]}
    assert how["postmark:team_member:it-admin@acme-corp.example"].startswith("implied")
    assert how["postmark:team_member:pat.owner@acme-corp.example"].startswith("implied")
    assert how["postmark:team_member:dana.ops@acme-corp.example"] == "direct"
    account_tokens = [p for p in how if p.startswith("postmark:account_token:")]
    assert account_tokens and how[account_tokens[0]].startswith("implied")


def test_admins_have_one_role_row_not_a_row_per_server(store, emulator):
    """An owner's or admin's access is their role: revoking it is changing the role, so the
    review offers no per-server row the UI could not act on."""
    from idgraph.graph.review import build_review

    sync_fixture(store, emulator)
    attest_fixture(store)
    rows = build_review(store).rows
    admin = "postmark:team_member:it-admin@acme-corp.example"
    assert [(r.access_kind, r.access) for r in rows if r.principal == admin] == [
        ("postmark:member_of", "Account Admin")
    ]


def test_a_server_created_after_the_attestation_is_reached_by_owners_and_admins(store, emulator):
    """Owners and admins see every server, new ones included: their role reaches a server
    created after the attestation, with no re-attestation."""
    sync_fixture(store, emulator)
    attest_fixture(store)
    new = dict(emulator.account["Servers"][0], ID=11999, Name="Acme New")
    new["ApiTokens"] = ["11999aaa-0000-4000-8000-000000000001"]
    emulator.account["Servers"].append(new)
    assert sync_fixture(store, emulator).status == "complete"
    answer = _cli_rows(store.path, "--to", "Acme New")
    assert answer["resource"] == "postmark:server:11999"
    humans = {
        r["principal_name"]: r["how"] for r in answer["rows"] if r["principal_type"] == "human"
    }
    assert set(humans) == {"pat.owner@acme-corp.example", "it-admin@acme-corp.example"}
    assert all(how.startswith("implied") for how in humans.values())
