"""Regressions for the data-protection review (R2): blob files and savepoints, holds taken
under the erasure's lock, events kept by a counterparty's hold, identifier retention."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_staff
from tests.privacy.conftest import SECRET_EMAIL, SECRET_TEXT, Person
from vigil.accounts.models import Identifier, IdentifierKind
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.identity.service import blob_store
from vigil.kit import clock
from vigil.kit.clock import FrozenClock
from vigil.privacy import erasure, service
from vigil.privacy.retention import run_retention


def _legal(db: Session) -> Principal:
    user = make_staff(db, role=Role.legal)
    return Principal.staff(user.id, user.email, user.role)


def _scalar(db: Session, sql: str, **params: Any) -> Any:
    return db.execute(text(sql), params).scalar()


def _images(db: Session, person: Person) -> int:
    return int(
        _scalar(
            db, "SELECT count(*) FROM identity_images WHERE account_id = :a", a=person.account_id
        )
    )


# --- H1: files go only when the outermost transaction commits ------------------------------


def test_a_released_savepoint_then_an_outer_rollback_keeps_the_files(
    db: Session, settings: Settings, person_factory: Any
) -> None:
    person: Person = person_factory()
    db.commit()
    store = blob_store(settings)
    erasure.erase_account(db, person.account_id, settings=settings)
    with db.begin_nested():  # what jobs.enqueue and others do later in the same unit of work
        pass
    assert all(store.exists(k) for k in person.blob_keys)  # not at the savepoint's release
    db.rollback()
    assert _images(db, person) == 2
    assert all(store.exists(k) for k in person.blob_keys)


def test_an_erasure_in_a_rolled_back_savepoint_keeps_the_files(
    db: Session, settings: Settings, person_factory: Any
) -> None:
    person: Person = person_factory()
    db.commit()
    store = blob_store(settings)
    savepoint = db.begin_nested()
    erasure.erase_account(db, person.account_id, settings=settings)
    savepoint.rollback()
    db.commit()
    assert _images(db, person) == 2
    assert all(store.exists(k) for k in person.blob_keys)


def test_files_go_once_the_outer_transaction_commits(
    db: Session, settings: Settings, person_factory: Any
) -> None:
    first: Person = person_factory()
    second: Person = person_factory()
    db.commit()
    store = blob_store(settings)
    # Erased inside a savepoint (nested twice) that is released: the outer commit decides.
    with db.begin_nested(), db.begin_nested():
        erasure.erase_account(db, first.account_id, settings=settings)
    erasure.erase_account(db, second.account_id, settings=settings)
    with db.begin_nested():
        pass
    assert all(store.exists(k) for k in [*first.blob_keys, *second.blob_keys])
    db.commit()
    assert _images(db, first) == 0 and _images(db, second) == 0
    assert not any(store.exists(k) for k in [*first.blob_keys, *second.blob_keys])


def test_retention_files_wait_for_the_outer_commit(
    db: Session, settings: Settings, frozen: FrozenClock, person_factory: Any
) -> None:
    person: Person = person_factory(at=clock.now() - timedelta(days=100))
    db.commit()
    store = blob_store(settings)
    run_retention(db, settings)
    with db.begin_nested():
        pass
    db.rollback()
    assert _images(db, person) == 2 and all(store.exists(k) for k in person.blob_keys)


# --- M2: an event a counterparty's hold keeps is listed ------------------------------------


def test_an_event_kept_by_the_counterpartys_hold_is_listed(
    db: Session, settings: Settings, person_factory: Any
) -> None:
    actor = _legal(db)
    person: Person = person_factory()
    other: Person = person_factory()
    now = clock.now()
    db.add(
        Event(
            event_id=f"to-held-{person.account_id}",
            payload_sha256="0" * 64,
            type="message_sent",
            account_id=person.account_id,
            account_external_id=person.external_id,
            counterparty_external_id=other.external_id,
            occurred_at=now,
            received_at=now,
            payload={"event_id": "to-held", "ip": "198.51.100.8", "data": {"text": SECRET_TEXT}},
        )
    )
    service.place_hold(db, actor, account_external_id=other.external_id, reason="police")
    request, _ = service.receive_erasure_request(db, actor, account_external_id=person.external_id)
    done = service.complete_erasure_request(db, actor, request.id, settings=settings)
    db.commit()
    assert SECRET_TEXT in str(
        _scalar(
            db,
            "SELECT payload FROM events WHERE event_id = :e",
            e=f"to-held-{person.account_id}",
        )
    )
    assert done.result is not None
    kept = {k["data"]: k for k in done.result["kept"]}
    assert kept["events"]["count"] == 1 and "legal hold" in kept["events"]["reason"]
    assert {e["data"]: e["count"] for e in done.result["erased"]}["events"] == 4


# --- M4: placing a hold takes the account's lock, like erasure ---------------------------


@pytest.mark.parametrize("subject", ["account", "case"])
def test_placing_a_hold_locks_the_account_against_a_concurrent_erasure(
    db: Session,
    settings: Settings,
    session_factory: sessionmaker[Session],
    person_factory: Any,
    subject: str,
) -> None:
    actor = _legal(db)
    person: Person = person_factory()
    db.commit()
    if subject == "account":
        hold = service.place_hold(db, actor, account_external_id=person.external_id, reason="x")
    else:
        hold = service.place_hold(db, actor, case_id=person.case_id, reason="x")
    # Not committed yet: an erasure must not get past the account row now.
    if settings.is_sqlite:
        # Every SQLite transaction starts with BEGIN IMMEDIATE: writers are serialised.
        path = settings.database_url.split("///", 1)[-1]
        raw = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                raw.execute("BEGIN IMMEDIATE")
        finally:
            raw.close()
    else:
        with session_factory() as other:
            with pytest.raises(OperationalError):
                other.execute(
                    text("SELECT id FROM accounts WHERE id = :a FOR UPDATE NOWAIT"),
                    {"a": person.account_id},
                )
            other.rollback()
    db.commit()
    # Once committed, the erasure that was waiting sees the hold.
    with session_factory() as other:
        result = erasure.erase_account(other, person.account_id, settings=settings)
        other.commit()
    assert result.holds == [hold.id]
    assert (
        _scalar(db, "SELECT email FROM accounts WHERE id = :a", a=person.account_id) == SECRET_EMAIL
    )


# --- M6: identifiers not seen for a long time go, unless held ---------------------------


def test_identifiers_not_seen_for_long_are_deleted_unless_held(
    db: Session, settings: Settings, frozen: FrozenClock, person_factory: Any
) -> None:
    actor = _legal(db)
    free: Person = person_factory()
    held: Person = person_factory()
    old = clock.now() - timedelta(days=settings.retention_identifiers_days + 1)
    for person in (free, held):
        db.add(
            Identifier(
                account_id=person.account_id,
                kind=IdentifierKind.ip,
                value=f"198.51.100.{person.account_id % 250}",
                first_seen_at=old,
                last_seen_at=old,
            )
        )
    service.place_hold(db, actor, account_external_id=held.external_id, reason="claim")
    db.commit()
    report = run_retention(db, settings)
    db.commit()
    assert report.counts()["identifiers"] == 1
    count = "SELECT count(*) FROM identifiers WHERE account_id = :a"
    assert _scalar(db, count, a=free.account_id) == 3  # the recent ones stay
    assert _scalar(db, count, a=held.account_id) == 4
