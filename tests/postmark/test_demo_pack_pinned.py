"""The demo's review pack, pinned: a refactor must not change a byte of what a reviewer gets.

The demo (`idgraph demo`: the emulator, a real sync, the sample members, the pack) is run as
a program; the times it writes (run, attestation and export times) and the emulator's port
are masked, then each file's digest is compared with the one pinned here. review.xlsx is
compared by its cells (a workbook's zip carries the run's times), manifest.intoto.json by
its shape (its digests follow from the times).

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
# report.html's evidence summary shows ledger digests and the manifest predicate's, which
# follow from the times: masked there
DIGEST = re.compile(rb"\b[0-9a-f]{64}\b")

PINNED = {
    "baton-file.csv": "b93a3fca6cc6494f",
    "bloodhound-custom-nodes.json": "f68dd25854b58329",
    "bloodhound-opengraph.json": "49596925084d874e",
    "graph.graphml": "0c3ee5d085b3f72b",
    "graph.json": "c2ad7ed1b2baa269",
    "manifest.intoto.json": "e0a9644bbdb626dd",  # its shape: subjects, predicate fields
    "report.html": "dc3593beea784c20",  # the evidence summary first, the print stylesheet;
    # issue 25: owners, open remediation items, rows to decide
    "review.csv": "cbf7a8b6c0c120c5",  # issue 25: one row per credential, new columns
    "review.xlsx": "d8f72b6418c5b0f3",  # issue 25: as review.csv
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


def manifest_shape(path: Path) -> bytes:
    """The manifest's statement without what follows from times (digests of files holding
    times, ledger digests): its type, its subjects' names, its predicate's fields."""
    import base64
    import json

    statement = json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))
    shape = [statement["_type"], statement["predicateType"]]
    shape += [s["name"] for s in statement["subject"]] + sorted(statement["predicate"])
    return "\n".join(shape).encode()


DATA_BLOCK = re.compile(rb'(<script type="application/gzip\+base64"[^>]*>)([^<]*)(</script>)')


def report_unpacked(path: Path) -> bytes:
    """report.html with its data block (gzipped JSON, holding times) written out as JSON, so
    the times in it are masked like the page's own."""
    import base64
    import gzip

    def unpack(match: re.Match) -> bytes:
        return match[1] + gzip.decompress(base64.b64decode(match[2])) + match[3]

    return DATA_BLOCK.sub(unpack, path.read_bytes())


def pack_digests(pack: Path) -> dict[str, str]:
    digests = {}
    for path in sorted(pack.iterdir()):
        if path.name == "manifest.intoto.json":
            data = manifest_shape(path)
        elif path.name == "report.html":
            data = DIGEST.sub(b"DIGEST", report_unpacked(path))
        else:
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
