"""The Postmark connector as an idgraph plugin (registered through the "idgraph" entry point)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from idgraph.graph.hookspecs import hookimpl
from idgraph.graph.interfaces import Collection, ConfigError, ProgressCallback
from idgraph.graph.secrets import fingerprint

from ._client import DEFAULT_CONCURRENCY, PostmarkClient, RetryPolicy
from ._errors import PostmarkError
from .collector import fetch_account, transform

TOKEN_ENV = "POSTMARK_ACCOUNT_TOKEN"
URL_ENV = "POSTMARK_API_URL"


def retry_policy(options: Mapping[str, Any]) -> RetryPolicy:
    default = RetryPolicy()
    retries = options.get("retries")
    max_wait = options.get("max_wait")
    backoff = options.get("backoff")
    return RetryPolicy(
        max_attempts=default.max_attempts if retries is None else int(retries) + 1,
        max_total_wait=default.max_total_wait if max_wait is None else float(max_wait),
        base_delay=default.base_delay if backoff is None else float(backoff),
    )


class PostmarkConnector:
    name = "postmark"
    description = (
        "Postmark: servers, server tokens, message streams, webhooks, sender signatures and "
        "domains (Account token from POSTMARK_ACCOUNT_TOKEN)"
    )

    def collect(
        self,
        *,
        options: Mapping[str, Any],
        environ: Mapping[str, str],
        progress: ProgressCallback,
    ) -> Collection:
        token = (environ.get(TOKEN_ENV) or "").strip()
        if not token:
            raise ConfigError(
                f"{TOKEN_ENV} is not set: export the Account API token (web UI: Account > API "
                "Tokens) in that variable. Tokens are never taken as command-line arguments."
            )
        label = options.get("account_label") or fingerprint(token)
        scope = f"postmark:{label}"
        collection = Collection(scope=scope)
        client = PostmarkClient(
            token,
            base_url=options.get("base_url") or environ.get(URL_ENV) or None,
            concurrency=int(options.get("concurrency") or DEFAULT_CONCURRENCY),
            retry=options.get("retry") or retry_policy(options),
            timeout=float(options.get("timeout") or 30.0),
            clock=options.get("clock"),  # tests drive back-off with a fake clock
        )

        async def go() -> None:
            async with client:
                raw = await fetch_account(
                    client, sender_details=bool(options.get("sender_details")), progress=progress
                )
            collection.nodes, collection.edges = transform(
                raw, account_label=label, account_token=token
            )
            collection.errors.extend(raw.errors)
            collection.warnings.extend(raw.warnings)
            collection.complete = not raw.errors

        try:
            asyncio.run(go())
        except PostmarkError as exc:
            collection.errors.append(str(exc))
            collection.complete = False
            collection.nodes, collection.edges = [], []
        collection.stats = {
            "requests": client.stats.requests,
            "retries": client.stats.retries,
            "throttled": client.stats.throttled,
            "base_url": client.base_url,
        }
        return collection


@hookimpl
def register_connectors(register):
    register(PostmarkConnector())


@hookimpl
def register_commands(cli):
    from .commands import attest_group, demo_command, emulator_group, token_group
    from .commands_write import postmark_group

    cli.add_command(postmark_group)
    cli.add_command(attest_group)
    cli.add_command(token_group)
    cli.add_command(emulator_group)
    cli.add_command(demo_command)


@hookimpl
def register_checks(register):
    from .checks import ALL_CHECKS

    for check in ALL_CHECKS:
        register(check)


@hookimpl
def register_remediators(register):
    from .remediation import PostmarkRemediator

    register(PostmarkRemediator())
