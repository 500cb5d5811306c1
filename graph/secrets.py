"""Secret handling: tokens become fingerprints, passwords and header values `[redacted]`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from .interfaces import ConfigError
from .urls import SPECIAL_SCHEMES, read_url

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
    and a key may itself be a token); the fragment is dropped. The URL is read by
    `urls.read_url`, so userinfo without `//` or without a scheme is found too; a text no
    reading makes sense of is `[redacted]` whole. The one redactor for every URL idgraph
    stores, logs or puts in a message.
    """
    if not url.strip():
        return ""
    read = read_url(url)
    if not read.valid:
        return REDACTED
    path = read.path
    if path == "/" and not url.split("#")[0].split("?")[0].rstrip().endswith(("/", "\\")):
        path = ""  # the parser's own `/` (`https://h` is `https://h/`): shown as given
    if not read.scheme:  # as given: `host/path`
        shown = f"{read.authority}{path}"
    elif read.host or read.scheme in SPECIAL_SCHEMES:
        shown = f"{read.scheme}://{read.authority}{path}"
    else:  # a scheme with no authority (`urn:`)
        shown = f"{read.scheme}:{path}"
    return shown + (f"?{REDACTED}" if read.query else "")


def url_host(url: str) -> str:
    """The host of a URL, IDNA-encoded and lower-cased, or "" when it has none."""
    return read_url(url).host


def secret_from_env(env_name: str, what: str, environ: Mapping[str, str]) -> str:
    """A credential from an environment variable (never an argument), or one clear error."""
    secret = (environ.get(env_name) or "").strip()
    if not secret:
        raise ConfigError(
            f"{env_name} is not set: export {what} in that variable "
            "(credentials are never taken as command-line arguments)"
        )
    if not (secret.isascii() and secret.isprintable()):
        # bytes that are not UTF-8 arrive as lone surrogates; no API token has them, and
        # a header cannot carry them
        raise ConfigError(
            f"{env_name} holds characters that are not printable ASCII (an API credential "
            "has none): check how it was copied"
        )
    return secret
