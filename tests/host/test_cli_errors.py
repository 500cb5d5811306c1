"""Every command's errors as a scheduler reads them: one line on stderr, the documented
exit code, and with --json (or --format json/ndjson) a JSON answer on stdout; Ctrl-C is
exit 130 wherever it lands, start-up included."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from idgraph.graph import cli as cli_module
from idgraph.graph.answers import EXIT_INTERRUPTED, asks_json
from idgraph.graph.cli import EXIT_CONFIG, EXIT_USAGE, cli


@pytest.fixture
def not_a_database(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("not sqlite\n" * 20)
    return str(bad)


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "--json"],
        ["runs", "--format", "json"],
        ["findings", "--json"],
        ["export", "--out", "{tmp}/pack", "--json"],
    ],
    ids=["runs --json", "runs --format json", "findings", "export"],
)
def test_a_command_that_fails_with_json_answers_json(args, not_a_database, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(cli, [*args, "--db", not_a_database])
    assert result.exit_code == EXIT_CONFIG, result.output
    answer = json.loads(result.stdout)
    assert answer["status"] == "error" and answer["exit_code"] == EXIT_CONFIG
    assert "notes.db" in answer["error"]
    assert result.stderr.strip().splitlines() == [f"Error: {answer['error']}"]


def test_a_usage_error_with_json_answers_json_and_exit_two():
    result = CliRunner().invoke(cli, ["findings", "--fail-on", "bogus", "--json"])
    assert result.exit_code == EXIT_USAGE
    answer = json.loads(result.stdout)
    assert answer["exit_code"] == EXIT_USAGE and "bogus" in answer["error"]


def test_ndjson_answers_one_line(not_a_database):
    result = CliRunner().invoke(cli, ["runs", "--format=ndjson", "--db", not_a_database])
    assert result.exit_code == EXIT_CONFIG
    (line,) = result.stdout.strip().splitlines()
    assert json.loads(line)["exit_code"] == EXIT_CONFIG


def test_without_json_stdout_stays_empty(not_a_database):
    result = CliRunner().invoke(cli, ["runs", "--db", not_a_database])
    assert result.exit_code == EXIT_CONFIG and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["runs", "--json"], "json"),
        (["runs", "--format", "ndjson"], "ndjson"),
        (["runs", "--format=json"], "json"),
        (["runs", "--format", "csv"], None),
        (["runs", "--format"], None),
        (["runs"], None),
    ],
)
def test_asks_json_reads_the_arguments(args, wanted):
    assert asks_json(args) == wanted


def test_ctrl_c_in_a_command_is_exit_130_and_a_json_answer(monkeypatch):
    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr("idgraph.graph.cli.Store", interrupted)
    result = CliRunner().invoke(cli, ["runs", "--json"])
    assert result.exit_code == EXIT_INTERRUPTED
    assert json.loads(result.stdout)["error"] == "interrupted (Ctrl-C)"
    assert result.stderr.strip().splitlines() == ["Error: interrupted (Ctrl-C)"]


def test_ctrl_c_while_the_command_line_is_built_is_exit_130(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module, "build_cli", interrupted)
    monkeypatch.setattr(sys, "argv", ["idgraph", "findings", "--format", "ndjson"])
    with pytest.raises(SystemExit) as ended:
        cli_module.main()
    assert ended.value.code == EXIT_INTERRUPTED
    said = capsys.readouterr()
    assert said.err == "Error: interrupted (Ctrl-C)\n"
    assert json.loads(said.out) == {
        "status": "error",
        "exit_code": 130,
        "error": "interrupted (Ctrl-C)",
    }


def test_ctrl_c_while_the_console_script_imports_is_exit_130():
    """A real process: the command line's import interrupted (a finder that raises), the
    console script's entry answers in one line, exit 130, no traceback."""
    script = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'idgraph.graph.cli':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from idgraph._entry import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "runs", "--json"], capture_output=True, text=True
    )
    assert done.returncode == EXIT_INTERRUPTED == 130
    assert done.stderr == "Error: interrupted (Ctrl-C)\n"
    assert json.loads(done.stdout)["exit_code"] == 130


def test_the_import_thread_starts_inside_the_connectors_reading(store, monkeypatch):
    """The thread importing what recording a run needs starts at the connector's first
    progress report (inside its event loop, where Ctrl-C cancels), not before `collect`:
    a Ctrl-C in the main thread's own imports while that thread imported could hang."""
    from idgraph.graph.interfaces import Account, Collection, SyncOptions
    from idgraph.graph.sync import _collect

    events: list[str] = []
    monkeypatch.setattr(type(store), "warm_up", lambda _self: events.append("warm-up"))

    class Reader:
        name = "reader"

        def collect(self, *, account, secret, options, progress):
            events.append("collect")
            progress("listing", 0, None)
            progress("listing", 1, 1)
            return Collection(scope=account.scope)

    run_id = store.start_run(
        kind="sync", connector="reader", scope="reader:a", account_label="a", plugin_versions={}
    )
    shown: list[tuple] = []
    _collect(store, Reader(), run_id, Account("reader", "a"), "s", SyncOptions(),
             lambda *a: shown.append(a))  # fmt: skip
    assert events == ["collect", "warm-up"]  # once, at the first report
    assert shown == [("listing", 0, None), ("listing", 1, 1)]  # every report passed on


def test_runs_limit_below_one_is_a_usage_error():
    result = CliRunner().invoke(cli, ["runs", "--limit", "-1", "--json"])
    assert result.exit_code == EXIT_USAGE
    assert "--limit" in json.loads(result.stdout)["error"]


def test_a_usage_error_is_one_line_naming_its_help():
    result = CliRunner().invoke(cli, ["findings", "--fail-on", "bogus"])
    assert result.exit_code == EXIT_USAGE
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: Invalid value for '--fail-on'")
    assert line.endswith(" findings --help`)")


@pytest.mark.parametrize(
    "args",
    [
        ["review", "import", "{file}", "--reviewer", "notanemail"],
        ["attest", "import", "example", "{file}", "--attested-by", "notanemail"],
        ["annotate", "import", "{file}", "--annotated-by", "notanemail"],
    ],
    ids=["--reviewer", "--attested-by", "--annotated-by"],
)
def test_an_option_that_names_a_person_takes_an_email_or_is_exit_two(args, tmp_path):
    """A bad option value is bad usage (README: exit 2), as `--only servrs` is; it was
    exit 3, a bad file's code."""
    given = tmp_path / "filled.csv"
    given.write_text("row_id\n")
    args = [a.replace("{file}", str(given)) for a in args]
    result = CliRunner().invoke(cli, [*args, "--db", str(tmp_path / "x.db")])
    assert result.exit_code == EXIT_USAGE, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "'notanemail' is not an email address" in line


def test_a_refused_file_lists_its_problems_in_the_json_answer(store, tmp_path):
    bad = tmp_path / "review.csv"
    bad.write_text("nothing,we,know\n1,2,3\n")
    args = ["review", "import", str(bad), "--reviewer", "a@b.example"]
    result = CliRunner().invoke(cli, [*args, "--db", str(store.path), "--json"])
    assert result.exit_code == EXIT_CONFIG, result.output
    answer = json.loads(result.stdout)
    assert answer["error"].endswith("problem(s): nothing was imported")
    assert answer["problems"] and all(isinstance(p, str) for p in answer["problems"])
    shown = [line.removeprefix("error: ") for line in result.stderr.splitlines()[:-1]]
    assert shown == answer["problems"]
