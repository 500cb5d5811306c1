"""The pack's evidence (docs/evidence.md): manifest.intoto.json, its Ed25519 signature,
`idgraph verify`, the run ledger and a reproducible pack. The envelope and the signature are
checked here with `cryptography` and hashlib alone, not through idgraph's code."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
import subprocess

import pytest
import sqlite_utils
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from idgraph.graph.store import Store
from idgraph.graph.store.migrations import migrations

from ..host.test_evidence import invoke, signing_key
from .fixtures import MEMBERS_FILE, attest_fixture, sync_fixture

MANIFEST = "manifest.intoto.json"


@pytest.fixture
def db(tmp_path, emulator):
    path = tmp_path / "idgraph.db"
    store = Store(path)
    try:
        sync_fixture(store, emulator)
        attest_fixture(store, evidence=str(MEMBERS_FILE))
    finally:
        store.close()
    return path


@pytest.fixture
def key(tmp_path):
    return signing_key(tmp_path)


def export(db, out, *extra):
    result = invoke("export", "--db", db, "--out", out, *extra)
    assert result.exit_code == 0, result.output
    return out


def edit(path, *statements: str) -> None:
    """Change the database file with sqlite3 alone, as someone covering tracks would."""
    connection = sqlite3.connect(path)
    with connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()


def _pae(payload_type: bytes, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding, written out from the specification."""
    return b"DSSEv1 " + b" ".join(
        [str(len(payload_type)).encode(), payload_type, str(len(payload)).encode(), payload]
    )


def test_the_signed_envelope_verifies_without_idgraph(db, key, tmp_path):
    pack = export(db, tmp_path / "pack", "--sign", key)
    envelope = json.loads((pack / MANIFEST).read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(envelope["payload"])
    [signature] = envelope["signatures"]
    public = load_pem_public_key((key.parent / "signing.pem.pub").read_bytes())
    # raises InvalidSignature unless the key signed exactly this payload and type
    public.verify(
        base64.b64decode(signature["sig"]), _pae(b"application/vnd.in-toto+json", payload)
    )
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "urn:idgraph:predicate:access-review-evidence:v1"
    files = sorted(p.name for p in pack.iterdir() if p.name != MANIFEST)
    assert {"report.html", "review.csv", "review.xlsx", "graph.json"} <= set(files)
    assert [s["name"] for s in statement["subject"]] == files
    for subject in statement["subject"]:
        digest = hashlib.sha256((pack / subject["name"]).read_bytes()).hexdigest()
        assert subject["digest"] == {"sha256": digest}
    predicate = statement["predicate"]
    sync_run = next(s for s in predicate["sources"] if s["kind"] == "sync")
    assert sync_run["credentialFingerprint"].startswith("sha256:")
    assert sync_run["collection"]["listings"]["GET /servers"]["total_count"] == 5
    [attestation] = predicate["attestations"]
    assert attestation["attestedBy"] == "a@acme-corp.example"
    assert attestation["evidenceSha256"] == hashlib.sha256(MEMBERS_FILE.read_bytes()).hexdigest()
    assert predicate["population"]["postmark:server"] == 5
    assert predicate["ledger"]["digest"] and predicate["signature"]["algorithm"] == "ed25519"


def test_verify_names_each_changed_missing_and_added_file(db, key, tmp_path):
    pack = export(db, tmp_path / "pack", "--sign", key)
    public = key.parent / "signing.pem.pub"
    result = invoke("verify", pack, "--key", public)
    assert result.exit_code == 0, result.output
    assert "signature good" in result.output
    report = bytearray((pack / "report.html").read_bytes())
    report[len(report) // 2] ^= 0x01  # one flipped bit
    (pack / "report.html").write_bytes(bytes(report))
    (pack / "graph.json").unlink()
    (pack / "extra.txt").write_text("slipped in")
    result = invoke("verify", pack, "--key", public)
    assert result.exit_code == 1
    assert "report.html: changed" in result.output
    assert "graph.json: missing" in result.output
    assert "extra.txt: added" in result.output


def test_verify_refuses_another_key_and_an_unsigned_manifest(db, key, tmp_path):
    pack = export(db, tmp_path / "pack", "--sign", key)
    other = tmp_path / "other.pem"
    assert invoke("keygen", "--out", other).exit_code == 0
    result = invoke("verify", pack, "--key", f"{other}.pub")
    assert result.exit_code == 1
    assert "signed by another key" in result.output
    unsigned = export(db, tmp_path / "unsigned")
    envelope = json.loads((unsigned / MANIFEST).read_text())
    assert envelope["signatures"] == []
    assert "unsigned" in json.loads(base64.b64decode(envelope["payload"]))["predicate"]["signature"]
    assert invoke("verify", unsigned).exit_code == 0
    result = invoke("verify", unsigned, "--key", f"{other}.pub")
    assert result.exit_code == 1 and "not signed" in result.output


def test_a_forged_payload_fails_the_signature(db, key, tmp_path):
    pack = export(db, tmp_path / "pack", "--sign", key)
    envelope = json.loads((pack / MANIFEST).read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["accessPaths"] += 1
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (pack / MANIFEST).write_text(json.dumps(envelope))
    result = invoke("verify", pack, "--key", key.parent / "signing.pem.pub")
    assert result.exit_code == 1 and "bad signature" in result.output


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_an_openssl_key_signs_and_openssl_checks_the_digests(db, tmp_path):
    key = tmp_path / "ossl.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    public = tmp_path / "ossl.pub"
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", public], check=True)
    pack = export(db, tmp_path / "pack", "--sign", key)
    assert invoke("verify", pack, "--key", public).exit_code == 0
    envelope = json.loads((pack / MANIFEST).read_text())
    payload = base64.b64decode(envelope["payload"])
    (tmp_path / "pae.bin").write_bytes(_pae(envelope["payloadType"].encode(), payload))
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(envelope["signatures"][0]["sig"]))
    checked = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin"]
        + ["-in", tmp_path / "pae.bin", "-sigfile", tmp_path / "sig.bin"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and "Verified Successfully" in checked.stdout
    statement = json.loads(payload)
    for subject in statement["subject"]:  # as docs/evidence.md has an auditor do it
        done = subprocess.run(
            ["openssl", "dgst", "-sha256", "-r", pack / subject["name"]],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.split()[0] == subject["digest"]["sha256"]


def test_the_same_run_exported_twice_is_the_same_bytes(db, key, tmp_path):
    first = export(db, tmp_path / "one", "--sign", key)
    second = export(db, tmp_path / "two", "--sign", key)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert "review.xlsx" in names and MANIFEST in names
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


# -- the run ledger -------------------------------------------------------------------------


def test_verify_db_names_the_run_whose_history_was_edited(tmp_path, emulator, account):
    path = tmp_path / "idgraph.db"
    store = Store(path)
    sync_fixture(store, emulator)
    emulator.account["Servers"][0]["Name"] = "Renamed"  # run 2 closes and opens a version
    sync_fixture(store, emulator)
    store.close()
    result = invoke("verify", "--db", path)
    assert result.exit_code == 0, result.output
    assert "ledger of 2 run(s) matches" in result.output
    edit(
        path,
        "UPDATE node_versions SET attrs = attrs || ' ' WHERE rowid = (SELECT rowid FROM "
        "node_versions WHERE opened_run = 1 AND kind = 'postmark:server' LIMIT 1)",
    )
    result = invoke("verify", "--db", path)
    assert result.exit_code == 1
    assert "run 1:" in result.output and "no longer matches" in result.output


def _write_run(store: Store, nodes, edges) -> int:
    account = {"scope": "postmark:acme", "account_label": "acme", "plugin_versions": {}}
    run = store.start_run(kind="sync", connector="postmark", **account)
    store.finish_run(run, status="complete", nodes=nodes, edges=edges)
    return run


def test_the_write_chains_its_rows_without_reading_them_back(tmp_path):
    """The ledger digest at write time is taken from the rows just written (opened, changed
    and closed, ids sorted as SQL sorts them), and is the digest `verify --db` recomputes
    from the tables; a row SQL would read back otherwise (an integer id) is read back."""
    from idgraph.graph.model import Edge, Node
    from idgraph.graph.store import chain

    path = tmp_path / "idgraph.db"
    store = Store(path)
    ids = ["postmark:server:b", "postmark:server:Z", "postmark:server:é", "postmark:server:a"]
    nodes = [Node(i, "postmark:server", attrs={"name": i[-1], "n": 1}) for i in ids]
    edges = [Edge(a, b, "postmark:can_access") for a, b in zip(ids, ids[1:], strict=False)]
    _write_run(store, nodes, edges)
    nodes[0].attrs["name"] = "renamed"  # run 2 changes one, removes one, adds one
    nodes[-1] = Node("postmark:server:\U0001f600", "postmark:server", attrs={})
    edges[1] = Edge(edges[1].src, edges[1].dst, edges[1].kind, discriminator="second")
    reads: list[str] = []
    store.conn.set_trace_callback(reads.append)
    _write_run(store, nodes, edges)
    store.conn.set_trace_callback(None)
    read_back = [s for s in reads if s.startswith("SELECT") and "_run = 2 ORDER BY" in s]
    assert not read_back
    stored = chain.ledger_digests(store.conn, [1, 2])
    assert stored == {run: chain.run_digest(store.conn, run, stored.get(run - 1)) for run in (1, 2)}
    assert chain.verify_chain(store.conn) == (2, None)
    _write_run(store, [*nodes, Node(7, "postmark:server")], edges)  # type: ignore[arg-type]
    assert chain.verify_chain(store.conn) == (3, None)  # the integer id: read back from SQL
    store.close()


def test_a_write_pauses_the_garbage_collector_and_resumes_it(tmp_path):
    """A run's rows are stored with the cyclic collector paused (they make no cycles; a
    collection would walk the whole graph in memory), and it runs again after."""
    import gc

    from idgraph.graph.model import Node

    store = Store(tmp_path / "idgraph.db")
    seen: list[bool] = []
    run = store.start_run(kind="sync", connector="postmark", scope="postmark:acme",
                          account_label="acme", plugin_versions={})  # fmt: skip
    nodes = [Node("postmark:server:1", "postmark:server")]
    store.finish_run(run, status="complete", nodes=nodes, also=lambda: seen.append(gc.isenabled()))
    assert seen == [False] and gc.isenabled()
    store.close()


def test_a_removed_run_breaks_the_chain(tmp_path, emulator):
    path = tmp_path / "idgraph.db"
    store = Store(path)
    for _ in range(3):
        sync_fixture(store, emulator)
    store.close()
    edit(path, "DELETE FROM runs WHERE id = 2")
    result = invoke("verify", "--db", path)
    assert result.exit_code == 1 and "run 3 is ledger entry 3" in result.output


def test_an_older_database_gets_its_chain_when_migrated(tmp_path, emulator):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m006_evidence")
    old.close()
    edit(
        path,
        "PRAGMA user_version = 5",
        "INSERT INTO runs (id, kind, connector, scope, started, finished, status) VALUES "
        "(1, 'sync', 'postmark', 'postmark:acme', '2026-01-01', '2026-01-01', 'complete')",
        "INSERT INTO node_versions (scope, id, kind, source, attrs, hash, first_seen, "
        "opened_run) VALUES ('postmark:acme', 'x', 'postmark:server', 'api', '{}', 'h', 1, 1)",
    )
    Store(path).close()  # migrates: the existing run is chained
    assert invoke("verify", "--db", path).exit_code == 0
    edit(path, "UPDATE node_versions SET attrs = '{\"a\": 1}' WHERE id = 'x'")
    result = invoke("verify", "--db", path)
    assert result.exit_code == 1 and "run 1:" in result.output


def test_the_pack_is_tied_to_the_database_it_came_from(db, tmp_path, emulator):
    pack = export(db, tmp_path / "pack")
    assert invoke("verify", pack, "--db", db).exit_code == 0
    other = tmp_path / "other.db"
    store = Store(other)
    sync_fixture(store, emulator)
    attest_fixture(store)
    store.close()
    result = invoke("verify", pack, "--db", other)
    assert result.exit_code == 1 and "not the database's" in result.output


# -- the sign-off ---------------------------------------------------------------------------


def _decide(db, pack, tmp_path, reviewer_of=lambda row: "", *extra: str):
    """Fill every row of the pack's review.csv with keep and import it."""
    import csv

    with (pack / "review.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row.update(decision="keep", justification="needed", reviewer=reviewer_of(row))
    filled = tmp_path / "filled.csv"
    with filled.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows, invoke(
        "review", "import", filled, "--reviewer", "boss@acme-corp.example", "--db", db, *extra
    )


def test_the_sign_off_is_recorded_with_the_decisions_and_in_the_manifest(db, tmp_path):
    pack = export(db, tmp_path / "pack")
    statement = "I reviewed every access path of this run; the decisions are mine."
    rows, result = _decide(db, pack, tmp_path, lambda row: "", "--sign-off", statement)
    assert result.exit_code == 0, result.output
    again = export(db, tmp_path / "again")
    envelope = json.loads((again / MANIFEST).read_text())
    decisions = json.loads(base64.b64decode(envelope["payload"]))["predicate"]["decisions"]
    assert decisions["byDecision"] == {"keep": len(rows)}
    [sign_off] = decisions["signOffs"]
    assert sign_off["by"] == "boss@acme-corp.example" and sign_off["statement"] == statement
    html = (again / "report.html").read_text()
    summary = html[html.index('id="evidence"') : html.index("<header>")]  # first thing
    assert statement in summary and "boss@acme-corp.example" in summary
    assert "Signed off by ____" not in html


def test_an_empty_sign_off_is_refused_and_nothing_stored(db, tmp_path):
    pack = export(db, tmp_path / "pack")
    _rows, result = _decide(db, pack, tmp_path, lambda row: "", "--sign-off", "  ")
    assert result.exit_code == 3 and "--sign-off" in result.output
    assert not (pack / "remediation.md").exists()


def test_the_summary_flags_self_review_and_reviewers_with_account_wide_roles(db, tmp_path):
    """dana decides on her own access; the Account Admin decides the rest while holding a
    role that spans the account: both flagged in the summary, with the API's totals."""
    from idgraph.graph.exporters.report_evidence import evidence_summary
    from idgraph.graph.review import build_review

    dana, admin = "dana.ops@acme-corp.example", "it-admin@acme-corp.example"
    pack = export(db, tmp_path / "pack")
    rows, result = _decide(
        db, pack, tmp_path, lambda row: dana if row["principal"].endswith(dana) else admin
    )
    assert result.exit_code == 0, result.output
    store = Store(db)
    try:
        summary = evidence_summary(build_review(store))
    finally:
        store.close()
    by_reviewer = {r["reviewer"]: r for r in summary["reviewers"]}
    danas = sum(1 for row in rows if row["principal"].endswith(dana))
    assert by_reviewer[dana]["self_review"] == danas > 0
    assert by_reviewer[dana]["admin_over_reviewed"] == 0
    assert by_reviewer[admin]["admin_over_reviewed"] == len(rows) - danas
    assert summary["remediation"] == {"open": 0, "done": 0}
    servers = next(r for r in summary["reconciled"] if r["endpoint"] == "GET /servers")
    assert (servers["total"], servers["kept"], servers["match"]) == (5, 5, True)
    html = (export(db, tmp_path / "again") / "report.html").read_text()
    first_screen = html[html.index('id="evidence"') : html.index("<header>")]
    assert "GET /servers: TotalCount 5, 5 kept" in first_screen
    assert first_screen.count('class="flagged"') == 3  # dana's and the admin's own; the role


def test_an_attestation_is_stale_as_of_the_run_not_the_clock(tmp_path, emulator):
    """A run whose attestation was valid when it ran reads the same after the expiry: no
    file of its pack depends on the day it is exported."""
    from datetime import UTC, datetime, timedelta

    path = tmp_path / "idgraph.db"
    store = Store(path)
    sync_fixture(store, emulator)
    attest_fixture(store, valid_days=5, now=datetime.now(UTC) - timedelta(days=10))
    store.close()
    eight_days_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat(timespec="seconds")
    edit(path, f"UPDATE runs SET started = '{eight_days_ago}', finished = '{eight_days_ago}'")
    pack = export(path, tmp_path / "pack")
    assert "attestation-stale" not in (pack / "review.csv").read_text(encoding="utf-8-sig")
    html = (pack / "report.html").read_text()
    assert "attestation stale" not in html and "valid at the run" in html


def test_a_migration_that_rewrites_rows_can_chain_anew(tmp_path, emulator):
    from idgraph.graph.store.chain import rechain

    path = tmp_path / "idgraph.db"
    store = Store(path)
    sync_fixture(store, emulator)
    sync_fixture(store, emulator)
    store.close()
    edit(path, "UPDATE node_versions SET attrs = attrs || ' ' WHERE opened_run = 1")
    assert invoke("verify", "--db", path).exit_code == 1
    connection = sqlite3.connect(path)
    with connection:
        rechain(connection)
    connection.close()
    assert invoke("verify", "--db", path).exit_code == 0


def test_verify_pack_with_db_names_a_decision_edited_after_the_export(db, tmp_path):
    """The pack records its decisions' digest; `verify PACK --db` recomputes it from the
    database, so a revoke turned into a keep with sqlite3 no longer passes."""
    pack = export(db, tmp_path / "pack")
    _rows, result = _decide(db, pack, tmp_path)
    assert result.exit_code == 0, result.output
    decided = export(db, tmp_path / "decided")
    assert invoke("verify", decided, "--db", db).exit_code == 0
    edit(db, "UPDATE review_decisions SET justification = 'edited' WHERE id = 1")
    result = invoke("verify", decided, "--db", db)
    assert result.exit_code == 1
    assert "decisions stored in the database are not the ones the pack recorded" in (result.output)


def test_verify_without_a_key_says_the_signature_was_not_checked(db, key, tmp_path):
    pack = export(db, tmp_path / "pack", "--sign", key)
    result = invoke("verify", pack)
    assert result.exit_code == 0
    assert "signature was NOT checked" in result.output
