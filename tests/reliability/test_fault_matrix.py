"""Each fault through the emulator: what the run records, what the user sees, what is kept."""

import pytest
from click.testing import CliRunner
from idgraph.graph.cli import cli
from idgraph.graph.store import Store
from idgraph.graph.view import load_graph

FAST = ["--retries", "4", "--backoff", "0.01", "--max-wait", "5", "--timeout", "0.5"]


def _more_senders(emu, n=600):
    for i in range(n):
        emu.account["SenderSignatures"].append(
            {
                "ID": 90_000 + i,
                "EmailAddress": f"bulk{i}@acme-corp.example",
                "Name": f"B{i}",
                "Domain": "acme-corp.example",
                "Confirmed": True,
                "ReplyToEmailAddress": "",
            }
        )


def _change_total(emu):
    _more_senders(emu)

    def grow(method, path, query):
        if path == "/senders" and query.get("offset") == ["500"]:
            _more_senders(emu, 1)
            emu.account["SenderSignatures"][-1]["ID"] = 200_000 + len(
                emu.account["SenderSignatures"]
            )

    emu.before_request = grow


def _delete_server_midway(emu):
    def delete(method, path, query):
        if path == "/message-streams" and emu.server(11004):
            emu.account["Servers"] = [s for s in emu.servers() if s["ID"] != 11004]

    emu.before_request = delete


def _persistent_page_fault(emu):
    _more_senders(emu)
    emu.inject("status", match=r"GET /senders\?count=500&offset=500", status=503, times=10_000)


# id -> (set-up, expected status, a phrase the user must see)
FAULTS = {
    "429 burst, no Retry-After": (
        lambda e: e.inject("status", "GET /servers", 3, status=429),
        "complete",
        None,
    ),
    "429 with Retry-After": (
        lambda e: e.inject("status", "GET /message-streams", 3, status=429, retry_after="0.05"),
        "complete",
        None,
    ),
    "500 burst": (lambda e: e.inject("status", "GET /webhooks", 3, status=500), "complete", None),
    "503 burst": (lambda e: e.inject("status", "GET /domains", 3, status=503), "complete", None),
    "persistent 5xx on one page": (
        _persistent_page_fault,
        "failed",
        "GET /senders: Postmark server error (HTTP 503)",
    ),
    "persistent 5xx on one server's webhooks": (
        lambda e: e.inject("status", "GET /webhooks", 10_000, status=503, after=2),
        "partial",
        "Postmark server error (HTTP 503)",
    ),
    "connection reset mid-body": (
        lambda e: e.inject("reset_mid_body", "GET /senders", 2),
        "complete",
        None,
    ),
    "dropped connection": (lambda e: e.inject("drop", "GET /servers", 2), "complete", None),
    "hung response (client timeout)": (
        lambda e: e.inject("hang", "GET /domains", 1, seconds=1.5),
        "complete",
        None,
    ),
    "truncated JSON body": (lambda e: e.inject("truncated", "GET /servers", 2), "complete", None),
    "non-JSON body, persistent": (
        lambda e: e.inject("not_json", "GET /domains", 10_000),
        "failed",
        "is not valid JSON",
    ),
    "HTML body (a proxy's 403)": (
        lambda e: e.inject("html_403", "GET /servers", 1),
        "failed",
        "not a Postmark error",
    ),
    "TotalCount changes mid-listing": (_change_total, "failed", "the listing changed"),
    "server deleted between listing and its calls": (
        _delete_server_midway,
        "complete",
        "was deleted while the sync ran",
    ),
    "server with an empty ApiTokens": (lambda e: None, "complete", "has no API token"),
}

# an account-wide listing's 5xx or 429 left when the retries are spent: the API failed (exit 4)
API_FAILURES = {"persistent 5xx on one page"}


def _sync(db, emu):
    env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url}
    return CliRunner().invoke(
        cli, ["sync", "postmark", "--db", str(db), "--account-label", "acme", *FAST], env=env
    )


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault(fault, tmp_path, emulator):
    db = tmp_path / "idgraph.db"
    baseline = _sync(db, emulator)
    assert baseline.exit_code == 0, baseline.output
    emulator.server(11001)["Name"] = "Renamed during the fault"
    set_up, expected, phrase = FAULTS[fault]
    set_up(emulator)
    result = _sync(db, emulator)
    output = result.output
    assert "Traceback" not in output
    exit_code = 4 if fault in API_FAILURES else 0 if expected == "complete" else 1
    assert result.exit_code == exit_code, output
    if phrase:
        assert phrase in output
    for line in output.splitlines():
        if line.startswith("error:"):
            assert len(line) < 600  # one clear line per problem
    store = Store(db)
    runs = store.runs()
    assert runs[0].status == expected
    run, graph = load_graph(store)
    store.close()
    if expected == "complete":
        assert run.id == runs[0].id
        assert graph.nodes["postmark:server:11001"]["name"] == "Renamed during the fault"
    else:  # the previous complete graph is untouched
        assert run.id == runs[1].id
        assert graph.nodes["postmark:server:11001"]["name"] == "Acme Production"
        store = Store(db)
        try:  # and the run opened or closed no version at all
            for table in ("node_versions", "edge_versions"):
                touched = store.db.execute(
                    f"SELECT count(*) FROM {table} WHERE ? IN (opened_run, closed_run)",
                    [runs[0].id],
                ).fetchone()[0]
                assert touched == 0, table
        finally:
            store.close()
