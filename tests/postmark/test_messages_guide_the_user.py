"""What the command line says where a user would be stuck: the kinds it takes, hints for an
option in the wrong place, the commands the demo prints, every file an export wrote, each
finding's description, close matches, every problem of a member file in one pass."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.commands import invoked_as
from idgraph.connector.postmark.options import PostmarkOptions
from idgraph.connector.postmark.plugin import PostmarkConnector
from idgraph.graph.cli import EXIT_CONFIG, cli
from idgraph.graph.cli_base import EXIT_API
from idgraph.graph.interfaces import SourceError
from idgraph.graph.store import Store

from .fixtures import MEMBERS_FILE, attest_fixture, sync_fixture

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, **kwargs):
    return CliRunner().invoke(cli, list(args), **kwargs)


def test_kind_takes_a_connectors_short_name_or_lists_the_known_kinds(store, emulator):
    sync_fixture(store, emulator)
    db = str(store.path)
    short = _cli("nodes", "--kind", "server", "--db", db, "--format", "json")
    full = _cli("nodes", "--kind", "postmark:server", "--db", db, "--format", "json")
    assert short.exit_code == 0 and json.loads(short.stdout) == json.loads(full.stdout) != []
    unknown = _cli("nodes", "--kind", "serverz", "--db", db)
    assert unknown.exit_code == 2
    assert (
        "no such node kind; known kinds:" in unknown.output and "postmark:server" in unknown.output
    )


def test_a_removed_members_lookup_says_when_it_was_last_seen(store, emulator, tmp_path):
    sync_fixture(store, emulator)
    first = attest_fixture(store)["run_id"]
    lines = MEMBERS_FILE.read_text().splitlines()
    members = tmp_path / "members.csv"
    members.write_text("\n".join(line for line in lines if not line.startswith("lee@")) + "\n")
    second = attest_fixture(store, members)["run_id"]
    result = _cli("access", "--of", "lee@agency-partner.example", "--db", str(store.path))
    assert result.exit_code == 3
    assert f"was last seen in run {first} (gone as of run {second})" in result.output


def test_sync_options_before_the_connector_name_get_a_hint(tmp_path):
    result = _cli("sync", "--db", str(tmp_path / "x.db"))
    assert result.exit_code == 2
    assert "name the connector before its options: `idgraph sync NAME --db" in result.output
    assert "connectors: postmark" in result.output


def test_the_demo_prints_commands_that_work_where_the_quick_start_leaves_you(tmp_path):
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    program = venv / "idgraph"
    program.write_text("#!/bin/sh\n")
    assert invoked_as(".venv/bin/idgraph") == ".venv/bin/idgraph"  # not on PATH
    assert invoked_as("idgraph") == "idgraph"  # typed bare: found on PATH
    assert invoked_as("/usr/lib/python3/pytest") == "idgraph"
    on_path = shutil.which("idgraph")
    if on_path:
        assert invoked_as(on_path) == "idgraph"


def test_export_lists_every_file_it_wrote_and_the_sync_summary_explains_counts(
    store, emulator, tmp_path
):
    sync_fixture(store, emulator)
    attest_fixture(store)
    attest_fixture(store)  # a baseline: review.csv also writes access-removed.csv
    out = tmp_path / "pack"
    result = _cli("export", "--db", str(store.path), "--out", str(out), "--since", "2", "--json")
    assert result.exit_code == 0, result.output
    listed = {Path(p).name for p in json.loads(result.stdout)["files"]}
    on_disk = {p.name for p in out.iterdir()}
    assert on_disk <= listed, on_disk - listed
    assert {"access-removed.csv", "bloodhound-custom-nodes.json"} <= listed
    env = {"POSTMARK_ACCOUNT_TOKEN": emulator.account_tokens[0], "POSTMARK_API_URL": emulator.url}
    fresh = _cli("sync", "postmark", "--db", str(tmp_path / "new.db"), env=env)
    assert fresh.exit_code == 0, fresh.output
    assert "a first sync creates everything it sees" in fresh.output
    assert "of them nodes" in fresh.output


def test_a_failed_runs_error_shows_in_runs(tmp_path):
    store = Store(tmp_path / "idgraph.db")
    run = store.start_run(
        kind="sync", connector="postmark", scope="postmark:acme", account_label="acme",
        plugin_versions={},
    )  # fmt: skip
    store.finish_run(run, status="failed", errors=["API 401: the token was refused"])
    store.close()
    result = _cli("runs", "--db", str(tmp_path / "idgraph.db"))
    assert result.exit_code == 0
    assert "API 401: the token was refused" in result.output


def test_every_finding_a_check_makes_has_its_own_description(store, emulator):
    from idgraph.connector.postmark.checks import Attestation, WebhookRisks
    from idgraph.graph.exporters.report_model import Names, finding_groups
    from idgraph.graph.review import build_review

    for check in (WebhookRisks(), Attestation()):
        texts = list(check.descriptions.values())
        assert len(set(texts)) == len(texts) and all(texts)
    sync_fixture(store, emulator)
    attest_fixture(store)
    context = build_review(store)
    groups = finding_groups(context, Names(context))["groups"]
    descriptions = {g["check"]: g["description"] for g in groups}
    assert all(descriptions.values()), [c for c, d in descriptions.items() if not d]
    assert "member-no-2fa" in descriptions
    webhook = [d for c, d in descriptions.items() if c.startswith("webhook-")]
    assert len(set(webhook)) == len(webhook) > 1


def test_report_counts_of_zero_are_not_red_and_the_matrix_keeps_emails_whole(
    store, emulator, tmp_path
):
    sync_fixture(store, emulator)
    attest_fixture(store)
    out = tmp_path / "pack"
    assert (
        _cli("export", "--db", str(store.path), "--out", str(out), "--format", "html").exit_code
        == 0
    )
    html = (out / "report.html").read_text()
    cards = re.findall(r'class="card (sev-\w+)" href="#findings"><b>(\d+)</b>', html)
    assert cards and all((sev == "sev-none") == (count == "0") for sev, count in cards)
    template = (ROOT / "graph/exporters/templates/report.html.j2").read_text()
    assert 'sev-{{ sev.severity if sev.count else "none" }}' in template  # a zero is grey
    css = (ROOT / "graph/exporters/templates/report.css").read_text()
    assert ".matrix .lbl .nm,.matrix .lbl .id" in css and "white-space:nowrap" in css


def test_datasette_metadata_for_any_file_name(store, emulator, tmp_path):
    import asyncio

    from datasette.app import Datasette
    from idgraph.graph.datasette import datasette_metadata

    docs = json.loads((ROOT / "docs/datasette-metadata.json").read_text())
    assert datasette_metadata("idgraph") == docs
    sync_fixture(store, emulator)
    db = tmp_path / "acme-q4.db"
    with sqlite3.connect(db) as copy:  # the WAL's pages included
        store.db.conn.backup(copy)
    result = _cli("datasette-metadata", "--db", str(db))
    metadata = json.loads(result.stdout)
    assert list(metadata["databases"]) == ["acme-q4"]

    async def ask():
        ds = Datasette([str(db)], metadata=metadata)
        page = await ds.client.get("/acme-q4/access_paths")
        return page.text

    assert "Access paths" in asyncio.run(ask())


def test_the_member_import_lists_every_problem_in_one_pass_with_a_did_you_mean(
    store, emulator, tmp_path
):
    from idgraph.connector.postmark.members import MEMBER_FORMAT
    from idgraph.graph.attestation import AttestationInvalid, import_members

    sync_fixture(store, emulator)
    text = MEMBERS_FILE.read_text()
    text = text.replace("server:Acme Staging", "server:Acme Stageing")  # a header problem
    text = text.replace("Sam Dev,User", "Sam Dev,Superuser")  # a cell problem
    text = text.replace("IT Admin,Account Admin", "IT Admin,Owner")  # two owners
    members = tmp_path / "members.csv"
    members.write_text(text)
    try:
        import_members(
            store, MEMBER_FORMAT, members, label="acme", attested_by="a@acme-corp.example",
            evidence=None, valid_days=90,
        )  # fmt: skip
    except AttestationInvalid as exc:
        problems = "\n".join(exc.problems)
    else:
        raise AssertionError("imported")
    assert "(did you mean 'server:11002 Acme Staging'?)" in problems  # not every name
    assert "'Superuser' is not a Postmark role" in problems
    assert "exactly one owner is needed, found 2" in problems


def test_corroborate_starts_with_a_summary_and_lists_a_limited_number(store, emulator):
    sync_fixture(store, emulator)
    attest_fixture(store)
    db = str(store.path)
    full = json.loads(_cli("attest", "corroborate", "postmark", "--db", db, "--json").stdout)
    groups = {k: v for k, v in full.items() if isinstance(v, list)}
    result = _cli("attest", "corroborate", "postmark", "--db", db, "--limit", "1")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("Summary: ")
    for key, items in groups.items():
        assert f"{len(items)} {key.replace('_', ' ')}" in first
    longest = max(len(v) for v in groups.values())
    assert longest > 1 and f"... and {longest - 1} more" in result.output


def test_corroborate_of_an_account_never_synced_is_exit_three(store, emulator):
    """An unknown --account-label is said, as attest import and template say it (it was
    exit 0 with empty lists: a clean result to a scheduler)."""
    sync_fixture(store, emulator)
    db = str(store.path)
    result = _cli("attest", "corroborate", "postmark", "--db", db, "--account-label", "nope",
                  "--json")  # fmt: skip
    assert result.exit_code == EXIT_CONFIG
    said = json.loads(result.stdout)["error"]
    assert said.startswith("no complete sync of Postmark account 'nope'")


def test_a_long_form_member_template_round_trips_and_names_a_bad_row(store, emulator, tmp_path):
    from idgraph.graph.access import read_access
    from idgraph.graph.schema import registry

    sync_fixture(store, emulator)
    attest_fixture(store)
    db = str(store.path)

    def access_now():
        found = read_access(store, store.complete_run(), registry()).explicit
        return {r.triple() for r in found if r.principal_type == "human"}

    before = access_now()
    long_file = tmp_path / "long.csv"
    made = _cli("attest", "template", "postmark", "--long", "--out", str(long_file), "--db", db)
    assert made.exit_code == 0, made.output
    lines = long_file.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "email,name,role,two_factor,resource,access"
    assert len(lines[0].split(",")) == 6  # whatever the number of servers
    args = ["attest", "import", "postmark", str(long_file), "--attested-by", "a@acme-corp.example"]
    imported = _cli(*args, "--db", db)
    assert imported.exit_code == 0, imported.output
    assert access_now() == before  # the same access as the wide file said
    bad = tmp_path / "bad.csv"
    rows = [*lines, "dana.ops@acme-corp.example,Dana Ops,User,yes,99999 Nowhere,full"]
    bad.write_text("\n".join(rows) + "\n")
    refused = _cli(
        "attest", "import", "postmark", str(bad), "--attested-by", "a@acme-corp.example", "--db", db
    )
    assert refused.exit_code == 3
    assert f"row {len(rows)}: column 'resource': '99999 Nowhere'" in refused.output


def _first_sync_with(token: str, emulator, db: Path):
    """A sync with `token` as the Account token against a new database, and the requests
    the emulator was sent."""
    sent: list[str] = []
    emulator.before_request = lambda method, path, _query: sent.append(f"{method} {path}")
    env = {"POSTMARK_ACCOUNT_TOKEN": token, "POSTMARK_API_URL": emulator.url}
    args = ["sync", "postmark", "--db", str(db), "--retries", "0", "--backoff", "0.01"]
    return _cli(*args, env=env), sent


def _failed_run_error(db: Path) -> str:
    store = Store(db)
    try:
        [run] = store.runs()
        assert run.status == "failed" and len(run.errors) == 1
        return run.errors[0]
    finally:
        store.close()


def test_a_server_token_is_named_by_the_first_sync_too(emulator, account, tmp_path):
    """A Server token as POSTMARK_ACCOUNT_TOKEN against a new database: the account listing's
    401 asks the API what the token is (one more request, GET /server), and the line names
    the server, as a database that knows an account does (`verify_credential`)."""
    server = account["Servers"][0]
    token = server["ApiTokens"][0]
    with pytest.raises(SourceError) as known_db_says:
        PostmarkConnector().verify_credential(token, PostmarkOptions(api_url=emulator.url))
    expected = str(known_db_says.value)
    assert f"holds a Server token (of server {server['ID']}, '{server['Name']}')" in expected
    result, sent = _first_sync_with(token, emulator, tmp_path / "idgraph.db")
    assert result.exit_code == EXIT_API, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(expected), result.output
    assert "If the value given" not in result.output and token not in result.output
    assert sent.count("GET /server") == 1
    assert _failed_run_error(tmp_path / "idgraph.db") == expected


@pytest.mark.parametrize("case", ["refused as either kind", "GET /server fails"])
def test_a_refused_token_not_identified_keeps_the_listings_own_message(
    emulator, account, tmp_path, case
):
    """When the API does not say the token is a Server token (it refuses it as either kind,
    or the question itself fails), the first sync says what the listing's 401 said."""
    token = "not-a-token-0000"
    if case == "GET /server fails":
        token = account["Servers"][0]["ApiTokens"][0]
        emulator.inject("status", match=r"^GET /server\?", status=503, times=10)
    result, sent = _first_sync_with(token, emulator, tmp_path / "idgraph.db")
    assert result.exit_code == EXIT_API, result.output
    assert sent.count("GET /server") == 1  # it was asked
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "GET /servers refused the token (HTTP 401)" in result.output
    assert "If the value given is a Server token" in result.output
    assert "GET /servers refused the token" in _failed_run_error(tmp_path / "idgraph.db")
