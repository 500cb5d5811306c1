"""The demo's review pack, pinned: a refactor must not change a byte of what a reviewer gets.

The demo (`idgraph demo`: the emulator, a real sync, the sample members, the pack) is run as
a program; the times it writes (run, attestation and export times) and the emulator's port
are masked, then each file's digest is compared with the one pinned here. review.xlsx is
compared by its cells (a workbook's zip carries its own times).

A change that means to alter the pack updates PINNED (the failure prints the new digests)
and says why in its commit."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import openpyxl

BIN = Path(sys.executable).parent
TIME = re.compile(rb"\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00|Z)?)?")
PORT = re.compile(rb"127\.0\.0\.1:\d+")

PINNED = {
    "baton-file.csv": "b93a3fca6cc6494f",
    "bloodhound-custom-nodes.json": "f68dd25854b58329",
    "bloodhound-opengraph.json": "65e5daf4849e7daf",
    "graph.graphml": "0c3ee5d085b3f72b",
    "graph.json": "c2ad7ed1b2baa269",
    "report.html": "4192c604bb9cf854",
    "review.csv": "82fb4bbd90f008ec",
    "review.xlsx": "30f4566a2defdbdb",
    "veza-oaa.json": "0e4b48a76f65467e",  # with the veza extra (the test extra has it)
}


def masked(data: bytes) -> bytes:
    return PORT.sub(b"127.0.0.1:PORT", TIME.sub(b"TIME", data))


def workbook_cells(path: Path) -> bytes:
    book = openpyxl.load_workbook(path)
    return "\n".join(
        f"{sheet.title}!{cell.coordinate}={cell.value!r}"
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    ).encode()


def pack_digests(pack: Path) -> dict[str, str]:
    digests = {}
    for path in sorted(pack.iterdir()):
        data = workbook_cells(path) if path.suffix == ".xlsx" else path.read_bytes()
        digests[path.name] = hashlib.sha256(masked(data)).hexdigest()[:16]
    return digests


def test_the_demo_review_pack_is_unchanged(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    subprocess.run(
        [str(BIN / "idgraph"), "demo", "--out", str(tmp_path / "demo")],
        check=True,
        capture_output=True,
        env=env,
    )
    assert pack_digests(tmp_path / "demo" / "review-pack") == PINNED
