"""The Postmark connector's commands: `token check`, `emulator serve` and `demo`.

Like every part of the connector they import only `idgraph.plugin` of the host; the
emulator is imported by `emulator serve` and `demo` alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from idgraph.plugin import ConfigError, SourceError, safe_file, secret_from_env
from idgraph.plugin.cli import (
    EXIT_API,
    EXIT_CONFIG,
    EXIT_INCOMPLETE,
    Failure,
    attest_file,
    out_console,
    print_sync_summary,
    run_sync,
    user_errors,
    write_review_pack,
)

from ._client import DEFAULT_BASE_URL, PostmarkClient, RetryPolicy, identify_token
from ._errors import PostmarkError, ProxyUnusable
from .options import TOKEN_ENV, URL_ENV, PostmarkOptions, api_url_problem

if TYPE_CHECKING:
    from .emulator.limits import RateLimit


@contextmanager
def postmark_errors() -> Iterator[None]:
    """The client's errors as the host's SourceError (exit 4, one line); a proxy that cannot
    be used as a ConfigError (exit 3)."""
    try:
        yield
    except ProxyUnusable as exc:
        raise ConfigError(str(exc)) from None
    except PostmarkError as exc:
        raise SourceError(str(exc)) from None


@contextmanager
def _no_proxy_for(host: str) -> Iterator[None]:
    """`host` added to NO_PROXY for the block: the demo's own emulator on 127.0.0.1 is
    reached directly even where HTTP_PROXY or HTTPS_PROXY is set."""
    saved = {name: os.environ.get(name) for name in ("NO_PROXY", "no_proxy")}
    for name, value in saved.items():
        os.environ[name] = f"{value},{host}" if value else host
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _usable_api_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    problem = api_url_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


def api_url_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--api-url",
        default=DEFAULT_BASE_URL,
        envvar=URL_ENV,
        show_envvar=True,
        show_default=True,
        callback=_usable_api_url,
        help="The API's base URL (e.g. the emulator's).",
    )(command)


def retry_options(command: Callable[..., Any] | None = None, *, timeout_flag: str = "--timeout"):
    """--retries, --backoff, --max-wait and the request timeout: how hard to retry and how
    long to wait. `timeout_flag` renames the last where a command needs --timeout itself."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            timeout_flag,
            "timeout",
            type=click.FloatRange(0.1),
            default=30.0,
            show_default=True,
            help="Seconds to wait for one answer before retrying.",
        )(command)
        command = click.option(
            "--backoff",
            type=click.FloatRange(0.001),
            default=0.5,
            show_default=True,
            help="First back-off delay in seconds; it doubles per retry (with full jitter).",
        )(command)
        command = click.option(
            "--max-wait",
            type=click.FloatRange(0),
            default=120.0,
            show_default=True,
            help="Seconds of back-off one request may spend in all.",
        )(command)
        return click.option(
            "--retries",
            type=click.IntRange(0, 20),
            default=5,
            show_default=True,
            help="Retries of a request after a 429, 5xx or dropped connection.",
        )(command)

    return decorate(command) if command is not None else decorate


def retry_policy(retries: int, max_wait: float, backoff: float) -> RetryPolicy:
    """The retry policy of these flags: the sync options' own mapping, one place."""
    return PostmarkOptions(retries=retries, max_wait=max_wait, backoff=backoff).retry_policy()


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
@api_url_option
@retry_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def token_check(
    env_name: str,
    api_url: str,
    retries: int,
    max_wait: float,
    timeout: float,
    backoff: float,
    as_json: bool,
) -> None:
    """Tell whether a token is an Account token, a Server token (of which server) or neither.

    Two read-only calls: GET /servers?count=1 as an Account token, then GET /server as a
    Server token. The token is read from the environment, never from an argument.
    Exit 0 for an Account or Server token, 1 for neither.
    """
    with user_errors():
        token = secret_from_env(env_name, "the token to check", os.environ)

    async def go():
        retry = retry_policy(retries, max_wait, backoff)
        async with PostmarkClient(None, base_url=api_url, retry=retry, timeout=timeout) as client:
            return client.base_url, await identify_token(client, token)

    with user_errors(), postmark_errors():
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


def _rate_limit_option(
    _context: click.Context, param: click.Parameter, value: str | None
) -> RateLimit | None:
    from .emulator.limits import parse_rate_limit  # the emulator loads only when served

    if value is None:
        return None
    try:
        return parse_rate_limit(value)
    except ValueError as exc:
        hint = f"--{(param.name or '').replace('_', '-')}"
        raise click.BadParameter(str(exc), param_hint=hint) from None


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
    "rate_limit",
    callback=_rate_limit_option,
    metavar="RATE/s[,BURST]",
    help="Enforce an overall limit, undisclosed: a token bucket of RATE a second holding "
    "BURST (default one second's worth); an excess gets a bare 429. E.g. 80/s,10.",
)
@click.option(
    "--token-rate-limit",
    "token_rate_limit",
    callback=_rate_limit_option,
    metavar="RATE/s[,BURST]",
    help="The same for each token (account or server) on its own. E.g. 2/s,1.",
)
@click.option(
    "--faults",
    "faults",
    default="",
    metavar="NAME=SHARE,...",
    help="Random faults, as shares of requests: 5xx, 429, drop (close without answering), "
    "reset (cut mid-body), malformed (a truncated or non-JSON body), html (a proxy's 403); "
    "e.g. 5xx=0.1,drop=0.05,malformed=0.02.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random faults.")
def emulator_serve(
    host: str,
    port: int,
    fixture: str,
    synthetic_servers: int | None,
    latency_ms: float,
    rate_limit: RateLimit | None,
    token_rate_limit: RateLimit | None,
    faults: str,
    seed: int,
) -> None:
    """Serve a fake Postmark account until Ctrl-C. Its tokens are fake fixture tokens."""
    from .emulator import PostmarkEmulator, load_fixture
    from .emulator.server import parse_fault_rates
    from .emulator.synthetic import synthetic_account

    try:
        fault_rates = parse_fault_rates(faults)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    account = synthetic_account(synthetic_servers) if synthetic_servers else load_fixture(fixture)
    emulator = PostmarkEmulator(
        account,
        host=host,
        port=port,
        latency=latency_ms / 1000,
        rate_limit=rate_limit,
        token_rate_limit=token_rate_limit,
        seed=seed,
        fault_rates=fault_rates,
    )
    servers = emulator.servers()
    click.echo(f"Postmark API emulator at {emulator.url} ({len(servers)} servers)")
    enforced = [
        f"{what} {limit} (answered with a bare 429)"
        for what, limit in (("overall", rate_limit), ("per token", token_rate_limit))
        if limit is not None
    ]
    if latency_ms:
        enforced.append(f"{latency_ms:g} ms a request")
    if fault_rates:
        enforced.append(f"random faults {faults}")
    if enforced:
        click.echo(f"  enforcing: {'; '.join(enforced)}")
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
    through the real HTTP client into OUT/idgraph.db, imports the sample attested team
    members, writes the review pack, and prints where everything is.
    """
    from .emulator import PostmarkEmulator, load_fixture

    with user_errors():
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Failure(f"{out_dir}: cannot be created ({exc.strerror})", EXIT_CONFIG) from None
    db_path = out_dir / "idgraph.db"
    account = load_fixture()
    label = account.get("Label", "demo")
    started = time.monotonic()
    with PostmarkEmulator(account) as emulator, _no_proxy_for("127.0.0.1"):
        out_console.print(f"Postmark API emulator serving the fixture account at {emulator.url}")
        with user_errors():
            result = run_sync(
                "postmark",
                db_path,
                environ={TOKEN_ENV: emulator.account_tokens[0]},
                options={"api_url": emulator.url},
                account_label=label,
                show_progress=sys.stderr.isatty(),
            )
    print_sync_summary(result, db_path)
    if result.status != "complete":
        raise Failure("the demo sync did not complete", EXIT_API)
    members_file = out_dir / "members.csv"
    emulator_files = resources.files("idgraph.connector.postmark.emulator")
    sample = emulator_files.joinpath("fixtures", "members.csv")
    with user_errors(), safe_file(members_file, force=True, binary=True) as handle:
        handle.write(sample.read_bytes())  # the demo's own folder: its files are replaced
    from .members import MEMBER_FORMAT

    with user_errors():
        attested = attest_file(
            db_path,
            MEMBER_FORMAT.connector,
            members_file,
            attested_by="it-admin@acme-corp.example",
            evidence=str(members_file),
            account_label=label,
        )
    out_console.print(
        f"Run {attested['run_id']} is the attestation: {attested['members']} team members "
        f"from {members_file}, valid until {attested['expires_at']}."
    )
    pack = out_dir / "review-pack"
    with user_errors():
        context, written, skipped = write_review_pack(db_path, pack, force=True)
    out_console.print(
        f"Wrote the review pack of run {context.run.id} (sync run {result.run_id} + "
        f"attestation run {attested['run_id']}): {context.row_count} rows to decide, "
        f"{len(context.findings)} findings."
    )
    idgraph = invoked_as()
    out_console.print(f"\nDemo finished in {time.monotonic() - started:.1f} s. What it wrote:")
    out_console.print(f"  database   {db_path}  ({idgraph} runs --db {db_path})")
    out_console.print(f"  members    {members_file}  ({idgraph} attest status --db {db_path})")
    out_console.print(f"  review     {pack / 'review.csv'}  (one row per decision)")
    out_console.print(f"  report     {pack / 'report.html'}  (open it in a browser)")
    out_console.print(f"  exports    {pack}  ({', '.join(Path(p).name for p in written)})")
    for reason in skipped:
        out_console.print(f"  skipped    {reason}", markup=False)
    out_console.print(
        f"  try        {idgraph} show postmark:team_member:dana.ops@acme-corp.example "
        f"--db {db_path}"
    )


def invoked_as(argv0: str | None = None) -> str:
    """The command as the user can type it again: `idgraph` when that is on PATH and is
    this program, else the path it was run by (`.venv/bin/idgraph` after the Quick start)."""
    import shutil
    import sys

    argv0 = argv0 or sys.argv[0]
    name = Path(argv0).name
    if name != "idgraph" or argv0 == name:  # python -m, a test runner; or found on PATH
        return "idgraph"
    found = shutil.which(name)
    if found and Path(found).resolve() == Path(argv0).resolve():
        return name
    return argv0
