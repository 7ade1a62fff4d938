"""Erasure of one person: what goes, what stays (and is listed), holds, idempotency.
Every check reads the tables with SQL, not through the ORM objects that were changed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import make_staff
from tests.privacy.conftest import DOC_NUMBER, SECRET_EMAIL, SECRET_NAME, SECRET_TEXT, Person
from vigil.analytics.clusters.models import TextCluster
from vigil.auth.permissions import Permission, Role
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.identity.models import IdentityVerification
from vigil.identity.service import blob_store
from vigil.kit.errors import IllegalTransition, InvalidInput, NotFound, PermissionDenied
from vigil.privacy import service
from vigil.privacy.models import ErasureStatus


def _legal(db: Session) -> Principal:
    user = make_staff(db, role=Role.legal)
    return Principal.staff(user.id, user.email, user.role)


def _one(db: Session, sql: str, **params: Any) -> Any:
    return db.execute(text(sql), params).one()


def _scalar(db: Session, sql: str, **params: Any) -> Any:
    return db.execute(text(sql), params).scalar()


def _erase(db: Session, settings: Settings, actor: Principal, person: Person) -> dict[str, Any]:
    request, created = service.receive_erasure_request(
        db, actor, account_external_id=person.external_id, reference="T-1"
    )
    assert created
    done = service.complete_erasure_request(db, actor, request.id, settings=settings)
    db.commit()
    assert done.status is ErasureStatus.completed and done.result is not None
    return done.result


def _kept(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["data"]: k for k in result["kept"]}


def _erased(result: dict[str, Any]) -> dict[str, int]:
    return {e["data"]: e["count"] for e in result["erased"]}


def test_erasure_removes_personal_data_and_keeps_and_lists_what_the_law_needs(
    db: Session, settings: Settings, person_factory: Any
) -> None:
    actor = _legal(db)
    person: Person = person_factory()
    bystander: Person = person_factory()
    result = _erase(db, settings, actor, person)

    # Profile anonymized, marketplace id kept.
    row = _one(
        db,
        "SELECT external_id, display_name, legal_name, date_of_birth, email, phone "
        "FROM accounts WHERE id = :id",
        id=person.account_id,
    )
    assert row[0] == person.external_id and set(row[1:]) == {None}
    assert (
        _scalar(db, "SELECT count(*) FROM identifiers WHERE account_id = :id", id=person.account_id)
        == 0
    )
    # Identity: images and bands and files gone; what was read from the document gone.
    assert (
        _scalar(
            db, "SELECT count(*) FROM identity_images WHERE account_id = :id", id=person.account_id
        )
        == 0
    )
    assert (
        _scalar(
            db,
            "SELECT count(*) FROM identity_hash_bands WHERE account_id = :id",
            id=person.account_id,
        )
        == 0
    )
    store = blob_store(settings)
    assert not any(store.exists(k) for k in person.blob_keys)
    ver = _one(
        db,
        "SELECT status, document_fingerprint FROM identity_verifications WHERE id = :id",
        id=person.verification_id,
    )
    assert ver[0] == "approved" and ver[1] is None
    db.expire_all()
    verification = db.get(IdentityVerification, person.verification_id)
    assert verification is not None  # fields and checks are sealed: read through the model
    assert verification.fields == {} and verification.checks == []
    assert DOC_NUMBER not in str(
        db.execute(text("SELECT fields, checks FROM identity_verifications")).all()
    )
    # A reviewer's note and a processing error quote the document: gone too.
    assert _one(
        db,
        "SELECT decision_note, error FROM identity_verifications WHERE id = :id",
        id=person.verification_id,
    ) == (None, None)
    # Events (also the one sent before the account existed, matched by external id):
    # payloads stripped to what the event was; no text, no ip.
    payloads = db.execute(
        text("SELECT payload FROM events WHERE account_id = :id OR account_external_id = :ext"),
        {"id": person.account_id, "ext": person.external_id},
    ).all()
    assert len(payloads) == 4
    for (payload,) in payloads:
        assert SECRET_TEXT not in str(payload) and "203.0.113.9" not in str(payload)
    # Messages: no address, no body, no sending error (it quoted the address).
    for recipient, body, error in db.execute(
        text("SELECT recipient, body, last_error FROM messages WHERE account_id = :id"),
        {"id": person.account_id},
    ):
        assert recipient is None and SECRET_NAME not in body and error is None
    # Webhook copies of the in-app message and of the verification outcome: gone, with
    # their attempts; the decision's delivery stays (listed).
    copies = (person.extra["message_copy_delivery_id"], person.extra["identity_copy_delivery_id"])
    for delivery_id in copies:
        assert (
            _scalar(db, "SELECT count(*) FROM webhook_deliveries WHERE id = :id", id=delivery_id)
            == 0
        )
        assert (
            _scalar(
                db, "SELECT count(*) FROM delivery_attempts WHERE delivery_id = :id", id=delivery_id
            )
            == 0
        )
    quoting = "SELECT count(*) FROM webhook_deliveries WHERE body LIKE :n"
    assert _scalar(db, quoting, n=f"%{SECRET_NAME}%") == 2  # the bystander's copies only
    assert (
        _scalar(db, "SELECT count(*) FROM webhook_deliveries WHERE id = :id", id=person.delivery_id)
        == 1
    )
    # The text cluster no longer quotes the person nor lists their event; the other
    # user's event stays a member.
    assert SECRET_TEXT not in str(
        _scalar(
            db, "SELECT examples FROM text_clusters WHERE id = :id", id=person.extra["cluster_id"]
        )
    )
    db.expire_all()
    cluster = db.get(TextCluster, person.extra["cluster_id"])
    assert cluster is not None and cluster.examples == []
    assert [int(i) for i in cluster.member_event_ids] == [person.by_other_event_id]
    bystander_cluster = db.get(TextCluster, bystander.extra["cluster_id"])
    assert bystander_cluster is not None and len(bystander_cluster.examples) == 1
    # Kept: decisions, statements, strikes, restrictions, cases and notes, the audit log.
    assert (
        _scalar(db, "SELECT count(*) FROM decisions WHERE account_id = :id", id=person.account_id)
        == 1
    )
    assert (
        _scalar(
            db, "SELECT count(*) FROM dsa_statements WHERE account_id = :id", id=person.account_id
        )
        == 1
    )
    assert (
        _scalar(db, "SELECT count(*) FROM strikes WHERE account_id = :id", id=person.account_id)
        == 1
    )
    assert (
        _scalar(
            db, "SELECT count(*) FROM restrictions WHERE account_id = :id", id=person.account_id
        )
        == 1
    )
    assert (
        _scalar(db, "SELECT count(*) FROM case_notes WHERE case_id = :id", id=person.case_id) == 1
    )
    # What others sent about the person stays (their record).
    assert SECRET_NAME in str(
        _scalar(db, "SELECT payload FROM events WHERE id = :id", id=person.by_other_event_id)
    )
    kept = _kept(result)
    for name in (
        "decisions",
        "statements_of_reasons",
        "strikes",
        "restrictions",
        "cases",
        "case_notes",
        "events_by_others",
        "audit_log",
        "external_id",
    ):
        assert name in kept and kept[name]["reason"], name
    erased = _erased(result)
    assert erased["profile"] == 1 and erased["identifiers"] == 3
    assert erased["identity_images"] == 2 and erased["identity_fields"] == 1
    assert erased["events"] == 4 and erased["messages"] == 3
    assert erased["webhook_deliveries"] == 2 and erased["text_cluster_examples"] == 1
    assert kept["webhook_deliveries"]["count"] == 1 and "webhook_deliveries_held" not in kept
    assert "91 days" in kept["velocity_state"]["reason"]
    assert result["legal_holds"] == []
    # The bystander is untouched.
    assert (
        _scalar(db, "SELECT email FROM accounts WHERE id = :id", id=bystander.account_id)
        == SECRET_EMAIL
    )
    assert (
        _scalar(
            db,
            "SELECT count(*) FROM identity_images WHERE account_id = :id",
            id=bystander.account_id,
        )
        == 2
    )
    assert all(store.exists(k) for k in bystander.blob_keys)
    # One audit record per step.
    actions = [a for (a,) in db.execute(text("SELECT action FROM audit_records ORDER BY id"))]
    assert actions == ["privacy.erasure_request.receive", "privacy.erasure_request.complete"]


def test_erasure_is_idempotent(db: Session, settings: Settings, person_factory: Any) -> None:
    actor = _legal(db)
    person: Person = person_factory()
    _erase(db, settings, actor, person)
    again = _erase(db, settings, actor, person)  # a new request for the same person
    assert set(_erased(again).values()) == {0}
    assert "decisions" in _kept(again)


def test_an_account_hold_keeps_everything_and_says_why(
    db: Session, settings: Settings, person_factory: Any
) -> None:
    actor = _legal(db)
    person: Person = person_factory()
    hold = service.place_hold(
        db, actor, account_external_id=person.external_id, reason="litigation 2026-17"
    )
    result = _erase(db, settings, actor, person)
    assert set(_erased(result).values()) == {0}
    assert result["legal_holds"] == [hold.id]
    kept = _kept(result)
    assert f"#{hold.id}" in kept["profile"]["reason"] and kept["identity_images"]["count"] == 2
    assert (
        _scalar(db, "SELECT email FROM accounts WHERE id = :id", id=person.account_id)
        == SECRET_EMAIL
    )
    assert (
        _scalar(db, "SELECT count(*) FROM identifiers WHERE account_id = :id", id=person.account_id)
        == 3
    )
    assert all(blob_store(settings).exists(k) for k in person.blob_keys)
    assert SECRET_TEXT in str(
        _scalar(db, "SELECT payload FROM events WHERE id = :id", id=person.text_event_id)
    )


def test_a_case_hold_keeps_the_case_evidence_and_erases_the_rest(
    db: Session, settings: Settings, person_factory: Any
) -> None:
    actor = _legal(db)
    person: Person = person_factory()
    hold = service.place_hold(db, actor, case_id=person.other_case_id, reason="police request")
    result = _erase(db, settings, actor, person)
    # The held case's event and message stay; the rest of the events and messages go.
    assert SECRET_TEXT in str(
        _scalar(db, "SELECT payload FROM events WHERE id = :id", id=person.case_event_id)
    )
    assert SECRET_TEXT not in str(
        _scalar(db, "SELECT payload FROM events WHERE id = :id", id=person.text_event_id)
    )
    held_msg, free_msg = (
        _scalar(db, "SELECT recipient FROM messages WHERE id = :id", id=i)
        for i in (person.message_ids[1], person.message_ids[0])
    )
    assert held_msg == SECRET_EMAIL and free_msg is None
    # The subject of held evidence stays identifiable: profile and documents kept.
    assert (
        _scalar(db, "SELECT legal_name FROM accounts WHERE id = :id", id=person.account_id)
        == SECRET_NAME
    )
    assert (
        _scalar(
            db, "SELECT count(*) FROM identity_images WHERE account_id = :id", id=person.account_id
        )
        == 2
    )
    kept = _kept(result)
    assert kept["events"]["count"] == 1 and kept["messages"]["count"] == 1
    assert result["legal_holds"] == [hold.id]
    assert _erased(result)["events"] == 3


def test_refuse_and_closed_requests(db: Session, settings: Settings, person_factory: Any) -> None:
    actor = _legal(db)
    person: Person = person_factory()
    request, _ = service.receive_erasure_request(db, actor, account_external_id=person.external_id)
    again, created = service.receive_erasure_request(
        db, actor, account_external_id=person.external_id
    )
    assert again.id == request.id and not created
    with pytest.raises(InvalidInput) as bad:
        service.refuse_erasure_request(db, actor, request.id, reason="  ")
    assert bad.value.code == "reason_required" and bad.value.field == "reason"
    service.refuse_erasure_request(db, actor, request.id, reason="account is evidence in a claim")
    with pytest.raises(IllegalTransition) as closed:
        service.complete_erasure_request(db, actor, request.id, settings=settings)
    assert closed.value.code == "erasure_request_closed"
    with pytest.raises(NotFound) as missing:
        service.receive_erasure_request(db, actor, account_external_id="nobody")
    assert (
        missing.value.code == "account_not_found" and missing.value.field == "account_external_id"
    )
    key = Principal.api_key(1, "market", frozenset({Permission.privacy_requests}))
    with pytest.raises(PermissionDenied) as denied:
        service.complete_erasure_request(db, key, request.id, settings=settings)
    assert denied.value.code == "permission_denied"
    db.rollback()
    assert _scalar(db, "SELECT count(*) FROM audit_records") == 0
