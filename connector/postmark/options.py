"""The Postmark connector's sync options (the host builds `idgraph sync postmark`'s flags
from them) and the client settings they turn into."""

from __future__ import annotations

from pydantic import Field, field_validator

from idgraph.plugin import SyncOptions, read_url

from ._client import DEFAULT_BASE_URL, DEFAULT_CONCURRENCY, MAX_LISTING_ITEMS, RetryPolicy

TOKEN_ENV = "POSTMARK_ACCOUNT_TOKEN"
# What a sync reads: the three listings (Account token) and each server's streams and webhooks.
PARTS = ("servers", "senders", "domains", "streams")
URL_ENV = "POSTMARK_API_URL"


def api_url_problem(url: str) -> str | None:
    """Why `url` cannot be the API's base URL, or None. The URL itself is never quoted: its
    userinfo (`http://user:password@gateway`) is a secret."""
    read = read_url(url)
    if not read.valid:
        return (
            "not a URL that can be read (check the brackets around an IPv6 address, the "
            "port, 1-65535, and the characters)"
        )
    if read.scheme not in ("http", "https"):
        return "it must start with http:// or https://"
    if not read.host:
        return "it names no host"
    return None


class PostmarkOptions(SyncOptions):
    """Options of `idgraph sync postmark`."""

    api_url: str = Field(
        DEFAULT_BASE_URL,
        description="The API's base URL (e.g. the emulator's).",
        json_schema_extra={"envvar": URL_ENV},
    )
    concurrency: int = Field(
        DEFAULT_CONCURRENCY, ge=1, le=64, description="Requests in flight at once."
    )
    sender_details: bool = Field(
        False,
        description="Also read each sender signature's detail (SPF/DKIM/Return-Path per "
        "sender): one more request per signature.",
    )
    retries: int = Field(
        5, ge=0, le=20, description="Retries of a request after a 429, 5xx or dropped connection."
    )
    backoff: float = Field(
        0.5,
        ge=0.001,
        description="First back-off delay in seconds; it doubles per retry (with full jitter).",
    )
    max_backoff: float = Field(20.0, ge=0.001, description="The longest single back-off delay.")
    max_wait: float = Field(
        120.0, ge=0, description="Seconds of back-off one request may spend in all."
    )
    timeout: float = Field(
        30.0, ge=0.1, description="Seconds to wait for one answer before retrying."
    )

    max_listing_items: int = Field(
        MAX_LISTING_ITEMS,
        ge=1,
        description="The most servers, senders or domains one listing is read to; a listing "
        "still full there fails the run (raise it for an account that has more).",
    )

    only: str = Field(
        "",
        description="Read only these parts (comma-separated: servers, senders, domains, "
        "streams = each server's streams and webhooks); the run is then recorded partial "
        "and changes nothing. Default: everything.",
    )

    @field_validator("api_url")
    @classmethod
    def _usable_url(cls, value: str) -> str:
        problem = api_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("only")
    @classmethod
    def _known_parts(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        unknown = [p for p in parts if p not in PARTS]
        if unknown:
            raise ValueError(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
        return ",".join(parts)

    def parts(self) -> frozenset[str]:
        """The parts to read."""
        return frozenset(self.only.split(",")) if self.only else frozenset(PARTS)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.retries + 1,
            base_delay=self.backoff,
            max_delay=self.max_backoff,
            max_total_wait=self.max_wait,
        )
