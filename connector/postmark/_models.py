"""Typed Postmark API objects.

Every field but the identifiers is optional, `""` and `null` mean the same (old accounts
answer `""`, new ones `null`), and fields the API adds later are kept, not refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def _encodable(value: Any) -> Any:
    """A token is sent in a header and fingerprinted: text with a lone surrogate (JSON's
    `\\ud800` escape) is no token, and is refused here, the field named."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                "holds a lone surrogate (not valid Unicode), so it is no token"
            ) from None
    return value


Token = Annotated[str, AfterValidator(_encodable)]
OptStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
OptBool = Annotated[bool | None, BeforeValidator(_blank_to_none)]
OptInt = Annotated[int | None, BeforeValidator(_blank_to_none)]


class PostmarkModel(BaseModel):
    """Base of the API models: accepts field names or API aliases and keeps unknown fields."""

    # defer_build: a model's validator is built at its first use, while other requests are
    # in flight, not all at import before the first one
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=False, defer_build=True)

    def api_dict(self) -> dict[str, Any]:
        """The object as the API spells it, unknown fields included."""
        return self.model_dump(by_alias=True, exclude_none=False)


def build_validator(model: type[PostmarkModel]) -> None:
    """Build `model`'s validator now, not at its first use (it takes some milliseconds)."""
    if not model.__pydantic_complete__:
        model.model_rebuild(force=True)


class Server(PostmarkModel):
    id: int = Field(alias="ID")
    name: str = Field(alias="Name")
    api_tokens: list[Token] = Field(default_factory=list, alias="ApiTokens")
    color: OptStr = Field(None, alias="Color")
    smtp_api_activated: OptBool = Field(None, alias="SmtpApiActivated")
    raw_email_enabled: OptBool = Field(None, alias="RawEmailEnabled")
    delivery_type: OptStr = Field(None, alias="DeliveryType")
    server_link: OptStr = Field(None, alias="ServerLink")
    inbound_address: OptStr = Field(None, alias="InboundAddress")
    inbound_hook_url: OptStr = Field(None, alias="InboundHookUrl")
    bounce_hook_url: OptStr = Field(None, alias="BounceHookUrl")
    open_hook_url: OptStr = Field(None, alias="OpenHookUrl")
    delivery_hook_url: OptStr = Field(None, alias="DeliveryHookUrl")
    click_hook_url: OptStr = Field(None, alias="ClickHookUrl")
    post_first_open_only: OptBool = Field(None, alias="PostFirstOpenOnly")
    inbound_domain: OptStr = Field(None, alias="InboundDomain")
    inbound_hash: OptStr = Field(None, alias="InboundHash")
    inbound_spam_threshold: OptInt = Field(None, alias="InboundSpamThreshold")
    track_opens: OptBool = Field(None, alias="TrackOpens")
    track_links: OptStr = Field(None, alias="TrackLinks")
    include_bounce_content_in_hook: OptBool = Field(None, alias="IncludeBounceContentInHook")
    enable_smtp_api_error_hooks: OptBool = Field(None, alias="EnableSmtpApiErrorHooks")

    @property
    def legacy_hook_urls(self) -> dict[str, str]:
        """The server-level hook URLs that predate /webhooks, by trigger, set ones only."""
        hooks = {
            "Inbound": self.inbound_hook_url,
            "Bounce": self.bounce_hook_url,
            "Open": self.open_hook_url,
            "Delivery": self.delivery_hook_url,
            "Click": self.click_hook_url,
        }
        return {trigger: url for trigger, url in hooks.items() if url}


class _DnsStatus(PostmarkModel):
    spf_verified: OptBool = Field(None, alias="SPFVerified")
    spf_host: OptStr = Field(None, alias="SPFHost")
    spf_text_value: OptStr = Field(None, alias="SPFTextValue")
    dkim_verified: OptBool = Field(None, alias="DKIMVerified")
    weak_dkim: OptBool = Field(None, alias="WeakDKIM")
    dkim_host: OptStr = Field(None, alias="DKIMHost")
    dkim_text_value: OptStr = Field(None, alias="DKIMTextValue")
    dkim_pending_host: OptStr = Field(None, alias="DKIMPendingHost")
    dkim_pending_text_value: OptStr = Field(None, alias="DKIMPendingTextValue")
    dkim_revoked_host: OptStr = Field(None, alias="DKIMRevokedHost")
    dkim_revoked_text_value: OptStr = Field(None, alias="DKIMRevokedTextValue")
    safe_to_remove_revoked_key_from_dns: OptBool = Field(
        None, alias="SafeToRemoveRevokedKeyFromDNS"
    )
    dkim_update_status: OptStr = Field(None, alias="DKIMUpdateStatus")
    return_path_domain: OptStr = Field(None, alias="ReturnPathDomain")
    return_path_domain_verified: OptBool = Field(None, alias="ReturnPathDomainVerified")
    return_path_domain_cname_value: OptStr = Field(None, alias="ReturnPathDomainCNAMEValue")


class SenderSignature(_DnsStatus):
    """An item of GET /senders; the detail (GET /senders/{id}) fills the DNS fields too."""

    id: int = Field(alias="ID")
    email_address: str = Field(alias="EmailAddress")
    name: OptStr = Field(None, alias="Name")
    domain: OptStr = Field(None, alias="Domain")
    reply_to_email_address: OptStr = Field(None, alias="ReplyToEmailAddress")
    confirmed: OptBool = Field(None, alias="Confirmed")
    confirmation_personal_note: OptStr = Field(None, alias="ConfirmationPersonalNote")


class Domain(_DnsStatus):
    """An item of GET /domains; the detail (GET /domains/{id}) fills the DNS hosts and values."""

    id: int = Field(alias="ID")
    name: str = Field(alias="Name")


class SubscriptionManagement(PostmarkModel):
    unsubscribe_handling_type: OptStr = Field(None, alias="UnsubscribeHandlingType")


class MessageStream(PostmarkModel):
    id: str = Field(alias="ID")
    server_id: OptInt = Field(None, alias="ServerID")
    name: OptStr = Field(None, alias="Name")
    description: OptStr = Field(None, alias="Description")
    message_stream_type: OptStr = Field(None, alias="MessageStreamType")
    created_at: OptStr = Field(None, alias="CreatedAt")
    updated_at: OptStr = Field(None, alias="UpdatedAt")
    archived_at: OptStr = Field(None, alias="ArchivedAt")
    expected_purge_date: OptStr = Field(None, alias="ExpectedPurgeDate")
    subscription_management_configuration: SubscriptionManagement | None = Field(
        None, alias="SubscriptionManagementConfiguration"
    )

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class HttpAuth(PostmarkModel):
    username: OptStr = Field(None, alias="Username")
    password: OptStr = Field(None, alias="Password")


class HttpHeader(PostmarkModel):
    name: str = Field(alias="Name")
    value: OptStr = Field(None, alias="Value")


class Trigger(PostmarkModel):
    enabled: OptBool = Field(None, alias="Enabled")
    post_first_open_only: OptBool = Field(None, alias="PostFirstOpenOnly")
    include_content: OptBool = Field(None, alias="IncludeContent")


class Webhook(PostmarkModel):
    id: int = Field(alias="ID")
    url: str = Field(alias="Url")
    message_stream: OptStr = Field(None, alias="MessageStream")
    http_auth: HttpAuth | None = Field(None, alias="HttpAuth")
    http_headers: list[HttpHeader] = Field(default_factory=list, alias="HttpHeaders")
    triggers: dict[str, Trigger] = Field(default_factory=dict, alias="Triggers")

    @property
    def enabled_triggers(self) -> list[str]:
        return sorted(name for name, trigger in self.triggers.items() if trigger.enabled)


class ErrorBody(PostmarkModel):
    """The body of every Postmark error (and of successful DELETEs, with ErrorCode 0)."""

    error_code: int = Field(alias="ErrorCode")
    message: str = Field("", alias="Message")


__all__ = [
    "PostmarkModel",
    "Server",
    "SenderSignature",
    "Domain",
    "MessageStream",
    "Webhook",
    "HttpAuth",
    "HttpHeader",
    "Trigger",
    "SubscriptionManagement",
    "ErrorBody",
]
