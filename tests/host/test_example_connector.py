"""The host with no Postmark at all: the example Tasklane connector (tests/example_connector),
installed only through the "idgraph" entry-point group and the only plugin loaded, syncs,
attests its members through the host and gets its review pack; nothing of it is in the host
(tests/postmark/test_two_connectors.py: Tasklane beside Postmark in one database)."""

import csv
from pathlib import Path

import idgraph.graph
import pytest

from .example import DANA, EXAMPLE, example_cli, sync_and_attest_tasklane


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tasklane alone synced, its members attested, and the review pack exported."""
    tmp = tmp_path_factory.mktemp("tasklane-alone")
    cli = example_cli(tmp, "tasklane")
    attested = sync_and_attest_tasklane(cli)
    pack = cli.json("export", "--out", str(tmp / "pack"))
    return {"cli": cli, "tmp": tmp, **attested, "pack": pack}


def test_the_review_runs_on_the_example_alone(world):
    assert world["tasklane"]["status"] == "complete"
    plugins = {row["name"] for row in world["cli"].json("plugins")}
    assert "postmark" not in plugins
    with (world["tmp"] / "pack" / "review.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert {row["principal"].split(":")[0] for row in rows} == {"tasklane"}
    assert {(row["principal_type"], row["access_kind"]) for row in rows} == {
        ("human", "tasklane:member_of"),
        ("human", "tasklane:can_access"),
        ("credential", "tasklane:grants"),
    }
    dana = {row["principal"] for row in rows if DANA in row["principal"]}
    assert dana == {f"tasklane:member:{DANA}"}


def test_the_example_registers_through_the_entry_point(world):
    rows = {row["name"]: row for row in world["cli"].json("plugins")}
    assert rows["tasklane"]["version"] == "0.1.0"  # the dist-info's version: an entry point
    assert set(rows["tasklane"]["hooks"]) == {
        "register_connectors",
        "register_schemas",
        "register_member_formats",
    }


def test_the_members_attest_through_the_host(world):
    assert world["header"][:4] == ["email", "name", "role", "two_factor"]
    assert sorted(world["header"][4:]) == [
        "project:p_inc Incident Response",
        "project:p_mob Mobile App",
        "project:p_plat Platform",
    ]
    assert world["imported"]["members"] == 3
    member = world["cli"].json("show", "tasklane:member:lee.dev@acme-corp.example")
    assert member["attributes"]["project_access"] == {"p_plat": "edit", "p_mob": "edit"}
    assert member["attributes"]["source"] == "attested"


def test_a_bad_member_file_is_refused_by_the_host(world):
    bad = world["tmp"] / "bad.csv"
    bad.write_text(",".join(world["header"]) + "\n" + f"{DANA},Dana,Boss,yes,,,\n")
    result = world["cli"](
        "attest", "import", "tasklane", str(bad), "--attested-by", "r@acme-corp.example", code=3
    )
    assert "'Boss' is not a Tasklane role (known: Owner, Admin, Member)" in result.stderr


def test_a_required_option_is_required(world):
    result = world["cli"]("sync", "tasklane", code=2)
    assert "Missing option '--export-file'" in result.stderr


def test_the_host_never_names_the_example():
    graph_dir = Path(idgraph.graph.__path__[0])
    named = [
        str(path)
        for path in graph_dir.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and "tasklane" in path.read_text(errors="replace").lower()
    ]
    assert named == []


def test_the_example_imports_only_idgraph_plugin():
    import ast

    imported = set()
    for path in (EXAMPLE / "idgraph_tasklane").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert {m for m in imported if m.split(".")[0] == "idgraph"} == {"idgraph.plugin"}
