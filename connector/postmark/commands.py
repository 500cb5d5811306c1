"""The Postmark connector's commands: `token check`, `emulator serve` and `demo`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import click
from idgraph.graph.cli import (
    EXIT_API,
    EXIT_CONFIG,
    EXIT_INCOMPLETE,
    Failure,
    db_option,
    json_option,
    out_console,
    print_sync_summary,
    retry_options,
    run_sync,
    user_errors,
)
from idgraph.graph.plugins import get_exporters
from idgraph.graph.review import build_review
from idgraph.graph.store import Store

from ._client import PostmarkClient, identify_token
from .attestation import (
    WHERE_IN_THE_UI,
    AttestationInvalid,
    attestation_status,
    corroborate,
    import_members,
    resolve_label,
    write_template,
)
from .emulator import PostmarkEmulator, load_fixture
from .plugin import TOKEN_ENV, URL_ENV, retry_policy
from .synthetic import synthetic_account


@click.group("token")
def token_group() -> None:
    """Postmark API tokens."""


@token_group.command("check")
@click.option(
    "--env",
    "env_name",
    default=TOKEN_ENV,
    show_default=True,
    help="The environment variable that holds the token.",
)
@retry_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def token_check(
    env_name: str, retries: int, max_wait: float, timeout: float, backoff: float, as_json: bool
) -> None:
    """Tell whether a token is an Account token, a Server token (of which server) or neither.

    Two read-only calls: GET /servers?count=1 as an Account token, then GET /server as a
    Server token. The token is read from the environment, never from an argument.
    Exit 0 for an Account or Server token, 1 for neither.
    """
    token = (os.environ.get(env_name) or "").strip()
    if not token:
        raise Failure(f"{env_name} is not set: export the token to check in it", EXIT_CONFIG)

    async def go():
        retry = retry_policy({"retries": retries, "max_wait": max_wait, "backoff": backoff})
        async with PostmarkClient(None, retry=retry, timeout=timeout) as client:
            return client.base_url, await identify_token(client, token)

    with user_errors():
        base_url, found = asyncio.run(go())
    if as_json:
        click.echo(json.dumps({"env": env_name, "base_url": base_url, **found.__dict__}))
    elif found.kind == "account":
        click.echo(f"{env_name} holds an Account token ({found.servers_visible} servers visible).")
    elif found.kind == "server":
        click.echo(
            f"{env_name} holds a Server token of server {found.server_id} ({found.server_name!r})."
        )
    else:
        click.echo(
            f"{env_name} holds neither an Account nor a Server token at {base_url}: {found.detail}."
        )
    if found.kind == "neither":
        raise SystemExit(EXIT_INCOMPLETE)


@click.group("emulator")
def emulator_group() -> None:
    """The Postmark API emulator (a local HTTP server for tests, demos and curl)."""


@emulator_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=0, help="Port (default: a free one).")
@click.option(
    "--fixture",
    default="account.json",
    show_default=True,
    help="An account fixture file, or the name of one shipped with idgraph.",
)
@click.option(
    "--synthetic",
    "synthetic_servers",
    type=int,
    help="Serve a synthetic account of this many servers instead.",
)
@click.option("--latency-ms", type=float, default=0.0, help="Delay every answer by this much.")
@click.option(
    "--rate-limit",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of requests answered 429 (e.g. 0.05).",
)
def emulator_serve(
    host: str,
    port: int,
    fixture: str,
    synthetic_servers: int | None,
    latency_ms: float,
    rate_limit: float,
) -> None:
    """Serve a fake Postmark account until Ctrl-C. Its tokens are fake fixture tokens."""
    account = synthetic_account(synthetic_servers) if synthetic_servers else load_fixture(fixture)
    emulator = PostmarkEmulator(
        account, host=host, port=port, latency=latency_ms / 1000, rate_limit_fraction=rate_limit
    )
    servers = emulator.servers()
    click.echo(f"Postmark API emulator at {emulator.url} ({len(servers)} servers)")
    click.echo(f"  export {URL_ENV}={emulator.url}")
    click.echo(f"  export {TOKEN_ENV}={emulator.account_tokens[0]}   # a fake fixture token")
    if servers and servers[0].get("ApiTokens"):
        click.echo(f"  a Server token of server {servers[0]['ID']}: {servers[0]['ApiTokens'][0]}")
    click.echo(
        f"  curl -H 'Accept: application/json' -H \"X-Postmark-Account-Token: "
        f"${TOKEN_ENV}\" '{emulator.url}/servers?count=500&offset=0'"
    )
    sys.stdout.flush()
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass


@click.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="idgraph-demo",
    show_default=True,
    help="Where the demo writes its files.",
)
def demo_command(out_dir: Path) -> None:
    """The embedded default: no account, no network.

    Starts the Postmark API emulator on 127.0.0.1 with the shipped fixture account, syncs it
    through the real HTTP client into OUT/idgraph.db and prints where everything is.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "idgraph.db"
    account = load_fixture()
    started = time.monotonic()
    with PostmarkEmulator(account) as emulator:
        out_console.print(f"Postmark API emulator serving the fixture account at {emulator.url}")
        environ = {TOKEN_ENV: emulator.account_tokens[0], URL_ENV: emulator.url}
        options = {"account_label": account.get("Label", "demo")}
        with user_errors():
            result = run_sync(
                "postmark",
                db_path,
                options,
                environ,
                show_progress=sys.stderr.isatty(),
                lock_wait=30,
            )
    print_sync_summary(result, db_path)
    if result.status != "complete":
        raise Failure("the demo sync did not complete", EXIT_API)
    members_file = out_dir / "members.csv"
    members_file.write_bytes(
        resources.files("idgraph.fixtures").joinpath("postmark", "members.csv").read_bytes()
    )
    store = Store(db_path)
    try:
        with attestation_errors():
            attested = import_members(
                store,
                members_file,
                label=options["account_label"],
                attested_by="it-admin@acme-corp.example",
                evidence=str(members_file),
                valid_days=90,
            )
    finally:
        store.close()
    out_console.print(
        f"Imported {attested['members']} attested team members from "
        f"{members_file} (attestation {attested['run_id']}, valid until "
        f"{attested['expires_at']})."
    )
    pack = out_dir / "review-pack"
    with user_errors():
        store = Store(db_path)
        try:
            context = build_review(store)
            pack.mkdir(exist_ok=True)
            for exporter in get_exporters().values():
                exporter.export(context, pack)
        finally:
            store.close()
    out_console.print(
        f"Wrote the review pack of run {context.run.id}: {len(context.rows)} access "
        f"paths, {len(context.findings)} findings."
    )
    out_console.print(f"\nDemo finished in {time.monotonic() - started:.1f} s. What it wrote:")
    out_console.print(f"  database   {db_path}  (idgraph runs --db {db_path})")
    out_console.print(f"  members    {members_file}  (idgraph attest status --db {db_path})")
    out_console.print(f"  review     {pack / 'review.csv'}  (one row per access path)")
    out_console.print(f"  report     {pack / 'report.html'}  (open it in a browser)")
    out_console.print(
        f"  exports    {pack}  (graph.json, graph.graphml, baton/, "
        "bloodhound-opengraph.json, veza-oaa.json)"
    )
    out_console.print(
        f"  try        idgraph show postmark:team_member:dana.ops@acme-corp.example --db {db_path}"
    )
    if result.status != "complete":
        raise SystemExit(EXIT_INCOMPLETE)


# -- attestation of team members ------------------------------------------------------------

connector_argument = click.argument(
    "connector_name", metavar="CONNECTOR", type=click.Choice(["postmark"])
)
label_option = click.option(
    "--account-label", help="The account (default: the only Postmark account in the db)."
)


@contextmanager
def attestation_errors():
    """Every problem of a refused file on its own line; exit 3; nothing written."""
    try:
        with user_errors():
            yield
    except AttestationInvalid as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise Failure(
            f"{len(exc.problems)} problem(s): nothing was imported", EXIT_CONFIG
        ) from None


@click.group("attest")
def attest_group() -> None:
    """Team members read off the web UI (Postmark has no member API)."""


@attest_group.command("template")
@connector_argument
@db_option
@label_option
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the CSV here (and FILE.notes.txt beside it); default: stdout.",
)
def attest_template(
    connector_name: str, db_path: Path, account_label: str | None, out_file: Path | None
) -> None:
    """A CSV template of the account's members: a column per server of the latest sync,
    pre-filled from the previous attestation so only differences need editing."""
    with attestation_errors():
        store = Store(db_path)
        try:
            label = resolve_label(store, account_label)
            text = write_template(store, label)
        finally:
            store.close()
    if out_file is None:
        click.echo(text, nl=False)
        click.echo(WHERE_IN_THE_UI, err=True)
        return
    out_file.write_text(text, encoding="utf-8")
    notes = out_file.with_name(out_file.name + ".notes.txt")
    notes.write_text(WHERE_IN_THE_UI, encoding="utf-8")
    click.echo(f"Template for account {label!r}: {out_file} (where to read each value: {notes})")


@attest_group.command("import")
@connector_argument
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--attested-by", required=True, help="Your email: who read the web UI.")
@click.option("--evidence", help="A screenshot or export file (kept as its SHA-256), or a URL.")
@click.option(
    "--valid-days",
    type=int,
    default=90,
    show_default=True,
    help="Days until the attestation goes stale.",
)
@db_option
@label_option
@json_option
def attest_import(
    connector_name: str,
    file: Path,
    attested_by: str,
    evidence: str | None,
    valid_days: int,
    db_path: Path,
    account_label: str | None,
    as_json: bool,
) -> None:
    """Import a filled member file. The whole file is checked first; on any problem every
    one is listed (file, row, column), nothing is stored, and the exit code is 3."""
    with attestation_errors():
        store = Store(db_path)
        try:
            label = resolve_label(store, account_label)
            result = import_members(
                store,
                file,
                label=label,
                attested_by=attested_by,
                evidence=evidence,
                valid_days=valid_days,
            )
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"Attestation {result['run_id']} of account {label!r}: {result['members']} "
        f"members, valid until {result['expires_at']}."
    )
    for email in result["added"]:
        click.echo(f"  + {email}")
    for email in result["removed"]:
        click.echo(f"  - {email} (no longer in the UI: recorded as removed)")


@attest_group.command("status")
@db_option
@json_option
def attest_status(db_path: Path, as_json: bool) -> None:
    """Accounts with no, a valid, or a stale attestation."""
    store = Store(db_path)
    try:
        rows = attestation_status(store)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No Postmark account synced yet.")
    for row in rows:
        if row["status"] == "none":
            click.echo(f"{row['account_label']}: NO attestation of team members")
        else:
            click.echo(
                f"{row['account_label']}: {row['status'].upper()} attestation "
                f"{row['import_id']} by {row['attested_by']} on {row['attested_at']}, "
                f"expires {row['expires_at']} ({row['members']} members)"
            )


@attest_group.command("corroborate")
@connector_argument
@db_option
@label_option
@json_option
def attest_corroborate(
    connector_name: str, db_path: Path, account_label: str | None, as_json: bool
) -> None:
    """Attested members against the people the API shows (sender signature addresses)."""
    with attestation_errors():
        store = Store(db_path)
        try:
            report = corroborate(store, resolve_label(store, account_label))
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    titles = {
        "members_also_senders": "members that are also sender signatures",
        "members_only": "attested members the API shows nowhere",
        "senders_only": "sender signature addresses that are not attested members",
        "members_outside_verified_domains": "members whose email domain is none of the "
        "account's verified domains",
    }
    for key, title in titles.items():
        click.echo(f"{title} ({len(report[key])}):")
        for email in report[key]:
            click.echo(f"  {email}")
