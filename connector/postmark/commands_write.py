"""`idgraph postmark ...`: the API's risky write tasks, made safe."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import unicodedata
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from idgraph.plugin import (
    EMAIL,
    ConfigError,
    fingerprint,
    secret_from_env,
    shown_problems,
    token_suffix,
)
from idgraph.plugin.cli import (
    EXIT_API,
    EXIT_CONFIG,
    EXIT_INCOMPLETE,
    EXIT_USAGE,
    Failure,
    record_write,
)

from ._client import DEFAULT_BASE_URL, PostmarkClient, was_gone_after_retry
from ._errors import (
    NotFound,
    PostmarkError,
    PostmarkServerError,
    PostmarkTransportError,
    ProxyUnusable,
    UnprocessableEntity,
)
from ._models import Server
from .commands import retry_options, retry_policy
from .operations import (
    AuditItem,
    OperationRefused,
    audit_server,
    explain_create_refusal,
    full_server_body,
    is_cap_refusal,
    load_expected,
    parse_assignments,
    server_diff,
    token_file_problem,
    write_secret_file,
)
from .options import TOKEN_ENV, URL_ENV

dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Show what would be sent; change nothing."
)
label_option = click.option("--account-label", help="The account, for the run history.")
# Unlike the readers' --db, no default: a write is recorded only where --db or IDGRAPH_DB
# names a database (docs/operations.md), never in a ./idgraph.db created on the way.
db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    default=None,
    envvar="IDGRAPH_DB",
    show_envvar=True,
    help="Record the write in this database's run history (none when not given).",
)


def _account_token() -> str:
    try:
        return secret_from_env(
            TOKEN_ENV, "the Account API token (web UI: Account > API Tokens)", os.environ
        )
    except ConfigError as exc:
        raise Failure(str(exc), EXIT_CONFIG) from None


def _client(retries: int, max_wait: float, timeout: float, backoff: float) -> PostmarkClient:
    policy = retry_policy(retries, max_wait, backoff)
    try:
        return PostmarkClient(
            _account_token(),
            base_url=os.environ.get(URL_ENV) or DEFAULT_BASE_URL,
            retry=policy,
            timeout=timeout,
        )
    except ProxyUnusable as exc:
        raise Failure(str(exc), EXIT_CONFIG) from None


@contextmanager
def write_errors(what: str):
    """One clear line per problem; an ambiguous failure of a create says how to check."""
    try:
        yield
    except OperationRefused as exc:
        _echo_problems(exc)
        raise Failure(f"{what}: nothing was sent", EXIT_CONFIG) from None
    except (PostmarkServerError, PostmarkTransportError) as exc:
        raise Failure(
            f"{exc}. {what}: the request may or may not have been carried out; "
            "it was not repeated (a create could be doubled): check with "
            "`idgraph sync postmark` before trying again",
            EXIT_API,
        ) from None
    except (PostmarkError, ConfigError) as exc:
        raise Failure(str(exc), EXIT_API) from None


@contextmanager
def usage_errors(what: str):
    """Options that cannot make a request (a bad --set): each problem named, exit 2."""
    try:
        yield
    except OperationRefused as exc:
        _echo_problems(exc)
        raise Failure(f"{what}: bad usage, nothing was sent", EXIT_USAGE) from None


def _echo_problems(exc: OperationRefused) -> None:
    for problem in shown_problems(exc.problems):
        click.echo(f"error: {problem}", err=True)


def _run(coroutine):
    return asyncio.run(coroutine)


def _record(db_path: Path | None, label: str | None, action: dict[str, Any]) -> int | None:
    if db_path is None:
        return None
    return record_write(
        db_path, "postmark", secret=_account_token(), action=action, account_label=label
    )


@click.group("postmark")
def postmark_group() -> None:
    """Postmark write tasks, made safe (Account token from POSTMARK_ACCOUNT_TOKEN)."""


@postmark_group.group("server")
def server_group() -> None:
    """Create, edit and delete servers."""


def _check_token_destination(token_file: Path | None, show_token: bool) -> None:
    """Refuse, before anything is sent, a new token that would have nowhere safe to go."""
    if not token_file and not show_token:
        raise Failure(
            "say where the new token goes: --token-file PATH (created 0600) or "
            "--show-token (printed once to a terminal)",
            EXIT_CONFIG,
        )
    if show_token and not sys.stdout.isatty():
        raise Failure(
            "--show-token prints only to a terminal (a pipe or log would keep the "
            "token); use --token-file",
            EXIT_CONFIG,
        )
    if token_file:
        problem = token_file_problem(token_file)
        if problem:
            raise Failure(f"{problem}; nothing was sent", EXIT_CONFIG)


def _create_server(client: PostmarkClient, body: dict[str, str], name: str) -> Server:
    """POST /servers; a 422 refusal is a Failure that explains it (with the server count
    when the refusal is the account's cap)."""

    async def go():
        async with client:
            try:
                return await client.create_server(body), None
            except UnprocessableEntity as exc:
                count = len(await client.list_servers()) if is_cap_refusal(exc) else None
                return None, (exc, count)

    with write_errors("server create"):
        server, refused = _run(go())
    if refused:
        exc, count = refused
        raise Failure(
            f"Postmark refused to create server {name!r} (HTTP 422, ErrorCode "
            f"{exc.error_code}: {exc.api_message}).{explain_create_refusal(exc, count)}",
            EXIT_API,
        )
    return server


def _deliver_token(token: str, token_file: Path | None) -> tuple[str, bool]:
    """Write the new token to `token_file` or show it once; where it went, and whether saved."""
    if not token_file:
        click.echo(f"Server API token (shown once): {token}")
        return "shown once above", True
    try:
        write_secret_file(token_file, token)
        return f"written to {token_file} (mode 0600)", True
    except (OperationRefused, ConfigError, OSError) as exc:
        # The server exists now: its token must not be lost with the file.
        reason = "; ".join(exc.problems) if isinstance(exc, OperationRefused) else exc
        click.echo(
            f"warning: the token could not be saved to {token_file} ({reason}); it is "
            "shown below, once, because it could not be saved: keep it now",
            err=True,
        )
        click.echo(f"Server API token (shown once): {token}")
        return "shown once above (it could not be saved)", False


@server_group.command("create")
@click.argument("name")
@click.option(
    "--color",
    type=click.Choice(
        ["purple", "blue", "turquoise", "green", "red", "yellow", "grey", "orange"],
        case_sensitive=False,
    ),
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the new server's API token here, once (created 0600, never overwritten).",
)
@click.option("--show-token", is_flag=True, help="Print the token once instead (terminal only).")
@dry_run_option
@db_option
@label_option
@retry_options
def server_create(
    name: str,
    color: str | None,
    token_file: Path | None,
    show_token: bool,
    dry_run: bool,
    db_path: Path | None,
    account_label: str | None,
    retries: int,
    max_wait: float,
    timeout: float,
    backoff: float,
) -> None:
    """Create a sending server. Its token is never stored: it goes to --token-file (0600) or,
    with --show-token, to the terminal once. The server shows in the graph at the next sync."""
    body = {"Name": name, **({"Color": color.capitalize()} if color else {})}
    if dry_run:
        click.echo(f"Would POST /servers {json.dumps(body)}")
        return
    _check_token_destination(token_file, show_token)
    server = _create_server(_client(retries, max_wait, timeout, backoff), body, name)
    if not server.api_tokens:
        run = _record(
            db_path,
            account_label,
            {"action": "server create", "server_id": server.id, "name": server.name},
        )
        raise Failure(
            f"POST /servers created server {server.id} {server.name!r} but its answer holds no "
            "API token (ApiTokens is empty): nothing was written; read the token in the web "
            "UI (the server's API Tokens tab)" + (f". Recorded as run {run}." if run else ""),
            EXIT_API,
        )
    token = server.api_tokens[0]
    where, saved = _deliver_token(token, token_file)
    run = _record(
        db_path,
        account_label,
        {
            "action": "server create",
            "server_id": server.id,
            "name": server.name,
            "token": f"{fingerprint(token)} (…{token_suffix(token)})",
            **({} if saved else {"token_saved": False}),
        },
    )
    click.echo(
        f"Created server {server.id} {server.name!r}; its token {fingerprint(token)} "
        f"(…{token_suffix(token)}) was {where}." + (f" Recorded as run {run}." if run else "")
    )


@server_group.command("update")
@click.argument("server_id", type=int)
@click.option("--name", help="A new name.")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="Field=value",
    help="Another field to change (repeat), e.g. TrackOpens=true.",
)
@dry_run_option
@db_option
@label_option
@retry_options
def server_update(
    server_id: int,
    name: str | None,
    assignments: tuple[str, ...],
    dry_run: bool,
    db_path: Path | None,
    account_label: str | None,
    retries: int,
    max_wait: float,
    timeout: float,
    backoff: float,
) -> None:
    """Edit a server without losing settings: Postmark's PUT replaces the whole object, so
    this reads the server, merges the change, shows the diff and writes every field."""
    with usage_errors("server update"):
        changes = parse_assignments(list(assignments))
        if name:
            changes["Name"] = name
        if not changes:
            raise OperationRefused(["nothing to change: give --name or --set Field=value"])
    with write_errors("server update"):
        client = _client(retries, max_wait, timeout, backoff)

        async def go():
            async with client:
                current = await client.get_server(server_id)
                before = full_server_body(current)
                after = {**before, **changes}
                diff = server_diff(before, after)
                if dry_run or not diff:
                    return diff, None
                return diff, await client.edit_server(server_id, after)

        diff, updated = _run(go())
    for line in diff or ["no change: the server already has these values"]:
        click.echo(f"  {line}")
    if dry_run:
        click.echo("Dry run: nothing was sent.")
        return
    if updated is not None:
        run = _record(
            db_path,
            account_label,
            {"action": "server update", "server_id": server_id, "changed": diff},
        )
        click.echo(f"Updated server {server_id}." + (f" Recorded as run {run}." if run else ""))


@server_group.command("delete")
@click.argument("server_id", type=int)
@click.option(
    "--confirm",
    "confirm_name",
    required=True,
    help="The server's exact name: deleting is irreversible and erases its messages.",
)
@dry_run_option
@db_option
@label_option
@retry_options
def server_delete(
    server_id: int,
    confirm_name: str,
    dry_run: bool,
    db_path: Path | None,
    account_label: str | None,
    retries: int,
    max_wait: float,
    timeout: float,
    backoff: float,
) -> None:
    """Delete a server: irreversible, and it erases the server's message history."""
    client = _client(retries, max_wait, timeout, backoff)

    async def go():
        async with client:
            server = await client.get_server(server_id)
            if server.name != confirm_name:
                raise OperationRefused(
                    [
                        f"--confirm {confirm_name!r} is not the exact name of "
                        f"server {server_id} ({server.name!r})"
                    ]
                )
            if dry_run:
                return server, None
            return server, await client.delete_server(server_id)

    with write_errors("server delete"):
        try:
            server, message = _run(go())
        except NotFound:
            raise OperationRefused([f"server {server_id} does not exist"]) from None
    if dry_run:
        click.echo(f"Dry run: would DELETE /servers/{server_id} ({server.name!r}).")
        return
    run = _record(
        db_path,
        account_label,
        {
            "action": "server delete",
            "server_id": server_id,
            "name": server.name,
            **(
                {"answer": "lost; the retry found it gone"} if was_gone_after_retry(message) else {}
            ),
        },
    )
    click.echo(
        f"Deleted server {server_id} {server.name!r} ({message})."
        + (f" Recorded as run {run}." if run else "")
    )


@postmark_group.group("sender")
def sender_group() -> None:
    """Sender signatures."""


def _one_line(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Refuse a control character (CR, LF, NUL, ...) in a value sent as a mail header."""
    if value is not None:
        bad = next((c for c in value if unicodedata.category(c).startswith("C")), None)
        if bad is not None:
            raise click.BadParameter(f"{value!r} holds the control character {bad!r}")
    return value


def _address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    value = _one_line(ctx, param, value)
    if value is not None and not EMAIL.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not an email address")
    return value


@sender_group.command("add")
@click.argument("email", callback=_address)
@click.option("--name", required=True, callback=_one_line, help="The From name.")
@click.option("--reply-to", callback=_address, help="A Reply-To address.")
@click.option("--wait", is_flag=True, help="Poll until the signature is confirmed.")
@click.option(
    "--timeout",
    "wait_timeout",
    type=click.FloatRange(0),
    default=600,
    show_default=True,
    help="Seconds to wait for the confirmation with --wait.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.01),
    default=5,
    show_default=True,
    help="First poll interval; it doubles up to a minute.",
)
@dry_run_option
@retry_options(timeout_flag="--request-timeout")
def sender_add(
    email: str,
    name: str,
    reply_to: str | None,
    wait: bool,
    wait_timeout: float,
    poll_interval: float,
    dry_run: bool,
    retries: int,
    max_wait: float,
    timeout: float,
    backoff: float,
) -> None:
    """Add a sender signature and, with --wait, poll until it is confirmed."""
    click.echo(
        f"warning: Postmark sends the confirmation mail to {email} itself: if nobody "
        "reads that mailbox, the signature never confirms.",
        err=True,
    )
    body = {"FromEmail": email, "Name": name, **({"ReplyToEmail": reply_to} if reply_to else {})}
    if dry_run:
        click.echo(f"Would POST /senders {json.dumps(body)}")
        return
    client = _client(retries, max_wait, timeout, backoff)

    async def go():
        async with client:
            sender = await client.create_sender_signature(body)
            click.echo(
                f"Added sender signature {sender.id} for {email}; confirmed: "
                f"{bool(sender.confirmed)}."
            )
            if not wait or sender.confirmed:
                return sender
            deadline = time.monotonic() + wait_timeout
            interval = poll_interval
            while time.monotonic() < deadline:
                await asyncio.sleep(min(interval, max(deadline - time.monotonic(), 0)))
                sender = await client.get_sender_signature(sender.id)
                if sender.confirmed:
                    return sender
                interval = min(interval * 2, 60)
            return sender

    with write_errors("sender add"):
        sender = _run(go())
    if wait and not sender.confirmed:
        click.echo(
            f"Not confirmed after {wait_timeout:g} s: the link is in {email}'s inbox.", err=True
        )
        raise SystemExit(EXIT_INCOMPLETE)
    if wait:
        click.echo(f"{email} is confirmed.")


@postmark_group.group("webhooks")
def webhooks_group() -> None:
    """Webhooks."""


async def _servers_named(
    client: PostmarkClient, server_names: list[str], expected_file: Path
) -> dict[str, Server]:
    """The account's servers by name; refused when the file names one that does not exist."""
    servers = {s.name: s for s in await client.list_servers()}
    unknown = sorted(set(server_names) - set(servers))
    if unknown:
        raise OperationRefused([f"{expected_file}: no server named {n!r}" for n in unknown])
    return servers


async def _fix_webhook(
    client: PostmarkClient, token: str, item: AuditItem, prune: bool, done: list[str]
) -> None:
    """Create a missing, update a drifted or (with `prune`) delete an extra webhook; each
    change done is appended to `done` as it lands."""
    if item.status == "missing" and item.expected:
        hook = await client.create_webhook(token, item.expected.body())
        done.append(f"created webhook {hook.id} ({item.url})")
    elif item.status == "drifted" and item.expected and item.actual:
        body = item.expected.body()
        body.pop("MessageStream")
        await client.edit_webhook(token, item.actual.id, body)
        done.append(f"updated webhook {item.actual.id} ({item.url})")
    elif item.status == "extra" and prune and item.actual:
        answer = await client.delete_webhook(token, item.actual.id)
        lost = " (answer lost; the retry found it gone)"
        done.append(
            f"deleted webhook {item.actual.id} ({item.url})"
            + (lost if was_gone_after_retry(answer) else "")
        )


def _print_webhook_audit(
    items: list[AuditItem], done: list[str], as_json: bool, dry_run: bool, apply_changes: bool
) -> None:
    if as_json:
        click.echo(json.dumps({"items": [i.as_dict() for i in items], "applied": done}, indent=2))
        return
    for item in items:
        detail = f" ({'; '.join(item.details)})" if item.details else ""
        click.echo(f"{item.status:8} {item.server} / {item.stream}: {item.url}{detail}")
    for line in done:
        click.echo(f"applied: {line}")
    if dry_run and apply_changes:
        click.echo("Dry run: nothing was changed.")


@webhooks_group.command("audit")
@click.option(
    "--expected",
    "expected_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML (or YAML) of the webhooks each server should have; secrets as ${ENV_VAR}.",
)
@click.option(
    "--apply", "apply_changes", is_flag=True, help="Create missing and update drifted webhooks."
)
@click.option("--prune", is_flag=True, help="With --apply, also delete extra webhooks.")
@dry_run_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@db_option
@label_option
@retry_options
def webhooks_audit(
    expected_file: Path,
    apply_changes: bool,
    prune: bool,
    dry_run: bool,
    as_json: bool,
    db_path: Path | None,
    account_label: str | None,
    retries: int,
    max_wait: float,
    timeout: float,
    backoff: float,
) -> None:
    """Missing, extra and drifted webhooks per server and stream; --apply fixes them
    (never deleting without --prune). Exit 1 when anything differs and was not fixed."""
    done: list[str] = []
    with write_errors("webhooks audit"):
        server_names, expected = load_expected(expected_file, dict(os.environ))
        client = _client(retries, max_wait, timeout, backoff)

        async def go():
            async with client:
                servers = await _servers_named(client, server_names, expected_file)
                items = []
                for server_name in sorted(set(server_names)):
                    server = servers[server_name]
                    if not server.api_tokens:
                        raise OperationRefused([f"server {server_name!r} has no API token"])
                    token = server.api_tokens[0]
                    found = audit_server(
                        server_name,
                        [e for e in expected if e.server == server_name],
                        await client.list_webhooks(token),
                    )
                    items += found
                    if not apply_changes or dry_run:
                        continue
                    for item in found:
                        await _fix_webhook(client, token, item, prune, done)
                return items, done

        try:
            items, done = _run(go())
        finally:
            if done:  # what was changed is recorded even when a later change failed
                run = _record(
                    db_path,
                    account_label,
                    {"action": "webhooks audit", "file": str(expected_file), "applied": done},
                )
                if run:
                    click.echo(f"Recorded as run {run}.", err=True)
    differing = [i for i in items if i.status != "ok"]
    _print_webhook_audit(items, done, as_json, dry_run, apply_changes)
    unfixed = [
        i
        for i in differing
        if not (apply_changes and not dry_run and (i.status != "extra" or prune))
    ]
    if unfixed:
        raise SystemExit(EXIT_INCOMPLETE)
