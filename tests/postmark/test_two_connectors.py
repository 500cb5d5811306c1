"""A second connector proves the boundary: the example Tasklane plugin (tests/example_connector),
installed only through the "idgraph" entry-point group, runs through the real `idgraph` CLI
beside Postmark, in one database, with nothing of it in the host."""

import csv
from pathlib import Path

import pytest
from idgraph.connector.postmark.emulator import PostmarkEmulator, load_fixture

from ..host.example import DANA, Cli, example_cli, sync_and_attest_tasklane

FAST = ["--retries", "4", "--backoff", "0.01", "--max-backoff", "0.05", "--max-wait", "5"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Postmark (through the emulator, no --account-label, twice) and Tasklane synced into
    one database, Tasklane's members attested, and the review pack exported."""
    tmp = tmp_path_factory.mktemp("two-connectors")
    with PostmarkEmulator(load_fixture()) as emu:
        cli = example_cli(
            tmp,
            "postmark,tasklane",
            POSTMARK_ACCOUNT_TOKEN=emu.account_tokens[0],
            POSTMARK_API_URL=emu.url,
        )
        postmark = [cli.json("sync", "postmark", *FAST) for _ in range(2)]
    attested = sync_and_attest_tasklane(cli)
    pack = cli.json("export", "--out", str(tmp / "pack"))
    return {
        "cli": cli,
        "tmp": tmp,
        "postmark": postmark,
        **attested,
        "pack": pack,
    }


def test_postmark_without_a_label_twice_is_one_account(world):
    first, second = world["postmark"]
    assert first["status"] == second["status"] == "complete"
    runs = world["cli"].json("runs")
    scopes = {run["scope"] for run in runs if run["kind"] == "sync"}
    postmark_scopes = {s for s in scopes if s.startswith("postmark:")}
    assert len(postmark_scopes) == 1, scopes
    assert scopes == postmark_scopes | {"tasklane:acme"}
    (label,) = {s.removeprefix("postmark:") for s in postmark_scopes}
    status = {row["connector"]: row for row in world["cli"].json("attest", "status")}
    assert status["postmark"]["account_label"] == label
    assert status["postmark"]["status"] == "none"
    assert status["tasklane"]["account_label"] == "acme"
    assert status["tasklane"]["status"] == "valid"
    text = world["cli"]("attest", "status").stdout
    assert f"postmark account {label}" in text


def test_both_connectors_join_on_one_person_node(world):
    shown = world["cli"].json("show", f"person:{DANA}")
    sources = {edge["from"] for edge in shown["in_edges"]}
    assert "postmark:sender_signature:9003" in sources  # Postmark's sender signature
    assert f"tasklane:member:{DANA}" in sources  # Tasklane's attested member
    assert "tasklane:project:p_plat" in sources  # and the projects she owns


def test_the_review_pack_carries_tasklane_rows_in_every_file(world):
    out = world["tmp"] / "pack"
    with (out / "review.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    tasklane = [r for r in rows if r["principal"].startswith("tasklane:")]
    kinds = {(r["principal_type"], r["access_kind"]) for r in tasklane}
    assert kinds == {
        ("human", "tasklane:member_of"),
        ("human", "tasklane:can_access"),
        ("credential", "tasklane:grants"),
    }
    assert any(r["principal"].startswith("postmark:") for r in rows)
    key = next(r for r in tasklane if r["principal"] == "tasklane:api_key:key_ci")
    assert key["access"] == "write"
    assert key["path"].startswith("tasklane:account:acme -tasklane:has_api_key->")
    assert len(world["pack"]["files"]) >= 7
    for written in world["pack"]["files"]:
        if Path(written).name == "bloodhound-custom-nodes.json":  # icons per kind only
            continue
        path = world["tmp"] / written if not Path(written).is_absolute() else Path(written)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        text = "".join(_text_of(p) for p in files)
        assert "tasklane:" in text, f"{written} names no Tasklane node"


def _text_of(path: Path) -> str:
    """A file's text; a workbook's cell values (read with openpyxl, as Excel would)."""
    if path.suffix == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True)
        return "".join(
            str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row
        )
    if path.name == "manifest.intoto.json":  # a DSSE envelope: its statement, base64
        import base64
        import json

        return base64.b64decode(json.loads(path.read_text())["payload"]).decode()
    return path.read_text(encoding="utf-8")


def test_a_database_with_tasklane_read_without_its_plugin_exits_3_naming_it(world):
    """Without the plugin, its kinds are unknown: the export would leave every Tasklane row
    out and exit 0. It says which plugin is missing; --allow-missing-plugins goes on."""
    cli = world["cli"]
    postmark_only = Cli({**cli.env, "IDGRAPH_LOAD_PLUGINS": "postmark"}, cli.cwd)
    out = world["tmp"] / "without-tasklane"
    for command in (
        ["export", "--out", str(out)],
        ["access", "--of", DANA],
        ["nodes"],
        ["show", f"person:{DANA}"],
        ["findings"],
    ):
        refused = postmark_only(*command, code=3)
        assert "connector(s) whose plugin is not loaded: 'tasklane' (runs" in refused.stderr
        assert "--allow-missing-plugins" in refused.stderr
        assert len(refused.stderr.splitlines()) == 1 and "Traceback" not in refused.stderr
    assert not out.exists()  # nothing written
    allowed = postmark_only("export", "--out", str(out), "--allow-missing-plugins")
    assert "warning: plugin(s) not loaded: 'tasklane'" in allowed.stderr
    with (out / "review.csv").open(encoding="utf-8-sig") as f:
        principals = {row["principal"].split(":")[0] for row in csv.DictReader(f)}
    assert principals == {"postmark"}
    cli("export", "--out", str(world["tmp"] / "with-tasklane"))  # with it: no word of it
