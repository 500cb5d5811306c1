"""A command that reads, run before any sync, says so in one line and creates nothing."""

from click.testing import CliRunner
from idgraph.graph.cli import EXIT_CONFIG, cli


def test_show_before_any_sync_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["show", "x", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == EXIT_CONFIG
    assert "no idgraph database at" in result.output and "run a sync first" in result.output
    assert not (tmp_path / "empty.db").exists()  # a read never creates the file
