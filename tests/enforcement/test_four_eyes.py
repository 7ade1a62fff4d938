"""Four-eyes: removals and bans wait for a second approver from the specialist tier."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    body,
    counts,
    decide,
    event_kinds,
    held_case,
    make_account,
    staff,
)
from tests.factories import login_as, logout
from vigil.accounts.models import AccountStatus, Restriction
from vigil.auth.permissions import Role
from vigil.cases.models import CaseStatus
from vigil.config import Settings
from vigil.enforcement import service
from vigil.enforcement.models import ActionStatus, Approval, DecisionAction, DecisionStatus
from vigil.integrations.models import WebhookDelivery
from vigil.kit.errors import Conflict, InvalidInput, PermissionDenied

pytestmark = pytest.mark.usefixtures("fees")

BAN = [{"type": "ban", "scope": "account"}]
WHY = "Third confirmed off-platform payment; the account sent bank details to ten clients."


def test_a_ban_waits_and_nothing_happens_yet(db: Session, settings: Settings, webhook: int) -> None:
    user, actor = staff(db)
    account = make_account(db)
    case = held_case(db, user, account)
    decision = decide(db, actor, case, settings, actions=BAN, departure_reason=WHY)

    assert decision.status == DecisionStatus.pending_approval and decision.applied_at is None
    (approval,) = db.scalars(select(Approval))
    assert (approval.required_for, approval.outcome) == (["ban"], None)
    (action,) = db.scalars(select(DecisionAction))
    assert action.status == ActionStatus.pending
    assert db.scalars(select(Restriction)).all() == []
    assert db.scalars(select(WebhookDelivery)).all() == []
    db.refresh(account)
    db.refresh(case)
    assert account.status == AccountStatus.active
    assert (case.status, case.assignee_id) == (CaseStatus.assigned, user.id)
    assert event_kinds(db, case.id)[-1] == "decision_pending"

    with pytest.raises(Conflict) as again:
        decide(db, actor, case, settings)
    assert again.value.code == "decision_pending"


def test_a_specialist_approves_and_the_ban_is_applied(
    db: Session, settings: Settings, webhook: int
) -> None:
    user, actor = staff(db)
    specialist_user, specialist = staff(db, Role.specialist)
    account = make_account(db)
    case = held_case(db, user, account)
    decision = decide(db, actor, case, settings, actions=BAN, departure_reason=WHY)

    service.approve(db, specialist, decision.id, reason="Agreed.", settings=settings)

    assert decision.status == DecisionStatus.applied
    assert decision.approved_by_id == specialist_user.id and decision.approved_at is not None
    db.refresh(account)
    db.refresh(case)
    assert account.status == AccountStatus.removed
    (restriction,) = db.scalars(select(Restriction))
    assert restriction.kind == "suspension" and restriction.ends_at is None
    assert case.status == CaseStatus.closed
    (approval,) = db.scalars(select(Approval))
    assert (approval.outcome, approval.decided_by_id) == ("approved", specialist_user.id)
    assert db.scalars(select(WebhookDelivery.event_type)).all() == [
        "action.applied",
        "message.in_app",
    ]
    kinds = event_kinds(db, case.id)
    assert (
        kinds.index("decision_pending") < kinds.index("decision_approved") < kinds.index("decided")
    )


def test_the_decider_cannot_approve_their_own_decision(db: Session, settings: Settings) -> None:
    specialist_user, specialist = staff(db, Role.specialist)
    case = held_case(db, specialist_user, make_account(db))
    decision = decide(db, specialist, case, settings, actions=BAN, departure_reason=WHY)
    with pytest.raises(PermissionDenied) as refused:
        service.approve(db, specialist, decision.id, settings=settings)
    assert refused.value.code == "own_decision"
    assert decision.status == DecisionStatus.pending_approval


def test_reject_needs_a_reason_and_hands_the_case_back(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    _, specialist = staff(db, Role.specialist)
    account = make_account(db)
    case = held_case(db, user, account)
    decision = decide(db, actor, case, settings, actions=BAN, departure_reason=WHY)
    with pytest.raises(InvalidInput) as refused:
        service.reject(db, specialist, decision.id, reason=" ")
    assert (refused.value.code, refused.value.field) == ("reason_required", "reason")

    service.reject(db, specialist, decision.id, reason="A 30-day suspension is enough.")
    assert decision.status == DecisionStatus.rejected and decision.rejected_at is not None
    db.refresh(case)
    assert (case.status, case.assignee_id) == (CaseStatus.assigned, user.id)
    assert event_kinds(db, case.id)[-1] == "decision_rejected"
    with pytest.raises(Conflict) as twice:
        service.approve(db, specialist, decision.id, settings=settings)
    assert twice.value.code == "decision_not_pending"

    # The reviewer decides again.
    suspend = [{"type": "suspend", "scope": "account", "duration_days": 30}]
    again = decide(db, actor, case, settings, actions=suspend, departure_reason=WHY)
    assert again.status == DecisionStatus.applied


def test_a_released_case_goes_back_to_the_reviewer_on_reject(
    db: Session, settings: Settings
) -> None:
    from vigil.cases import service as cases

    user, actor = staff(db)
    _, specialist = staff(db, Role.specialist)
    case = held_case(db, user, make_account(db))
    decision = decide(db, actor, case, settings, actions=BAN, departure_reason=WHY)
    cases.release(db, actor, case.id)
    service.reject(db, specialist, decision.id, reason="Not enough evidence for a ban.")
    db.refresh(case)
    assert (case.status, case.assignee_id) == (CaseStatus.assigned, user.id)


def test_the_approval_flow_over_http(client: TestClient, db: Session) -> None:
    agent_user, _ = staff(db)
    other_agent, _ = staff(db)
    specialist_user, _ = staff(db, Role.specialist)
    account = make_account(db)
    case = held_case(db, agent_user, account)
    login_as(client, db, agent_user)
    r = client.post(f"/v1/cases/{case.id}/decisions", json=body(actions=BAN, departure_reason=WHY))
    assert r.status_code == 201, r.text
    decision = r.json()
    assert decision["status"] == "pending_approval"
    assert decision["approvals"][0]["required_for"] == ["ban"]

    own = client.post(f"/v1/decisions/{decision['id']}/approve", json={})
    assert (own.status_code, own.json()["code"]) == (403, "permission_denied")  # an agent

    logout(client)
    login_as(client, db, other_agent)
    r = client.post(f"/v1/decisions/{decision['id']}/approve", json={})
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")

    logout(client)
    login_as(client, db, specialist_user)
    waiting = client.get("/v1/decisions", params={"status": "pending_approval"})
    assert [d["id"] for d in waiting.json()["items"]] == [decision["id"]]
    before = counts(db)
    no_reason = client.post(f"/v1/decisions/{decision['id']}/reject", json={"reason": ""})
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "reason")
    assert counts(db) == before
    r = client.post(f"/v1/decisions/{decision['id']}/approve", json={"reason": "Agreed"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "applied" and r.json()["approved_by_id"] == specialist_user.id
    assert client.get("/v1/decisions", params={"status": "pending_approval"}).json()["items"] == []
    again = client.post(f"/v1/decisions/{decision['id']}/approve", json={})
    assert (again.status_code, again.json()["code"]) == (409, "decision_not_pending")


def test_four_eyes_actions_follow_the_settings(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    strict = settings.model_copy(update={"four_eyes_actions": "suspend,remove,ban"})
    suspend = [{"type": "suspend", "scope": "account", "duration_days": 7}]
    decision = decide(
        db, actor, held_case(db, user, make_account(db)), strict,
        actions=suspend, departure_reason=WHY,
    )  # fmt: skip
    assert decision.status == DecisionStatus.pending_approval


def test_the_approver_sees_what_approval_would_send(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    _, specialist = staff(db, Role.specialist)
    decision = decide(
        db, actor, held_case(db, user, make_account(db)), settings,
        actions=BAN, departure_reason=WHY,
    )  # fmt: skip
    before = counts(db)
    draft = service.pending_draft(db, specialist, decision.id, settings=settings)
    assert draft is not None and draft.outgoing is not None
    assert draft.statement_fields is not None
    assert draft.statement_fields["decision_account"] == "DECISION_ACCOUNT_TERMINATED"
    assert draft.statement_violations == []
    assert draft.outgoing.statement_section  # the statement and how to appeal
    assert counts(db) == before
