"""The signing key and `idgraph verify` before any pack (docs/evidence.md): keygen writes
an owner-only Ed25519 key beside its public part and never over a key; verify needs a pack
or a database (tests/postmark/test_evidence.py: packs signed, verified, and tampered with)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from idgraph.graph.cli import build_cli


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), [str(a) for a in args])


def signing_key(folder: Path) -> Path:
    """`folder/keys/signing.pem`, made by `idgraph keygen` (its public part beside it)."""
    path = folder / "keys" / "signing.pem"
    path.parent.mkdir()
    result = invoke("keygen", "--out", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def key(tmp_path):
    return signing_key(tmp_path)


def test_keygen_writes_an_owner_only_ed25519_key_and_its_public_part(key):
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = load_pem_public_key((key.parent / "signing.pem.pub").read_bytes())
    assert type(public).__name__.startswith("Ed25519")
    assert invoke("keygen", "--out", key).exit_code == 3  # never over an existing key


def test_verify_needs_a_pack_or_a_database(tmp_path):
    assert invoke("verify").exit_code == 2
    assert invoke("verify", tmp_path / "nothing").exit_code == 3
