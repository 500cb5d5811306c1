"""A second connector proves the boundary: the example Tasklane plugin (tests/example_connector),
installed only through the "idgraph" entry-point group, runs through the real `idgraph` CLI
beside Postmark, in one database, with nothing of it in the host."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import idgraph.graph
import pytest
from idgraph.connector.postmark.emulator import PostmarkEmulator, load_fixture

EXAMPLE = Path(__file__).resolve().parent / "example_connector"
EXPORT = EXAMPLE / "tasklane-export.json"
IDGRAPH = Path(sys.executable).parent / "idgraph"
FAST = ["--retries", "4", "--backoff", "0.01", "--max-backoff", "0.05", "--max-wait", "5"]
DANA = "dana.ops@acme-corp.example"


class Cli:
    """The installed `idgraph` command, with the example plugin on PYTHONPATH."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(IDGRAPH), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=False,
        )
        assert result.returncode == code, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Postmark (through the emulator, no --account-label, twice) and Tasklane synced into
    one database, Tasklane's members attested, and the review pack exported."""
    tmp = tmp_path_factory.mktemp("two-connectors")
    with PostmarkEmulator(load_fixture()) as emu:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(EXAMPLE), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "IDGRAPH_LOAD_PLUGINS": "postmark,tasklane",
            "IDGRAPH_DB": str(tmp / "idgraph.db"),
            "POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0],
            "POSTMARK_API_URL": emu.url,
            "TASKLANE_API_KEY": "tl-example-key-0001",
        }
        env.pop("TASKLANE_EXPORT_FILE", None)
        cli = Cli(env, tmp)
        postmark = [cli.json("sync", "postmark", *FAST) for _ in range(2)]
    tasklane = cli.json("sync", "tasklane", "--export-file", str(EXPORT), "--account-label", "acme")
    template = cli("attest", "template", "tasklane").stdout
    header = next(csv.reader(io.StringIO(template.lstrip("\ufeff"))))
    members = {
        DANA: ["Dana Ops", "Owner", "yes"],
        "lee.dev@acme-corp.example": ["Lee Dev", "Member", "no"],
        "sam.contractor@outside.example": ["Sam Contractor", "Member", ""],
    }
    access = {  # per project column, for the members that are not the owner
        "lee.dev@acme-corp.example": {"Platform": "edit", "Mobile App": "edit"},
        "sam.contractor@outside.example": {"Mobile App": "read", "Incident Response": "none"},
    }
    with (tmp / "members.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for email, (name, role, two_factor) in members.items():
            given = access.get(email, {})
            # a column is `project:<id> <name>`
            projects = [given.get(c.split(" ", 1)[1], "") for c in header[4:]]
            writer.writerow([email, name, role, two_factor, *projects])
    imported = cli.json(
        "attest",
        "import",
        "tasklane",
        str(tmp / "members.csv"),
        "--attested-by",
        "reviewer@acme-corp.example",
    )
    pack = cli.json("export", "--out", str(tmp / "pack"))
    return {
        "cli": cli,
        "tmp": tmp,
        "postmark": postmark,
        "tasklane": tasklane,
        "header": header,
        "imported": imported,
        "pack": pack,
    }


def test_the_example_registers_through_the_entry_point(world):
    rows = {row["name"]: row for row in world["cli"].json("plugins")}
    assert rows["tasklane"]["version"] == "0.1.0"  # the dist-info's version: an entry point
    assert set(rows["tasklane"]["hooks"]) == {
        "register_connectors",
        "register_schemas",
        "register_member_formats",
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
