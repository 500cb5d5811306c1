"""Issue 23, failure 3: URL userinfo without `//` or without a scheme, read by one URL reader
(graph/urls.py, on the WHATWG URL parser) and redacted wherever a URL is stored or shown."""

import json
import zipfile

import pytest
from click.testing import CliRunner
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.graph.cli import cli
from idgraph.graph.secrets import REDACTED, redact_url, url_host
from idgraph.graph.urls import ascii_domain, read_url

# Cases from the WHATWG URL Standard's test data (web-platform-tests, url/resources/
# urltestdata.json, "segments-userinfo-vs-host" and the first userinfo cases; base
# about:blank or none needed), 3-clause BSD licence: input, username, password, hostname;
# None for the ones the standard says fail to parse.
WHATWG_USERINFO = [
    ("http://user:pass@foo:21/bar;par?b#c", "user", "pass", "foo"),
    ("https://test:@test", "test", "", "test"),
    ("https://:@test", "", "", "test"),
    ("non-special://test:@test/x", "test", "", "test"),
    ("non-special://:@test/x", "", "", "test"),
    ("http://a:b@c:29/d", "a", "b", "c"),
    ("http://&a:foo(b]c@d:2/", "&a", "foo(b%5Dc", "d"),
    ("http://::@c@d:2", "", "%3A%40c", "d"),
    ("http://foo.com:b@d/", "foo.com", "b", "d"),
    ("http:@www.example.com", "", "", "www.example.com"),
    ("http:/@www.example.com", "", "", "www.example.com"),
    ("http:a:b@www.example.com", "a", "b", "www.example.com"),
    ("http:/a:b@www.example.com", "a", "b", "www.example.com"),
    ("http::b@www.example.com", "", "b", "www.example.com"),
    ("http:/:b@www.example.com", "", "b", "www.example.com"),
    ("http:a:@www.example.com", "a", "", "www.example.com"),
    ("http://www.@pple.com", "www.", "", "pple.com"),
    ("http://:@www.example.com", "", "", "www.example.com"),
    ("http://user@/www.example.com", None, None, None),
    ("http:a:b@/www.example.com", None, None, None),
    ("http:/:@/www.example.com", None, None, None),
    ("http:@:www.example.com", None, None, None),
]


@pytest.mark.parametrize("url, username, password, hostname", WHATWG_USERINFO)
def test_whatwg_userinfo_cases_are_found_and_redacted(url, username, password, hostname):
    read = read_url(url)
    shown = redact_url(url)
    if hostname is None:
        assert not read.valid and shown == REDACTED
        return
    assert read.userinfo == bool(username or password)
    assert read.host == hostname
    authority = shown.split("://", 1)[-1].split("/", 1)[0]
    assert authority == read.authority and "@" not in shown


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https:user:PASSWORD@host/x", "https://host/x"),
        ("user:PASSWORD@host/z", "host/z"),
        ("//user:PASSWORD@host/y?k=v", "host/y?[redacted]"),
        ("user:PASSWORD@host:8443/z#f", "host:8443/z"),
        ("HTTPS:user:PASSWORD@Bücher.Example/x", "https://xn--bcher-kva.example/x"),
        ("https:\\\\user:PASSWORD@host\\x", "https://host/x"),
        ("x:user:PASSWORD@[::1", REDACTED),
    ],
)
def test_userinfo_without_slashes_or_scheme_is_redacted(url, expected):
    assert read_url(url).userinfo or expected == REDACTED
    assert redact_url(url) == expected
    assert "PASSWORD" not in redact_url(url)


def test_idn_and_punycode_hosts_and_domains_are_one():
    assert url_host("https://bücher.example/a") == url_host("https://xn--bcher-kva.example/b")
    assert ascii_domain("Bücher.Example.") == ascii_domain("xn--bcher-kva.example")
    assert ascii_domain("xn--bcher-kva.example") == "xn--bcher-kva.example"


PASSWORD = "Zq9-userinfo-PASSWORD"


def _account_with_hostile_urls(account):
    server = account["Servers"][0]
    hooks = server["Webhooks"]
    hooks[0]["Url"] = f"https:hookuser:{PASSWORD}-1@hooks.acme-corp.example/x"
    hooks[1 % len(hooks)]["Url"] = f"hookuser:{PASSWORD}-2@hooks.acme-corp.example/z"
    server["BounceHookUrl"] = f"https:legacy:{PASSWORD}-3@legacy.acme-corp.example/b"
    server["ServerLink"] = f"https:link:{PASSWORD}-4@account.postmarkapp.com/servers/1"
    return account, [f"{server['ID']}/{h['ID']}" for h in hooks[:2]]  # ids per server


def _texts_of(folder) -> str:
    """Every file under `folder` as text, workbooks' XML parts included."""
    texts = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                texts += [book.read(n).decode("utf-8", "replace") for n in book.namelist()]
        else:
            texts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(texts)


def test_a_webhook_password_without_slashes_is_found_nowhere(tmp_path, account):
    account, hook_ids = _account_with_hostile_urls(account)
    db = tmp_path / "idgraph.db"
    runner = CliRunner()
    with PostmarkEmulator(account) as emu:
        env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url}
        synced = runner.invoke(cli, ["sync", "postmark", "--db", str(db)], env=env)
    assert synced.exit_code == 0, synced.output
    outputs = [synced.output]
    exported = runner.invoke(cli, ["export", "--db", str(db), "--out", str(tmp_path / "pack")])
    assert exported.exit_code == 0, exported.output
    for command in (["findings", "--json"], ["findings"], ["runs", "--json"]):
        outputs.append(runner.invoke(cli, [*command, "--db", str(db)]).output)
    flags = []
    for hook_id in hook_ids:
        shown = runner.invoke(
            cli, ["show", f"postmark:webhook:{hook_id}", "--json", "--db", str(db)]
        )
        outputs.append(shown.output)
        flags.append(json.loads(shown.output)["attributes"]["url_credentials"])
    assert flags == [True, True]
    text = "\n".join(outputs) + _texts_of(tmp_path)
    written = {p.name for p in (tmp_path / "pack").iterdir()}
    assert written >= {"graph.json", "graph.graphml", "bloodhound-opengraph.json"}
    assert written >= {"report.html", "review.xlsx"}
    assert PASSWORD not in text
    assert "hookuser" not in text, text[text.find("hookuser") - 300 : text.find("hookuser") + 100]


def test_idn_and_punycode_spellings_are_one_endpoint_and_one_domain(tmp_path, account, store):
    """Issue 23, item 9 (domains): a domain, a sender and two webhooks spelling one name as
    Unicode and as punycode meet on one name: one endpoint node, the sender belongs to the
    domain, and the webhooks are inside the allow-list."""
    from idgraph.graph.view import load_graph

    from ..postmark.fixtures import sync_fixture

    account["Domains"][0]["Name"] = "Bücher.example"
    account["SenderSignatures"][0].update(
        {"Domain": "xn--bcher-kva.example", "EmailAddress": "ops@xn--bcher-kva.example"}
    )
    hooks = account["Servers"][0]["Webhooks"]
    hooks[0]["Url"] = "https://bücher.example/a"
    hooks[1]["Url"] = "https://XN--BCHER-KVA.example/b"
    with PostmarkEmulator(account) as emu:
        result = sync_fixture(store, emu)
    assert result.status == "complete", result.collection.errors
    _run, graph = load_graph(store)
    endpoints = {n for n in graph if n.startswith("endpoint:") and "bcher" in n}
    assert endpoints == {"endpoint:xn--bcher-kva.example"}
    domain = f"postmark:domain:{account['Domains'][0]['ID']}"
    assert graph.nodes[domain]["name"] == "xn--bcher-kva.example"
    sender = f"postmark:sender_signature:{account['SenderSignatures'][0]['ID']}"
    assert graph.has_edge(sender, domain), list(graph.out_edges(sender, data="kind"))
    findings = CliRunner().invoke(cli, ["findings", "--json", "--db", str(store.path)])
    outside = [
        f for f in json.loads(findings.output) if f.get("check") == "webhook-outside-allowlist"
    ]
    hook_nodes = {f"postmark:webhook:{h['ID']}" for h in hooks[:2]}
    assert not [f for f in outside if f.get("node") in hook_nodes], outside
