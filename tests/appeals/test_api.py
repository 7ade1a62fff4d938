"""Appeals through the API: the marketplace submits its user's appeal, a specialist who did
not take the decision hears it, and every refusal leaves nothing behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.appeals.conftest import (
    WHY,
    Appealable,
    appealable,
    counts,
    hearer,
    hold,
    submit,
)
from tests.enforcement.conftest import FACTS, principal
from tests.factories import login_as
from vigil.accounts.models import Account, AccountStatus, Restriction
from vigil.appeals.models import Appeal, AppealStatus
from vigil.auth.permissions import Role
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, Resolution
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.dsa.models import Statement
from vigil.enforcement import service as enforcement
from vigil.enforcement.models import Decision, DecisionStatus
from vigil.integrations.models import WebhookDelivery
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import PermissionDenied


def _appeal(db: Session, appeal_id: int) -> Appeal:
    found = db.get(Appeal, appeal_id, populate_existing=True)
    assert found is not None
    db.commit()
    return found


def _deliveries(db: Session, event_type: str) -> list[dict[str, Any]]:
    import json

    rows = db.scalars(
        select(WebhookDelivery.body)
        .where(WebhookDelivery.event_type == event_type)
        .order_by(WebhookDelivery.id)
    ).all()
    db.commit()
    return [json.loads(r)["data"] for r in rows]


def _messages(db: Session, account_id: int) -> list[Message]:
    rows = list(
        db.scalars(select(Message).where(Message.account_id == account_id).order_by(Message.id))
    )
    db.commit()
    return rows


# --- submitting ---------------------------------------------------------------------------------


def test_an_appeal_opens_a_specialist_case_without_the_original_reviewer(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a = appealable(db, settings)
    assert a.statement is not None

    answer = submit(client, a, decision_id=None, reference=f"sor-{a.statement.id}")

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "open" and body["channel"] == "api"
    assert body["decision_id"] == a.decision.id and body["statement_id"] == a.statement.id
    assert body["account_external_id"] == a.account.external_id
    assert body["statement"] == WHY and body["language"] == "es"
    assert body["decided_by"] is None
    case = db.get(Case, body["case_id"], populate_existing=True)
    assert case is not None and case.type == "appeal" and case.tier == "specialist"
    assert case.attributes["appeal"]["decision_id"] == a.decision.id
    assert cases.recused_staff(db, case.id) == [a.agent.id]
    db.commit()

    one = client.get(f"/v1/appeals/{body['id']}", headers=a.headers)
    assert one.status_code == 200 and one.json() == body
    listed = client.get("/v1/appeals", params={"status": "open"}, headers=a.headers)
    assert [x["id"] for x in listed.json()["items"]] == [body["id"]]
    other = client.get(
        "/v1/appeals", params={"account_external_id": "nobody"}, headers=a.headers
    ).json()
    assert other["items"] == []


@pytest.mark.parametrize(
    ("case_", "status", "code", "field"),
    [
        ("late", 422, "appeal_window_closed", "decision_id"),
        ("warning", 422, "decision_not_appealable", "decision_id"),
        ("no_violation", 422, "decision_not_appealable", "decision_id"),
        ("second", 409, "appeal_exists", "decision_id"),
        ("other_account", 404, "decision_not_found", "decision_id"),
        ("unknown_decision", 404, "decision_not_found", "decision_id"),
        ("unknown_statement", 404, "decision_not_found", "reference"),
        ("both_named", 422, "decision_required", "decision_id"),
        ("too_short", 422, "statement_too_short", "statement"),
        ("too_long", 422, "statement_too_long", "statement"),
        ("neither_named", 422, "decision_required", "decision_id"),
        ("bad_reference", 422, "invalid_reference", "reference"),
    ],
)
def test_refusals_carry_a_code_and_write_nothing(
    client: TestClient,
    db: Session,
    settings: Settings,
    frozen: FrozenClock,
    case_: str,
    status: int,
    code: str,
    field: str,
) -> None:
    if case_ == "warning":
        a = appealable(db, settings, actions=[{"type": "warn", "scope": "account"}])
    elif case_ == "no_violation":
        a = appealable(
            db,
            settings,
            actions=[],
            no_violation=True,
            policy=[],
            message={"channels": []},
        )
    else:
        a = appealable(db, settings)
    changes: dict[str, Any] = {}
    if case_ == "late":
        # The last day is the day of the decision plus the window; the next day is too late.
        frozen.advance(timedelta(days=settings.appeal_window_days + 1))
    elif case_ == "second":
        first = submit(client, a)
        assert first.status_code == 201
        existing = first.json()["id"]
    elif case_ == "other_account":
        other = appealable(db, settings)
        changes["account_external_id"] = other.account.external_id
    elif case_ == "unknown_decision":
        changes["decision_id"] = a.decision.id + 1000
    elif case_ == "unknown_statement":
        changes.update(decision_id=None, reference="SOR-999999")
    elif case_ == "both_named":
        changes["reference"] = "SOR-1"
    elif case_ == "too_short":
        changes["statement"] = "It was not me."
    elif case_ == "too_long":
        changes["statement"] = "x" * 5001
    elif case_ == "neither_named":
        changes["decision_id"] = None
    elif case_ == "bad_reference":
        changes.update(decision_id=None, reference=f"D-{a.decision.id}")
    before = counts(db)

    answer = submit(client, a, **changes)

    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["code"] == code and error["field"] == field
    if case_ == "second":
        assert f"A-{existing}" in error["message"]
    assert counts(db) == before


def test_references_name_the_decision_without_a_dispute_prefix(
    client: TestClient, db: Session, settings: Settings
) -> None:
    """A "D-n" reference names a dispute: an appeal never calls a decision that, and quotes
    the statement the user was given even when the marketplace names the decision by id."""
    a = appealable(db, settings)
    assert a.statement is not None

    by_id = submit(client, a)

    assert by_id.status_code == 201, by_id.text
    assert by_id.json()["reference"] == a.statement.reference
    case = db.get(Case, by_id.json()["case_id"], populate_existing=True)
    assert case is not None
    expected = f"decision #{a.decision.id} on case #{a.decision.case_id}"
    assert case.title == f"Appeal A-{by_id.json()['id']} · {expected}"
    assert "D-" not in case.title and case.source_ref == a.statement.reference
    db.commit()
    # The statement's reference as users type it.
    b = appealable(db, settings)
    assert b.statement is not None
    spaced = submit(client, b, decision_id=None, reference=f" sor {b.statement.id}")
    assert spaced.status_code == 201, spaced.text
    assert spaced.json()["reference"] == b.statement.reference


def test_the_last_day_of_the_window_is_still_open(
    client: TestClient, db: Session, settings: Settings, frozen: FrozenClock
) -> None:
    a = appealable(db, settings)
    frozen.advance(timedelta(days=settings.appeal_window_days, hours=14, minutes=59))

    assert submit(client, a).status_code == 201


# --- who hears it -------------------------------------------------------------------------------


def test_the_original_reviewer_never_pulls_is_assigned_or_decides_the_appeal(
    client: TestClient, db: Session, settings: Settings
) -> None:
    # The decision was taken by a specialist, who works the appeals queue's tier.
    a = appealable(db, settings, decider_role=Role.specialist)
    appeal_id = submit(client, a).json()["id"]
    stored = _appeal(db, appeal_id)
    original = principal(a.agent)

    assert cases.pull_next(db, original) is None
    with pytest.raises(PermissionDenied) as refused:
        cases.assign(db, original, stored.case_id, staff_id=a.agent.id)
    assert refused.value.code == "recused"
    db.rollback()

    other = hearer(db)
    pulled = cases.pull_next(db, principal(other))
    assert pulled is not None and pulled.id == stored.case_id
    db.commit()

    # Over HTTP the original reviewer is refused too, and so is a specialist who does not
    # hold the case.
    login_as(client, db, a.agent)
    refused_http = client.post(
        f"/v1/appeals/{appeal_id}/decide", json={"outcome": "overturn", "reason": "Mistake."}
    )
    assert refused_http.status_code == 403 and refused_http.json()["code"] == "recused"
    hearer(db, client)
    not_holder = client.post(
        f"/v1/appeals/{appeal_id}/decide", json={"outcome": "overturn", "reason": "Mistake."}
    )
    assert not_holder.status_code == 403 and not_holder.json()["code"] == "not_assignee"
    assert _appeal(db, appeal_id).status == AppealStatus.open


# --- outcomes -----------------------------------------------------------------------------------


def _submitted_and_held(
    client: TestClient, db: Session, settings: Settings, **kw: Any
) -> tuple[Appealable, int]:
    a = appealable(db, settings, **kw)
    appeal_id = submit(client, a).json()["id"]
    specialist = hearer(db, client)
    hold(db, _appeal(db, appeal_id).case_id, specialist)
    return a, appeal_id


def test_upheld_the_decision_stands_and_the_user_is_told_why(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a, appeal_id = _submitted_and_held(client, db, settings)
    assert a.statement is not None
    before = len(_messages(db, a.account.id))

    answer = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        json={"outcome": "uphold", "reason": "Los mensajes muestran la petición de pago externo."},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "upheld" and body["decided_by"]
    assert body["statement_ids"] == [a.statement.id]
    decision = db.get(Decision, a.decision.id, populate_existing=True)
    case = db.get(Case, body["case_id"], populate_existing=True)
    assert decision is not None and decision.status == DecisionStatus.applied
    assert case is not None and case.status == CaseStatus.closed
    db.commit()
    (told,) = _messages(db, a.account.id)[before:]
    assert told.locale == "es" and told.channel == "email"
    assert "mantenemos nuestra decisión" in told.subject
    assert "Los mensajes muestran la petición de pago externo." in told.body
    (decided,) = _deliveries(db, "appeal.decided")
    assert decided["status"] == "upheld" and decided["appeal_id"] == appeal_id
    shown = client.get(f"/v1/statements/{a.statement.id}").json()
    assert shown["revision"]["outcome"] == "confirmed"
    assert shown["revision"]["appeal_id"] == appeal_id

    again = client.post(
        f"/v1/appeals/{appeal_id}/decide", json={"outcome": "overturn", "reason": "Changed."}
    )
    assert again.status_code == 409 and again.json()["code"] == "appeal_decided"


def test_overturned_the_restriction_is_lifted_and_the_user_told_once(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a, appeal_id = _submitted_and_held(client, db, settings)
    assert a.statement is not None
    before = len(_messages(db, a.account.id))

    answer = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        json={"outcome": "overturn", "reason": "El cliente propuso el pago; ella lo rechazó."},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "overturned"
    decision = db.get(Decision, a.decision.id, populate_existing=True)
    account = db.get(Account, a.account.id, populate_existing=True)
    assert decision is not None and decision.status == DecisionStatus.reversed
    assert account is not None and account.status == AccountStatus.active
    assert db.scalars(select(Restriction).where(Restriction.lifted_at.is_(None))).all() == []
    db.commit()
    (reversed_,) = _deliveries(db, "action.reversed")
    assert reversed_["decision_id"] == a.decision.id and reversed_["reversal"]
    assert _deliveries(db, "appeal.decided")[0]["status"] == "overturned"
    # One message: the appeal's, not a generic reinstatement besides it.
    (told,) = _messages(db, a.account.id)[before:]
    assert "revocamos nuestra decisión" in told.subject
    said = " ".join(told.body.split())
    assert "Levantamos la suspensión de tu cuenta: puedes volver a iniciar sesión" in said
    assert "Ninguna otra restricción se aplica a tu cuenta de" in said
    revision = client.get(f"/v1/statements/{a.statement.id}").json()["revision"]
    assert revision["outcome"] == "overturned"
    assert revision["reason"] == "El cliente propuso el pago; ella lo rechazó."


def test_modified_a_new_decision_replaces_the_old_one(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a, appeal_id = _submitted_and_held(client, db, settings)
    assert a.statement is not None
    before = len(_messages(db, a.account.id))
    new_decision = {
        "violations": [{"policy": "fee_circumvention"}],
        "actions": [{"type": "restrict", "scope": "payouts", "duration_days": 14}],
        "departure_reason": "A restriction of payouts is enough for a first request.",
        "internal_reasoning": "One request, not repeated.",
        "statement": {
            "facts": FACTS,
            "content_type": ["CONTENT_TYPE_TEXT"],
            "content_date": "2026-11-20",
        },
    }

    answer = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        json={
            "outcome": "modify",
            "reason": "Una suspensión es demasiado para una sola petición.",
            "decision": new_decision,
        },
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "modified" and body["new_decision_id"]
    replacement = db.get(Decision, body["new_decision_id"], populate_existing=True)
    assert replacement is not None and replacement.case_id == body["case_id"]
    assert replacement.status == DecisionStatus.applied and replacement.action == "restrict"
    new_statement = db.scalar(select(Statement).where(Statement.decision_id == replacement.id))
    assert new_statement is not None
    assert body["statement_ids"] == [a.statement.id, new_statement.id]
    db.commit()
    revision = client.get(f"/v1/statements/{a.statement.id}").json()["revision"]
    assert revision["outcome"] == "modified"
    assert revision["replaced_by_statement_id"] == new_statement.id
    assert revision["replaced_by_decision_id"] == replacement.id
    (told,) = _messages(db, a.account.id)[before:]
    assert "cambiamos nuestra decisión" in told.subject
    assert f"SOR-{new_statement.id}" in told.body
    assert (
        "Levantamos lo que la decisión anterior aún disponía; en su lugar se aplica la nueva "
        "decisión. Su duración se cuenta desde hoy" in " ".join(told.body.split())
    )


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"outcome": "overturn", "reason": "  "}, 422, "reason_required", "reason"),
        ({"outcome": "modify", "reason": "Too harsh."}, 422, "decision_required", "decision"),
        (
            {
                "outcome": "modify",
                "reason": "Too harsh.",
                "decision": {
                    "violations": [{"policy": "fee_circumvention"}],
                    "actions": [{"type": "restrict", "scope": "payouts", "duration_days": 14}],
                    "departure_reason": "Enough.",
                    "internal_reasoning": "One request.",
                },
            },
            422,
            "statement_required",
            "decision.statement",
        ),
    ],
)
def test_a_refused_decision_on_the_appeal_writes_nothing(
    client: TestClient,
    db: Session,
    settings: Settings,
    body: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    _, appeal_id = _submitted_and_held(client, db, settings)
    before = counts(db)

    answer = client.post(f"/v1/appeals/{appeal_id}/decide", json=body)

    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code and answer.json()["field"] == field
    assert counts(db) == before


def test_the_user_withdraws_an_open_appeal_and_the_decision_stands(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a = appealable(db, settings)
    appeal_id = submit(client, a).json()["id"]

    answer = client.post(
        f"/v1/appeals/{appeal_id}/withdraw", json={"reason": "Lo resolví con el cliente."},
        headers=a.headers,
    )  # fmt: skip

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "withdrawn"
    case = db.get(Case, answer.json()["case_id"], populate_existing=True)
    assert case is not None and case.resolution == Resolution.withdrawn
    decision = db.get(Decision, a.decision.id, populate_existing=True)
    assert decision is not None and decision.status == DecisionStatus.applied
    db.commit()
    before = counts(db)
    again = client.post(f"/v1/appeals/{appeal_id}/withdraw", json={}, headers=a.headers)
    assert again.status_code == 409 and again.json()["code"] == "appeal_decided"
    assert counts(db) == before


def test_unknown_appeals_are_404(client: TestClient, db: Session, settings: Settings) -> None:
    a = appealable(db, settings)
    assert client.get("/v1/appeals/999999", headers=a.headers).json()["code"] == "appeal_not_found"
    assert client.get(f"/v1/appeals/{2**63}", headers=a.headers).status_code == 422


def test_a_decision_reversed_meanwhile_is_not_upheld_and_not_reversed_twice(
    client: TestClient, db: Session, settings: Settings
) -> None:
    a, appeal_id = _submitted_and_held(client, db, settings)
    reviewer = hearer(db)
    enforcement.reverse_decision(
        db, principal(reviewer), a.decision.id, "Wrong account.", settings=settings
    )
    db.commit()
    before = counts(db)

    upheld = client.post(
        f"/v1/appeals/{appeal_id}/decide", json={"outcome": "uphold", "reason": "Stands."}
    )
    assert upheld.status_code == 409 and upheld.json()["code"] == "decision_not_applied"
    assert counts(db) == before

    overturned = client.post(
        f"/v1/appeals/{appeal_id}/decide",
        json={"outcome": "overturn", "reason": "Already reversed: the wrong account."},
    )
    assert overturned.status_code == 200, overturned.text
    assert overturned.json()["status"] == "overturned"
    # One reversal webhook per action, from the first reversal only.
    assert len(_deliveries(db, "action.reversed")) == 1
