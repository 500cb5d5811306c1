"""The Postmark fixtures and helpers shared by tests/postmark and tests/reliability (each
conftest imports the fixtures from here; a test imports the helpers): the emulator and its
sample account, clients on a fast retry policy, a sync and an attestation of the sample,
the planted secrets and a search for them."""

import functools
import json
import re
from pathlib import Path

import pytest
from idgraph.connector.postmark import PostmarkClient, RetryPolicy
from idgraph.connector.postmark.emulator import PostmarkEmulator, load_fixture
from idgraph.connector.postmark.members import MEMBER_FORMAT

from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, max_total_wait=5)


@pytest.fixture
def account():
    return load_fixture()


@pytest.fixture
def emulator(account):
    with PostmarkEmulator(account) as emu:
        yield emu


def mock_client(handler, clock, *, retry: RetryPolicy, concurrency: int = 2) -> PostmarkClient:
    """A client of a stand-in `handler` (httpx.MockTransport) on `clock`."""
    import httpx

    return PostmarkClient(
        "acct",
        base_url="http://pm.test",
        transport=httpx.MockTransport(handler),
        retry=retry,
        concurrency=concurrency,
        clock=clock,
        seed=1,
    )


def make_client(emu, token=None, **kwargs):
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("clock", FakeClock())
    return PostmarkClient(
        token if token is not None else emu.account_tokens[0], base_url=emu.url, **kwargs
    )


def fixture_secrets(account: dict) -> set[str]:
    """Every secret planted in an account fixture: tokens, passwords, header values,
    URL userinfo and query-string values."""
    from urllib.parse import parse_qsl, urlsplit

    found = set(account.get("AccountTokens", []))
    for server in account.get("Servers", []):
        found.update(server.get("ApiTokens", []))
        for hook in server.get("Webhooks", []):
            auth = hook.get("HttpAuth") or {}
            if auth.get("Password"):
                found.add(auth["Password"])
            for header in hook.get("HttpHeaders") or []:
                if header.get("Value"):
                    found.add(header["Value"])
            parts = urlsplit(hook["Url"])
            if parts.password:
                found.add(parts.password)
            found.update(value for _k, value in parse_qsl(parts.query) if value)
    return {secret for secret in found if secret}


SECRET_WINDOW = 8


@functools.cache
def _program_text() -> str:
    """idgraph's own source: words like `webhook-` in a finding name are no secret's."""
    folders = ("graph", "connector", "src")
    return "\n".join(
        p.read_text(encoding="utf-8") for d in folders for p in (ROOT / d).rglob("*.py")
    )


def leaked_secrets(
    secrets: set[str], texts: tuple[str, ...] = (), blobs: tuple[bytes, ...] = ()
) -> dict[str, str]:
    """The planted secrets of which any `SECRET_WINDOW`-character piece is found: a secret
    cut short (32 of a token's 36 characters), split or embedded leaks as much as a whole
    one. Returns {secret: a piece of it that was found}.

    A piece that idgraph's own source contains is no evidence and is skipped. Each text is
    scanned once: the runs of the characters secrets are made of, cut in 8-grams, against
    the set of every secret's 8-grams."""
    pieces: dict[str, set[str]] = {}
    for secret in secrets:
        for start in range(max(len(secret) - SECRET_WINDOW + 1, 1)):
            pieces.setdefault(secret[start : start + SECRET_WINDOW], set()).add(secret)
    program = _program_text()
    pieces = {piece: owners for piece, owners in pieces.items() if piece not in program}
    alphabet = re.escape("".join(sorted(set("".join(secrets)))))
    runs = re.compile(f"[{alphabet}]{{{SECRET_WINDOW},}}")
    short = [secret for secret in secrets if len(secret) < SECRET_WINDOW]
    found: dict[str, str] = {}
    for text in (*texts, *(blob.decode("latin-1") for blob in blobs)):
        found.update((secret, secret) for secret in short if secret in text)
        for match in runs.finditer(text):
            run_text = match.group()
            for start in range(len(run_text) - SECRET_WINDOW + 1):
                piece = run_text[start : start + SECRET_WINDOW]
                for secret in pieces.get(piece, ()):
                    found.setdefault(secret, piece)
    return found


def recorded_responses() -> list[dict]:
    """The real recorded API responses (a copy of shared/postmark-recorded/responses.json)."""
    return json.loads((DATA / "postmark-recorded.json").read_text())


FAST_OPTIONS = {"retries": 4, "backoff": 0.01, "max_backoff": 0.05, "max_wait": 5}


def run_statuses(db) -> list[str]:
    """Every run's status, read straight from the file (no Store, no migration)."""
    import sqlite3

    connection = sqlite3.connect(db)
    try:
        return [row[0] for row in connection.execute("SELECT status FROM runs")]
    finally:
        connection.close()


def sync_fixture(store, emu, label="acme", token=None, **options):
    """Sync the emulator's account into `store` through the real client and connector."""
    from idgraph.connector.postmark.plugin import PostmarkConnector
    from idgraph.graph.sync import sync

    options = {"api_url": emu.url, **FAST_OPTIONS, **options}
    return sync(
        store,
        PostmarkConnector(clock=FakeClock()),  # back-off on a fake clock: no test sleeps
        secret=token or emu.account_tokens[0],
        options=options,
        account_label=label,
    )


def synced_database(folder: Path, account: dict) -> Path:
    """`folder/idgraph.db` holding one complete sync of `account` (served by the emulator)."""
    from idgraph.graph.store import Store

    store = Store(folder / "idgraph.db")
    try:
        with PostmarkEmulator(account) as emulator:
            assert sync_fixture(store, emulator).status == "complete"
    finally:
        store.close()
    return folder / "idgraph.db"


MEMBERS_FILE = ROOT / "connector/postmark/emulator/fixtures/members.csv"


def attest_fixture(store, members=MEMBERS_FILE, **overrides):
    """Import a member file (default: the sample one) for account `acme`, valid 90 days."""
    from idgraph.graph.attestation import import_members

    options = {
        "label": "acme",
        "attested_by": "a@acme-corp.example",
        "evidence": None,
        "valid_days": 90,
        **overrides,
    }
    return import_members(store, MEMBER_FORMAT, members, **options)


def exported_pack(folder: Path, emulator) -> tuple[Path, Path]:
    """`folder/idgraph.db` with the sample synced and its members attested, and the review
    pack exported from it into `folder/pack`: (database, pack folder)."""
    from click.testing import CliRunner
    from idgraph.graph.cli import cli
    from idgraph.graph.store import Store

    db = folder / "idgraph.db"
    store = Store(db)
    try:
        sync_fixture(store, emulator)
        attest_fixture(store)
    finally:
        store.close()
    out = folder / "pack"
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return db, out
