"""`idgraph diff` compares like with like: syncs with syncs, attestations with attestations,
and tells attested changes per member, provenance once per import."""

import json
from datetime import UTC, datetime

from click.testing import CliRunner
from idgraph.graph.cli import EXIT_CONFIG, cli

from .fixtures import MEMBERS_FILE, attest_fixture, sync_fixture


def _diff(db, *args):
    return CliRunner().invoke(cli, ["diff", *args, "--db", str(db)])


def test_an_attestation_after_a_sync_leaves_diff_on_the_syncs(store, emulator):
    first = sync_fixture(store, emulator)
    was = (emulator.server(11001).get("Color") or "").lower() or None
    emulator.server(11001)["Color"] = "Turquoise"
    second = sync_fixture(store, emulator)
    attest_fixture(store)  # the latest run now: an attestation
    result = _diff(store.path)
    assert result.exit_code == 0, result.output
    head = result.output.splitlines()[0]
    assert (
        head
        == f"Changes from run {first.run_id} to run {second.run_id} (syncs of postmark:acme): 1"
    )
    assert f"postmark:server:11001  color: {was!r} -> 'turquoise'" in result.output
    assert "team_member" not in result.output  # the attestation is not a sync's change
    as_json = json.loads(_diff(store.path, "--json").output)
    assert (as_json["from_run"], as_json["to_run"]) == (first.run_id, second.run_id)
    assert as_json["nodes"]["attested"] == {} and as_json["members"] == []


def test_an_attested_diff_lists_the_real_change_first_and_provenance_once(
    store, emulator, tmp_path
):
    sync_fixture(store, emulator)
    earlier = attest_fixture(store, now=datetime(2026, 9, 1, tzinfo=UTC))
    sync_fixture(store, emulator)  # a sync between the two attestations changes nothing here
    members = tmp_path / "members.csv"
    members.write_text(
        MEMBERS_FILE.read_text().replace(
            "dana.ops@acme-corp.example,Dana Ops,User,yes,full,",
            "dana.ops@acme-corp.example,Dana Ops,User,yes,view,",
        )
    )
    later = attest_fixture(
        store, members, now=datetime(2026, 12, 1, tzinfo=UTC), attested_by="b@acme-corp.example"
    )
    result = _diff(store.path, "--attested")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0] == (
        f"Changes from run {earlier['run_id']} to run {later['run_id']} "
        "(attestations of attested:postmark:acme): 1"
    )
    assert lines[1] == "attested members (1)"
    assert lines[2] == (
        "  postmark:team_member:dana.ops@acme-corp.example changed: "
        "access to postmark:server:11001: 'full' -> 'view'"
    )
    assert lines[3] == (
        f"attested provenance import {earlier['run_id']} -> {later['run_id']} (5 members)"
    )
    provenance = lines[4]
    for field in ("attested_by", "attested_at", "expires_at", "file_sha256", "import_id"):
        assert f"{field}: " in provenance
        assert sum(line.count(f"{field}:") for line in lines) == 1  # never per member
    assert len(lines) == 5
    as_json = json.loads(_diff(store.path, "--attested", "--json").output)
    [line] = as_json["provenance"]
    assert line["members"] == 5 and line["fields"]["attested_by"] == [
        "a@acme-corp.example",
        "b@acme-corp.example",
    ]


def test_without_two_runs_of_a_kind_diff_says_what_to_do(store, emulator):
    sync_fixture(store, emulator)
    attest_fixture(store)
    result = _diff(store.path)
    assert result.exit_code == EXIT_CONFIG
    assert "no complete sync of postmark:acme before run 1" in result.output
    assert "--attested" in result.output and "Traceback" not in result.output
    result = _diff(store.path, "--attested")
    assert result.exit_code == EXIT_CONFIG
    assert "no complete attestation of attested:postmark:acme before run 2" in result.output
    assert _diff(store.path, "1", "2").exit_code == 0  # any two runs, named
