"""Tables of the integrations domain: the marketplace's webhook endpoints, one delivery per
(endpoint, event) and one row per HTTP attempt.

Invariants:
- A delivery's ``body`` is serialised once, when the event is emitted, and never changes: every
  retry sends the identical bytes under the same ``idempotency_key``.
- (``integration_id``, ``idempotency_key``) is unique: an event reaches an endpoint through one
  delivery, however often it is emitted.
- ``attempts`` counts every HTTP attempt ever made for a delivery and equals the number of its
  ``delivery_attempts`` rows: the row and the counter are written in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import (
    Base,
    BigId,
    IdMixin,
    JSONList,
    TimestampMixin,
    UTCDateTime,
    enum_check,
    str_enum,
)


class DeliveryStatus(StrEnum):
    pending = "pending"  # an attempt is due at next_attempt_at
    delivered = "delivered"  # the endpoint answered 2xx
    failed = "failed"  # out of attempts, or the endpoint was deactivated; redeliver revives it


class Integration(IdMixin, TimestampMixin, Base):
    """A marketplace endpoint that receives signed webhooks.

    The signing secret is stored because signing needs it; the API shows it once (on create and
    on rotation) and never again. ``previous_secret`` keeps signing alongside the new one until
    ``previous_secret_expires_at``, so the marketplace can roll its verifier without dropping
    events. ``event_types`` empty means every event type.
    """

    __tablename__ = "integrations"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event_types: Mapped[list[str]] = mapped_column(JSONList, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WebhookDelivery(IdMixin, Base):
    """One event on its way to one integration, delivered at least once.

    ``redelivered_at_attempt`` is ``attempts`` at the last redelivery: the attempt budget
    (``webhook_max_attempts``) counts from there, so a redelivered delivery gets a fresh budget
    while its attempt numbers keep increasing. ``redeliveries`` makes each round's job keys
    distinct.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(enum_check("status", DeliveryStatus), name="status"),
        UniqueConstraint("integration_id", "idempotency_key"),
        # Due pending deliveries (ops view, a sweep): only pending rows are in it.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # deliveries_for(subject_type, subject_ids): the webhooks of a decision or a message.
        Index("ix_webhook_deliveries_subject", "subject_type", "subject_id", "id"),
        # The delivery log filtered by integration or by status, newest first.
        Index("ix_webhook_deliveries_integration_id_id", "integration_id", "id"),
        Index("ix_webhook_deliveries_status_id", "status", "id"),
        Index("ix_webhook_deliveries_case_id", "case_id"),
    )

    integration_id: Mapped[int] = mapped_column(BigId, ForeignKey("integrations.id"))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    subject_type: Mapped[str] = mapped_column(String(50))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    # The case the event is about, if any. The body quotes the case (a message to the user, a
    # reversal's reason), so the delivery log shows it only to those who may see that case.
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, 16), default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    redelivered_at_attempt: Mapped[int] = mapped_column(default=0)
    redeliveries: Mapped[int] = mapped_column(default=0)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )


class DeliveryAttempt(IdMixin, Base):
    """One HTTP attempt of a delivery, successful or not; append-only.

    ``status_code`` is null when no answer came (timeout, refused connection), and ``error``
    then says why. ``response_excerpt`` keeps the first 500 characters of the answer.
    """

    __tablename__ = "delivery_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    delivery_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(String(500))
