"""The Postmark connector's commands: `token check`, `emulator serve` and `demo`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import click
from idgraph.graph.cli import (
    EXIT_API,
    EXIT_CONFIG,
    EXIT_INCOMPLETE,
    Failure,
    out_console,
    print_sync_summary,
    retry_options,
    run_sync,
    user_errors,
)

from ._client import PostmarkClient, identify_token
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
def token_check(env_name: str, retries: int, max_wait: float, as_json: bool) -> None:
    """Tell whether a token is an Account token, a Server token (of which server) or neither.

    Two read-only calls: GET /servers?count=1 as an Account token, then GET /server as a
    Server token. The token is read from the environment, never from an argument.
    Exit 0 for an Account or Server token, 1 for neither.
    """
    token = (os.environ.get(env_name) or "").strip()
    if not token:
        raise Failure(f"{env_name} is not set: export the token to check in it", EXIT_CONFIG)

    async def go():
        retry = retry_policy({"retries": retries, "max_wait": max_wait})
        async with PostmarkClient(None, retry=retry) as client:
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
    out_console.print(f"\nDemo finished in {time.monotonic() - started:.1f} s. What it wrote:")
    out_console.print(f"  database   {db_path}  (idgraph runs --db {db_path})")
    out_console.print(f"  try        idgraph show postmark:server:11001 --db {db_path}")
    if result.status != "complete":
        raise SystemExit(EXIT_INCOMPLETE)
