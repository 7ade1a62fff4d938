"""The integrations service: validation that writes nothing, audit, the delivery log's queries."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from enum import Enum

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_staff
from vigil.audit.models import AuditRecord
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.integrations import service
from vigil.integrations.models import DeliveryStatus, Integration, WebhookDelivery
from vigil.jobs.models import Job
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import Conflict, InvalidInput, PermissionDenied

ADMIN = Principal.system("tests")


class _Tier(Enum):
    one = 1


URL = "https://marketplace.example/hooks/vigil"


def _audit_actions(db: Session) -> list[str]:
    return list(db.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))


def _count(db: Session, model: type) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_create_generates_a_secret_and_audits_without_it(db: Session) -> None:
    issued = service.create_integration(
        db, ADMIN, name=" marketplace ", url=URL, event_types=["action.applied"]
    )
    assert issued.secret.startswith("whsec_") and len(issued.secret) > 40
    assert issued.integration.name == "marketplace"
    assert issued.integration.secret == issued.secret
    other = service.create_integration(db, ADMIN, name="second", url=URL)
    assert other.secret != issued.secret
    assert other.integration.event_types == []
    (record, _) = db.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
    assert record.action == "integrations.integration.create"
    assert issued.secret not in json.dumps(record.data)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://marketplace.example/hooks",
        "javascript:alert(1)",
        "marketplace.example/hooks",
        "https:///hooks",
        "http://",
        "https://user:pass@marketplace.example/hooks",
        "https://marketplace.example:99999/hooks",
        "https://market place.example/hooks",
        "https://marketplace.example/" + "a" * 2000,
    ],
)
def test_a_bad_url_is_refused_with_its_field_and_nothing_is_written(db: Session, url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.create_integration(db, ADMIN, name="marketplace", url=url)
    assert (caught.value.field, caught.value.code) == ("url", "invalid_url")
    assert _count(db, Integration) == 0
    assert _count(db, AuditRecord) == 0


def test_unknown_event_types_and_taken_names_are_refused(db: Session) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.create_integration(db, ADMIN, name="m", url=URL, event_types=["action.applie"])
    assert (caught.value.field, caught.value.code) == ("event_types", "unknown_event_type")
    with pytest.raises(InvalidInput) as caught:
        service.create_integration(db, ADMIN, name="m", url=URL, event_types=["ping"])
    assert caught.value.field == "event_types"
    with pytest.raises(InvalidInput) as caught:
        service.create_integration(db, ADMIN, name="", url=URL)
    assert caught.value.field == "name"
    service.create_integration(db, ADMIN, name="m", url=URL)
    with pytest.raises(Conflict) as taken:
        service.create_integration(db, ADMIN, name="m", url=URL)
    assert (taken.value.field, taken.value.code) == ("name", "integration_name_taken")


def test_writes_need_the_integrations_write_permission(db: Session) -> None:
    lead = auth_service.principal_for(make_staff(db, role=Role.policy_lead))
    with pytest.raises(PermissionDenied):
        service.create_integration(db, lead, name="m", url=URL)


def test_update_and_rotate_are_audited_and_a_no_op_update_is_not(
    db: Session, frozen: FrozenClock
) -> None:
    made = service.create_integration(db, ADMIN, name="m", url=URL).integration
    service.update_integration(db, ADMIN, made.id, url=URL, event_types=[])
    service.update_integration(
        db,
        ADMIN,
        made.id,
        url="http://10.0.0.5:8080/vigil",
        event_types=["action.applied", "action.applied", "action.reversed"],
        active=False,
    )
    assert made.event_types == ["action.applied", "action.reversed"]
    assert made.active is False
    rotated = service.rotate_secret(db, ADMIN, made.id, grace_seconds=600)
    assert made.previous_secret_expires_at == datetime(2026, 11, 21, 9, 10, tzinfo=UTC)
    assert service.signing_secrets(made, clock.now()) == [rotated.secret, made.previous_secret]
    with pytest.raises(InvalidInput) as caught:
        service.rotate_secret(db, ADMIN, made.id, grace_seconds=8 * 24 * 3600)
    assert caught.value.field == "grace_seconds"
    assert _audit_actions(db) == [
        "integrations.integration.create",
        "integrations.integration.update",
        "integrations.integration.rotate_secret",
    ]


def test_the_previous_secret_stops_signing_when_its_grace_ends(
    db: Session, frozen: FrozenClock
) -> None:
    made = service.create_integration(db, ADMIN, name="m", url=URL)
    rotated = service.rotate_secret(db, ADMIN, made.integration.id, grace_seconds=60)
    integration = rotated.integration
    assert service.signing_secrets(integration, frozen.advance(timedelta(seconds=59))) == [
        rotated.secret,
        made.secret,
    ]
    assert service.signing_secrets(integration, frozen.advance(timedelta(seconds=1))) == [
        rotated.secret
    ]


def test_emit_serialises_the_envelope_once_with_dates_in_iso_form(
    db: Session, frozen: FrozenClock
) -> None:
    service.create_integration(db, ADMIN, name="a", url=URL)
    service.create_integration(db, ADMIN, name="b", url=URL + "?b")
    made = service.emit(
        db,
        "action.applied",
        {
            "ends_at": datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
            "on": date(2026, 11, 21),
            "tier": _Tier.one,
        },
        idempotency_key="action:1:applied",
        subject_type="decision_action",
        subject_id=1,
    )
    assert len(made) == 2
    assert made[0].body == made[1].body
    body = json.loads(made[0].body)
    assert body["created_at"] == "2026-11-21T09:00:00Z"
    assert body["data"] == {"ends_at": "2026-11-28T09:00:00Z", "on": "2026-11-21", "tier": 1}
    assert [d.status for d in made] == [DeliveryStatus.pending] * 2
    jobs = db.scalars(select(Job).order_by(Job.id)).all()
    assert [j.kind for j in jobs] == [service.DELIVER_JOB] * 2
    assert [j.payload for j in jobs] == [{"delivery_id": d.id, "attempt": 1} for d in made]


def test_emit_refuses_a_bad_idempotency_key_and_writes_nothing(db: Session) -> None:
    service.create_integration(db, ADMIN, name="a", url=URL)
    for key in ("", "has space", "x" * 201, "naïve"):
        with pytest.raises(InvalidInput) as caught:
            service.emit(
                db,
                "action.applied",
                {},
                idempotency_key=key,
                subject_type="decision_action",
                subject_id=1,
            )
        assert caught.value.field == "idempotency_key"
    assert _count(db, WebhookDelivery) == 0
    with pytest.raises(ValueError, match="unknown event type"):
        service.emit(db, "action.aplied", {}, idempotency_key="k", subject_type="x", subject_id=1)


def test_an_integration_added_later_gets_a_re_emitted_event_and_the_first_keeps_its_own(
    db: Session,
) -> None:
    service.create_integration(db, ADMIN, name="a", url=URL)
    kwargs = {"idempotency_key": "action:1:applied", "subject_type": "x", "subject_id": 1}
    (first,) = service.emit(db, "action.applied", {"n": 1}, **kwargs)  # type: ignore[arg-type]
    service.create_integration(db, ADMIN, name="b", url=URL)
    again = service.emit(db, "action.applied", {"n": 1}, **kwargs)  # type: ignore[arg-type]
    assert again[0] is first and len(again) == 2
    assert json.loads(again[1].body)["id"] == json.loads(first.body)["id"]


def test_deliveries_for_finds_a_subjects_webhooks(db: Session) -> None:
    service.create_integration(db, ADMIN, name="a", url=URL)
    for subject_id in (1, 2, 3):
        service.emit(
            db,
            "action.applied",
            {},
            idempotency_key=f"action:{subject_id}:applied",
            subject_type="decision_action",
            subject_id=subject_id,
        )
    service.emit(
        db,
        "message.in_app",
        {},
        idempotency_key="message:2",
        subject_type="message",
        subject_id=2,
    )
    found = service.deliveries_for(db, "decision_action", [3, 1])
    assert [(d.subject_type, d.subject_id) for d in found] == [
        ("decision_action", 1),
        ("decision_action", 3),
    ]
    assert service.deliveries_for(db, "decision_action", []) == []
    assert [d.event_type for d in service.deliveries_for(db, "message", [2])] == ["message.in_app"]


def test_the_delivery_log_filters_and_pages_newest_first(db: Session) -> None:
    a = service.create_integration(db, ADMIN, name="a", url=URL).integration
    b = service.create_integration(db, ADMIN, name="b", url=URL, event_types=["action.applied"])
    for n in range(5):
        service.emit(
            db,
            "action.applied" if n % 2 == 0 else "message.in_app",
            {},
            idempotency_key=f"k{n}",
            subject_type="x",
            subject_id=n,
        )
    all_rows: list[WebhookDelivery] = []
    cursor = None
    while True:
        rows, cursor = service.list_deliveries(db, ADMIN, cursor=cursor, limit=3)
        all_rows.extend(rows)
        if cursor is None:
            break
    ids = [d.id for d in all_rows]
    assert ids == sorted(ids, reverse=True) and len(ids) == 8
    only_b, _ = service.list_deliveries(db, ADMIN, integration_id=b.integration.id)
    assert len(only_b) == 3
    messages, _ = service.list_deliveries(
        db, ADMIN, integration_id=a.id, event_type="message.in_app"
    )
    assert [d.subject_id for d in messages] == [3, 1]
    first = all_rows[-1]
    first.status = DeliveryStatus.failed
    db.flush()
    failed, _ = service.list_deliveries(db, ADMIN, status=DeliveryStatus.failed)
    assert failed == [first]
    with pytest.raises(InvalidInput) as caught:
        service.list_deliveries(db, ADMIN, cursor="not-a-cursor")
    assert caught.value.field == "cursor"
