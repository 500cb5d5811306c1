"""Syncing the fixture account through the emulator into the store."""

import threading
from collections import Counter

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark import PostmarkClient
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.limits import RateLimit
from idgraph.graph.cli import cli
from idgraph.graph.cli_base import EXIT_API, EXIT_INCOMPLETE
from idgraph.graph.secrets import fingerprint
from idgraph.graph.store import Store, StoreBusy
from idgraph.graph.view import load_graph

from .fixtures import sync_fixture


def _kinds(graph):
    return Counter(data["kind"] for _n, data in graph.nodes(data=True))


def _edge_kinds(graph):
    return Counter(data["kind"] for _u, _v, data in graph.edges(data=True))


def test_every_node_and_edge_kind_matches_the_fixture(store, emulator, account):
    result = sync_fixture(store, emulator)
    assert result.status == "complete"
    _run, graph = load_graph(store)
    servers = account["Servers"]
    with_tokens = [s for s in servers if s["ApiTokens"]]
    tokens = [t for s in servers for t in s["ApiTokens"]]
    streams = [st for s in with_tokens for st in s["MessageStreams"]]
    hooks = [h for s in with_tokens for h in s["Webhooks"]]
    confirmed = [s for s in account["SenderSignatures"] if s["Confirmed"]]
    verified = [d for d in account["Domains"] if d["DKIMVerified"]]
    legacy = [u for s in servers for k, u in s.items() if k.endswith("HookUrl") and u]
    hosts = {h["Url"].split("/")[2].split("@")[-1] for h in hooks} | {
        u.split("/")[2] for u in legacy
    }
    assert _kinds(graph) == {
        "postmark:account": 1,
        "postmark:account_token": 1,
        "postmark:server": len(servers),
        "postmark:server_token": len(tokens),
        "postmark:message_stream": len(streams),
        "postmark:webhook": len(hooks),
        "postmark:sender_signature": len(account["SenderSignatures"]),
        "postmark:domain": len(account["Domains"]),
        "person": len({s["EmailAddress"].lower() for s in account["SenderSignatures"]}),
        "endpoint": len(hosts),
        "postmark:sending_scope": 1,
    }
    edges = _edge_kinds(graph)
    assert edges["postmark:has_server"] == len(servers)
    assert edges["postmark:has_credential"] == len(tokens) + 1
    assert edges["postmark:grants"] == len(tokens) + 1
    assert edges["postmark:has_stream"] == len(streams)
    assert edges["postmark:has_webhook"] == len(hooks)
    assert edges["postmark:delivers_to"] == len(hooks) + len(legacy)
    assert edges["postmark:has_sender"] == len(account["SenderSignatures"])
    assert edges["postmark:has_domain"] == len(account["Domains"])
    # every server token can send as every confirmed sender and verified domain: via the
    # account's sending scope
    assert edges["postmark:can_send_as"] == len(tokens)
    assert edges["postmark:includes"] == len(confirmed) + len(verified)
    scope = "postmark:sending_scope:acme"
    reachable = {v for v in graph.successors(scope)}
    assert reachable == {f"postmark:sender_signature:{s['ID']}" for s in confirmed} | {
        f"postmark:domain:{d['ID']}" for d in verified
    }
    assert edges["is"] == len(account["SenderSignatures"])
    # a few attributes
    production = graph.nodes["postmark:server:11001"]
    assert production["name"] == "Acme Production" and production["smtp_api_activated"] is True
    assert production["token_count"] == 2
    archived = graph.nodes["postmark:message_stream:11001/spring-promo"]
    assert archived["archived"] is True and archived["type"] == "Broadcasts"
    hook = graph.nodes["postmark:webhook:11001/501"]
    assert hook["http_auth"] is True and hook["http_headers"] == {"X-Api-Key": "[redacted]"}
    assert hook["url"] == "https://hooks.acme-corp.example/postmark/events?[redacted]"
    assert graph.nodes["postmark:webhook:11001/502"]["scheme"] == "http"
    token_node = f"postmark:server_token:{fingerprint(servers[0]['ApiTokens'][0])}"
    assert graph.has_edge(token_node, scope)
    assert graph.has_edge(scope, "postmark:sender_signature:9001")
    assert not graph.has_edge(scope, "postmark:sender_signature:9004")  # unconfirmed
    assert graph.has_edge("postmark:sender_signature:9003", "postmark:domain:7001")
    legacy_edges = [
        d
        for _u, _v, d in graph.out_edges("postmark:server:11003", data=True)
        if d["kind"] == "postmark:delivers_to"
    ]
    assert {d["trigger"] for d in legacy_edges} == {"Bounce", "Open"}
    assert "no API token" in result.collection.warnings[0]


def test_unchanged_resync_adds_no_version_rows(store, emulator):
    sync_fixture(store, emulator)
    before = store.row_counts()
    size_before = store.path.stat().st_size
    second = sync_fixture(store, emulator)
    after = store.row_counts()
    assert second.status == "complete"
    assert after["node_versions"] == before["node_versions"]
    assert after["edge_versions"] == before["edge_versions"]
    assert after["runs"] == before["runs"] + 1
    assert all(not part[c] for part in second.counts.values() for c in part)
    assert store.path.stat().st_size <= size_before * 1.01 + 4096
    _run, graph = load_graph(store)
    assert graph.nodes["postmark:server:11001"]["first_seen"] == 1
    assert graph.nodes["postmark:server:11001"]["last_seen"] == 2


def test_changes_between_runs_are_closed_and_opened_versions(store, emulator):
    first = sync_fixture(store, emulator)
    server = emulator.server(11002)
    old_token = server["ApiTokens"][0]
    server["Name"] = "Acme Staging (renamed)"
    server["ApiTokens"] = ["00000000-fa6e-4000-8000-0000000f00d5"]
    production = emulator.server(11001)
    production["Webhooks"] = [h for h in production["Webhooks"] if h["ID"] != 502]
    second = sync_fixture(store, emulator)
    assert second.status == "complete"
    nodes = second.counts["nodes"]
    assert nodes["changed"] == {"postmark:server": 1}
    assert nodes["created"] == {"postmark:server_token": 1}
    assert nodes["removed"] == {"postmark:server_token": 1, "postmark:webhook": 1, "endpoint": 1}
    changed = store.versions_changed_between("node_versions", first.run_id, second.run_id)
    opened = {r["id"] for r in changed if r["opened_run"] == second.run_id}
    closed = {r["id"] for r in changed if r["closed_run"] == second.run_id}
    old_fp = f"postmark:server_token:{fingerprint(old_token)}"
    new_fp = "postmark:server_token:" + fingerprint("00000000-fa6e-4000-8000-0000000f00d5")
    assert opened == {"postmark:server:11002", new_fp}
    assert closed == {
        "postmark:server:11002",
        old_fp,
        "postmark:webhook:11001/502",
        "endpoint:analytics.tracking-vendor.example",
    }
    # history: the graph as of run 1 still has the old name and the removed webhook
    _r, then = load_graph(store, first.run_id)
    _r, now = load_graph(store, second.run_id)
    assert then.nodes["postmark:server:11002"]["name"] == "Acme Staging"
    assert now.nodes["postmark:server:11002"]["name"] == "Acme Staging (renamed)"
    assert "postmark:webhook:11001/502" in then and "postmark:webhook:11001/502" not in now
    # the tombstone is kept
    history = store.node_history("postmark:webhook:11001/502")
    assert [(h["opened_run"], h["closed_run"]) for h in history] == [(1, 2)]


@pytest.mark.parametrize("scenario", ["listing fails", "one server fails"])
def test_a_failed_or_partial_run_leaves_the_previous_graph_current(store, emulator, scenario):
    good = sync_fixture(store, emulator)
    _r, before = load_graph(store)
    versions_before = store.row_counts()
    emulator.server(11001)["Name"] = "changed but must not land"
    if scenario == "listing fails":  # (a 5xx there is the API's failure: exit 4, below)
        emulator.inject("not_json", match="GET /senders", times=1000)
        expected = "failed"
    else:
        emulator.inject("status", match="GET /webhooks", status=503, times=1000, after=1)
        expected = "partial"
    bad = sync_fixture(store, emulator)
    assert bad.status == expected
    assert bad.collection.errors
    run, after = load_graph(store)
    assert run.id == good.run_id
    assert sorted(after.nodes) == sorted(before.nodes)
    assert after.nodes["postmark:server:11001"]["name"] == "Acme Production"
    assert store.run(bad.run_id).status == expected
    assert bad.counts == {}
    # the version tables themselves, not only the "as of" view: the run opened and closed
    # nothing (an applied partial run would open the renamed server and close the old one)
    for table in ("node_versions", "edge_versions"):
        touched = store.db.execute(
            f"SELECT count(*) FROM {table} WHERE opened_run = ? OR closed_run = ?",
            [bad.run_id, bad.run_id],
        ).fetchone()[0]
        assert touched == 0, table
    assert store.row_counts()["node_versions"] == versions_before["node_versions"]
    assert store.row_counts()["edge_versions"] == versions_before["edge_versions"]


def test_a_429_storm_is_ridden_out(store, account):
    storm = {"retries": 11, "backoff": 0.01, "max_backoff": 0.05, "max_wait": 10}
    with PostmarkEmulator(account, rate_limit_fraction=0.3, seed=3) as emu:
        result = sync_fixture(store, emu, **storm)
    assert result.status == "complete"
    assert result.collection.stats["throttled"] > 0
    assert emu.stats.statuses[429] == result.collection.stats["throttled"]


def test_server_deleted_between_listing_and_its_calls_is_left_out(store, emulator):
    def delete_on_first_webhooks_call(method, path, query):
        if path == "/message-streams" and emulator.server(11004):
            emulator.account["Servers"] = [s for s in emulator.servers() if s["ID"] != 11004]

    emulator.before_request = delete_on_first_webhooks_call
    result = sync_fixture(store, emulator)
    assert result.status == "complete"
    assert any("deleted while the sync ran" in w for w in result.collection.warnings)
    _r, graph = load_graph(store)
    assert "postmark:server:11004" not in graph


def test_second_sync_on_the_same_file_waits_then_refuses(tmp_path, emulator):
    other = Store(tmp_path / "busy.db")
    entered = threading.Event()
    release = threading.Event()

    def hold():
        holder = Store(tmp_path / "busy.db")
        with holder.write_lock():
            entered.set()
            release.wait(5)
        holder.close()

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait(5)
    try:
        from idgraph.graph.plugins import get_connectors
        from idgraph.graph.sync import sync

        with pytest.raises(StoreBusy, match="in use by another idgraph run"):
            sync(
                other,
                get_connectors()["postmark"],
                secret=emulator.account_tokens[0],
                options={"api_url": emulator.url},
                lock_wait=0.3,
            )
    finally:
        release.set()
        thread.join()
    assert other.runs() == []  # the refused sync recorded nothing
    assert sync_fixture(other, emulator).status == "complete"  # and the lock is free again


def test_database_is_owner_only_and_wal(store, emulator):
    sync_fixture(store, emulator)
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrency_option_reaches_the_client(store, account):
    with PostmarkEmulator(account, latency=0.02) as emu:
        sync_fixture(store, emu, concurrency=2)
    assert emu.stats.max_in_flight <= 2
    assert PostmarkClient("x").concurrency == 8


def test_stores_opened_at_once_on_a_new_file_all_open(tmp_path):
    """Two syncs started together both create the schema: neither may fail on the race."""
    errors: list[str] = []
    for attempt in range(5):
        path = tmp_path / f"new-{attempt}.db"
        barrier = threading.Barrier(4)

        def open_store(path=path, barrier=barrier):
            barrier.wait(10)
            try:
                Store(path).close()
            except Exception as exc:  # collected, asserted below
                errors.append(repr(exc))

        threads = [threading.Thread(target=open_store) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        store = Store(path)
        assert {"runs", "node_versions", "edge_versions"} <= set(store.db.table_names())
        store.close()
    assert errors == []


def test_server_details_start_while_the_sender_listing_is_still_read(store):
    """A server's streams are asked for before the slower sender listing has answered: the
    sender listing's last page waits for a server's call, and the sync must not wait for it."""
    from idgraph.connector.postmark.emulator.synthetic import synthetic_account

    account = synthetic_account(3, senders=600, domains=2, seed=3)  # senders: two pages
    server_call_seen = threading.Event()
    waited_for_server = []

    def hold_the_sender_listing(method, path, query):
        if path == "/message-streams":
            server_call_seen.set()
        elif path == "/senders" and query.get("offset") == ["500"] and not waited_for_server:
            # an event, not a sleep: it is set by a server's own call, or the wait gives up
            waited_for_server.append(server_call_seen.wait(timeout=10))

    with PostmarkEmulator(account) as emu:
        emu.before_request = hold_the_sender_listing
        result = sync_fixture(store, emu)
    assert result.status == "complete", result.collection.errors
    assert waited_for_server == [True]  # the server's call came while senders were read


def test_one_webhook_id_on_two_servers_is_two_webhooks_and_a_warning(store, emulator):
    # Postmark numbers webhooks per server: staging's own webhook may carry production's ID
    staging_hook = emulator.server(11002)["Webhooks"][0]
    staging_hook["ID"] = 501
    staging_hook["MessageStream"] = "staging-events"
    result = sync_fixture(store, emulator)
    assert result.status == "complete"
    _run, graph = load_graph(store)
    production = graph.nodes["postmark:webhook:11001/501"]
    staging = graph.nodes["postmark:webhook:11002/501"]
    assert production["server_id"] == 11001 and staging["server_id"] == 11002
    assert production["url"] == "https://hooks.acme-corp.example/postmark/events?[redacted]"
    assert staging["url"] == "https://staging-hooks.acme-corp.example/pm"
    assert production["triggers"] != staging["triggers"] and staging["triggers"] == ["Bounce"]
    assert staging["http_auth_username"] == "staging"
    assert (production["message_stream"], staging["message_stream"]) == (
        "outbound",
        "staging-events",
    )

    def linked(node, kind, forward=True):
        edges = graph.out_edges(node, data=True) if forward else graph.in_edges(node, data=True)
        return {(v if forward else u) for u, v, d in edges if d["kind"] == kind}

    assert linked("postmark:webhook:11001/501", "postmark:has_webhook", forward=False) == {
        "postmark:server:11001"
    }
    assert linked("postmark:webhook:11002/501", "postmark:has_webhook", forward=False) == {
        "postmark:server:11002"
    }
    assert linked("postmark:webhook:11001/501", "postmark:delivers_to") == {
        "endpoint:hooks.acme-corp.example"
    }
    assert linked("postmark:webhook:11002/501", "postmark:delivers_to") == {
        "endpoint:staging-hooks.acme-corp.example"
    }
    [warning] = [w for w in result.collection.warnings if "webhook ID 501" in w]
    assert "server 11001 ('Acme Production')" in warning
    assert "server 11002 ('Acme Staging')" in warning
    assert store.run(result.run_id).warnings == result.collection.warnings


def test_webhooks_stored_under_the_old_ids_are_closed_and_reopened_by_the_next_sync(
    store, emulator
):
    first = sync_fixture(store, emulator)
    # a database written before webhook ids were scoped: `postmark:webhook:<webhook ID>`
    old = "postmark:webhook:"
    with store.db.conn:
        for server_id in (11001, 11002, 11004):
            scoped = f"{old}{server_id}/"
            store.db.conn.execute("UPDATE node_versions SET id = replace(id, ?, ?)", [scoped, old])
            for column in ("key", "src", "dst"):
                store.db.conn.execute(
                    f"UPDATE edge_versions SET {column} = replace({column}, ?, ?)",
                    [scoped, old],
                )
    second = sync_fixture(store, emulator)
    assert second.status == "complete"
    hooks = sum(len(s["Webhooks"]) for s in emulator.servers() if s["ApiTokens"])
    nodes = second.counts["nodes"]
    assert nodes["removed"] == {"postmark:webhook": hooks}
    assert nodes["created"] == {"postmark:webhook": hooks} and not nodes["changed"]
    _r, then = load_graph(store, first.run_id)
    _r, now = load_graph(store, second.run_id)
    assert "postmark:webhook:501" in then and "postmark:webhook:501" not in now
    assert "postmark:webhook:11001/501" in now
    assert [(h["opened_run"], h["closed_run"]) for h in store.node_history(f"{old}501")] == [
        (first.run_id, second.run_id)
    ]


def _sync_cli(db, emu, *options: str):
    env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url}
    args = ["sync", "postmark", "--db", str(db), "--backoff", "0.01", "--max-wait", "1"]
    return CliRunner().invoke(cli, [*args, *options], env=env)


def _one_line(result) -> str:
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


# the emulator's clock stands still: a token's bucket never refills, so the Account token gets
# one request (GET /servers) and its sender and domain listings a 429 each, every time
_LIMITED = {"token_rate_limit": RateLimit(2, 1), "clock": lambda: 0.0}


@pytest.mark.parametrize(
    ("limits", "fault", "said"),
    [
        (_LIMITED, None, "Postmark is rate limiting (HTTP 429)"),
        ({}, ("GET /servers", 503), "GET /servers: Postmark server error (HTTP 503)"),
        ({}, ("GET /domains", 302), "GET /domains answered HTTP 302 (a redirect)"),
    ],
    ids=["429 on the Account token", "503 on the server listing", "a redirect"],
)
def test_an_account_listing_failing_after_its_retries_exits_four(
    tmp_path, account, limits, fault, said
):
    """A 429 or 5xx left when the retries are spent on an account-wide listing (or any error
    status there, a redirect as docs/postmark.md promised): nothing is kept, the API failed,
    as when it is unreachable: exit 4 (a scheduler retries on 4), one line, the run recorded
    failed with that line's error."""
    db = tmp_path / "idgraph.db"
    with PostmarkEmulator(account, **limits) as emu:
        if fault:
            emu.inject("status", match=fault[0], status=fault[1], times=10)
        result = _sync_cli(db, emu, "--retries", "0")
    assert result.exit_code == EXIT_API, result.output
    line = _one_line(result)
    assert said in line
    store = Store(db)
    try:
        [run] = store.runs()
        assert run.status == "failed" and len(run.errors) == 1
        assert said in run.errors[0] and run.errors[0] in line
        assert store.row_counts()["node_versions"] == 0  # nothing was applied
    finally:
        store.close()


def test_a_failed_server_listing_sends_no_other_listing(tmp_path, account):
    """The other account listings wait for the server listing; when it fails, they are
    cancelled unsent (the listing's wait was released even on failure: one more request)."""
    with PostmarkEmulator(account) as emu:
        emu.inject("status", match="GET /servers", status=503, times=10)
        result = _sync_cli(tmp_path / "idgraph.db", emu, "--retries", "0")
        asked = dict(emu.stats.by_endpoint)
    assert result.exit_code == EXIT_API, result.output
    assert asked == {"GET /servers": 1}


def test_a_servers_own_429_after_its_retries_is_a_partial_run_exit_one(tmp_path, emulator):
    """A server's own calls failing (its webhooks rate limited to the end) is that server's
    error in a partial run (exit 1), not the API's failure: the others were read."""
    db = tmp_path / "idgraph.db"
    emulator.inject("status", match="GET /webhooks", status=429, times=10_000)
    result = _sync_cli(db, emulator, "--retries", "0")
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    assert "partial" in result.output and "Traceback" not in result.output
    store = Store(db)
    try:
        [run] = store.runs()
        assert run.status == "partial"
        assert run.errors and all("(HTTP 429)" in error for error in run.errors)
        assert all(error.startswith("server 110") for error in run.errors)
    finally:
        store.close()
