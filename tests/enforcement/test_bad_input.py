"""Every refused decision names the field at fault and leaves nothing behind: no decision,
action, strike, restriction, statement, message, webhook, job, timeline entry or audit record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    SPAM,
    SUSPEND_7,
    SYSTEM,
    body,
    counts,
    held_case,
    make_account,
    make_policy,
    staff,
    statement,
)
from tests.factories import login_as
from vigil.auth.permissions import Role
from vigil.policies import service as policies

pytestmark = pytest.mark.usefixtures("fees", "webhook")

WHY = "A second request in one week."


def _retired(db: Session) -> None:
    make_policy(db, code="old_rule")
    policies.retire_policy(db, SYSTEM, "old_rule", reason="merged into fee_circumvention")


def _spam(db: Session) -> None:
    make_policy(db, SPAM)


Setup = Callable[[Session], None] | None

CASES: list[tuple[str, Setup, dict[str, Any], int, str, str]] = [
    ("unknown policy", None, body(policy="no_such_policy"), 422, "unknown_policy",
     "violations.0.policy"),
    ("retired policy", _retired, body(policy="old_rule"), 422, "policy_retired",
     "violations.0.policy"),
    ("version that does not exist", None,
     {**body(), "violations": [{"policy": "fee_circumvention", "version": 9}]}, 422,
     "unknown_policy_version", "violations.0.version"),
    ("policy cited twice", None, body(policy=["fee_circumvention", "fee_circumvention"]), 422,
     "duplicate_policy", "violations.1.policy"),
    ("action the policy does not allow", _spam,
     body(policy="spam", actions=SUSPEND_7, departure_reason=WHY), 422, "action_not_allowed",
     "actions.0.type"),
    ("scope the action cannot take", None,
     body(actions=[{"type": "suspend", "scope": "listing", "duration_days": 7}],
          departure_reason=WHY), 422, "scope_not_allowed", "actions.0.scope"),
    ("suspension without an end", None,
     body(actions=[{"type": "suspend", "scope": "account"}], departure_reason=WHY), 422,
     "duration_required", "actions.0.duration_days"),
    ("warning with an end", None,
     body(actions=[{"type": "warn", "scope": "account", "duration_days": 3}]), 422,
     "end_date_not_allowed", "actions.0.duration_days"),
    ("end date in the past", None,
     body(actions=[{"type": "suspend", "scope": "account", "ends_at": "2026-11-20T00:00:00Z"}],
          departure_reason=WHY), 422, "ends_at_in_past", "actions.0.ends_at"),
    ("suspension longer than max_suspension_days", None,
     body(actions=[{"type": "suspend", "scope": "account", "duration_days": 3650}],
          departure_reason=WHY), 422, "duration_too_long", "actions.0.duration_days"),
    ("restriction ending past max_suspension_days", None,
     body(actions=[{"type": "restrict", "scope": "payouts", "ends_at": "2027-12-01T00:00:00Z"}],
          departure_reason=WHY), 422, "duration_too_long", "actions.0.ends_at"),
    ("removal without the content's id", None,
     body(actions=[{"type": "remove", "scope": "listing"}], departure_reason=WHY), 422,
     "target_ref_required", "actions.0.target_ref"),
    ("violation without action", None, body(actions=[]), 422, "actions_required", "actions"),
    ("neither violation nor no_violation", None,
     {"internal_reasoning": "x", "violations": []}, 422, "violations_required", "violations"),
    ("no_violation with actions", None,
     {"no_violation": True, "internal_reasoning": "x",
      "actions": [{"type": "warn", "scope": "account"}]}, 422, "no_violation_with_actions",
     "actions"),
    ("departure without a reason", None, body(actions=SUSPEND_7), 422,
     "departure_reason_required", "departure_reason"),
    ("no internal reasoning", None, {**body(), "internal_reasoning": "  "}, 422,
     "internal_reasoning_required", "internal_reasoning"),
    ("restrictive decision without a statement", None,
     {**body(actions=SUSPEND_7, departure_reason=WHY), "statement": None}, 422,
     "statement_required", "statement"),
    ("statement without facts", None,
     body(actions=SUSPEND_7, departure_reason=WHY, statement=statement(facts="")), 422,
     "missing_field", "statement.facts"),
    ("statement without content date", None,
     body(actions=SUSPEND_7, departure_reason=WHY, statement=statement(content_date=None)), 422,
     "missing_field", "statement.content_date"),
    ("statement with a content type the DSA does not know", None,
     body(actions=SUSPEND_7, departure_reason=WHY,
          statement=statement(content_type=["CONTENT_TYPE_HOLOGRAM"])), 422,
     "invalid_statement", "statement.content_type"),
    ("statement facts too vague", None,
     body(actions=SUSPEND_7, departure_reason=WHY, statement=statement(facts="Bad.")), 422,
     "invalid_statement", "statement.facts"),
    ("statement with a territory outside the EEA", None,
     body(actions=SUSPEND_7, departure_reason=WHY,
          statement=statement(territorial_scope=["US"])), 422,
     "invalid_statement", "statement.territorial_scope"),
    ("no message and no reason", None, body(message={"channels": []}), 422,
     "no_message_reason_required", "message.no_message_reason"),
    ("message with template markup left in", None,
     body(message={"subject": "Hi {{ user_name }}", "channels": ["in_app"]}), 422,
     "unrendered_template", "message.subject"),
    ("unknown field", None, {**body(), "severity": "high"}, 422, "unknown_field", "severity"),
    ("unknown action type", None, body(actions=[{"type": "shadowban", "scope": "account"}]), 422,
     "invalid_field", "actions.0.type"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "payload", "status", "code", "field"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_refused_and_nothing_written(
    client: TestClient,
    db: Session,
    setup: Setup,
    payload: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    if setup is not None:
        setup(db)
    user, _ = staff(db)
    case = held_case(db, user, make_account(db))
    login_as(client, db, user)  # commits
    before = counts(db)
    r = client.post(f"/v1/cases/{case.id}/decisions", json=payload)
    assert r.status_code == status, r.text
    assert (r.json()["code"], r.json()["field"]) == (code, field)
    db.expire_all()
    assert counts(db) == before


def test_email_to_an_account_without_an_address_is_refused(client: TestClient, db: Session) -> None:
    user, _ = staff(db)
    case = held_case(db, user, make_account(db, email=None))
    login_as(client, db, user)
    before = counts(db)
    r = client.post(
        f"/v1/cases/{case.id}/decisions", json=body(message={"channels": ["email", "in_app"]})
    )
    assert r.status_code == 422
    assert (r.json()["code"], r.json()["field"]) == ("no_email_address", "message.channels")
    assert counts(db) == before


def test_someone_elses_case_is_refused(client: TestClient, db: Session) -> None:
    holder, _ = staff(db)
    other, _ = staff(db)
    case = held_case(db, holder, make_account(db))
    login_as(client, db, other)
    before = counts(db)
    r = client.post(f"/v1/cases/{case.id}/decisions", json=body())
    assert (r.status_code, r.json()["code"]) == (403, "not_assignee")
    assert counts(db) == before


def test_a_stale_case_version_is_refused(client: TestClient, db: Session) -> None:
    user, _ = staff(db)
    case = held_case(db, user, make_account(db))
    login_as(client, db, user)
    before = counts(db)
    r = client.post(f"/v1/cases/{case.id}/decisions", json=body(expected_version=case.version + 5))
    assert (r.status_code, r.json()["code"]) == (409, "version_conflict")
    assert counts(db) == before


def test_agents_and_qa_cannot_decide(client: TestClient, db: Session) -> None:
    qa, _ = staff(db, Role.qa)
    user, _ = staff(db)
    case = held_case(db, user, make_account(db))
    login_as(client, db, qa)
    r = client.post(f"/v1/cases/{case.id}/decisions", json=body())
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
