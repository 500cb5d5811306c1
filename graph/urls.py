"""One reader for every URL an API returns or a person gives: webhook and hook URLs, server
links, evidence links, the API's base URL.

It parses with ada-url, the WHATWG URL Standard's parser (what browsers and most HTTP
senders follow), so a URL reads as a receiver reads it: `https:user:PASSWORD@host/x` (no
`//`) has the user name and password a browser sends, which `urllib.parse` puts in the path.
A URL with no scheme (`user:PASSWORD@host/z`, which WHATWG reads as the scheme `user:`) or
with a scheme but no authority is read again as `http://` + the text, so its userinfo is
found too. Hosts come back IDNA-encoded (WHATWG's domain to ASCII), so `bücher.example`
and `xn--bcher-kva.example` are one host. Domain names on their own go through `idna`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import idna
from ada_url import URL

SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})


@dataclass(frozen=True, slots=True)
class ReadUrl:
    """What `read_url` found. `scheme` is "" when the text had none (`host/path`)."""

    scheme: str
    userinfo: bool  # a user name or password was in the URL
    host: str  # IDNA-encoded, lower-case, an IPv6 address without brackets; "" when none
    port: str
    path: str
    query: bool  # a query (even an empty `?`) was there
    valid: bool = True

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port else host


_INVALID = ReadUrl("", False, "", "", "", False, valid=False)
_SCHEME_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def read_url(text: str) -> ReadUrl:
    """The parts of `text` read as a URL; `valid` is False when no reading makes sense of it
    (then nothing of it may be shown)."""
    stripped = text.strip()
    as_authority = "http://" + stripped.lstrip("/\\")
    parsed = _parse(stripped)
    if parsed is None:
        if _SCHEME_START.match(stripped):
            return _INVALID  # a scheme, then something no reading accepts
        again = _parse(as_authority)  # no scheme at all: `host/path`, `//user:pw@host`
        return _INVALID if again is None else _parts(again, "")
    scheme = parsed.protocol.removesuffix(":")
    if scheme in SPECIAL_SCHEMES or parsed.host:
        return _parts(parsed, scheme)
    # a scheme with no authority after it: `user:password@host/z` or `localhost:8080/x`
    # read as WHATWG reads it are the scheme `user:` or `localhost:`; read as an authority
    again = _parse(as_authority)
    if again is not None:
        return _parts(again, "")
    return _INVALID if "@" in parsed.pathname else _parts(parsed, scheme)


def _parse(text: str) -> URL | None:
    try:
        return URL(text)
    except ValueError:
        return None


def _parts(url: URL, scheme: str) -> ReadUrl:
    return ReadUrl(
        scheme=scheme,
        userinfo=bool(url.username or url.password),
        host=url.hostname.lower().removeprefix("[").removesuffix("]"),
        port=url.port,
        path=url.pathname,
        query=bool(url.search),
    )


def ascii_domain(name: str) -> str:
    """A domain name IDNA-encoded (UTS #46, as browsers map it) and lower-cased: IDN and
    punycode spellings of one domain become one string. A name `idna` refuses (a label
    too long, a character no domain may hold) is kept as given, lower-cased."""
    cleaned = name.strip().rstrip(".")
    if cleaned.isascii():  # what IDNA makes of an ASCII name, valid or not: it lower-cased
        return cleaned.lower()
    try:
        return idna.encode(cleaned, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        return cleaned.lower()
