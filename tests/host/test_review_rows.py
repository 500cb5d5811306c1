"""review.csv holds the access engine's rows, flagged and neutralised where written, hostile
names included; row ids are stable; the graph exports never work out the review."""

import csv
import hashlib
import json

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from idgraph.graph.access import row_id as _row_id
from idgraph.graph.exporters import GraphJsonExporter, ReviewCsvExporter
from idgraph.graph.model import Edge, Node
from idgraph.graph.review import REVIEW_COLUMNS, build_review, safe_cell
from idgraph.graph.view import load_graph

SERVER, TOKEN, MEMBER = "postmark:server", "postmark:server_token", "postmark:team_member"
ACCOUNT = "postmark:account:acme"


def _member(ident, email, expires="2099-01-01T00:00:00+00:00"):
    attrs = {
        "email": email,
        "role": "User",
        "role_level": "member",
        "two_factor": "yes",
        "attested_at": "2026-11-01T00:00:00+00:00",
        "expires_at": expires,
        "attested_by": "a@acme.example",
    }
    return Node(id=ident, kind=MEMBER, source="attested", attrs=attrs)


def _edge(src, dst, kind, source="attested", **attrs):
    return Edge(src=src, dst=dst, kind=kind, source=source, attrs=attrs, discriminator="")


@pytest.fixture
def hostile_store(store):
    """Names, ids and access values that start with a formula character (or spaces before
    one), a stale attestation and access to a server the run does not hold."""
    servers = {
        f"{SERVER}:1": "Production",
        f"{SERVER}:2": '=HYPERLINK("http://evil.example","x")',
        f"{SERVER}:3": " -2+3",
        f"{SERVER}:4": " plain, with a comma",
        "+server:5": "@SUM(1)",
    }
    nodes = [Node(id=ACCOUNT, kind="postmark:account", source="api", attrs={"label": "acme"})]
    edges = []
    for ident, name in servers.items():
        nodes.append(Node(id=ident, kind=SERVER, source="api", attrs={"name": name}))
        token = f"{TOKEN}:sha256:{len(nodes):08x}"
        nodes.append(
            Node(id=token, kind=TOKEN, source="api", attrs={"fingerprint": "-fp", "suffix": "1"})
        )
        edges += [
            _edge(ident, token, "postmark:has_credential", "api"),
            _edge(token, ident, "postmark:grants", "api", scope="=server API"),
        ]
    members = [
        _member(f"{MEMBER}:ann@acme.example", "ann@acme.example"),
        _member(f"{MEMBER}:=cmd|' /C calc'!A0", "=cmd@acme.example"),
        _member(" -leading", "\tTab@acme.example", expires="2000-01-01T00:00:00+00:00"),
    ]
    nodes += members
    for member in members:
        edges.append(
            _edge(member.id, ACCOUNT, "postmark:member_of", role="User", role_level="member")
        )
        for n, ident in enumerate([*servers, f"{SERVER}:gone"]):
            edges.append(
                _edge(member.id, ident, "postmark:can_access", permission=["view", "@all"][n % 2])
            )
    return _complete_run(store, "acme", nodes, edges)


def _complete_run(store, label, nodes, edges):
    run = store.start_run(
        kind="sync", connector="postmark", scope=f"postmark:{label}", account_label=label,
        plugin_versions={},
    )  # fmt: skip
    store.finish_run(run, status="complete", nodes=nodes, edges=edges)
    return store


def test_review_csv_rows_are_the_engine_rows_flagged_and_neutralised(hostile_store, tmp_path):
    context = build_review(hostile_store)
    expected = [[safe_cell(v) for v in row.values()] for row in context.review_rows]
    path = ReviewCsvExporter().export(context, tmp_path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        written = list(csv.reader(handle))
    assert written == [REVIEW_COLUMNS, *expected]
    cells = [cell for row in expected for cell in row]
    # the hostile values are there, each with its apostrophe
    for text in ("'=HYPERLINK(", "' -2+3", "'@all", "'@SUM(1)", "'+server:5", "'\tTab@"):
        assert any(cell.startswith(text) for cell in cells), text
    assert " plain, with a comma" in cells  # spaces before a safe character: left as it is
    assert any("(not in this run)" in cell for cell in cells)
    stale = [r for r in context.rows if r.principal == " -leading"]
    assert stale and all("attestation-stale" in r.flags for r in stale)
    gone = [r for r in context.rows if r.resource == f"{SERVER}:gone"]
    assert gone and all("access-to-gone-resource" in r.flags for r in gone)
    # 3 members x (role + 6 servers) + 5 tokens
    assert len(context.rows) == 3 * 7 + 5


def test_rows_share_their_principal_and_resource_records_and_make_the_path_when_read(
    hostile_store,
):
    """190,000 rows at 100,000 nodes: what a principal's rows share (name, type, evidence,
    last verified, holder path) is one record, a resource's too, and the path is made when
    read; the row itself holds a few references (the 23 fields it held were 200 MB)."""
    from idgraph.graph.access import AccessRow

    rows = build_review(hostile_store).rows
    ann = [r for r in rows if r.principal == f"{MEMBER}:ann@acme.example"]
    assert len(ann) == 7 and all(r.who is ann[0].who for r in ann)
    assert all(
        r.evidence is ann[0].evidence and r.principal_name == "ann@acme.example" for r in ann
    )
    on_one = [r for r in rows if r.resource == f"{SERVER}:1"]
    assert len(on_one) == 4 and all(r.on is on_one[0].on for r in on_one)  # 3 members, a token
    gone = [r for r in rows if r.resource == f"{SERVER}:gone"]
    assert {r.resource_name for r in gone} == {f"{SERVER}:gone (not in this run)"}
    assert len(AccessRow.__slots__) <= 15 and "path" not in AccessRow.__slots__
    for row in rows:
        step = f"{row.principal} -{row.access_kind}-> {row.resource}"
        assert row.path == (f"{row.who.holder} | {step}" if row.who.holder else step)


_CELL_CHARACTERS = ["a", "=", "+", "-", "@", " ", "\t", "\r", "\n", "\x00", ",", '"', "é"]
_CELL = st.text(alphabet=st.sampled_from(_CELL_CHARACTERS), max_size=4) | st.none() | st.integers()


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(_CELL, min_size=1, max_size=4), max_size=4))
def test_every_csv_cell_is_neutralised_whatever_else_the_row_holds(rows):
    """write_csv looks at a row whole and goes cell by cell only when a cell may need it: the
    file is still the one of every cell through safe_cell."""
    import tempfile
    from pathlib import Path

    from idgraph.graph.exporters._files import write_csv

    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder) / "rows.csv", ["h"], rows)
        with path.open(encoding="utf-8", newline="") as handle:
            written = list(csv.reader(handle))
    assert written == [["h"], *([safe_cell(v) for v in row] for row in rows)]


def test_a_review_row_is_found_by_its_id_or_a_part_also_after_the_rows_are_narrowed():
    """ReviewRows.find indexes the rows when first asked, the rows it was given: a row that
    `--scope changed` left out is still found (its decision, its open item)."""
    from idgraph.graph.access import AccessRow, review_rows

    def row(principal: str, kind: str, grant: str, principal_type: str) -> AccessRow:
        ident = _row_id(principal, kind, "postmark:server:1")
        return AccessRow.of(ident, 1, principal, principal, principal_type, "postmark:server:1",
                         "one", "x", kind, grant, "p", "api", "e", "v")  # fmt: skip

    member = row("postmark:team_member:a@x.example", "postmark:can_access", "resource", "human")
    scope = row("postmark:server_token:t", "postmark:grants", "scope", "credential")
    send = row("postmark:server_token:t", "postmark:can_send_as", "sender", "credential")
    review = review_rows([member, scope, send])
    review.rows = [r for r in review.rows if r.principal_type == "human"]
    assert review.find(member.row_id) is member
    merged = review.find(send.row_id)  # a part's id: the merged row of its token
    assert merged is not None and merged.row_id == scope.row_id and merged.parts
    assert review.find("r-0000000000000000") is None


def test_what_a_review_made_is_not_walked_again_by_the_garbage_collector(hostile_store):
    """The review is built with the collector paused, and what it made is frozen on the way
    out: the next allocation does not walk it (a quarter of a second at 100,000 nodes), and
    it is still freed when let go."""
    import gc
    import weakref

    gc.collect()
    frozen = gc.get_freeze_count()
    try:
        context = build_review(hostile_store)
        assert gc.isenabled() and gc.get_count()[0] < 100
        assert gc.get_freeze_count() > frozen + 100  # the rows, their nodes, the findings
        gone = weakref.ref(context)
        del context
        assert gone() is None  # freed by its reference count, frozen or not
    finally:
        gc.unfreeze()


def test_row_ids_are_stable():
    assert _row_id("a", "b", "c") == "r-" + hashlib.sha256(b"a|b|c").hexdigest()[:16]
    # the id as computed before Postmark's kinds were namespaced (`can_access`): the kind is
    # hashed without its namespace, so decisions stored and files held keep their rows
    for kind in ("can_access", "postmark:can_access"):
        assert _row_id(f"{MEMBER}:ann@acme.example", kind, f"{SERVER}:1") == "r-579b345e80eace9a"


def test_graph_json_is_node_link_without_working_out_the_review(hostile_store, tmp_path):
    context = build_review(hostile_store, lazy=True)
    GraphJsonExporter().export(context, tmp_path)
    assert context._pending  # no rows, no checks: the graph export needs neither
    _run, graph = load_graph(hostile_store)
    old = nx.node_link_data(graph, edges="edges")
    for item in old["edges"]:  # node-link's "source" is the edge's tail: ours moves aside
        data = graph.edges[item["source"], item["target"], item["key"]]
        item["data_source"] = data["source"]
    old["graph"] = {"run": context.run.id, "finished": context.run.finished}
    written = json.loads((tmp_path / "graph.json").read_text())
    assert written == json.loads(json.dumps(old, default=str))
    back = nx.node_link_graph(written, edges="edges")
    assert sorted(back.edges(keys=True)) == sorted(graph.edges(keys=True))
    assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True))


@pytest.fixture
def two_scope_store(hostile_store):
    """hostile_store and a second account's run: a member seen from both scopes, an edge
    from each scope between the same two nodes with the same key, one to a node neither
    run holds, and attribute values of mixed types, lists, nulls and control characters."""
    attested = _member(f"{MEMBER}:ann@acme.example", "ann@acme.example")
    attrs = {**attested.attrs, "two_factor": True, "teams": ["a", "b"], "note": None}
    member = Node(id=attested.id, kind=MEMBER, source="api", attrs={**attrs, "bell": "x\x07y"})
    other = "postmark:account:other"
    nodes = [Node(id=other, kind="postmark:account", source="api", attrs={"label": 7}), member]
    edges = [
        _edge(member.id, ACCOUNT, "postmark:member_of", role="Admin", role_level=3),
        _edge(member.id, f"{SERVER}:elsewhere", "postmark:can_access", permission=["view"]),
        _edge(other, member.id, "postmark:has_member", source="api", since=1.5),
    ]
    return _complete_run(hostile_store, "other", nodes, edges)


def test_the_graph_streamed_from_the_store_is_the_loaded_graph_in_its_order(two_scope_store):
    """The graph exports read the run with SQL as they write (no networkx graph in memory):
    the same nodes, edges, keys and attributes, in networkx's order."""
    run, graph = load_graph(two_scope_store)
    context = build_review(two_scope_store, lazy=True)
    nodes, edges = list(context.graph_nodes()), list(context.graph_edges())
    assert context._graph is None  # streamed, never loaded
    assert nodes == list(graph.nodes(data=True))
    assert edges == list(graph.edges(keys=True, data=True))
    assert graph.nodes[f"{MEMBER}:ann@acme.example"]["sources"] == ["api", "attested"]
    assert graph.nodes[f"{SERVER}:elsewhere"]["kind"] == "missing"  # a missing end: last
    pair = graph[f"{MEMBER}:ann@acme.example"][ACCOUNT]
    assert len(pair) == 1 and pair["postmark:member_of"]["role"] == "Admin"  # the later one


def test_graphml_is_written_as_networkx_writes_it_without_loading_the_graph(
    two_scope_store, tmp_path, monkeypatch
):
    """GraphML is streamed (ElementTree, one chunk of elements at a time) yet byte for byte
    networkx's `write_graphml` of the same graph; it loads in networkx and igraph."""
    import io

    import igraph
    from idgraph.graph import review
    from idgraph.graph.exporters import GraphMLExporter
    from idgraph.graph.exporters.graph_files import graphml_chunks

    _run, graph = load_graph(two_scope_store)
    # what networkx writes of a copy typed as the exporter types it (one type per name)
    typed = nx.MultiDiGraph()
    context = build_review(two_scope_store, lazy=True)
    written = b"".join(graphml_chunks(context, size=2))  # several chunks
    back = nx.read_graphml(io.BytesIO(written), force_multigraph=True)
    for node, data in back.nodes(data=True):
        typed.add_node(node, **data)
    for u, v, key, data in back.edges(keys=True, data=True):
        typed.add_edge(u, v, key=key, **data)
    expected = io.BytesIO()
    nx.write_graphml(typed, expected)
    assert written == expected.getvalue()
    assert list(back.nodes) == [n.replace("\x07", "\\x07") for n in graph.nodes]
    assert list(back.edges(keys=True)) == list(graph.edges(keys=True))
    ann = back.nodes[f"{MEMBER}:ann@acme.example"]
    assert ann["teams"] == '["a", "b"]' and "note" not in ann and ann["bell"] == "x\\x07y"
    assert ann["two_factor"] == "true"  # a name whose values mix types is text throughout
    monkeypatch.setattr(review, "load_graph", lambda *a, **k: pytest.fail("graph loaded"))
    path = GraphMLExporter().export(build_review(two_scope_store, lazy=True), tmp_path)
    assert path.read_bytes() == written
    loaded = igraph.Graph.Read_GraphML(str(path))
    assert (loaded.vcount(), loaded.ecount()) == (len(graph), graph.number_of_edges())
