"""Integrations: the marketplace's webhook endpoints and the events Vigil sends them.

Other domains call :func:`emit` inside their own transaction: the deliveries and their jobs
exist if and only if that transaction commits (the outbox of DESIGN.md), so a webhook never
announces an action that was rolled back, and no committed action goes unannounced. The job
(``vigil.integrations.tasks``) sends, retries with backoff and logs every attempt.

Nothing here commits.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case
from vigil.integrations.models import (
    DeliveryAttempt,
    DeliveryStatus,
    Integration,
    WebhookDelivery,
)
from vigil.jobs import service as jobs
from vigil.kit import clock
from vigil.kit.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from vigil.kit.pagination import decode_id_cursor, encode_cursor

DELIVER_JOB = "integrations.deliver"
# Event types an integration may subscribe to. ``ping`` is not among them: it goes only to the
# integration it tests, whatever that integration subscribes to.
EVENT_TYPES = (
    "action.applied",
    "action.reversed",
    "message.in_app",
    "identity.verification.completed",
    "dispute.updated",
    "dispute.payment_instruction",
    "appeal.decided",
)
PING = "ping"
SECRET_PREFIX = "whsec_"
DEFAULT_GRACE_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 7 * 24 * 3600
MAX_URL_LENGTH = 2000
MAX_KEY_LENGTH = 200

SYSTEM = Principal.system("integrations")


@dataclass(frozen=True)
class IssuedSecret:
    """An integration with its signing secret in clear: returned once, on create and rotate."""

    integration: Integration
    secret: str


@dataclass(frozen=True)
class DeliveryDetail:
    delivery: WebhookDelivery
    integration: Integration
    attempts: list[DeliveryAttempt]


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# --- validation -------------------------------------------------------------------------------


def check_url(url: str, *, field: str = "url") -> str:
    """An absolute http(s) URL with a host. Credentials in the URL are refused: they would be
    stored and shown in clear, and the signature already authenticates Vigil."""
    url = url.strip()

    def bad(message: str) -> InvalidInput:
        return InvalidInput(message, field=field, code="invalid_url")

    if not url:
        raise bad("a webhook URL is required")
    if len(url) > MAX_URL_LENGTH:
        raise bad(f"a webhook URL is at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise bad("a webhook URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port that is not a number or out of range
    except ValueError as exc:
        raise bad(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise bad("a webhook URL starts with http:// or https://")
    if not parts.hostname:
        raise bad("a webhook URL needs a host")
    if parts.username is not None or parts.password is not None:
        raise bad("put no credentials in the URL: Vigil signs every request instead")
    return url


def check_event_types(values: Sequence[str], *, field: str = "event_types") -> list[str]:
    """Known event types, without repeats, in the order given. Empty means every type."""
    out: list[str] = []
    for value in values:
        if value not in EVENT_TYPES:
            raise InvalidInput(
                f"unknown event type '{value}'; known: {', '.join(EVENT_TYPES)}",
                field=field,
                code="unknown_event_type",
            )
        if value not in out:
            out.append(value)
    return out


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("an integration needs a name of 1 to 100 characters", field="name")
    return name


def _check_grace(seconds: int) -> int:
    if not 0 <= seconds <= MAX_GRACE_SECONDS:
        raise InvalidInput(
            f"the grace period is 0 to {MAX_GRACE_SECONDS} seconds (7 days)",
            field="grace_seconds",
        )
    return seconds


def _check_key(key: str) -> str:
    # The key travels in an HTTP header: printable ASCII without spaces.
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise InvalidInput(
            f"an idempotency key is 1 to {MAX_KEY_LENGTH} printable ASCII characters "
            "without spaces",
            field="idempotency_key",
            code="invalid_idempotency_key",
        )
    return key


# --- integrations -----------------------------------------------------------------------------


def get_integration(session: Session, integration_id: int) -> Integration:
    integration = session.get(Integration, integration_id)
    if integration is None:
        raise NotFound("no such integration", code="integration_not_found")
    return integration


def list_integrations(
    session: Session, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[Integration], str | None]:
    query = select(Integration).order_by(Integration.id).limit(limit + 1)
    if cursor:
        query = query.where(Integration.id > decode_id_cursor(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


def create_integration(
    session: Session,
    actor: Principal,
    *,
    name: str,
    url: str,
    event_types: Sequence[str] = (),
    active: bool = True,
) -> IssuedSecret:
    """Register an endpoint; its secret is generated here and returned this once."""
    actor.require(Permission.integrations_write)
    name = _check_name(name)
    url = check_url(url)
    types = check_event_types(event_types)
    if session.scalar(select(Integration.id).where(Integration.name == name)) is not None:
        raise Conflict(
            "an integration with this name exists", field="name", code="integration_name_taken"
        )
    secret = new_secret()
    integration = Integration(
        name=name, url=url, secret=secret, event_types=types, active=active, secret_rotated_at=None
    )
    session.add(integration)
    session.flush()
    audit.record(
        session,
        actor,
        "integrations.integration.create",
        "integration",
        integration.id,
        data={"name": name, "url": url, "event_types": types, "active": active},
    )
    return IssuedSecret(integration, secret)


def update_integration(
    session: Session,
    actor: Principal,
    integration_id: int,
    *,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    active: bool | None = None,
) -> Integration:
    """Change where and what an integration receives. Deliveries already pending go to the new
    URL; a deactivated integration's pending deliveries fail at their next attempt."""
    actor.require(Permission.integrations_write)
    integration = get_integration(session, integration_id)
    changes: dict[str, Any] = {}
    if url is not None:
        new_url = check_url(url)
        if new_url != integration.url:
            changes["url"] = {"from": integration.url, "to": new_url}
            integration.url = new_url
    if event_types is not None:
        types = check_event_types(event_types)
        if types != list(integration.event_types):
            changes["event_types"] = {"from": list(integration.event_types), "to": types}
            integration.event_types = types
    if active is not None and active != integration.active:
        changes["active"] = {"from": integration.active, "to": active}
        integration.active = active
    if changes:
        session.flush()
        audit.record(
            session,
            actor,
            "integrations.integration.update",
            "integration",
            integration.id,
            data=changes,
        )
    return integration


def rotate_secret(
    session: Session,
    actor: Principal,
    integration_id: int,
    *,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
) -> IssuedSecret:
    """Issue a new secret. For ``grace_seconds`` the old one keeps signing too (one ``v1=``
    each), so the marketplace can switch its verifier without refusing a single webhook."""
    actor.require(Permission.integrations_write)
    grace = _check_grace(grace_seconds)
    integration = get_integration(session, integration_id)
    now = clock.now()
    secret = new_secret()
    if grace > 0:
        integration.previous_secret = integration.secret
        integration.previous_secret_expires_at = now + timedelta(seconds=grace)
    else:
        integration.previous_secret = None
        integration.previous_secret_expires_at = None
    integration.secret = secret
    integration.secret_rotated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "integrations.integration.rotate_secret",
        "integration",
        integration.id,
        data={"grace_seconds": grace},
    )
    return IssuedSecret(integration, secret)


def signing_secrets(integration: Integration, at: datetime) -> list[str]:
    """The secrets that sign a request sent at ``at``: the current one, then the previous one
    while its grace period lasts."""
    out = [integration.secret]
    expires = integration.previous_secret_expires_at
    if integration.previous_secret and expires is not None and at < expires:
        out.append(integration.previous_secret)
    return out


# --- events and deliveries --------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return clock.as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} cannot go into a webhook payload")


def event_id(event_type: str, idempotency_key: str) -> str:
    """The envelope's ``id``: derived from the key, so re-emitting an event (for an integration
    added later, say) names it the same way."""
    digest = hashlib.sha256(f"{event_type}\n{idempotency_key}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


def envelope(event_type: str, payload: dict[str, Any], *, idempotency_key: str) -> str:
    """The request body, serialised once: every retry sends these exact bytes (ASCII JSON)."""
    return json.dumps(
        {
            "id": event_id(event_type, idempotency_key),
            "type": event_type,
            "created_at": clock.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
            "idempotency_key": idempotency_key,
            "data": payload,
        },
        separators=(",", ":"),
        default=_json_default,
    )


def schedule(session: Session, delivery: WebhookDelivery, run_at: datetime) -> None:
    """Enqueue the job for the delivery's next attempt. The job key names the attempt (and
    the redelivery round), so the same attempt is never queued twice."""
    number = delivery.attempts + 1
    jobs.enqueue(
        session,
        DELIVER_JOB,
        {"delivery_id": delivery.id, "attempt": number},
        run_at=run_at,
        dedup_key=f"{DELIVER_JOB}:{delivery.id}:{delivery.redeliveries}:{number}",
    )
    delivery.next_attempt_at = run_at


def _subscribed(integration: Integration, event_type: str) -> bool:
    return not integration.event_types or event_type in integration.event_types


def _existing(session: Session, integration_id: int, key: str) -> WebhookDelivery | None:
    return session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.integration_id == integration_id,
            WebhookDelivery.idempotency_key == key,
        )
    )


def _deliver_to(
    session: Session,
    integration: Integration,
    event_type: str,
    body: str,
    *,
    key: str,
    subject_type: str,
    subject_id: int,
    case_id: int | None = None,
) -> tuple[WebhookDelivery, bool]:
    existing = _existing(session, integration.id, key)
    if existing is not None:
        return existing, False
    now = clock.now()
    delivery = WebhookDelivery(
        integration_id=integration.id,
        event_id=event_id(event_type, key),
        event_type=event_type,
        idempotency_key=key,
        subject_type=subject_type,
        subject_id=subject_id,
        case_id=case_id,
        body=body,
        status=DeliveryStatus.pending,
        attempts=0,
        redelivered_at_attempt=0,
        redeliveries=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        # A savepoint, so losing a race on the unique key to a concurrent emit of the same
        # event leaves the caller's transaction usable; the winner's delivery is returned.
        with session.begin_nested():
            session.add(delivery)
            session.flush()
    except IntegrityError:
        winner = _existing(session, integration.id, key)
        if winner is None:
            raise
        return winner, False
    schedule(session, delivery, now)
    audit.record(
        session,
        SYSTEM,
        "integrations.delivery.create",
        "webhook_delivery",
        delivery.id,
        data={
            "integration_id": integration.id,
            "event_type": event_type,
            "idempotency_key": key,
            "subject": f"{subject_type}:{subject_id}",
        },
    )
    return delivery, True


def emit(
    session: Session,
    event_type: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str,
    subject_type: str,
    subject_id: int,
    case_id: int | None = None,
) -> list[WebhookDelivery]:
    """Send ``event_type`` to every active integration subscribed to it, in the caller's
    transaction: one delivery and one job each. Emitting the same ``idempotency_key`` again
    returns the deliveries already made (none is made twice); an integration that did not get
    it the first time (added or subscribed since) gets it now.

    ``case_id`` names the case the event is about: the delivery log then hides the delivery
    from those who may not see that case (a legal-tier one), since its body quotes it.

    Returns [] when no integration wants the event. ``payload`` becomes the envelope's
    ``data``; datetimes go out as ISO 8601 UTC.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; add it to EVENT_TYPES first")
    key = _check_key(idempotency_key)
    targets = [
        i
        for i in session.scalars(
            select(Integration).where(Integration.active.is_(True)).order_by(Integration.id)
        )
        if _subscribed(i, event_type)
    ]
    if not targets:
        return []
    body = envelope(event_type, payload, idempotency_key=key)
    out: list[WebhookDelivery] = []
    for integration in targets:
        delivery, _created = _deliver_to(
            session,
            integration,
            event_type,
            body,
            key=key,
            subject_type=subject_type,
            subject_id=subject_id,
            case_id=case_id,
        )
        out.append(delivery)
    return out


def send_test(session: Session, actor: Principal, integration_id: int) -> WebhookDelivery:
    """Send a ``ping`` to one integration, whatever it subscribes to; it is delivered, retried
    and logged like any event."""
    actor.require(Permission.integrations_write)
    integration = get_integration(session, integration_id)
    if not integration.active:
        raise Conflict(
            "this integration is inactive; activate it first",
            field="active",
            code="integration_inactive",
        )
    key = f"ping-{uuid.uuid4().hex}"
    body = envelope(
        PING,
        {
            "integration_id": integration.id,
            "integration": integration.name,
            "message": "A test event from Vigil. Answer 2xx to acknowledge it.",
        },
        idempotency_key=key,
    )
    delivery, _created = _deliver_to(
        session,
        integration,
        PING,
        body,
        key=key,
        subject_type="integration",
        subject_id=integration.id,
    )
    audit.record(
        session,
        actor,
        "integrations.integration.test",
        "integration",
        integration.id,
        data={"delivery_id": delivery.id},
    )
    return delivery


def deliveries_for(
    session: Session, subject_type: str, subject_ids: list[int]
) -> list[WebhookDelivery]:
    """The deliveries about these subjects (e.g. ``("decision_action", [12, 13])``), ordered
    by subject then creation."""
    if not subject_ids:
        return []
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.subject_type == subject_type,
                WebhookDelivery.subject_id.in_(sorted(set(subject_ids))),
            )
            .order_by(WebhookDelivery.subject_id, WebhookDelivery.id)
        )
    )


def _visible_to(query: Select[Any], actor: Principal) -> Select[Any]:
    """Without ``cases:legal``, deliveries about legal-tier cases do not exist (as the cases
    themselves do not): their bodies quote the case."""
    if actor.can(Permission.legal_cases):
        return query
    return query.outerjoin(Case, Case.id == WebhookDelivery.case_id).where(
        or_(WebhookDelivery.case_id.is_(None), Case.tier != Tier.legal)
    )


def list_deliveries(
    session: Session,
    actor: Principal,
    *,
    integration_id: int | None = None,
    status: DeliveryStatus | None = None,
    event_type: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[WebhookDelivery], str | None]:
    """The delivery log as ``actor`` may see it, newest first, keyset-paginated on ``id``."""
    actor.require(Permission.integrations_read)
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit + 1)
    query = _visible_to(query, actor)
    if integration_id is not None:
        query = query.where(WebhookDelivery.integration_id == integration_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if event_type is not None:
        query = query.where(WebhookDelivery.event_type == event_type)
    if cursor:
        query = query.where(WebhookDelivery.id < decode_id_cursor(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


def attempts_of(session: Session, delivery_id: int) -> list[DeliveryAttempt]:
    return list(
        session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.number)
        )
    )


def get_delivery(session: Session, actor: Principal, delivery_id: int) -> DeliveryDetail:
    """One delivery with its attempts; 404 when ``actor`` may not see it (see
    :func:`list_deliveries`)."""
    actor.require(Permission.integrations_read)
    query = _visible_to(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id), actor)
    delivery = session.scalar(query)
    if delivery is None:
        raise NotFound("no such delivery", code="delivery_not_found")
    integration = get_integration(session, delivery.integration_id)
    return DeliveryDetail(delivery, integration, attempts_of(session, delivery.id))


def redeliver(
    session: Session, actor: Principal, delivery_id: int, *, reason: str | None = None
) -> WebhookDelivery:
    """Send a failed delivery again: back to ``pending``, due now, with a fresh attempt
    budget. The body and the idempotency key are unchanged, so a receiver that did process an
    earlier attempt recognises the event."""
    actor.require(Permission.integrations_write)
    delivery = session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    ).scalar_one_or_none()
    if delivery is None:
        raise NotFound("no such delivery", code="delivery_not_found")
    if delivery.status != DeliveryStatus.failed:
        raise IllegalTransition(
            f"only failed deliveries can be redelivered; this one is {delivery.status.value}",
            code="delivery_not_failed",
        )
    integration = get_integration(session, delivery.integration_id)
    if not integration.active:
        raise Conflict(
            "the integration is inactive; activate it before redelivering",
            field="active",
            code="integration_inactive",
        )
    delivery.status = DeliveryStatus.pending
    delivery.redelivered_at_attempt = delivery.attempts
    delivery.redeliveries += 1
    schedule(session, delivery, clock.now())
    session.flush()
    audit.record(
        session,
        actor,
        "integrations.delivery.redeliver",
        "webhook_delivery",
        delivery.id,
        reason=reason,
        data={
            "attempts_so_far": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": (delivery.last_error or "")[:500],
        },
    )
    return delivery
