"""Issue 15, writes: no token lost, a lost DELETE answer is not a refusal, each 422 by its own
code, every write recorded (only where a database is named), bad audit files named."""

import os

import pytest
from click.testing import CliRunner
from idgraph.graph.cli import EXIT_API, EXIT_CONFIG, cli
from idgraph.graph.store import Store

from ..postmark.test_review_pack import _fill
from ..postmark.test_review_pack import pack as _pack  # noqa: F401  (a fixture: the exported pack)

FAST = ["--retries", "3", "--backoff", "0.01", "--max-wait", "3"]


def _invoke(emulator, args, **env):
    environ = {
        "POSTMARK_ACCOUNT_TOKEN": emulator.account_tokens[0],
        "POSTMARK_API_URL": emulator.url,
        "IDGRAPH_DB": None,
        **env,
    }
    return CliRunner().invoke(cli, ["postmark", *args], env=environ)


def _runs(db):
    store = Store(db)
    try:
        return [store.run(r["id"]) for r in store.db.query("SELECT id FROM runs ORDER BY id")]
    finally:
        store.close()


def _new_token(emulator, name):
    return next(s for s in emulator.servers() if s["Name"] == name)["ApiTokens"][0]


# -- 1. the new server's token is never lost ----------------------------------------------


def test_token_file_in_a_missing_folder_is_refused_before_the_post(emulator, tmp_path):
    result = _invoke(
        emulator,
        ["server", "create", "Lost", "--token-file", str(tmp_path / "no" / "t"), *FAST],
    )
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "does not exist" in result.output and "nothing was sent" in result.output
    assert emulator.stats.by_endpoint["POST /servers"] == 0
    assert not any(s["Name"] == "Lost" for s in emulator.servers())
    assert "Traceback" not in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_token_file_in_a_read_only_folder_is_refused_before_the_post(emulator, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    result = _invoke(
        emulator, ["server", "create", "Lost", "--token-file", str(folder / "t"), *FAST]
    )
    assert result.exit_code == EXIT_CONFIG and "not writable" in result.output
    assert emulator.stats.by_endpoint["POST /servers"] == 0


def test_a_token_file_that_appears_during_the_post_shows_the_token_once(emulator, tmp_path):
    token_file = tmp_path / "t"
    db = tmp_path / "w.db"

    def squatter(method, path, query):
        if method == "POST" and path == "/servers":
            token_file.write_text("someone else's\n")

    emulator.before_request = squatter
    result = _invoke(
        emulator,
        ["server", "create", "Raced", "--token-file", str(token_file), "--db", str(db), *FAST],
    )
    assert result.exit_code == 0, result.output
    token = _new_token(emulator, "Raced")
    assert result.stdout.count(token) == 1  # shown once, on stdout
    assert token not in result.stderr
    assert "because it could not be saved" in result.stderr
    assert token_file.read_text() == "someone else's\n"  # never overwritten
    (run,) = _runs(db)
    assert run.kind == "write" and run.stats["action"] == "server create"
    assert run.stats["token_saved"] is False
    assert "Traceback" not in result.output


# -- 2. a DELETE carried out whose answer was lost ----------------------------------------


def test_a_delete_whose_answer_was_lost_is_done_and_recorded(emulator, tmp_path):
    db = tmp_path / "w.db"
    name = emulator.server(11003)["Name"]
    emulator.inject("drop_after", r"^DELETE /servers/11003", 1)
    result = _invoke(
        emulator,
        ["server", "delete", "11003", "--confirm", name, "--db", str(db), *FAST],
    )
    assert result.exit_code == 0, result.output
    assert emulator.server(11003) is None
    assert emulator.stats.by_endpoint["DELETE /servers/{id}"] == 2
    assert "Postmark refused" not in result.output and "retry found it gone" in result.output
    (run,) = _runs(db)
    assert run.stats["action"] == "server delete" and run.stats["server_id"] == 11003
    assert "Traceback" not in result.output


def test_a_webhook_delete_whose_answer_was_lost_is_done(emulator, tmp_path):
    db = tmp_path / "w.db"
    path = tmp_path / "expected.toml"
    path.write_text('[[server]]\nname = "Acme Production"\n')
    before = emulator.server(11001)["Webhooks"]
    assert before
    emulator.inject("drop_after", r"^DELETE /webhooks/", 1)
    result = _invoke(
        emulator,
        ["webhooks", "audit", "--expected", str(path), "--apply", "--prune", "--db", str(db)]
        + FAST,
    )
    assert result.exit_code == 0, result.output
    assert emulator.server(11001)["Webhooks"] == []
    assert "retry found it gone" in result.output
    (run,) = _runs(db)
    assert run.stats["action"] == "webhooks audit"
    assert len(run.stats["applied"]) == len(before)


def test_a_first_delete_of_a_missing_webhook_is_still_an_error(emulator):
    """Only after our own attempt may have been carried out is "not found" success."""
    import asyncio

    from idgraph.connector.postmark._client import PostmarkClient
    from idgraph.connector.postmark._errors import NotFound

    token = emulator.server(11001)["ApiTokens"][0]

    async def go():
        async with PostmarkClient(emulator.account_tokens[0], base_url=emulator.url) as client:
            await client.delete_webhook(token, 999999)

    with pytest.raises(NotFound):
        asyncio.run(go())


# -- 3. each 422 explained by its own ErrorCode -------------------------------------------


def test_name_exists_is_not_explained_as_the_plan_cap(emulator, tmp_path):
    emulator.server_limit = 5  # at the cap: the old code blamed the plan for any 422
    result = _invoke(
        emulator,
        ["server", "create", "Acme Production", "--token-file", str(tmp_path / "t"), *FAST],
    )
    assert result.exit_code == EXIT_API
    assert "ErrorCode 603" in result.output and "already exists" in result.output
    assert "Basic plan" not in result.output
    cap = _invoke(emulator, ["server", "create", "New", "--token-file", str(tmp_path / "t")])
    assert cap.exit_code == EXIT_API and "the Basic plan allows 10" in cap.output


# -- 4. every write recorded, only where a database is named ------------------------------


def test_prune_records_a_run(emulator, tmp_path):
    db = tmp_path / "w.db"
    path = tmp_path / "expected.toml"
    path.write_text('[[server]]\nname = "Acme Production"\n')
    result = _invoke(
        emulator,
        ["webhooks", "audit", "--expected", str(path), "--apply", "--prune", *FAST],
        IDGRAPH_DB=str(db),
    )
    assert result.exit_code == 0, result.output
    (run,) = _runs(db)
    assert run.kind == "write" and run.stats["action"] == "webhooks audit"
    assert all(line.startswith("deleted webhook") for line in run.stats["applied"])


def test_writes_create_no_database_unless_one_is_named(emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    created = _invoke(emulator, ["server", "create", "Quiet", "--token-file", "t", *FAST])
    assert created.exit_code == 0, created.output
    name = emulator.server(11003)["Name"]
    deleted = _invoke(emulator, ["server", "delete", "11003", "--confirm", name, *FAST])
    assert deleted.exit_code == 0, deleted.output
    assert not (tmp_path / "idgraph.db").exists()
    assert "Recorded as run" not in created.output + deleted.output


# -- 5. bad audit files: one line each, exit 3 --------------------------------------------


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("triggers = 5", "triggers"),
        ('triggers = ["Bounce", 5]', "triggers"),
        ('http_auth = "x"', "http_auth"),
        ('headers = ["X-A"]', "headers"),
        ("headers = { X-A = 5 }", "headers.X-A"),
        ("stream = 5", "stream"),
        ('http_auth = { username = 5, password = "p" }', "http_auth.username"),
    ],
)
def test_a_bad_field_in_the_audit_file_is_named(emulator, tmp_path, line, field):
    path = tmp_path / "expected.toml"
    path.write_text(
        '[[server]]\nname = "Acme Production"\n\n  [[server.webhook]]\n'
        f'  url = "https://hooks.acme-corp.example/x"\n  {line}\n'
    )
    result = _invoke(emulator, ["webhooks", "audit", "--expected", str(path), *FAST])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "Traceback" not in result.output
    error = next(s for s in result.output.splitlines() if s.startswith("error:"))
    assert str(path) in error and "Acme Production" in error and "webhook #1" in error
    assert f"{field}:" in error or f"{field} " in error


@pytest.mark.parametrize(
    "text",
    [
        'server = "x"',
        '[[server]]\nname = "Acme Production"\nwebhook = 5\n',
        '[[server]]\nname = "Acme Production"\nwebhook = [5]\n',
    ],
)
def test_a_bad_shape_of_the_audit_file_is_named(emulator, tmp_path, text):
    path = tmp_path / "expected.toml"
    path.write_text(text)
    result = _invoke(emulator, ["webhooks", "audit", "--expected", str(path), *FAST])
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "Traceback" not in result.output and str(path) in result.output


# -- 6. review cycle: a modify is a change, not a revoke; --out checked before storing ----


def _import(db, filled, *extra):
    return CliRunner().invoke(
        cli,
        ["review", "import", str(filled), "--reviewer", "lead@acme-corp.example", "--db", str(db)]
        + list(extra),
    )


def _section(steps, email, resource_part):
    blocks = steps.split("\n## ")
    return next(b for b in blocks if email in b and resource_part in b)


def test_modify_of_full_server_access_is_a_change_not_a_revoke(_pack):  # noqa: F811
    db, out, _summary = _pack

    def decide(row):
        if row["principal"].endswith("dana.ops@acme-corp.example"):
            if row["access_kind"] == "postmark:can_access" and row["access"] == "full":
                row.update(decision="modify", justification="view is enough")
            elif row["access_kind"] == "postmark:member_of":
                row.update(decision="modify", justification="should be Technical")
        if row["principal"].endswith("sam.dev@acme-corp.example"):
            if row["access_kind"] == "postmark:can_access" and row["access"] == "full":
                row.update(decision="modify", justification="tighten this")
        if row["principal"].endswith("lee@agency-partner.example"):
            if row["access_kind"] == "postmark:can_access":
                row.update(decision="revoke", justification="contract ended")

    result = _import(db, _fill(out, decide))
    assert result.exit_code == 0, result.output
    steps = (out / "remediation.md").read_text()
    modifies = [b for b in steps.split("\n## ") if b.split(". ", 1)[-1].startswith("modify")]
    assert modifies
    for block in modifies:
        assert (
            "No access" not in block
            and "remove" not in block.split("step:")[1].split("(a change")[0]
        )
    dana = [b for b in modifies if "dana.ops" in b and "(postmark:can_access)" in b]
    assert dana and all("*View only*" in b for b in dana)
    sam = next(b for b in modifies if "sam.dev" in b)
    assert "*View only*" in sam  # full, and no level asked: reduced to view
    role = next(b for b in modifies if "dana.ops" in b and "(postmark:member_of)" in b)
    assert "change the role" in role and "*Technical*" in role
    assert "remove" not in role.split("step:")[1].split("(a change")[0]
    revoke = next(b for b in steps.split("\n## ") if b.split(". ", 1)[-1].startswith("revoke"))
    assert "*No access*" in revoke


def test_review_import_into_a_missing_out_folder_stores_nothing(_pack):  # noqa: F811
    db, out, _summary = _pack

    def decide(row):
        if row["principal"].endswith("lee@agency-partner.example"):
            row.update(decision="revoke", justification="contract ended")

    result = _import(db, _fill(out, decide), "--out", str(out / "missing" / "dir"))
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "Traceback" not in result.output and "no such folder" in result.output
    store = Store(db)
    assert store.db["review_decisions"].count == 0
    store.close()
