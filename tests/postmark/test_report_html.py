"""report.html's content: changes since the last review, decisions and sign-off, findings
grouped by check (no browser needed; tests/postmark/test_report_browser.py opens it in Chromium)."""

from __future__ import annotations

import csv
import re
from html import unescape
from pathlib import Path

import orjson
import pytest
from idgraph.connector.postmark.members import MEMBER_FORMAT
from idgraph.graph.attestation import template_rows
from idgraph.graph.decisions import import_decisions
from idgraph.graph.exporters.report_html import HtmlReportExporter
from idgraph.graph.review import REVIEW_COLUMNS, build_review
from idgraph.graph.secrets import fingerprint
from idgraph.graph.store import Store

from .fixtures import MEMBERS_FILE, attest_fixture, fixture_secrets, sync_fixture

NEW_TOKEN = "00000000-fa6e-4000-8000-00000000b0b0"


def _export(store: Store, folder: Path, **review) -> str:
    folder.mkdir(exist_ok=True)
    path = HtmlReportExporter().export(build_review(store, **review), folder)
    return path.read_text(encoding="utf-8")


def _text(html: str) -> str:
    """The page's text, tags dropped, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def _change_counts(html: str) -> dict[str, int]:
    return {
        label: int(count)
        for label, count in re.findall(
            r'<th><a href="#change-[a-z_]+">([a-z ]+)</a></th><td>(\d+)</td>', html
        )
    }


@pytest.fixture
def reviewed(tmp_path, emulator):
    """Quarter 1 synced, attested, exported, decided (lee revoked); then the account changes
    (a rename, a rotated token, a sender removed, a server added) and is synced again."""
    store = Store(tmp_path / "idgraph.db")
    sync_fixture(store, emulator)
    attest_fixture(store)
    first = build_review(store)
    review_csv = tmp_path / "review.csv"
    with review_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REVIEW_COLUMNS)
        for row in first.review_rows:
            cells = row.cells()
            if row.principal.endswith("lee@agency-partner.example"):
                cells |= {"decision": "revoke", "justification": "agency <b>contract</b> ended"}
            elif row.principal_type == "credential":
                cells |= {"decision": "keep", "reviewer": "ops@acme-corp.example"}
            writer.writerow([cells[c] for c in REVIEW_COLUMNS])
    import_decisions(store, review_csv, reviewer="lead@acme-corp.example", out_dir=tmp_path)
    emulator.server(11001)["Name"] = "Acme Prod"
    old_token = emulator.server(11002)["ApiTokens"][0]
    emulator.server(11002)["ApiTokens"] = [NEW_TOKEN]
    emulator.account["SenderSignatures"] = [
        s for s in emulator.account["SenderSignatures"] if s["ID"] != 9002
    ]
    emulator.account["Servers"].append(
        {
            **emulator.server(11004),
            "ID": 11099,
            "Name": "Brand New",
            "ApiTokens": [],
            "Webhooks": [],
        }
    )
    second = sync_fixture(store, emulator)
    assert second.status == "complete"
    yield store, tmp_path, first.run.id, old_token
    store.close()


def test_changes_since_the_last_reviewed_run_by_default(reviewed, account):
    store, folder, reviewed_run, old_token = reviewed
    html = _export(store, folder / "pack")
    text = _text(html)
    assert f"What changed since run {reviewed_run}" in text
    assert "the last run whose review decisions were imported" in text
    counts = _change_counts(html)
    assert counts["credentials rotated"] == 1
    # the server, and the send-as scope whose summary name lost a confirmed sender
    assert counts["resources renamed"] == 2
    assert counts["resources added"] == 1 and counts["resources removed"] == 1
    assert counts["members added"] == counts["members removed"] == 0
    # the rotated token's rows are told as a rotation, not as access added and removed
    assert counts["access added"] == counts["access removed"] == 0, counts
    total = re.search(r"What changed since run \d+ \((\d+)\)", text)
    assert total and int(total.group(1)) == sum(counts.values())
    assert f"{fingerprint(old_token)} (…{old_token[-4:]})" in text
    assert f"{fingerprint(NEW_TOKEN)} (…{NEW_TOKEN[-4:]})" in text
    assert "Acme Production → Acme Prod" in text
    assert "Brand New" in text
    # no secret, old or new, reaches the page
    secrets = fixture_secrets(account) | {NEW_TOKEN}
    assert [s for s in secrets if s in html] == []


def test_since_option_overrides_the_default(reviewed):
    store, folder, _reviewed_run, _old = reviewed
    first_sync = min(r.id for r in store.runs() if r.kind == "sync")
    html = _export(store, folder / "pack", since=first_sync)
    text = _text(html)
    assert f"What changed since run {first_sync}" in text
    counts = _change_counts(html)
    assert counts["members added"] == 5  # attested after the first sync


def test_decisions_and_sign_off_on_the_page(reviewed):
    store, folder, reviewed_run, _old = reviewed
    html = _export(store, folder / "pack")
    text = _text(html)
    assert f"Decisions imported for run {reviewed_run}" in text
    assert "agency &lt;b&gt;contract&lt;/b&gt; ended" in html  # escaped, shown
    assert "lead@acme-corp.example" in text and "ops@acme-corp.example" in text
    # lee's access is still there after the last sync: both revokes are open, with the step
    assert "Remediation still open (2)" in text
    assert "Account > Users" in text
    sign_off = text[text.rindex("Sign-off") :]  # the decisions' (the summary has one too)
    assert re.search(r"Decisions \d+ keep, 2 revoke, 0 modify", sign_off)
    assert "Remediation open 2" in sign_off
    # imported without --sign-off: said so, never a blank line to fill in
    assert "No sign-off statement recorded" in sign_off and "____" not in sign_off


def test_without_a_baseline_the_page_says_so(tmp_path, emulator):
    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    attest_fixture(store)
    text = _text(_export(store, tmp_path / "pack"))
    store.close()
    assert "No earlier review to compare with" in text
    assert "No review decisions imported yet" in text


def test_findings_grouped_by_check_with_why_and_counts(tmp_path, emulator):
    from idgraph.graph.plugins import get_checks

    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    attest_fixture(store)
    context = build_review(store)
    html = _export(store, tmp_path / "pack")
    store.close()
    text = _text(html)
    by_check: dict[str, int] = {}
    for finding in context.findings:
        by_check[finding.check] = by_check.get(finding.check, 0) + 1
    groups = re.findall(r'<details class="group" data-f data-t="([^"]+)">', html)
    assert sorted(groups) == sorted(by_check)
    for check, count in by_check.items():
        assert re.search(rf"{re.escape(check)} {count} ", text), check
    severities = {s: sum(1 for f in context.findings if f.severity == s) for s in ("high",)}
    for severity in ("high", "medium", "low"):
        n = sum(1 for f in context.findings if f.severity == severity)
        assert f"{n} {severity} finding" in text  # a card for each, low included
    assert severities["high"] >= 1
    # each group says why it matters: its check's description
    assert get_checks()["smtp-api-enabled"].description in text
    # a check making several findings describes each (issue 25: not one text for all)
    webhook = {c for c in by_check if c.startswith("webhook-")}
    assert webhook
    for check in webhook:
        assert get_checks()["webhook"].descriptions[check] in unescape(html)


def test_report_benchmark_quick(tmp_path):
    """bench/report.py runs at CI size so it cannot rot (no time is asserted)."""
    import json
    import subprocess
    import sys

    out = tmp_path / "figures.json"
    bench = Path(__file__).resolve().parents[2] / "bench" / "report.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (figures,) = json.loads(out.read_text())
    assert figures["servers"] == 30 and figures["bytes"] > 0 and figures["rows"] > 30
    assert "| servers |" in done.stdout


def test_a_modify_reads_as_the_same_change_in_remediation_md_and_the_report(tmp_path, emulator):
    store = Store(tmp_path / "idgraph.db")
    sync_fixture(store, emulator)
    attest_fixture(store)
    review_csv = tmp_path / "review.csv"
    with review_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REVIEW_COLUMNS)
        for row in build_review(store).review_rows:
            cells = row.cells()
            if (
                row.principal.endswith("dana.ops@acme-corp.example")
                and row.access_kind == "postmark:can_access"
                and cells["resource_name"] == "Acme Production"
            ):
                cells |= {"decision": "modify", "justification": "view is enough"}
            writer.writerow([cells[c] for c in REVIEW_COLUMNS])
    import_decisions(store, review_csv, reviewer="lead@acme-corp.example", out_dir=tmp_path)
    remediation = (tmp_path / "remediation.md").read_text(encoding="utf-8")
    [step] = [line for line in remediation.splitlines() if line.startswith("- step: ")]
    step = step.removeprefix("- step: ")
    assert "from full to *View only*" in step and "No access" not in step
    text = _text(_export(store, tmp_path / "pack"))
    store.close()
    open_steps = text[text.index("Remediation still open (1)") : text.index("Every decision")]
    assert re.sub(r"\*+", "", step) in open_steps  # the same sentence, emphasis as plain text
    assert "No access" not in open_steps


def test_before_attestation_the_summary_says_not_attested_and_counts_the_servers(
    tmp_path, emulator, account
):
    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    text = _text(_export(store, tmp_path / "pack1"))
    servers = len(account["Servers"])
    assert "– team members: not attested run idgraph attest" in text
    assert f"{servers} servers" in text and "0 resources" not in text
    assert f"Per server ({servers})" in text
    attest_fixture(store)
    text = _text(_export(store, tmp_path / "pack2"))
    store.close()
    assert "not attested" not in text and "5 team members 2 with an account-wide role" in text
    assert f"Per server ({servers})" in text


def test_an_account_of_admins_only_still_has_a_column_per_server(tmp_path, emulator, account):
    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    admins = tmp_path / "admins.csv"
    admins.write_text("\n".join(MEMBERS_FILE.read_text().splitlines()[:3]) + "\n")
    attest_fixture(store, admins)
    text = _text(_export(store, tmp_path / "pack3"))
    store.close()
    assert f"Per server ({len(account['Servers'])})" in text


def test_the_summary_names_the_unattested_account_as_of_the_run(tmp_path, emulator, account):
    from idgraph.connector.postmark.emulator import PostmarkEmulator

    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    acme_attested = attest_fixture(store)["run_id"]
    beta_account = {**account, "AccountTokens": ["00000000-beta-4000-8000-000000000001"]}
    with PostmarkEmulator(beta_account) as beta:
        sync_fixture(store, beta, label="beta")
    latest = _text(_export(store, tmp_path / "latest"))
    then = _text(_export(store, tmp_path / "then", run_id=acme_attested))
    store.close()
    assert "team members: not attested (beta)" in latest and "(acme)" not in latest
    assert "not attested" not in then  # beta was not synced yet as of that run


def test_a_step_names_the_server_by_id_and_shows_its_controls_escaped(tmp_path, emulator):
    """Two servers of one name, one of them carrying a right-to-left override and a CR:
    remediation.md and the report's open steps name each by its ID, and no raw control
    character reaches either (it would reverse the rest of the step, or split a heading)."""
    emulator.server(11001)["Name"] = "evil\u202etxt.exe\r=1+1"
    emulator.server(11002)["Name"] = "evil\u202etxt.exe\r=1+1"
    store = Store(tmp_path / "idgraph.db")
    sync_fixture(store, emulator)
    members = tmp_path / "members.csv"
    header, _rows = template_rows(store, MEMBER_FORMAT, "acme")
    columns = len(header) - 4
    members.write_text(
        ",".join(header) + "\n"
        + "pat.owner@acme-corp.example,Pat,Account Owner,yes" + "," * columns + "\n"
        + "dana.ops@acme-corp.example,Dana,User,yes" + ",full" * columns + "\n"
    )  # fmt: skip
    attest_fixture(store, members)
    review_csv = tmp_path / "review.csv"
    with review_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REVIEW_COLUMNS)
        for row in build_review(store).review_rows:
            cells = row.cells()
            if row.principal.endswith("dana.ops@acme-corp.example") and row.resource in (
                "postmark:server:11001",
                "postmark:server:11002",
            ):
                cells |= {"decision": "revoke", "justification": "left the team"}
            writer.writerow([cells[c] for c in REVIEW_COLUMNS])
    import_decisions(store, review_csv, reviewer="lead@acme-corp.example", out_dir=tmp_path)
    remediation = (tmp_path / "remediation.md").read_text(encoding="utf-8")
    steps = [line for line in remediation.splitlines() if line.startswith("- step: ")]
    assert len(steps) == 2
    assert "(ID 11001)" in steps[0] + steps[1] and "(ID 11002)" in steps[0] + steps[1]
    assert "\u202e" not in remediation and "\r" not in remediation
    assert "\\u202e" in remediation  # shown, escaped
    html = _export(store, tmp_path / "pack")
    store.close()
    opened = html[html.index("Remediation still open") : html.index("Every decision")]
    outside_names = re.sub(r"<bdi>.*?</bdi>", "", opened, flags=re.S)  # isolated: fine
    assert "\u202e" not in outside_names and "\r" not in outside_names
    assert "(ID 11001)" in opened and "(ID 11002)" in opened
    assert "evil\\u202etxt.exe" in opened  # the step shows it escaped


def test_matrix_cells_alike_are_one_shared_cell(tmp_path, emulator):
    """A report of thousands of resources and hundreds of people holds one cell per kind of
    cell (value, implied), not one dict per person x resource: at 100,000 nodes the latter
    took the full export past 2 GB; and a row names them by a byte each (a list of 15,000
    references per person was 60 MB)."""
    from idgraph.graph.exporters.report_model import Names, access_matrix

    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    attest_fixture(store)
    context = build_review(store)
    matrix = access_matrix(context, Names(context))
    store.close()
    cells = [c for p in matrix["people"] for c in p["cells"]]
    kinds = {(c["value"], c["implied"]) for c in cells}
    assert len(cells) > len(kinds) > 1
    assert len({id(c) for c in cells}) == len(kinds)
    # each row a byte per cell, indexes into the kinds every row shares: no list of cells
    for person in matrix["people"]:
        row = person["cells"]
        assert type(row.codes) is bytearray and len(row.codes) == len(matrix["resources"])
        assert [row[i] for i in range(len(row))] == list(row)


def test_a_large_runs_report_is_the_same_without_the_whole_graph(tmp_path, emulator, monkeypatch):
    """Above the picture's size the report reads what it shows (node names and kinds, the
    edges out of its resources and into its credentials) with SQL scans, never networkx's
    graph of the whole run: the same model as from the whole graph."""
    from idgraph.graph import review
    from idgraph.graph.exporters import report_model

    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    attest_fixture(store)
    monkeypatch.setattr(report_model, "PICTURE_MAX_NODES", 0)  # every run counts as large
    whole = build_review(store)
    assert whole.graph  # loaded: the report reads networkx's graph, as for a small run
    expected = report_model.report_model(whole)
    monkeypatch.setattr(review, "load_graph", lambda *a, **k: pytest.fail("graph loaded"))
    lean = build_review(store)
    model = report_model.report_model(lean)
    store.close()
    assert {k: v for k, v in model.items() if k != "lazy"} == {
        k: v for k, v in expected.items() if k != "lazy"
    }
    page_data = orjson.dumps(model["lazy"])  # the blocks are serialised as they are made
    assert page_data == orjson.dumps(expected["lazy"])
    assert any(block[3] for block in orjson.loads(page_data)["r"])  # a resource's children
    assert any(c["holders"] for c in model["creds"]["credentials"])
    assert model["summary"]["edges"] > model["summary"]["nodes"] > 0


def _lean_sections(tmp_path, emulator):
    """The fixture's store, the report's names over a `_LeanGraph`, its resource sections."""
    from idgraph.graph.exporters.report_model import (
        Names,
        _LeanGraph,
        access_matrix,
        resource_sections,
    )

    store = Store(tmp_path / "db")
    sync_fixture(store, emulator)
    attest_fixture(store)
    context = build_review(store)
    names = Names(context, graph=_LeanGraph(context))
    matrix = access_matrix(context, names)
    return store, names, resource_sections(context, names, matrix, {})


def test_report_sections_share_their_alike_entries(tmp_path, emulator):
    """A resource's section names each person with access by one entry per person and kind
    of cell, shared between the resources, and the report's edges alike are one object:
    at 100,000 nodes a dict per (person, resource) and per edge was most of the report's
    memory. The edges into the credentials are let go once the credentials are made."""
    from idgraph.graph.exporters.report_model import credential_principals

    store, names, made = _lean_sections(tmp_path, emulator)
    sections = [next(made)]  # every resource's out-edges read
    keydicts = [keys for succ in names.graph._succ.values() for keys in succ.values()]
    assert len(keydicts) > len({id(k) for k in keydicts})
    sections += made
    assert not names.graph._succ  # each section's edges let go once it was made
    entries = [m for section in sections for m in section["members"]]
    alike = {(m["id"], m["access"], m["implied"]) for m in entries}
    assert len(entries) > len(alike) and len({id(m) for m in entries}) == len(alike)
    # the edges into the credentials are read for them, then let go
    creds = credential_principals(names.graph.context, names, {})
    assert any(c["holders"] for c in creds["credentials"]) and not names.graph._pred
    store.close()


class _Section(dict):
    """A section dict that a weak reference can watch."""


def test_report_page_data_lets_each_section_go_once_serialised(tmp_path, emulator):
    """The per-resource sections are made one at a time and each is serialised into the
    page's data (compact JSON) as it comes: at 100,000 nodes every section held at once, and
    its lists of the page's data, were about 120 MB of the report's memory."""
    import weakref

    from idgraph.graph.exporters import report_model

    store, _names, sections = _lean_sections(tmp_path, emulator)
    assert not isinstance(sections, list)  # made as they are asked for
    made = [_Section(section) for section in sections]
    expected = [[m["id"] for m in section["members"]] for section in made]
    watched: list[weakref.ref] = []

    def one_at_a_time():
        while made:
            if len(watched) >= 2:  # the one before the last is gone: serialised, let go
                assert watched[-2]() is None
            section = made.pop(0)
            watched.append(weakref.ref(section))
            yield section
            del section

    lazy = report_model.drawn_when_opened(
        {"resources": one_at_a_time(), "findings": {"groups": []}, "creds": {"credentials": []}}
    )
    store.close()
    assert len(watched) == len(expected) > 2 and all(ref() is None for ref in watched)
    assert isinstance(lazy["r"], orjson.Fragment)  # compact JSON, no list per block
    data = orjson.loads(orjson.dumps(lazy))
    table = data["s"]
    assert [[table[m[1]] for m in block[1]] for block in data["r"]] == expected


def test_a_part_two_resources_share_keeps_its_edges_until_the_last_of_them():
    """The lean graph lets each section's out-edges go once made, but a part under two
    resources keeps its edges until the second's section."""
    from idgraph.graph.exporters.report_model import _LeanGraph

    graph = object.__new__(_LeanGraph)  # the edges alone, no store
    graph._succ = {"a": {"shared": {}, "x": {}}, "b": {"shared": {}}, "shared": {"t": {}}, "x": {}}
    last = graph.last_readers(["a", "b"])
    graph.let_go("a", 0, last)
    assert set(graph._succ) == {"b", "shared"}
    graph.let_go("b", 1, last)
    assert not graph._succ


def test_the_lean_graphs_nodes_are_tuples_read_as_dicts():
    """A large run's nodes are held as tuples (the attribute names shared by the nodes
    alike), read as networkx's attribute dicts: a dict per node was 15 MB at 100,000."""
    from idgraph.graph.exporters.report_model import _NodeView

    nodes = _NodeView(
        [("a", {"kind": "k", "name": "A"}), ("b", {"kind": "k", "name": "B"}), ("c", {"kind": "j"})]
    )
    assert nodes["a"] == {"kind": "k", "name": "A"} and "c" in nodes and len(nodes) == 3
    assert dict(nodes(data=True))["c"] == {"kind": "j"} and list(nodes()) == ["a", "b", "c"]
    assert all(type(held) is tuple for held in nodes._held.values())
    assert nodes._held["a"][0] is nodes._held["b"][0]
