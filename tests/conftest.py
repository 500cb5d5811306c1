import asyncio
import json
from pathlib import Path

import pytest
from idgraph.connector.postmark import PostmarkClient, RetryPolicy
from idgraph.connector.postmark.emulator import PostmarkEmulator, load_fixture
from idgraph.connector.postmark.members import MEMBER_FORMAT
from idgraph.graph.cli import build_cli

build_cli()  # the tests invoke `idgraph.graph.cli.cli` with every plugin's commands added
DATA = Path(__file__).resolve().parent / "data"
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, max_total_wait=5)


@pytest.fixture
def account():
    return load_fixture()


@pytest.fixture
def emulator(account):
    with PostmarkEmulator(account) as emu:
        yield emu


def run(coro):
    return asyncio.run(coro)


def make_client(emu, token=None, **kwargs):
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("seed", 1)
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


def recorded_responses() -> list[dict]:
    """The real recorded API responses (a copy of shared/postmark-recorded/responses.json)."""
    return json.loads((DATA / "postmark-recorded.json").read_text())


FAST_OPTIONS = {"retries": 4, "backoff": 0.01, "max_backoff": 0.05, "max_wait": 5}


def sync_fixture(store, emu, label="acme", token=None, **options):
    """Sync the emulator's account into `store` through the real client and connector."""
    from idgraph.graph.plugins import get_connectors
    from idgraph.graph.sync import sync

    options = {"api_url": emu.url, **FAST_OPTIONS, **options}
    return sync(
        store,
        get_connectors()["postmark"],
        secret=token or emu.account_tokens[0],
        options=options,
        account_label=label,
    )


@pytest.fixture
def store(tmp_path):
    from idgraph.graph.store import Store

    s = Store(tmp_path / "idgraph.db")
    yield s
    s.close()


MEMBERS_FILE = (
    Path(__file__).resolve().parents[1] / "connector/postmark/emulator/fixtures/members.csv"
)


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
