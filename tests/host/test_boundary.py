"""The plugin boundary, enforced: the import contracts (import-linter), what the CLI loads at
start-up, no connector's name in the host, and no connector imported by the host's tests."""

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import idgraph.graph
import pytest

import idgraph

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def normal_tree(dest: Path) -> Path:
    """A copy of the imported `idgraph` package as one ordinary directory tree.

    grimp (under lint-imports) finds `idgraph` and walks its directory. This project maps
    graph/ and connector/ into the package (setuptools package-dir), so an editable install's
    `idgraph` directory is src/idgraph alone and grimp reports "Module 'idgraph.graph' does
    not exist"; a plain `pip install .` has one normal tree in site-packages. Copying each
    mapped package from where Python imports it (`__path__`) gives the same normal tree in
    both cases, of exactly the code under test."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    package = dest / "idgraph"
    shutil.copytree(idgraph.__path__[0], package, ignore=ignore, dirs_exist_ok=True)
    # the connector package's folder, found without importing it (tests/host imports none)
    connector = importlib.util.find_spec("idgraph.connector").submodule_search_locations[0]
    for name, folder in (("graph", idgraph.graph.__path__[0]), ("connector", connector)):
        if Path(folder).resolve() != (package / name).resolve():
            shutil.rmtree(package / name, ignore_errors=True)
            shutil.copytree(folder, package / name, ignore=ignore)
    return package


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH puts the copy before site-packages and before the editable finder (which
    # setuptools appends to sys.meta_path, after the path finder)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_import_contracts_are_kept(tmp_path):
    normal_tree(tmp_path)
    result = lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "connector/postmark/collector.py",
            "import idgraph.graph.store",
            "A connector imports only idgraph.plugin of the host",
        ),
        (
            "connector/postmark/_models.py",
            "import idgraph.plugin",
            "The Postmark API client stands alone",
        ),
        ("graph/review.py", "import idgraph.connector.postmark.names", "The host does not know"),
        (
            "plugin/__init__.py",
            "import idgraph.graph.cli",
            "The plugin API's types do not depend on the command line",
        ),
        (
            "graph/store/database.py",
            "import idgraph.graph.schema",
            "The store reaches no engine, command or plugin machinery",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, contract):
    package = normal_tree(tmp_path)
    target = package / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert re.search(rf"^{re.escape(contract)}.* BROKEN$", result.stdout, re.M), result.stdout


# The import graph of the whole product (grimp, the graph import-linter reads), as a set of
# strongly connected components: a component of more than one module is an import circle.
# Imports under `if TYPE_CHECKING:` are left out (they never run).
CYCLES_SCRIPT = """
import grimp, networkx
graph = grimp.build_graph("idgraph", exclude_type_checking_imports=True, cache_dir=None)
edges = networkx.DiGraph()
for module in graph.modules:
    for imported in graph.find_modules_directly_imported_by(module):
        edges.add_edge(module, imported)
for component in networkx.strongly_connected_components(edges):
    if len(component) > 1:
        print(" <-> ".join(sorted(component)))
"""


def import_circles(tree: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        [sys.executable, "-c", CYCLES_SCRIPT],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def test_no_import_circle_in_the_product(tmp_path):
    normal_tree(tmp_path)
    assert import_circles(tmp_path) == []


def test_an_import_circle_is_found(tmp_path):
    package = normal_tree(tmp_path)
    target = package / "graph" / "schema.py"  # schema.py <-> queries.py, as it once was
    target.write_text(target.read_text() + "\nfrom .store import views  # noqa\n")
    views = package / "graph" / "store" / "views.py"
    views.write_text(views.read_text() + "\nfrom .. import schema  # noqa\n")
    assert import_circles(tmp_path) == ["idgraph.graph.schema <-> idgraph.graph.store.views"]


def imported_modules(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }


def test_the_cli_module_loads_no_connector_and_no_networkx():
    modules = imported_modules("import idgraph.graph.cli")
    assert "idgraph.graph.cli" in modules  # the parse works
    assert not {m for m in modules if m == "networkx" or m.startswith("networkx.")}
    assert not {m for m in modules if m.startswith("idgraph.connector")}


def test_the_plugin_types_load_no_command_line():
    code = "import idgraph.plugin, sys; assert 'click' not in sys.modules, 'click loaded'"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


def test_the_plugin_types_load_no_store_sync_or_networkx():
    modules = imported_modules("import idgraph.plugin")
    assert "idgraph.plugin" in modules  # the parse works
    loaded = {m for m in modules if m.split(".")[0] in ("click", "rich", "networkx")}
    loaded |= {m for m in modules if m.startswith(("idgraph.graph.store", "idgraph.graph.sync"))}
    assert loaded == set()


def test_a_plugin_finds_its_command_helpers_in_plugin_cli():
    from idgraph.plugin import cli as plugin_cli

    assert {"Failure", "run_sync", "user_errors", "db_option", "click_options"} <= set(
        plugin_cli.__all__
    )


# The lines of the host that still say "postmark": each an example in a docstring or comment.
POSTMARK_IN_THE_HOST = {
    ("cli.py", '"""idgraph: the identity graph of apps with no user API (Postmark first).'),
    ("cli.py", 'postmark`); only a complete run changes the graph."""'),
    ("model.py", '"""The id of a node of `kind` (e.g. `postmark:server`) with `key`."""'),
    (
        "attest_cli.py",
        '"""Team members read off an app\'s web UI '
        '(for apps with no member API, e.g. Postmark)."""',
    ),
    (
        "plugins.py",
        "the Postmark connector is this distribution's own entry point and always loads.",
    ),
    (
        "exporters/governance.py",
        "(`IDG_PostmarkServer`, from the kind string), source kind `IDG_Base` (on every node), "
        "flat",
    ),
    (
        "schema.py",
        '"Node ids are `<namespace>:<kind>:<key>` (e.g. `postmark:server:11001`), except the "',
    ),
}


def host_lines_naming(word: str) -> set[tuple[str, str]]:
    """(file under graph/, stripped line) of every line naming `word`, case-insensitive."""
    graph_dir = Path(idgraph.graph.__path__[0])
    found = set()
    for path in sorted(graph_dir.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        for line in path.read_text(errors="replace").splitlines():
            if word.lower() in line.lower():
                found.add((path.relative_to(graph_dir).as_posix(), line.strip()))
    return found


def test_the_host_names_postmark_only_in_examples():
    assert host_lines_naming("postmark") == POSTMARK_IN_THE_HOST


def test_the_review_offers_what_the_review_context_protocol_promises():
    """Every member of `idgraph.plugin.ReviewContext` exists on the host's review."""
    from idgraph.graph.review import ReviewContext as HostReview

    from idgraph.plugin import ReviewContext

    promised = {name for name in vars(ReviewContext) if not name.startswith("_")}
    set_in_init = {"run", "options", "schema"}
    assert {"run", "rows", "graph", "nodes_of_kind", "edges_of_kind", "name"} <= promised
    assert {name for name in promised if not hasattr(HostReview, name)} <= set_in_init


# -- the tests keep the shape of the code: tests/host imports no connector -----------------

TESTS = ROOT / "tests"


def connector_imports(path: Path, tests: Path = TESTS) -> list[str]:
    """`file:line module` of each import of `idgraph.connector` (or a module in it) in the
    Python file `path`, read with `ast`: wherever it is, in a function too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        names = [n for n in names if n == "idgraph.connector" or n.startswith("idgraph.connector.")]
        if names:
            found.append(f"{path.relative_to(tests).as_posix()}:{node.lineno} {names[0]}")
    return found


def host_test_files(tests: Path = TESTS) -> list[Path]:
    """The files the rule covers: every Python file under tests/host/ (its conftest too) and
    the root conftest, which every test loads."""
    return [tests / "conftest.py", *sorted((tests / "host").rglob("*.py"))]


def test_the_host_tests_import_no_connector():
    host_tests = [p for p in host_test_files() if p.name.startswith("test_")]
    assert len(host_tests) >= 5, "tests/host/ holds no tests"
    found = [line for path in host_test_files() for line in connector_imports(path)]
    assert found == [], "tests/host/ and tests/conftest.py import no connector:\n" + "\n".join(
        found
    )


@pytest.mark.parametrize(
    "line",
    [
        "import idgraph.connector",
        "import idgraph.connector.postmark as pm",
        "from idgraph.connector.postmark.emulator import load_fixture",
        "from idgraph.connector import postmark",
        "from idgraph import connector",
        "def helper():\n    from idgraph.connector.postmark import members",
    ],
)
def test_a_connector_import_in_a_host_test_is_found(tmp_path, line):
    (tmp_path / "host").mkdir()
    (tmp_path / "conftest.py").write_text("import pytest\n")
    (tmp_path / "host" / "test_x.py").write_text(f"import json\n\n{line}\n")
    found = [line for p in host_test_files(tmp_path) for line in connector_imports(p, tmp_path)]
    assert len(found) == 1 and found[0].startswith("host/test_x.py:"), found


def test_the_long_modules_run_first_exist():
    """RUN_FIRST names paths under tests/: a file moved or renamed would silently run last."""
    from tests.conftest import RUN_FIRST

    assert [name for name in RUN_FIRST if not (TESTS / name).is_file()] == []


LONG_FUNCTION_LINES = 80
LONG_FUNCTIONS_ALLOWED = 3  # issue 24: functions fit on a screen, a few exceptions at most


def long_functions(roots: list[Path]) -> list[str]:
    """Product functions over LONG_FUNCTION_LINES lines (the emulator, a test double, aside)."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "emulator" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > LONG_FUNCTION_LINES:
                        found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} {lines}")
    return found


def test_few_product_functions_are_longer_than_a_screen():
    found = long_functions([ROOT / "graph", ROOT / "connector", ROOT / "src"])
    assert len(found) <= LONG_FUNCTIONS_ALLOWED, found


def test_the_long_function_count_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(LONG_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n\ndef short():\n    pass\n")
    (tmp_path / "emulator").mkdir()
    (tmp_path / "emulator" / "server.py").write_text(f"def served():\n{body}\n")
    assert long_functions([tmp_path]) == [f"long.py:1 long {LONG_FUNCTION_LINES + 1}"]
