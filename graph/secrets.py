"""Secret handling: tokens become fingerprints, passwords and header values `[redacted]`."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"


def fingerprint(token: str) -> str:
    """`sha256:` and the first 16 hex digits of the token's SHA-256: stable, not reversible."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def token_suffix(token: str) -> str:
    """The token's last 4 characters, as the web UI shows them to tell tokens apart."""
    return token[-4:]


def redact_url(url: str) -> str:
    """The URL with userinfo dropped and every query value replaced by `[redacted]`."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        netloc = host if parts.port is None else f"{host}:{parts.port}"
    except ValueError:
        return REDACTED
    query = urlencode(
        [(key, REDACTED) for key, _v in parse_qsl(parts.query, keep_blank_values=True)]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_host(url: str) -> str:
    """The lower-cased host of a URL, or "" when it has none."""
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""
