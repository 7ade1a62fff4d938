"""A person with data in every table privacy work touches, written through the ORM."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from vigil.accounts.models import (
    Account,
    Identifier,
    IdentifierKind,
    Restriction,
    RestrictionKind,
    Side,
)
from vigil.analytics.clusters.models import TextCluster
from vigil.auth.models import StaffSession
from vigil.cases.models import Case, CaseNote, CaseType, Queue
from vigil.communications.models import Message, MessageChannel, MessageStatus
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.dsa.models import Statement
from vigil.enforcement.models import Decision, DecisionStatus, Strike
from vigil.identity.models import IdentityHashBand, IdentityImage, IdentityVerification
from vigil.identity.service import blob_store
from vigil.identity.types import DocumentKind, ImageSide, VerificationStatus
from vigil.integrations.models import DeliveryAttempt, DeliveryStatus, Integration, WebhookDelivery
from vigil.kit import clock

_n = itertools.count(1)

IMAGE_BYTES = b"\xff\xd8\xff\xe0 not really a jpeg, a test stand-in"
SECRET_NAME = "Maria Secreta Lopez"
SECRET_EMAIL = "maria.secreta@example.com"
SECRET_TEXT = "call me on +34 600 000 000 to pay outside"
DOC_NUMBER = "X1234567L"


@dataclass
class Person:
    account_id: int
    external_id: str
    case_id: int
    other_case_id: int
    verification_id: int
    image_ids: list[int]
    blob_keys: list[str]
    event_ids: list[int]
    text_event_id: int
    case_event_id: int
    by_other_event_id: int
    message_ids: list[int]
    decision_id: int
    statement_id: int
    delivery_id: int
    staff_token: str | None = None
    extra: dict[str, int] = field(default_factory=dict)


def make_person(
    db: Session, settings: Settings, *, at: datetime | None = None, staff_id: int | None = None
) -> Person:
    """Everything about one account, stamped ``at`` (default: now): a profile, identifiers,
    two cases, a verification with two images (real blob files), events (its own, one with
    text, one on a case, one another user sent about it), messages, a decision with its
    statement of reasons and a strike, a restriction, a case note, a webhook delivery."""
    at = at or clock.now()
    n = next(_n)
    external = f"user-{n}"
    account = Account(
        external_id=external,
        side=Side.freelancer,
        display_name="maria_l",
        legal_name=SECRET_NAME,
        date_of_birth=date(1990, 5, 17),
        country="ES",
        email=SECRET_EMAIL,
        phone="+34600000000",
        attributes={"city": "Valencia"},
        created_at=at,
        updated_at=at,
    )
    other = Account(external_id=f"other-{n}", side=Side.client, created_at=at, updated_at=at)
    db.add_all([account, other])
    db.flush()
    db.add_all(
        [
            Identifier(account_id=account.id, kind=IdentifierKind.email, value=SECRET_EMAIL),
            Identifier(
                account_id=account.id, kind=IdentifierKind.document, value=f"ES:{DOC_NUMBER}"
            ),
            Identifier(account_id=account.id, kind=IdentifierKind.ip, value="203.0.113.9"),
        ]
    )
    queue = Queue(slug=f"q{n}", name=f"Queue {n}")
    db.add(queue)
    db.flush()
    cases = [
        Case(
            type=CaseType.account_review,
            title=f"Review {external}",
            queue_id=queue.id,
            account_id=account.id,
            sla_due_at=at + timedelta(days=1),
            opened_at=at,
            queued_at=at,
        )
        for _ in range(2)
    ]
    db.add_all(cases)
    db.flush()
    db.add(CaseNote(case_id=cases[0].id, body=f"talked to {SECRET_NAME}", created_at=at))

    store = blob_store(settings)
    verification = IdentityVerification(
        account_id=account.id,
        kind=DocumentKind.id_card,
        issuing_country="ES",
        status=VerificationStatus.approved,
        fields={"document_number": DOC_NUMBER, "surname": "SECRETA", "date_of_birth": "1990-05-17"},
        checks=[{"name": "mrz", "read": DOC_NUMBER}],
        document_fingerprint="f" * 64,
        decision_note=f"name on card {SECRET_NAME}",
        error=f"low contrast near {DOC_NUMBER}",
        request_sha256="0" * 64,
        submitted_by="api",
        processed_at=at,
        created_at=at,
        updated_at=at,
    )
    db.add(verification)
    db.flush()
    images = []
    for side in (ImageSide.front, ImageSide.selfie):
        images.append(
            IdentityImage(
                verification_id=verification.id,
                account_id=account.id,
                side=side,
                blob_key=store.put(IMAGE_BYTES + side.value.encode()),
                media_type="image/jpeg",
                size=len(IMAGE_BYTES),
                width=10,
                height=10,
                sha256="a" * 64,
                created_at=at,
            )
        )
    db.add_all(images)
    db.flush()
    db.add(
        IdentityHashBand(image_id=images[0].id, account_id=account.id, kind="image", band="0:af")
    )

    def event(
        type_: str,
        *,
        data: dict[str, object],
        case_id: int | None = None,
        account_id: int | None = account.id,
        ext: str = external,
        counterparty: str | None = None,
    ) -> Event:
        eid = f"ev-{n}-{next(_n)}"
        payload = {
            "event_id": eid,
            "type": type_,
            "account_id": ext,
            "occurred_at": at.isoformat(),
            "ip": "203.0.113.9",
            "device_id": "device-abc",
            "payment_fingerprint": None,
            "counterparty_id": counterparty,
            "data": data,
        }
        e = Event(
            event_id=eid,
            payload_sha256="0" * 64,
            type=type_,
            account_id=account_id,
            account_external_id=ext,
            counterparty_external_id=counterparty,
            occurred_at=at,
            received_at=at,
            payload=payload,
            case_id=case_id,
        )
        db.add(e)
        return e

    login = event("login", data={"method": "password"})
    text = event("message_sent", data={"text": SECRET_TEXT, "channel": "chat"})
    on_case = event("message_sent", data={"text": SECRET_TEXT}, case_id=cases[1].id)
    by_other = event(
        "report_filed",
        data={"text": f"{SECRET_NAME} scammed me"},
        account_id=other.id,
        ext=other.external_id,
        counterparty=external,
    )
    # Sent before the account existed: no account_id yet, only the marketplace's id.
    pre_signup = event("message_sent", data={"text": SECRET_TEXT}, account_id=None)
    db.flush()
    # A text cluster quoting the person's message verbatim.
    cluster = TextCluster(
        label=f"cluster {n}",
        first_seen_at=at,
        last_seen_at=at,
        examples=[{"event_id": text.id, "type": "message_sent", "text": SECRET_TEXT}],
        member_event_ids=[text.id, by_other.id],
    )
    db.add(cluster)

    decision = Decision(
        case_id=cases[0].id,
        account_id=account.id,
        status=DecisionStatus.applied,
        internal_reasoning="off-platform payment",
        created_at=at,
        applied_at=at,
    )
    db.add(decision)
    db.flush()
    statement = Statement(
        decision_id=decision.id,
        account_id=account.id,
        puid=f"SOR-{n}",
        fields={"decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT"},
        category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
        application_date=at.date(),
        automated_decision="AUTOMATED_DECISION_NOT_AUTOMATED",
        created_at=at,
    )
    db.add_all(
        [
            statement,
            Strike(
                account_id=account.id,
                decision_id=decision.id,
                policy_code="scam",
                policy_version=1,
                weight=1,
                created_at=at,
                expires_at=at + timedelta(days=365),
            ),
            Restriction(
                account_id=account.id, kind=RestrictionKind.messaging, reason="scam", created_at=at
            ),
        ]
    )
    messages = [
        Message(
            account_id=account.id,
            case_id=case_id,
            channel=MessageChannel.email,
            locale="en",
            recipient=SECRET_EMAIL,
            subject="About your account",
            body=f"Dear {SECRET_NAME}, ...",
            status=MessageStatus.sent,
            sent_at=at,
            created_at=at,
            last_error=f"550 mailbox {SECRET_EMAIL} unavailable",
        )
        for case_id in (cases[0].id, cases[1].id)
    ]
    in_app = Message(
        account_id=account.id,
        case_id=None,
        channel=MessageChannel.in_app,
        locale="en",
        subject="Your listing",
        body=f"Dear {SECRET_NAME}, in app",
        status=MessageStatus.sent,
        sent_at=at,
        created_at=at,
    )
    messages.append(in_app)
    db.add_all(messages)
    integration = Integration(name=f"market-{n}", url="http://127.0.0.1:9/hook", secret="s")
    db.add(integration)
    db.flush()
    delivery = WebhookDelivery(
        integration_id=integration.id,
        event_id=f"wh-{n}",
        event_type="decision.applied",
        idempotency_key=f"k-{n}",
        subject_type="decision",
        subject_id=decision.id,
        case_id=cases[0].id,
        body=json.dumps({"account_id": external}),
        status=DeliveryStatus.delivered,
        delivered_at=at,
        created_at=at,
        updated_at=at,
    )
    db.add(delivery)
    db.flush()
    # Copies of a message (in-app, not on a case) and of a verification's outcome.
    copies = [
        WebhookDelivery(
            integration_id=integration.id,
            event_id=f"wh-{n}-{subject_type}",
            event_type=event_type,
            idempotency_key=f"k-{n}-{subject_type}",
            subject_type=subject_type,
            subject_id=subject_id,
            case_id=None,
            body=json.dumps({"account_external_id": external, "body": f"Dear {SECRET_NAME}"}),
            status=DeliveryStatus.delivered,
            delivered_at=at,
            created_at=at,
            updated_at=at,
        )
        for subject_type, subject_id, event_type in (
            ("message", in_app.id, "message.in_app"),
            ("identity_verification", verification.id, "identity.verification.decided"),
        )
    ]
    db.add_all(copies)
    db.flush()
    db.add_all(
        [
            DeliveryAttempt(
                delivery_id=d.id, number=1, started_at=at, duration_ms=3, status_code=200
            )
            for d in [delivery, *copies]
        ]
    )
    token = None
    if staff_id is not None:
        token = f"{n:064x}"
        db.add(
            StaffSession(
                token_hash=token,
                staff_id=staff_id,
                csrf_token="c" * 64,
                created_at=at,
                expires_at=at + timedelta(hours=12),
                last_seen_at=at,
            )
        )
    db.flush()
    return Person(
        account_id=account.id,
        external_id=external,
        case_id=cases[0].id,
        other_case_id=cases[1].id,
        verification_id=verification.id,
        image_ids=[i.id for i in images],
        blob_keys=[i.blob_key for i in images],
        event_ids=[login.id, text.id, on_case.id],
        text_event_id=text.id,
        case_event_id=on_case.id,
        by_other_event_id=by_other.id,
        message_ids=[m.id for m in messages],
        decision_id=decision.id,
        statement_id=statement.id,
        delivery_id=delivery.id,
        staff_token=token,
        extra={
            "pre_signup_event_id": pre_signup.id,
            "cluster_id": cluster.id,
            "in_app_message_id": in_app.id,
            "message_copy_delivery_id": copies[0].id,
            "identity_copy_delivery_id": copies[1].id,
        },
    )


@pytest.fixture
def person_factory(db: Session, settings: Settings):  # type: ignore[no-untyped-def]
    def make(**kwargs: object) -> Person:
        return make_person(db, settings, **kwargs)  # type: ignore[arg-type]

    return make
