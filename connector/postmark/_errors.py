"""One exception tree for everything the Postmark client can raise."""

from __future__ import annotations

__all__ = [
    "PostmarkError",
    "InvalidToken",
    "PostmarkTransportError",
    "PostmarkResponseError",
    "MalformedResponse",
    "NotPostmarkResponse",
    "ListingChanged",
    "ListingTooLong",
    "ResponseTooLarge",
    "PostmarkAPIError",
    "WrongTokenKind",
    "NotFound",
    "UnprocessableEntity",
    "RateLimited",
    "PostmarkServerError",
]


class PostmarkError(Exception):
    """Base class of every error the Postmark client raises (standalone: the client imports
    nothing of the host; the plugin maps it to the host's SourceError)."""

    def __init__(self, message: str, *, endpoint: str = "") -> None:
        super().__init__(message)
        self.endpoint = endpoint


class InvalidToken(PostmarkError):
    """A token that cannot be sent in an HTTP header (it is not printable ASCII)."""


class ProxyUnusable(PostmarkError):
    """The environment names a proxy for the API that cannot be used (no client is made)."""


class PostmarkTransportError(PostmarkError):
    """The request never got an HTTP answer (refused, reset, timed out) after every retry."""


class PostmarkResponseError(PostmarkError):
    """An HTTP answer came back that the client cannot use."""


class MalformedResponse(PostmarkResponseError):
    """A response body is not the JSON shape the endpoint documents."""


class NotPostmarkResponse(PostmarkResponseError):
    """An error answer that did not come from Postmark (e.g. a proxy's HTML 403 page)."""


class ListingChanged(PostmarkResponseError):
    """A paged listing's TotalCount changed while it was being read, so the pages disagree."""


class ListingTooLong(PostmarkResponseError):
    """A paged listing still had full pages at the client's item cap (max_listing_items)."""


class ResponseTooLarge(PostmarkResponseError):
    """An answer larger than the client's body limits, as sent or decompressed (not read)."""


class PostmarkAPIError(PostmarkError):
    """Postmark answered with an error status; carries the HTTP status, ErrorCode and Message."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status: int,
        error_code: int | None = None,
        api_message: str = "",
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status
        self.error_code = error_code
        self.api_message = api_message


class WrongTokenKind(PostmarkAPIError):
    """HTTP 401: the token was refused; the message names the token kind the endpoint needs."""

    def __init__(self, message: str, *, needed: str, sent: str, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.needed = needed
        self.sent = sent


class NotFound(PostmarkAPIError):
    """HTTP 404: the object does not exist (or no longer does)."""


class UnprocessableEntity(PostmarkAPIError):
    """HTTP 422: Postmark refused the request; the ErrorCode says why."""


class RateLimited(PostmarkAPIError):
    """HTTP 429 still answered after every retry and the whole back-off budget."""


class PostmarkServerError(PostmarkAPIError):
    """HTTP 5xx still answered after every retry."""
