"""Hypothesis: odd API payloads never crash the collector; bad files are refused cleanly."""

import copy
import csv
import hashlib
import io
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from idgraph.connector.postmark.emulator import PostmarkEmulator, load_fixture
from idgraph.graph.attestation import AttestationInvalid
from idgraph.graph.decisions import DecisionsInvalid, import_decisions
from idgraph.graph.interfaces import Account
from idgraph.graph.plugins import get_connectors
from idgraph.graph.review import REVIEW_COLUMNS, build_review
from idgraph.graph.store import Store

from ..postmark.fixtures import FAST_OPTIONS, attest_fixture, fixture_secrets, sync_fixture

FIXTURE = load_fixture()
MEMBERS = (
    Path(__file__).resolve().parents[2] / "connector/postmark/emulator/fixtures/members.csv"
).read_text()
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

odd_values = st.one_of(
    st.none(),
    st.just(""),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),  # control characters
    st.sampled_from("xé✓\u202e").map(lambda c: c * 100_000),  # huge strings, unicode
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)

# where to put the odd value: (collection, field)
TARGETS = st.sampled_from(
    [
        ("server", "Name"),
        ("server", "ID"),
        ("server", "ApiTokens"),
        ("server", "Color"),
        ("server", "SmtpApiActivated"),
        ("server", "BounceHookUrl"),
        ("server", "TrackLinks"),
        ("server", "BrandNewField"),
        ("sender", "EmailAddress"),
        ("sender", "Confirmed"),
        ("sender", "Domain"),
        ("sender", "ID"),
        ("domain", "Name"),
        ("domain", "DKIMVerified"),
        ("domain", "ReturnPathDomainVerified"),
        ("webhook", "Url"),
        ("webhook", "HttpAuth"),
        ("webhook", "HttpHeaders"),
        ("webhook", "Triggers"),
        ("webhook", "MessageStream"),
        ("stream", "ID"),
        ("stream", "ArchivedAt"),
        ("stream", "MessageStreamType"),
        ("stream", "SubscriptionManagementConfiguration"),
    ]
)


def _place(account, target, value, index):
    collection, field = target
    if collection == "server":
        obj = account["Servers"][index % 4]
    elif collection == "sender":
        obj = account["SenderSignatures"][index % len(account["SenderSignatures"])]
    elif collection == "domain":
        obj = account["Domains"][index % len(account["Domains"])]
    elif collection == "webhook":
        obj = account["Servers"][0]["Webhooks"][index % 3]
    else:
        obj = account["Servers"][0]["MessageStreams"][index % 4]
    obj[field] = value
    return obj


@pytest.fixture(scope="module")
def shared_emulator():
    with PostmarkEmulator(FIXTURE) as emu:
        yield emu


@SETTINGS
@given(target=TARGETS, value=odd_values, index=st.integers(0, 10), drop=st.booleans())
@example(target=("server", "ApiTokens"), value=["\x80"], index=0, drop=False)  # found by it
@example(target=("server", "ID"), value=[], index=0, drop=False)  # found by it
def test_odd_payloads_load_or_fail_naming_object_and_field(
    shared_emulator, target, value, index, drop
):
    account = copy.deepcopy(FIXTURE)
    obj = _place(account, target, value, index)
    if drop and target[1] not in ("ID",):
        del obj[target[1]]
    shared_emulator.account = account
    connector = get_connectors()["postmark"]
    collection = connector.collect(
        account=Account("postmark", "fuzz"),
        secret=FIXTURE["AccountTokens"][0],
        options=connector.options_class(api_url=shared_emulator.url, **FAST_OPTIONS, timeout=5),
        progress=lambda *_: None,
    )
    secrets = fixture_secrets(FIXTURE)
    for error in collection.errors:
        assert "GET /" in error  # names the endpoint
        if "does not fit" in error:
            assert "field '" in error  # and the object and field
        assert not [s for s in secrets if s in error]
    event("payload loaded" if collection.complete else "run failed with a named error")
    if collection.complete:
        assert collection.nodes


def _snapshot(db: Path) -> str:
    digest = hashlib.sha256()
    for suffix in ("", "-wal"):
        part = db.with_name(db.name + suffix)
        digest.update(part.read_bytes() if part.exists() else b"")
    return digest.hexdigest()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A synced and attested database to copy for each example."""
    folder = tmp_path_factory.mktemp("pristine")
    db = folder / "idgraph.db"
    with PostmarkEmulator(FIXTURE) as emu:
        store = Store(db)
        sync_fixture(store, emu)
        members = folder / "members.csv"
        members.write_text(MEMBERS)
        attest_fixture(store, members)
        review = build_review(store)
        store.close()
    rows = [row.cells() for row in review.rows]
    return db, rows


cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "=1+1",
            "+cmd",
            "-x",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "Owner",
            "Admin",
            "full",
            "view",
            "none",
            "yes",
            "no",
            "",
            "a@b",
            "x@acme-corp.example",
        ]
    ),
)


@SETTINGS
@given(
    edits=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 8), cells), min_size=1, max_size=4),
    prefix=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe"]),
    delimiter=st.sampled_from([",", ",", ",", ";", "\t"]),
)
def test_member_files_are_refused_with_place_or_imported(
    pristine, tmp_path_factory, edits, prefix, delimiter
):
    db_source, _rows = pristine
    folder = tmp_path_factory.mktemp("m")
    db = folder / "idgraph.db"
    shutil.copy(db_source, db)
    rows = list(csv.reader(io.StringIO(MEMBERS)))
    for row_index, column, value in edits:
        if row_index < len(rows) and column < len(rows[row_index]):
            rows[row_index][column] = value
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    path = folder / "members.csv"
    path.write_bytes(prefix + buffer.getvalue().encode("utf-8"))
    before = _snapshot(db)
    store = Store(db)
    try:
        result = attest_fixture(store, path)
    except AttestationInvalid as exc:
        event("member file refused")
        store.close()
        assert exc.problems
        for problem in exc.problems:
            assert problem.startswith(str(path))
            whole_file = (
                "empty" in problem
                or "NUL" in problem
                or "no member rows" in problem
                or "exactly one owner" in problem
            )
            assert "row " in problem or whole_file, problem
            assert (
                "column " in problem
                or "byte " in problem
                or "row 1" in problem
                or whole_file
                or "cells" in problem
            ), problem
        assert _snapshot(db) == before
    else:
        event("member file imported")
        store.close()
        assert result["members"] >= 1
        assert prefix != b"\xff\xfe"  # UTF-16 is refused; a UTF-8 BOM, `;` and tab are read


@SETTINGS
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 80), st.sampled_from(REVIEW_COLUMNS), cells),
        min_size=1,
        max_size=4,
    ),
    prefix=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe"]),
)
def test_decision_files_are_refused_with_place_or_imported(
    pristine, tmp_path_factory, edits, prefix
):
    db_source, rows = pristine
    folder = tmp_path_factory.mktemp("d")
    db = folder / "idgraph.db"
    shutil.copy(db_source, db)
    rows = [dict(r) for r in rows]
    for row_index, column, value in edits:
        if row_index < len(rows):
            rows[row_index][column] = value
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, REVIEW_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = folder / "review.csv"
    path.write_bytes(prefix + buffer.getvalue().encode("utf-8"))
    before = _snapshot(db)
    store = Store(db)
    try:
        result = import_decisions(store, path, reviewer="lead@acme-corp.example")
    except DecisionsInvalid as exc:
        event("decision file refused")
        assert store.db["review_decisions"].count == 0
        store.close()
        for problem in exc.problems:
            assert problem.startswith(str(path))
            assert "row " in problem or "empty" in problem or "NUL" in problem, problem
        assert _snapshot(db) == before
    else:
        event("decision file imported")
        store.close()
        assert result["run_id"] >= 1
