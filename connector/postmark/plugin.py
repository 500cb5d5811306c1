"""The Postmark connector as an idgraph plugin (registered through the "idgraph" entry point).

It imports only `idgraph.plugin` of the host, like a third-party package would.
"""

from __future__ import annotations

import asyncio

from idgraph.plugin import (
    Account,
    Collection,
    ConfigError,
    ProgressCallback,
    SourceError,
    hookimpl,
    redact_url,
)

from ._client import Clock, PostmarkClient, TokenIdentity, identify_token
from ._errors import (
    PostmarkAPIError,
    PostmarkError,
    PostmarkTransportError,
    ProxyUnusable,
    WrongTokenKind,
)
from .collector import Transformer, fetch_account
from .options import PARTS, TOKEN_ENV, PostmarkOptions


class PostmarkConnector:
    name = "postmark"
    description = (
        "Postmark: servers, server tokens, message streams, webhooks, sender signatures and "
        "domains (Account token from POSTMARK_ACCOUNT_TOKEN)"
    )
    secret_env = TOKEN_ENV
    secret_description = "the Account API token (web UI: Account > API Tokens)"
    options_class = PostmarkOptions

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock  # the client's clock for back-off; tests pass a fake one

    def verify_credential(self, secret: str, options: PostmarkOptions | None) -> None:
        """Raise SourceError unless `secret` is an Account token (two read-only calls)."""
        options = options or PostmarkOptions()
        try:
            found = self._identify(secret, options)
        except ProxyUnusable as exc:
            raise ConfigError(str(exc)) from None
        except PostmarkError as exc:
            raise SourceError(str(exc)) from None
        if found.kind == "server":
            raise SourceError(_server_token_given(found))
        if found.kind == "neither":
            raise SourceError(f"{TOKEN_ENV} was refused by {options.api_url}: {found.detail}")

    def _identify(
        self, secret: str, options: PostmarkOptions, *, refused_as_account: bool = False
    ) -> TokenIdentity:
        async def go() -> TokenIdentity:
            async with PostmarkClient(
                None,
                base_url=options.api_url,
                retry=options.retry_policy(),
                timeout=options.timeout,
                clock=self.clock,
            ) as client:
                return await identify_token(client, secret, refused_as_account=refused_as_account)

        return asyncio.run(go())

    def _refusal(self, secret: str, options: PostmarkOptions, refused: WrongTokenKind) -> str:
        """What to say when an account-wide listing refused `secret`: a Server token is named
        as one, as `verify_credential` names it (one more request, GET /server, made on this
        failure path only); otherwise, or if that request fails too, the refusal itself."""
        try:
            found = self._identify(secret, options, refused_as_account=True)
        except PostmarkError:
            return str(refused)
        return _server_token_given(found) if found.kind == "server" else str(refused)

    def collect(
        self,
        *,
        account: Account,
        secret: str,
        options: PostmarkOptions,
        progress: ProgressCallback,
    ) -> Collection:
        collection = Collection(scope=account.scope)
        try:
            client = PostmarkClient(
                secret,
                base_url=options.api_url,
                concurrency=options.concurrency,
                retry=options.retry_policy(),
                timeout=options.timeout,
                clock=self.clock,
                max_listing_items=options.max_listing_items,
            )
        except ProxyUnusable as exc:
            raise ConfigError(str(exc)) from None

        # each server becomes nodes and edges as soon as it is read, while the other
        # requests are in flight
        transformer = Transformer(account_label=account.label, account_token=secret)

        async def go() -> None:
            async with client:
                raw = await fetch_account(
                    client,
                    sender_details=options.sender_details,
                    progress=progress,
                    parts=options.parts(),
                    on_read=transformer.read,
                )
            collection.nodes, collection.edges = transformer.graph(raw)
            collection.errors.extend(raw.errors)
            collection.warnings.extend(raw.warnings)
            collection.complete = not raw.errors
            skipped = [p for p in PARTS if p not in options.parts()]
            if skipped:
                collection.warnings.append(
                    f"--only {options.only}: not read: {', '.join(skipped)}; the run is "
                    "partial and changes nothing"
                )
                collection.complete = False

        try:
            try:
                asyncio.run(go())
                collection.warnings.extend(client.warnings)
            except WrongTokenKind as exc:
                # The API refused the credential for the account itself (exit 4).
                raise SourceError(self._refusal(secret, options, exc)) from None
            except (PostmarkTransportError, PostmarkAPIError) as exc:
                # The API is unreachable, or answered an account-wide listing with an error
                # status (a 429 or 5xx after every retry, a redirect...): a server's own calls
                # record theirs in raw.errors (a partial run), so the run keeps nothing, and
                # it is the API's or network's failure (exit 4), which a scheduler may retry.
                raise SourceError(str(exc)) from None
        except PostmarkError as exc:
            collection.errors.append(str(exc))
            collection.complete = False
            collection.nodes, collection.edges = [], []
        collection.stats = {
            "requests": client.stats.requests,
            "retries": client.stats.retries,
            "throttled": client.stats.throttled,
            "listings": client.stats.listings,
            "concurrency_cuts": client.stats.concurrency_cuts,
            "lowest_concurrency": client.stats.lowest_concurrency,
            "base_url": redact_url(client.base_url),
        }
        return collection


def _server_token_given(found: TokenIdentity) -> str:
    return (
        f"{TOKEN_ENV} holds a Server token (of server {found.server_id}, "
        f"{found.server_name!r}), not an Account token: export the Account API token "
        "(web UI: Account > API Tokens)"
    )


@hookimpl
def register_connectors(register):
    register(PostmarkConnector())


@hookimpl
def register_schemas(register):
    from .schema import SCHEMA

    register(SCHEMA)


@hookimpl
def register_member_formats(register):
    from .members import MEMBER_FORMAT

    register(MEMBER_FORMAT)


@hookimpl
def register_commands(cli):
    from .commands import demo_command, emulator_group, token_group
    from .commands_write import postmark_group

    cli.add_command(postmark_group)
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
