"""API models for messages, templates and macros. Request bodies refuse unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.accounts.masking import mask_email
from vigil.communications.models import (
    Macro,
    Message,
    MessageChannel,
    MessageStatus,
    MessageTemplate,
    MessageTemplateVersion,
)
from vigil.communications.service import Rendered
from vigil.communications.templating import MAX_BODY_CHARS, MAX_SUBJECT_CHARS, TemplateEntry


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Context = dict[str, Any]

# --- requests ---------------------------------------------------------------------------------


class CaseMessageBody(_Body):
    """An ad-hoc message to the case's account. Either ``macro_id`` alone (the macro is
    rendered with the case's context), or ``subject`` and ``body`` (free text, or a
    reviewer's edit of the macro named by ``macro_id``)."""

    channels: list[MessageChannel] = Field(
        default_factory=lambda: [MessageChannel.email], max_length=len(MessageChannel)
    )
    macro_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    subject: str | None = Field(default=None, max_length=MAX_SUBJECT_CHARS)
    body: str | None = Field(default=None, max_length=MAX_BODY_CHARS)
    context: Context | None = Field(
        default=None, description="Values laid over the case's context when rendering a macro."
    )


class PreviewBody(_Body):
    action: str = Field(
        min_length=1,
        max_length=32,
        description="warn, restrict, suspend, remove, ban, reinstate or no_violation.",
    )
    policy_code: str | None = Field(default=None, max_length=100)
    locale: str | None = Field(default=None, min_length=2, max_length=16)
    scope: str | None = Field(default=None, max_length=16)
    case_id: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Fill the context from this case."
    )
    context: Context | None = Field(
        default=None,
        description="Without case_id: the whole context (none: a sample context). With "
        "case_id: values laid over the case's.",
    )


class TemplateCreate(_Body):
    policy_code: str | None = Field(default=None, max_length=100)
    action: str = Field(min_length=1, max_length=32)
    locale: str = Field(min_length=2, max_length=8)
    subject: str = Field(max_length=MAX_SUBJECT_CHARS)
    body: str = Field(max_length=MAX_BODY_CHARS)
    change_reason: str = Field(max_length=4000)


class TemplatePatch(_Body):
    subject: str | None = Field(default=None, max_length=MAX_SUBJECT_CHARS)
    body: str | None = Field(default=None, max_length=MAX_BODY_CHARS)
    active: bool | None = None
    change_reason: str = Field(max_length=4000)
    expected_version: int | None = Field(default=None, ge=1)


class MacroCreate(_Body):
    name: str = Field(max_length=120)
    locale: str = Field(min_length=2, max_length=8)
    policy_code: str | None = Field(default=None, max_length=100)
    subject: str = Field(max_length=MAX_SUBJECT_CHARS)
    body: str = Field(max_length=MAX_BODY_CHARS)


class MacroPatch(_Body):
    name: str | None = Field(default=None, max_length=120)
    policy_code: str | None = Field(
        default=None, max_length=100, description='A policy code, or "" for none.'
    )
    subject: str | None = Field(default=None, max_length=MAX_SUBJECT_CHARS)
    body: str | None = Field(default=None, max_length=MAX_BODY_CHARS)
    active: bool | None = None
    reason: str | None = Field(default=None, max_length=4000)
    expected_version: int | None = Field(default=None, ge=1)


class MacroRenderBody(_Body):
    case_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    context: Context | None = None


# --- responses --------------------------------------------------------------------------------


class DeliveryOut(BaseModel):
    """A webhook delivery of an in-app message (the integrations outbox)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    integration_id: int
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


class MessageOut(BaseModel):
    id: int
    account_id: int
    case_id: int | None
    decision_id: int | None
    channel: MessageChannel
    locale: str
    recipient: str | None = Field(description="The email address (masked for staff).")
    subject: str
    body: str
    status: MessageStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    failed_at: datetime | None
    template_id: int | None
    template_key: str | None
    macro_id: int | None
    created_by_id: int | None
    created_at: datetime
    deliveries: list[DeliveryOut] = Field(default_factory=list)

    @classmethod
    def of(
        cls, message: Message, *, masked: bool, deliveries: list[Any] | None = None
    ) -> MessageOut:
        values = {
            name: getattr(message, name)
            for name in cls.model_fields
            if name not in {"deliveries", "recipient"}
        }
        recipient = mask_email(message.recipient) if masked else message.recipient
        return cls(
            **values,
            recipient=recipient,
            deliveries=[
                DeliveryOut.model_validate(d, from_attributes=True) for d in deliveries or []
            ],
        )


class MessageList(BaseModel):
    items: list[MessageOut]


class RenderedOut(BaseModel):
    subject: str
    body: str
    statement_section: str
    locale: str
    template_id: int | None
    template_key: str
    fell_back: bool

    @classmethod
    def of(cls, rendered: Rendered) -> RenderedOut:
        return cls(**rendered.__dict__)


class TemplateOut(BaseModel):
    source: str = Field(description="shipped or override")
    key: str
    id: int | None
    policy_code: str | None
    action: str
    locale: str
    subject: str
    body: str
    version: int | None
    active: bool
    overridden_by: int | None = Field(
        description="For a shipped template: the active override that replaces it."
    )
    change_reason: str | None
    created_by_id: int | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, entry: TemplateEntry) -> TemplateOut:
        return cls(**entry.__dict__)

    @classmethod
    def of_override(cls, t: MessageTemplate) -> TemplateOut:
        from vigil.communications.templating import override_entry

        return cls.of(override_entry(t))


class TemplateList(BaseModel):
    items: list[TemplateOut]


class TemplateVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    subject: str
    body: str
    active: bool
    created_by_id: int | None
    change_reason: str
    created_at: datetime

    @classmethod
    def of(cls, v: MessageTemplateVersion) -> TemplateVersionOut:
        return cls.model_validate(v)


class TemplateVersionList(BaseModel):
    items: list[TemplateVersionOut]


class MacroOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    locale: str
    policy_code: str | None
    subject: str
    body: str
    active: bool
    version: int
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, macro: Macro) -> MacroOut:
        return cls.model_validate(macro)


class MacroPage(BaseModel):
    items: list[MacroOut]
    next_cursor: str | None = None
