"""An interrupted or failed `export` leaves no half pack (docs/exports.md): the files it
created and the folder it made go; a file it replaced (with --force) stays, and the old
manifest no longer vouches for the folder."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from idgraph.graph import evidence
from idgraph.graph.cli import build_cli
from idgraph.graph.evidence import MANIFEST_NAME, verify_pack
from idgraph.graph.exporters import GraphJsonExporter
from idgraph.graph.files import FileRefused, safe_file, undone_on_failure
from idgraph.graph.host import write_review_pack
from idgraph.graph.interfaces import ConfigError
from idgraph.graph.model import Edge, Node

SERVER, MEMBER = "postmark:server:1", "postmark:team_member:ann@acme.example"
ACCOUNT = "postmark:account:acme"


NODES = [
    Node(id=ACCOUNT, kind="postmark:account", source="api", attrs={"label": "acme"}),
    Node(id=SERVER, kind="postmark:server", source="api", attrs={"name": "Production"}),
    Node(
        id=MEMBER,
        kind="postmark:team_member",
        source="attested",
        attrs={"email": "ann@acme.example", "role": "User", "role_level": "member"},
    ),
]
MEMBERSHIP = Edge(src=MEMBER, dst=ACCOUNT, kind="postmark:member_of", source="attested",
                  attrs={"role": "User", "role_level": "member"}, discriminator="")  # fmt: skip
ACCESS = Edge(src=MEMBER, dst=SERVER, kind="postmark:can_access", source="attested",
              attrs={"permission": "view"}, discriminator="")  # fmt: skip


def complete_run(store, edges: list[Edge]) -> int:
    run = store.start_run(
        kind="sync", connector="postmark", scope="postmark:acme", account_label="acme",
        plugin_versions={},
    )  # fmt: skip
    store.finish_run(run, status="complete", nodes=NODES, edges=edges)
    return run


@pytest.fixture
def db(store) -> Path:
    """A store holding one complete run: a member with access to one server."""
    complete_run(store, [MEMBERSHIP, ACCESS])
    return store.path


def fail_in_graph_json(monkeypatch, error: BaseException, *, after_writing: bool) -> list:
    """graph.json's exporter (run after the files that read the review) raises `error`,
    after writing its file or before; returns the folder's names as it raised."""
    export = GraphJsonExporter.export
    seen: list[list[str]] = []

    def failing(self, context, out_dir):
        if after_writing:
            export(self, context, out_dir)
        seen.append(sorted(p.name for p in out_dir.iterdir()))
        raise error

    monkeypatch.setattr(GraphJsonExporter, "export", failing)
    return seen


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    "error, raised",
    [
        (KeyboardInterrupt(), KeyboardInterrupt),
        (OSError(errno.ENOSPC, "No space left on device", "graph.json"), ConfigError),
        (RuntimeError("an exporter's own bug"), RuntimeError),
    ],
    ids=["ctrl-c", "disk-full", "exporter-bug"],
)
def test_a_pack_stopped_midway_leaves_no_file_and_no_folder_it_made(
    db, tmp_path, monkeypatch, error, raised
):
    seen = fail_in_graph_json(monkeypatch, error, after_writing=True)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(raised) as caught:
        write_review_pack(db, tmp_path / "new" / "pack")
    assert "graph.json" in seen[0] and "review.csv" in seen[0]  # stopped midway
    if raised is ConfigError:
        assert str(caught.value).endswith("graph.json: No space left on device; choose a "
                                          "folder you can write (--out)")  # fmt: skip
    assert sorted(tmp_path.iterdir()) == before  # the folders it made went, parents included


def test_a_folder_that_was_there_keeps_what_it_held_and_only_that(store, tmp_path, monkeypatch):
    baseline = complete_run(store, [MEMBERSHIP, ACCESS])
    complete_run(store, [MEMBERSHIP])  # the access to the server removed since
    out = tmp_path / "pack"
    out.mkdir()
    (out / "notes.txt").write_text("the reviewer's own notes")
    write_manifest = evidence.write_manifest
    seen = []

    def interrupted_once_written(context, folder, signer):
        write_manifest(context, folder, signer)
        seen.extend(sorted(p.name for p in folder.iterdir()))
        raise KeyboardInterrupt

    monkeypatch.setattr(evidence, "write_manifest", interrupted_once_written)
    with pytest.raises(KeyboardInterrupt):
        write_review_pack(store.path, out, since=baseline, by_reviewer=True)
    # the last moment: every file written, the companions, the --by-reviewer workbooks and
    # the manifest too
    written = {MANIFEST_NAME, "access-removed.csv", "bloodhound-custom-nodes.json"}
    assert written | {"review-unassigned.xlsx"} <= set(seen)
    assert contents(out) == {"notes.txt": b"the reviewer's own notes"}


def test_with_force_the_files_replaced_stay_and_the_old_manifest_no_longer_vouches(
    db, tmp_path, monkeypatch
):
    out = tmp_path / "pack"
    write_review_pack(db, out, formats=["review-csv", "html"])
    before = contents(out)
    seen = fail_in_graph_json(monkeypatch, KeyboardInterrupt(), after_writing=True)
    with pytest.raises(KeyboardInterrupt):
        write_review_pack(db, out, force=True)
    # gone as soon as the first old file was replaced: a killed export leaves no manifest
    assert MANIFEST_NAME not in seen[0]
    after = contents(out)
    # review.csv and report.html were replaced (they cannot be restored); what this call
    # created (review.xlsx, the governance files, graph.json) is gone, and so is the
    # manifest that listed the old files
    assert sorted(after) == ["report.html", "review.csv"]
    assert MANIFEST_NAME in before
    with pytest.raises(ConfigError, match=f"{MANIFEST_NAME}: missing"):
        verify_pack(out)


def test_a_pack_stopped_before_it_replaced_anything_still_verifies(db, tmp_path, monkeypatch):
    out = tmp_path / "pack"
    write_review_pack(db, out, formats=["review-csv"])
    before = contents(out)
    fail_in_graph_json(monkeypatch, KeyboardInterrupt(), after_writing=False)
    with pytest.raises(KeyboardInterrupt):
        write_review_pack(db, out, formats=["graph-json"], force=True)
    assert contents(out) == before
    assert not verify_pack(out).problems


def test_export_interrupted_says_one_line_and_exits_130(db, tmp_path, monkeypatch):
    fail_in_graph_json(monkeypatch, KeyboardInterrupt(), after_writing=True)
    out = tmp_path / "pack"
    result = CliRunner().invoke(build_cli(), ["export", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert result.stderr == "Error: interrupted (Ctrl-C)\n"
    assert result.stdout == ""
    assert not out.exists()


HELD_EXPORT = """
import sys
from idgraph.graph.cli import build_cli
from idgraph.graph.exporters import GraphJsonExporter

export = GraphJsonExporter.export


def held(self, context, out_dir):  # graph.json written, then wait for the test's Ctrl-C
    path = export(self, context, out_dir)
    print(" ".join(sorted(p.name for p in out_dir.iterdir())), flush=True)
    sys.stdin.readline()
    return path


GraphJsonExporter.export = held
build_cli()(["export", "--db", sys.argv[1], "--out", sys.argv[2]], prog_name="idgraph")
"""


def test_a_real_ctrl_c_midway_leaves_no_folder_and_exits_130(db, tmp_path):
    """The outside review's case: a real SIGINT to a process holding half a pack."""
    out = tmp_path / "pack"
    process = subprocess.Popen(
        [sys.executable, "-c", HELD_EXPORT, str(db), str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        files_then = process.stdout.readline().split()  # the process waits, midway
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert {"review.csv", "report.html", "graph.json"} <= set(files_then)
    assert (process.returncode, stdout) == (130, "")
    assert stderr == "Error: interrupted (Ctrl-C)\n"
    assert not out.exists()


def test_a_refused_exclusive_write_replaces_nothing_so_the_manifest_stays(tmp_path):
    """A hard-linked publish (a token file's) that finds a file there changed nothing: it
    is neither removed on failure nor counted as a replacement."""
    (tmp_path / "token").write_text("old")
    manifest = tmp_path / MANIFEST_NAME
    manifest.write_text("vouches for token")
    with pytest.raises(FileRefused), undone_on_failure(tmp_path, voucher=manifest):
        with safe_file(tmp_path / "token", force=True, exclusive=True) as handle:
            handle.write("new")
    assert contents(tmp_path) == {MANIFEST_NAME: b"vouches for token", "token": b"old"}


def test_folders_made_before_an_interrupt_in_making_them_are_removed(tmp_path, monkeypatch):
    """Ctrl-C between making `out` and `out/nested`: the folder made is removed though the
    deeper one was never made (its FileNotFoundError stopped the clean-up)."""
    out = tmp_path / "out" / "nested"
    real_mkdir = Path.mkdir

    def half(self, *args, **kwargs):
        real_mkdir(self.parent)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "mkdir", half)
    with pytest.raises(KeyboardInterrupt), undone_on_failure(out):
        pass
    assert not (tmp_path / "out").exists()


def test_a_workbook_interrupted_while_saved_leaves_no_open_zip(tmp_path, monkeypatch):
    """The zip of an interrupted save is closed there, not by the garbage collector at
    exit, which printed `Exception ignored in: <function ZipFile.__del__ ...>` after the
    one-line error."""
    import gc
    from datetime import UTC, datetime

    from idgraph.graph.spreadsheet import Sheet, write_workbook
    from openpyxl.writer.excel import ExcelWriter

    def interrupted(self):
        self._archive.writestr("xl/partial.xml", "<x/>")
        raise KeyboardInterrupt

    monkeypatch.setattr(ExcelWriter, "write_data", interrupted)
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    sheet = Sheet("rows", ["a", "b"], [["1", "2"]])
    with pytest.raises(KeyboardInterrupt):
        write_workbook(tmp_path / "w.xlsx", [sheet], when=datetime(2026, 12, 2, tzinfo=UTC))
    gc.collect()
    assert unraisable == []
    assert not (tmp_path / "w.xlsx").exists()


def test_a_workbook_interrupted_while_its_rows_are_added_leaves_no_open_sheet(
    tmp_path, monkeypatch
):
    import gc

    from idgraph.graph.spreadsheet import Sheet, write_workbook

    def rows():
        yield ["1", "2"]
        raise KeyboardInterrupt

    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(KeyboardInterrupt):
        write_workbook(tmp_path / "w.xlsx", [Sheet("rows", ["a", "b"], rows())])
    gc.collect()
    assert unraisable == []
    assert not (tmp_path / "w.xlsx").exists()
