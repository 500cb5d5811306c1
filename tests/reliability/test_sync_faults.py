"""Issue 15, sync correctness under concurrent edits, slow answers and deleted servers."""

import copy

import pytest
from idgraph.connector.postmark.commands import retry_policy
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.synthetic import synthetic_account
from idgraph.graph.interfaces import SourceError
from idgraph.graph.view import load_graph

from tests.postmark.fixtures import sync_fixture


def _server_nodes(store):
    _r, graph = load_graph(store)
    return {n for n in graph if n.startswith("postmark:server:")}


def test_server_deleted_while_page_two_is_read_does_not_lose_a_live_server(store):
    """A deletion in page 1's range (with an addition elsewhere, so TotalCount stays put)
    while page 2 is read shifts page 2 by one: the first server of page 2 is never seen.
    The listing must notice and read again, not record that live server as gone."""
    account = synthetic_account(600, senders=3, domains=2, seed=15)
    for server in account["Servers"][:-1]:  # the listing is the subject: spare 1,200 calls
        server["ApiTokens"] = []
    with PostmarkEmulator(account) as emu:
        deleted = emu.servers()[10]["ID"]
        shifted = emu.servers()[500]["ID"]  # the one that slides into page 1's range
        edits = []

        def edit_while_page_two_is_read(method, path, query):
            if path == "/servers" and query.get("offset") == ["500"] and not edits:
                edits.append(path)
                servers = emu.servers()
                added = copy.deepcopy(servers[-1])
                added["ID"] = emu.new_id()
                added["Name"] = "added meanwhile"
                added["ApiTokens"] = [f"added-token-{added['ID']}"]
                servers.remove(emu.server(deleted))
                servers.append(added)

        emu.before_request = edit_while_page_two_is_read
        result = sync_fixture(store, emu)
        live = {s["ID"] for s in emu.servers()}
    assert edits  # the edit did happen mid-listing
    assert result.status == "complete", result.collection.errors
    nodes = _server_nodes(store)
    assert f"postmark:server:{shifted}" in nodes
    assert f"postmark:server:{deleted}" not in nodes
    assert nodes == {f"postmark:server:{i}" for i in live}
    assert not any("deleted while the sync ran" in w for w in result.collection.warnings)


def test_a_listing_that_never_settles_fails_the_run_with_a_clear_error(store):
    account = synthetic_account(600, senders=3, domains=2, seed=15)
    with PostmarkEmulator(account) as emu:

        def churn(method, path, query):
            if path == "/servers" and query.get("offset") == ["500"]:
                servers = emu.servers()
                moved = servers.pop(0)  # a delete and an add: TotalCount stays the same
                moved = dict(moved, ID=emu.new_id())
                servers.append(moved)

        emu.before_request = churn
        result = sync_fixture(store, emu)
    assert result.status in ("failed", "partial")
    text = " ".join(result.collection.errors) + " " + str(getattr(result, "error", ""))
    assert "GET /servers" in text and "listing changed" in text


def test_a_trickled_body_times_out_as_a_whole_and_names_its_endpoint(store):
    """httpx bounds each read; a body sent a byte every 0.05 s never trips a 0.3 s read
    timeout. The whole request has the deadline: each attempt times out, is retried as
    the policy says, then the run records an error naming the endpoint."""
    account = synthetic_account(3, senders=3, domains=2, seed=15)
    with PostmarkEmulator(account) as emu:
        emu.inject("trickle", r"GET /domains", times=10_000, delay=0.05)
        with pytest.raises(SourceError) as failed:  # the run fails: the prior graph is kept
            sync_fixture(store, emu, timeout=0.3, retries=2)  # each attempt waits 0.3 s
        attempts = emu.stats.by_endpoint["GET /domains"]
    assert "GET /domains" in str(failed.value) and "timed out" in str(failed.value)
    assert attempts == retry_policy(2, 5, 0.01).max_attempts == 3


GONE_ANSWERS = {
    "404": {"status": 404, "error_code": 601, "message": "Server does not exist."},
    "422/601": {"status": 422, "error_code": 601, "message": "Server not found."},
}


def _own_calls_answer(emu, answer, *, delete):
    """The server's own calls (streams, webhooks) answer `answer`; `delete` also deletes it
    from the account first (a deletion mid-run) or leaves it listed."""
    injected = []

    def hook(method, path, query):
        if path in ("/message-streams", "/webhooks") and not injected:
            injected.append(path)
            if delete:
                emu.account["Servers"] = []
            emu.inject("status", r"GET /(message-streams|webhooks)", times=10_000, **answer)

    emu.before_request = hook
    return injected


@pytest.mark.parametrize("answer", GONE_ANSWERS.values(), ids=GONE_ANSWERS.keys())
def test_a_server_gone_mid_run_is_left_out_whatever_its_calls_answer(store, answer):
    account = synthetic_account(1, senders=2, domains=1, seed=15)
    server_id = account["Servers"][0]["ID"]
    with PostmarkEmulator(account) as emu:
        injected = _own_calls_answer(emu, answer, delete=True)
        result = sync_fixture(store, emu)
    assert injected
    assert result.status == "complete", result.collection.errors
    assert any("deleted while the sync ran" in w for w in result.collection.warnings)
    assert f"postmark:server:{server_id}" not in _server_nodes(store)


@pytest.mark.parametrize("answer", GONE_ANSWERS.values(), ids=GONE_ANSWERS.keys())
def test_a_server_still_listed_whose_calls_say_gone_makes_the_run_partial(store, answer):
    account = synthetic_account(1, senders=2, domains=1, seed=15)
    server_id = account["Servers"][0]["ID"]
    with PostmarkEmulator(account) as emu:
        injected = _own_calls_answer(emu, answer, delete=False)
        result = sync_fixture(store, emu)
    assert injected
    assert result.status == "partial"
    assert any(f"server {server_id}" in e and "still listed" in e for e in result.collection.errors)
