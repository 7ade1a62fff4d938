"""API models for integrations and their delivery log. Request bodies refuse unknown fields.

No response model carries the signing secret except :class:`IntegrationWithSecret`, returned
once by create and by rotate-secret.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vigil.integrations.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery
from vigil.integrations.service import (
    DEFAULT_GRACE_SECONDS,
    MAX_GRACE_SECONDS,
    DeliveryDetail,
    IssuedSecret,
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# URLs are checked by the service (http/https, a host, no credentials), so the API and the
# CLI refuse the same URLs with the same code and field.
class IntegrationCreate(_Body):
    name: str = Field(min_length=1, max_length=100, description="Unique, e.g. 'marketplace'.")
    url: str = Field(max_length=2000, description="Where webhooks are POSTed (http or https).")
    event_types: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Event types to receive; empty means every type.",
    )
    active: bool = True


class IntegrationUpdate(_Body):
    url: str | None = Field(default=None, max_length=2000)
    event_types: list[str] | None = Field(default=None, max_length=20)
    active: bool | None = None


class RotateSecretBody(_Body):
    grace_seconds: int = Field(
        default=DEFAULT_GRACE_SECONDS,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="How long the old secret keeps signing alongside the new one.",
    )


class RedeliverBody(_Body):
    reason: str | None = Field(default=None, max_length=1000)


class IntegrationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    url: str
    event_types: list[str] = Field(description="Empty means every event type.")
    active: bool
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the previous secret signs too (a rotation's grace period)."
    )
    created_at: datetime
    updated_at: datetime


class IntegrationWithSecret(IntegrationOut):
    secret: str = Field(description="The signing secret. Shown only now: store it.")

    @classmethod
    def of(cls, issued: IssuedSecret) -> IntegrationWithSecret:
        base = IntegrationOut.model_validate(issued.integration)
        return cls(**base.model_dump(), secret=issued.secret)


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    integration_id: int
    event_id: str
    event_type: str
    idempotency_key: str
    subject_type: str
    subject_id: int
    status: DeliveryStatus
    attempts: int = Field(description="HTTP attempts made so far, over all redeliveries.")
    redeliveries: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="While pending: when it is tried next.")
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls.model_validate(delivery)


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None = Field(description="Null when no answer came (see error).")
    error: str | None
    response_excerpt: str | None = Field(description="The first 500 characters of the answer.")

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> AttemptOut:
        return cls.model_validate(attempt)


class DeliveryDetailOut(DeliveryOut):
    integration_name: str
    url: str = Field(description="The integration's URL now (attempts went to it at the time).")
    body: str = Field(description="The exact request body every attempt sent.")
    attempt_log: list[AttemptOut]

    @classmethod
    def of_detail(cls, detail: DeliveryDetail) -> DeliveryDetailOut:
        base = DeliveryOut.of(detail.delivery)
        return cls(
            **base.model_dump(),
            integration_name=detail.integration.name,
            url=detail.integration.url,
            body=detail.delivery.body,
            attempt_log=[AttemptOut.of(a) for a in detail.attempts],
        )
