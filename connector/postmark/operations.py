"""The risky Postmark write tasks, made safe: pure helpers the commands call."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idgraph.plugin import (
    MAX_INPUT_BYTES,
    InputInvalid,
    read_capped,
    redact_url,
    safe_file,
    write_problem,
)

from ._models import Server, Webhook

# The fields PUT /servers/{id} takes, and how a --set value is read for each.
WRITABLE_SERVER_FIELDS: dict[str, type] = {
    "Name": str,
    "Color": str,
    "SmtpApiActivated": bool,
    "RawEmailEnabled": bool,
    "InboundHookUrl": str,
    "BounceHookUrl": str,
    "OpenHookUrl": str,
    "DeliveryHookUrl": str,
    "ClickHookUrl": str,
    "PostFirstOpenOnly": bool,
    "InboundDomain": str,
    "InboundSpamThreshold": int,
    "TrackOpens": bool,
    "TrackLinks": str,
    "IncludeBounceContentInHook": bool,
    "EnableSmtpApiErrorHooks": bool,
}
URL_FIELDS = {name for name in WRITABLE_SERVER_FIELDS if name.endswith("HookUrl")}
BASIC_PLAN_SERVER_CAP = 10
TRIGGERS = ("Open", "Click", "Delivery", "Bounce", "SpamComplaint", "SubscriptionChange")


class OperationRefused(InputInvalid):
    """A write was refused before anything was sent; each problem is named."""


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """`Field=value` pairs for PUT /servers, each value read as its field's type."""
    changes: dict[str, Any] = {}
    problems = []
    for assignment in assignments:
        name, sep, raw = assignment.partition("=")
        kind = WRITABLE_SERVER_FIELDS.get(name.strip())
        if not sep or kind is None:
            problems.append(
                f"--set {assignment!r}: use Field=value with a field of "
                f"{', '.join(WRITABLE_SERVER_FIELDS)}"
            )
            continue
        value: Any = raw
        if kind is bool:
            if raw.lower() not in ("true", "false"):
                problems.append(f"--set {name}: {raw!r} is not true or false")
                continue
            value = raw.lower() == "true"
        elif kind is int:
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"--set {name}: {raw!r} is not a whole number")
                continue
        changes[name.strip()] = value
    if problems:
        raise OperationRefused(problems)
    return changes


def full_server_body(server: Server) -> dict[str, Any]:
    """Every writable field as the server has it now (PUT resets what it is not sent)."""
    current = server.api_dict()
    body: dict[str, Any] = {}
    for name, kind in WRITABLE_SERVER_FIELDS.items():
        value = current.get(name)
        if value is None:
            if kind is not str:
                continue  # the API did not say (an old account): nothing to keep
            value = ""
        body[name] = value
    return body


def shown(field_name: str, value: Any) -> str:
    """A value safe to print: hook URLs lose userinfo and query values."""
    if field_name in URL_FIELDS and isinstance(value, str) and value:
        return redact_url(value)
    return repr(value)


def server_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"{name}: {shown(name, before.get(name))} -> {shown(name, after.get(name))}"
        for name in WRITABLE_SERVER_FIELDS
        if before.get(name) != after.get(name)
    ]


# 422 ErrorCodes of POST /servers, each explained by its own code. Postmark documents no
# code for the plan's server cap; 605 is the emulator's (and a message naming a limit).
CREATE_SERVER_CODES = {
    603: "A server with this name already exists: choose another name.",
    607: "The color is not one Postmark knows.",
    608: "The server name is missing or invalid.",
}
SERVER_CAP_CODE = 605


def is_cap_refusal(exc: Any) -> bool:
    if exc.error_code in CREATE_SERVER_CODES:
        return False
    return exc.error_code == SERVER_CAP_CODE or "limit" in (exc.api_message or "").lower()


def explain_create_refusal(exc: Any, server_count: int | None) -> str:
    """The plain-words reason for a 422 of POST /servers, by its own ErrorCode."""
    if exc.error_code in CREATE_SERVER_CODES:
        return " " + CREATE_SERVER_CODES[exc.error_code]
    if is_cap_refusal(exc):
        count = f"The account has {server_count} servers; " if server_count is not None else ""
        return (
            f" {count}the Basic plan allows {BASIC_PLAN_SERVER_CAP}: delete one or move to a "
            "higher plan."
        )
    return ""


def token_file_problem(path: Path) -> str | None:
    """Why the new token could not be saved at `path`, checked before anything is sent."""
    if path.exists() or path.is_symlink():
        return f"{path}: already exists; choose a new file for the token"
    return write_problem(path)


def write_secret_file(path: Path, secret: str) -> None:
    """Create `path` readable by the owner only (0600) and write the secret once, whole and
    synced to disk; never overwrite a file, even one that appeared meanwhile."""
    with safe_file(path, permissions=0o600, exclusive=True) as handle:
        handle.write(secret + "\n")


# -- webhook audit ------------------------------------------------------------------------


@dataclass
class ExpectedWebhook:
    server: str
    stream: str
    url: str
    triggers: list[str]
    username: str | None = None
    password: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Url": self.url,
            "MessageStream": self.stream,
            "Triggers": {name: {"Enabled": name in self.triggers} for name in TRIGGERS},
            "HttpHeaders": [{"Name": k, "Value": v} for k, v in sorted(self.headers.items())],
        }
        if self.username or self.password:
            body["HttpAuth"] = {"Username": self.username or "", "Password": self.password or ""}
        return body


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _check_webhook_fields(hook: dict[str, Any], here: str) -> list[str]:
    """Each field of a webhook table of the wrong type, named (one line each)."""
    problems = []
    stream = hook.get("stream", "outbound")
    if not isinstance(stream, str):
        problems.append(f'{here}: stream: needs a message stream ID, e.g. stream = "outbound"')
    triggers = hook.get("triggers", [])
    if not isinstance(triggers, list) or not all(isinstance(t, str) for t in triggers):
        problems.append(f'{here}: triggers: needs a list of names, e.g. triggers = ["Bounce"]')
    auth = hook.get("http_auth")
    if auth is not None and not isinstance(auth, dict):
        problems.append(
            f'{here}: http_auth: needs a table, e.g. {{ username = "u", password = "${{VAR}}" }}'
        )
    elif isinstance(auth, dict):
        for key in ("username", "password"):
            if key in auth and not isinstance(auth[key], str):
                problems.append(f"{here}: http_auth.{key}: needs a string")
        extra = sorted(set(auth) - {"username", "password"})
        if extra:
            problems.append(f"{here}: http_auth: unknown key(s) {', '.join(map(str, extra))}")
    headers = hook.get("headers")
    if headers is not None and not isinstance(headers, dict):
        problems.append(f'{here}: headers: needs a table, e.g. {{ "X-Api-Key" = "${{VAR}}" }}')
    elif isinstance(headers, dict):
        for key, value in headers.items():
            if not isinstance(value, str):
                problems.append(f"{here}: headers.{key}: needs a string")
    return problems


def _read_expected_file(path: Path) -> Any:
    """The parsed expected configuration (TOML, or YAML if PyYAML is installed)."""
    name = str(path)
    try:
        text = read_capped(path, MAX_INPUT_BYTES, "MAX_INPUT_BYTES").decode("utf-8")
    except InputInvalid as exc:
        raise OperationRefused(exc.problems) from None
    except UnicodeDecodeError as exc:
        raise OperationRefused([f"{name}: cannot be read ({exc})"]) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml  # optional: pip install pyyaml

            return yaml.safe_load(text)
        return tomllib.loads(text)
    except ImportError:
        raise OperationRefused(
            [f"{name}: YAML needs PyYAML (pip install pyyaml); or use TOML"]
        ) from None
    except Exception as exc:  # the parsers' own errors name the line
        kind = "YAML" if path.suffix.lower() in (".yaml", ".yml") else "TOML"
        raise OperationRefused([f"{name}: not valid {kind}: {exc}"]) from None


def _secret_value(
    value: Any, key: str, here: str, environ: dict[str, str], problems: list[str]
) -> str | None:
    """`value` with each `${VAR}` read from `environ`; None (and a problem) if one is unset."""
    if value is None:
        return None
    missing = [v for v in _VARIABLE.findall(str(value)) if v not in environ]
    if missing:
        problems.append(f"{here}: {key}: environment variable(s) {', '.join(missing)} not set")
        return None
    return _VARIABLE.sub(lambda m: environ[m.group(1)], str(value))


def _expected_webhook(
    server_name: str, hook: Any, here: str, environ: dict[str, str], problems: list[str]
) -> ExpectedWebhook | None:
    """One `[[server.webhook]]` table as an ExpectedWebhook; what is wrong goes to `problems`."""
    if not isinstance(hook, dict) or not isinstance(hook.get("url"), str):
        problems.append(f'{here}: url: needs url = "https://..."')
        return None
    found = _check_webhook_fields(hook, here)
    if found:
        problems.extend(found)
        return None
    triggers = hook.get("triggers", [])
    unknown = [t for t in triggers if t not in TRIGGERS]
    if unknown:
        problems.append(f"{here}: triggers {unknown} are not of {', '.join(TRIGGERS)}")
    auth = hook.get("http_auth") or {}
    return ExpectedWebhook(
        server=server_name,
        stream=str(hook.get("stream", "outbound")),
        url=hook["url"],
        triggers=sorted(triggers),
        username=auth.get("username"),
        password=_secret_value(auth.get("password"), "http_auth.password", here, environ, problems),
        headers={
            k: _secret_value(v, f"headers.{k}", here, environ, problems) or ""
            for k, v in (hook.get("headers") or {}).items()
        },
    )


def load_expected(path: Path, environ: dict[str, str]) -> tuple[list[str], list[ExpectedWebhook]]:
    """The servers and webhooks of the expected configuration (TOML, or YAML if PyYAML is
    installed); `${VAR}` in a secret is read from the environment. A server listed with no
    webhook should have none."""
    name = str(path)
    data = _read_expected_file(path)
    problems: list[str] = []
    hooks: list[ExpectedWebhook] = []
    servers = data.get("server") if isinstance(data, dict) else None
    if not isinstance(servers, list) or not servers:
        raise OperationRefused([f"{name}: needs a list of [[server]] tables"])
    for s_index, server in enumerate(servers, start=1):
        where = f"{name}: server #{s_index}"
        if not isinstance(server, dict) or not isinstance(server.get("name"), str):
            problems.append(f'{where}: needs name = "<the server\'s name>"')
            continue
        webhooks = server.get("webhook") or []
        if not isinstance(webhooks, list):
            problems.append(f"{where} ({server['name']}): webhook: needs [[server.webhook]] tables")
            continue
        for h_index, hook in enumerate(webhooks, start=1):
            here = f"{where} ({server['name']}), webhook #{h_index}"
            expected = _expected_webhook(server["name"], hook, here, environ, problems)
            if expected is not None:
                hooks.append(expected)
    if problems:
        raise OperationRefused(problems)
    names = [s["name"] for s in servers if isinstance(s, dict) and isinstance(s.get("name"), str)]
    return names, hooks


@dataclass
class AuditItem:
    server: str
    stream: str
    status: str  # missing | extra | drifted | ok
    url: str  # redacted
    details: list[str] = field(default_factory=list)
    expected: ExpectedWebhook | None = None
    actual: Webhook | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "stream": self.stream,
            "status": self.status,
            "url": self.url,
            "details": self.details,
            "webhook_id": self.actual.id if self.actual else None,
        }


def audit_server(
    server: str, expected: list[ExpectedWebhook], actual: list[Webhook]
) -> list[AuditItem]:
    """Expected against actual webhooks of one server, matched on (stream, URL)."""
    items: list[AuditItem] = []
    by_key = {(h.message_stream or "outbound", h.url): h for h in actual}
    wanted = {(e.stream, e.url) for e in expected}
    for hook in expected:
        found = by_key.get((hook.stream, hook.url))
        if found is None:
            items.append(
                AuditItem(server, hook.stream, "missing", redact_url(hook.url), expected=hook)
            )
            continue
        details = []
        if sorted(found.enabled_triggers) != hook.triggers:
            details.append(f"triggers {found.enabled_triggers} -> {hook.triggers}")
        auth = found.http_auth
        if (auth.username if auth else None) != hook.username or (
            (auth.password if auth else None) or None
        ) != (hook.password or None):
            details.append("HTTP auth differs (values not shown)")
        if {h.name: h.value or "" for h in found.http_headers} != hook.headers:
            details.append("headers differ (values not shown)")
        items.append(
            AuditItem(
                server,
                hook.stream,
                "drifted" if details else "ok",
                redact_url(hook.url),
                details,
                hook,
                found,
            )
        )
    for (stream, url), hook in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[1].id)):
        if (stream, url) not in wanted:
            items.append(AuditItem(server, stream, "extra", redact_url(url), actual=hook))
    return items
