"""Secret handling: tokens become fingerprints, passwords and header values `[redacted]`."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[redacted]"


def fingerprint(token: str) -> str:
    """`sha256:` and the first 16 hex digits of the token's SHA-256: stable, not reversible."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def token_suffix(token: str) -> str:
    """The token's last 4 characters, as the web UI shows them to tell tokens apart."""
    return token[-4:]


def redact_url(url: str) -> str:
    """The URL with its userinfo dropped and its whole query replaced by `[redacted]`.

    Every part of a query is treated as secret, keys included (`?SECRETVALUE` has no `=`,
    and a key may itself be a token); the fragment is dropped. The one redactor for every URL
    idgraph stores, logs or puts in a message.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return REDACTED
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_host(url: str) -> str:
    """The lower-cased host of a URL, or "" when it has none."""
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""
