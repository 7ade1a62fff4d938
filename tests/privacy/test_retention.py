"""Retention by age (frozen clock), holds respected, dry run, orphan blobs, the job."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import make_staff
from tests.privacy.conftest import SECRET_TEXT, Person
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.identity.models import IdentityVerification
from vigil.identity.service import blob_store
from vigil.jobs import registry
from vigil.jobs.registry import JobContext
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.privacy import service
from vigil.privacy.retention import REDACTED, run_retention
from vigil.privacy.tasks import RETENTION


def _scalar(db: Session, sql: str, **params: Any) -> Any:
    return db.execute(text(sql), params).scalar()


def _fields(db: Session, verification_id: int) -> dict[str, Any]:
    # Sealed in the database: read through the model, fresh from the row.
    db.expire_all()
    row = db.get(IdentityVerification, verification_id)
    assert row is not None
    return dict(row.fields)


def _legal(db: Session) -> Principal:
    user = make_staff(db, role=Role.legal)
    return Principal.staff(user.id, user.email, user.role)


def _state(db: Session, settings: Settings, p: Person) -> dict[str, Any]:
    """What retention may change about one person, read with SQL."""
    store = blob_store(settings)
    return {
        "images": _scalar(
            db, "SELECT count(*) FROM identity_images WHERE account_id = :a", a=p.account_id
        ),
        "files": sum(store.exists(k) for k in p.blob_keys),
        "fields": "document_number" in _fields(db, p.verification_id),
        "text": SECRET_TEXT
        in str(_scalar(db, "SELECT payload FROM events WHERE id = :i", i=p.text_event_id)),
        "case_text": SECRET_TEXT
        in str(_scalar(db, "SELECT payload FROM events WHERE id = :i", i=p.case_event_id)),
        "ip": "203.0.113.9"
        in str(_scalar(db, "SELECT payload FROM events WHERE id = :i", i=p.event_ids[0])),
        "recipients": _scalar(
            db,
            "SELECT count(*) FROM messages WHERE account_id = :a AND recipient IS NOT NULL",
            a=p.account_id,
        ),
        "delivery": _scalar(
            db, "SELECT count(*) FROM webhook_deliveries WHERE id = :i", i=p.delivery_id
        ),
        "session": _scalar(
            db, "SELECT count(*) FROM staff_sessions WHERE token_hash = :t", t=p.staff_token
        ),
        # Copies of an in-app message and of a verification outcome (no case).
        "copies": _scalar(
            db,
            "SELECT count(*) FROM webhook_deliveries WHERE id IN (:m, :i)",
            m=p.extra["message_copy_delivery_id"],
            i=p.extra["identity_copy_delivery_id"],
        ),
        "errors": _scalar(
            db,
            "SELECT count(*) FROM messages WHERE account_id = :a AND last_error IS NOT NULL",
            a=p.account_id,
        ),
        "example": SECRET_TEXT
        in str(
            _scalar(db, "SELECT examples FROM text_clusters WHERE id = :i", i=p.extra["cluster_id"])
        ),
    }


FULL = {
    "images": 2,
    "files": 2,
    "fields": True,
    "text": True,
    "case_text": True,
    "ip": True,
    "recipients": 2,
    "delivery": 1,
    "session": 1,
    "copies": 2,
    "errors": 2,
    "example": True,
}


def test_retention_by_age_respects_holds_and_audits_one_record(
    db: Session, settings: Settings, frozen: FrozenClock, person_factory: Any
) -> None:
    actor = _legal(db)
    staff = make_staff(db)
    now = clock.now()
    old: Person = person_factory(at=now - timedelta(days=400), staff_id=staff.id)
    very_old: Person = person_factory(at=now - timedelta(days=800), staff_id=staff.id)
    young: Person = person_factory(at=now - timedelta(days=10), staff_id=staff.id)
    held: Person = person_factory(at=now - timedelta(days=800), staff_id=staff.id)
    case_held: Person = person_factory(at=now - timedelta(days=400), staff_id=staff.id)
    service.place_hold(db, actor, account_external_id=held.external_id, reason="litigation")
    service.place_hold(db, actor, case_id=case_held.other_case_id, reason="police request")
    db.commit()

    preview = run_retention(db, settings, dry_run=True)
    db.rollback()
    assert _state(db, settings, old) == FULL  # a dry run changes nothing
    assert (
        _scalar(db, "SELECT count(*) FROM audit_records WHERE action = 'privacy.retention.run'")
        == 0
    )

    report = run_retention(db, settings)
    db.commit()
    # A dry run cannot know which examples the texts it would remove will orphan.
    assert {**report.counts(), "cluster_examples": 0} == preview.counts()

    # 400 days: images (90 d), document fields (180 d), texts (365 d), deliveries (90 d)
    # and sessions (30 d after expiry) went, and the cluster example quoting the removed
    # text; payloads and messages (730 d) not yet.
    assert _state(db, settings, old) == {
        **FULL,
        "images": 0,
        "files": 0,
        "fields": False,
        "text": False,
        "case_text": False,
        "delivery": 0,
        "session": 0,
        "copies": 0,
        "example": False,
    }
    # 800 days: everything personal went.
    assert _state(db, settings, very_old) == {
        **FULL,
        "images": 0,
        "files": 0,
        "fields": False,
        "text": False,
        "case_text": False,
        "ip": False,
        "recipients": 0,
        "delivery": 0,
        "session": 0,
        "copies": 0,
        "errors": 0,
        "example": False,
    }
    assert (
        _scalar(db, "SELECT body FROM messages WHERE id = :i", i=very_old.message_ids[0])
        == REDACTED
    )
    assert _state(db, settings, young) == FULL
    # Holds: the held account keeps everything, though 800 days old (its staff session is
    # not the person's data and goes).
    assert _state(db, settings, held) == {**FULL, "session": 0}
    # A case hold keeps the case's event and the account's documents (and the copy of the
    # verification outcome); its other data goes.
    assert _state(db, settings, case_held) == {
        **FULL,
        "text": False,
        "delivery": 0,
        "session": 0,
        "copies": 1,
        "example": False,
    }
    # What others sent about a held account stays too.
    assert SECRET_TEXT not in str(
        _scalar(db, "SELECT payload FROM events WHERE id = :i", i=old.by_other_event_id)
    )
    assert "scammed" in str(
        _scalar(db, "SELECT payload FROM events WHERE id = :i", i=held.by_other_event_id)
    )
    counts = report.counts()
    assert counts["identity_images"] == 4 and counts["identity_fields"] == 2
    assert counts["webhook_deliveries"] == 8 and counts["messages"] == 3
    assert counts["cluster_examples"] == 3 and counts["identifiers"] == 0
    (data,) = db.execute(
        text("SELECT data FROM audit_records WHERE action = 'privacy.retention.run'")
    ).one()
    assert (json.loads(data) if isinstance(data, str) else data)["counts"] == counts

    # Idempotent: a second run finds nothing left.
    again = run_retention(db, settings)
    db.commit()
    assert set(again.counts().values()) == {0}
    assert (
        _scalar(db, "SELECT count(*) FROM audit_records WHERE action = 'privacy.retention.run'")
        == 2
    )


def test_lifting_a_hold_lets_retention_go_on(
    db: Session, settings: Settings, frozen: FrozenClock, person_factory: Any
) -> None:
    actor = _legal(db)
    held: Person = person_factory(at=clock.now() - timedelta(days=100))
    hold = service.place_hold(db, actor, account_external_id=held.external_id, reason="claim")
    run_retention(db, settings)
    db.commit()
    assert _state(db, settings, held)["images"] == 2
    service.lift_hold(db, actor, hold.id, reason="claim settled")
    report = run_retention(db, settings)
    db.commit()
    assert report.counts()["identity_images"] == 2
    assert _state(db, settings, held)["files"] == 0


def test_orphan_blobs_older_than_the_grace_period_are_swept(
    db: Session, settings: Settings, person_factory: Any
) -> None:
    person: Person = person_factory()
    db.commit()
    store = blob_store(settings)
    old_orphan, young_orphan = store.put(b"old orphan"), store.put(b"young orphan")
    two_days_ago = time.time() - 48 * 3600
    for key in (old_orphan, *person.blob_keys):
        os.utime(store.path_of(key), (two_days_ago, two_days_ago))
    preview = run_retention(db, settings, dry_run=True)
    db.rollback()
    assert preview.counts()["orphan_blobs"] == 1 and store.exists(old_orphan)
    report = run_retention(db, settings)
    db.commit()
    assert report.counts()["orphan_blobs"] == 1
    assert not store.exists(old_orphan)
    assert store.exists(young_orphan) and all(store.exists(k) for k in person.blob_keys)


def test_a_rolled_back_run_keeps_the_files(
    db: Session, settings: Settings, frozen: FrozenClock, person_factory: Any
) -> None:
    person: Person = person_factory(at=clock.now() - timedelta(days=100))
    db.commit()
    run_retention(db, settings)
    db.rollback()
    assert (
        _state(db, settings, person)["files"] == 2 and _state(db, settings, person)["images"] == 2
    )


def test_the_periodic_job_runs_retention(
    db: Session, settings: Settings, session_factory: Any, frozen: FrozenClock, person_factory: Any
) -> None:
    person: Person = person_factory(at=clock.now() - timedelta(days=100))
    db.commit()
    task = next(t for t in registry.periodic_tasks() if t.name == RETENTION)
    assert task.interval(settings) == timedelta(seconds=settings.retention_interval_seconds)
    handler = registry.get_handler(RETENTION)
    assert handler is not None
    with session_factory() as session:
        handler(JobContext(session=session, settings=settings, job_id=1, attempt=1), {})
        session.commit()
    assert _state(db, settings, person)["images"] == 0
    assert _state(db, settings, person)["files"] == 0
