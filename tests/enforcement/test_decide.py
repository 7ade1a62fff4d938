"""Applying a decision: restrictions, strikes, the statement of reasons, the webhook, the
user's message and the closed case, all in one transaction."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    SUSPEND_7,
    decide,
    event_kinds,
    held_case,
    make_account,
    staff,
)
from vigil.accounts.models import AccountStatus, Restriction, RestrictionKind
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.cases.models import CaseStatus, Resolution
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.dsa.models import Statement
from vigil.enforcement import service
from vigil.enforcement.models import (
    ActionStatus,
    DecisionAction,
    DecisionPolicy,
    DecisionStatus,
    Strike,
)
from vigil.enforcement.schemas import DecisionIn
from vigil.integrations.models import WebhookDelivery
from vigil.kit import clock
from vigil.kit.errors import Conflict, PermissionDenied
from vigil.policies.models import PolicyVersion

pytestmark = pytest.mark.usefixtures("fees")

WHY = "Second request for payment by transfer in a week."


def test_a_suspension_is_applied_in_full(
    db: Session, settings: Settings, fees: PolicyVersion, webhook: int
) -> None:
    user, actor = staff(db)
    account = make_account(db, locale="en")
    case = held_case(db, user, account)
    now = clock.now()

    decision = decide(db, actor, case, settings, actions=SUSPEND_7, departure_reason=WHY)

    assert decision.status == DecisionStatus.applied and decision.applied_at == now
    assert decision.action == "suspend" and decision.departed
    cited = db.scalars(select(DecisionPolicy).where(DecisionPolicy.decision_id == decision.id))
    assert [(p.policy_code, p.policy_version) for p in cited] == [("fee_circumvention", 1)]

    (action,) = db.scalars(select(DecisionAction).where(DecisionAction.decision_id == decision.id))
    assert action.status == ActionStatus.active
    assert (action.starts_at, action.ends_at) == (now, now + timedelta(days=7))

    restriction = db.get(Restriction, action.restriction_id)
    assert restriction is not None and restriction.kind == RestrictionKind.suspension
    assert restriction.ends_at == now + timedelta(days=7) and restriction.case_id == case.id
    db.refresh(account)
    assert account.status == AccountStatus.suspended

    (strike,) = db.scalars(select(Strike).where(Strike.decision_id == decision.id))
    assert (strike.weight, strike.expires_at) == (1, now + timedelta(days=180))

    (statement,) = db.scalars(select(Statement).where(Statement.decision_id == decision.id))
    assert statement.fields["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert statement.fields["end_date_account_restriction"] == "2026-11-28"
    assert statement.fields["account_type"] == "ACCOUNT_TYPE_BUSINESS"  # a freelancer
    assert statement.fields["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"  # a report

    (delivery,) = db.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event_type == "action.applied")
    )
    assert delivery.idempotency_key == f"action-{action.id}-applied"
    assert (delivery.subject_type, delivery.subject_id) == ("decision_action", action.id)
    data = json.loads(delivery.body)["data"]
    assert data == {
        "action_id": action.id,
        "decision_id": decision.id,
        "case_id": case.id,
        "case_ref": f"C-{case.id}",
        "account_external_id": account.external_id,
        "type": "suspend",
        "scope": "account",
        "target_ref": None,
        "starts_at": "2026-11-21T09:00:00Z",
        "ends_at": "2026-11-28T09:00:00Z",
        "duration_days": 7,
        "policies": [{"code": "fee_circumvention", "version": 1}],
        "statement_puid": statement.puid,
    }

    messages = list(db.scalars(select(Message).where(Message.decision_id == decision.id)))
    assert sorted(m.channel for m in messages) == ["email", "in_app"]
    email = next(m for m in messages if m.channel == "email")
    assert "suspended" in email.subject and "November 28, 2026" in email.subject
    assert f"SOR-{statement.id}" in email.body  # the statement section follows the body

    db.refresh(case)
    assert (case.status, case.resolution) == (CaseStatus.closed, Resolution.actioned)
    assert event_kinds(db, case.id)[-4:] == ["message_sent", "message_sent", "decided", "closed"]
    actions = set(db.scalars(select(AuditRecord.action)))
    assert {"enforcement.decision.create", "enforcement.decision.apply"} <= actions


def test_the_message_goes_out_in_the_users_language(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    account = make_account(db, locale="es-MX")
    decision = decide(
        db, actor, held_case(db, user, account), settings, actions=SUSPEND_7, departure_reason=WHY
    )
    (email,) = db.scalars(
        select(Message).where(Message.decision_id == decision.id, Message.channel == "email")
    )
    assert email.locale == "es"
    assert "28 de noviembre de 2026" in email.body
    assert decision.locale == "es"


def test_a_warning_restricts_nothing_and_needs_no_statement(
    db: Session, settings: Settings
) -> None:
    user, actor = staff(db)
    account = make_account(db)
    decision = decide(db, actor, held_case(db, user, account), settings)
    assert db.scalars(select(Statement)).all() == []
    assert db.scalars(select(Restriction)).all() == []
    db.refresh(account)
    assert account.status == AccountStatus.active
    (strike,) = db.scalars(select(Strike).where(Strike.decision_id == decision.id))
    assert strike.weight == 1


@pytest.mark.parametrize(
    ("scope", "kind"),
    [
        ("payouts", RestrictionKind.payouts),
        ("message", RestrictionKind.messaging),
        ("listing", RestrictionKind.listing),
        ("profile", RestrictionKind.profile),
    ],
)
def test_a_restriction_takes_the_capability_its_scope_names(
    db: Session, settings: Settings, scope: str, kind: RestrictionKind
) -> None:
    user, actor = staff(db)
    account = make_account(db)
    decision = decide(
        db, actor, held_case(db, user, account), settings,
        actions=[{"type": "restrict", "scope": scope}], departure_reason=WHY,
    )  # fmt: skip
    # Without an end it lasts until lifted: that needs a second approver, as a ban does.
    assert decision.status == DecisionStatus.pending_approval
    _, specialist = staff(db, Role.specialist)
    service.approve(db, specialist, decision.id, settings=settings)
    (restriction,) = db.scalars(select(Restriction))
    assert (restriction.kind, restriction.ends_at) == (kind, None)  # until lifted
    db.refresh(account)
    assert account.status == AccountStatus.restricted


def test_a_removal_tells_the_marketplace_which_content(
    db: Session, settings: Settings, webhook: int
) -> None:
    settings = settings.model_copy(update={"four_eyes_actions": "ban"})
    user, actor = staff(db)
    account = make_account(db)
    removal = [{"type": "remove", "scope": "listing", "target_ref": "listing-77"}]
    decision = decide(
        db, actor, held_case(db, user, account), settings, actions=removal, departure_reason=WHY
    )
    assert decision.status == DecisionStatus.applied
    assert db.scalars(select(Restriction)).all() == []  # the marketplace takes it down
    (delivery,) = db.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event_type == "action.applied")
    )
    data = json.loads(delivery.body)["data"]
    assert (data["type"], data["scope"], data["target_ref"]) == ("remove", "listing", "listing-77")
    (statement,) = db.scalars(select(Statement))
    assert statement.fields["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]


def test_no_violation_closes_the_case_and_touches_nothing(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    account = make_account(db)
    case = held_case(db, user, account)
    decision = service.decide(
        db,
        actor,
        case.id,
        DecisionIn(no_violation=True, internal_reasoning="The transfer was a refund."),
        settings=settings,
    )
    assert decision.no_violation and decision.action is None
    assert db.scalars(select(Strike)).all() == []
    assert db.scalars(select(Message)).all() == []  # nobody is told unless a message is written
    db.refresh(case)
    assert case.resolution == Resolution.no_violation


def test_the_reviewer_may_rewrite_the_message_but_not_the_statement(
    db: Session, settings: Settings
) -> None:
    user, actor = staff(db)
    account = make_account(db)
    message = {
        "subject": "About your account",
        "body": "We had to suspend your account for a week.",
        "channels": ["email"],
    }
    decision = decide(
        db, actor, held_case(db, user, account), settings,
        actions=SUSPEND_7, departure_reason=WHY, message=message,
    )  # fmt: skip
    (email,) = db.scalars(select(Message).where(Message.decision_id == decision.id))
    assert email.subject == "About your account"
    assert email.body.startswith("We had to suspend your account for a week.\n\n")
    assert "SOR-" in email.body  # the statement section is always added


def test_no_message_with_a_reason(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    account = make_account(db)
    decide(
        db, actor, held_case(db, user, account), settings,
        message={"channels": [], "no_message_reason": "The marketplace notifies this user."},
    )  # fmt: skip
    assert db.scalars(select(Message)).all() == []


def test_only_the_holder_or_a_lead_decides(db: Session, settings: Settings) -> None:
    holder, _ = staff(db)
    _, other = staff(db)
    _, specialist = staff(db, Role.specialist)
    account = make_account(db)
    case = held_case(db, holder, account)
    with pytest.raises(PermissionDenied) as refused:
        decide(db, other, case, settings)
    assert refused.value.code == "not_assignee"
    decision = decide(db, specialist, case, settings)  # holds cases:assign
    assert decision.decided_by_id == specialist.staff_id


def test_a_closed_case_is_not_decided_again(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    decide(db, actor, case, settings)
    with pytest.raises(Conflict) as refused:
        decide(db, actor, case, settings)
    assert refused.value.code == "case_closed"
