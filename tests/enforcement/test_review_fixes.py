"""What a new user ran into: closing a case while its decision waits, previews of a
half-filled decision, content dates in the future, where user reports come from, and the
reference a reinstatement quotes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    FEES,
    SUSPEND_7,
    body,
    counts,
    decide,
    held_case,
    make_account,
    make_policy,
    staff,
    statement,
)
from tests.factories import login_as
from vigil.auth.permissions import Role
from vigil.cases import service as cases
from vigil.cases.models import CaseStatus, CaseType, Resolution
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.dsa.models import Statement
from vigil.enforcement import service
from vigil.enforcement.models import DecisionStatus
from vigil.enforcement.schemas import DecisionIn
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput

pytestmark = pytest.mark.usefixtures("fees")

BAN = [{"type": "ban", "scope": "account"}]
WHY = "Third confirmed off-platform payment; the account sent bank details to ten clients."


def _pending_ban(db: Session, settings: Settings) -> tuple[Any, Any, Any, int]:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    decision = decide(db, actor, case, settings, actions=BAN, departure_reason=WHY)
    assert decision.status == DecisionStatus.pending_approval
    return user, actor, case, decision.id


# --- 1. closing waits for the approver ------------------------------------------------------


def test_a_case_cannot_be_closed_while_its_decision_waits(db: Session, settings: Settings) -> None:
    _, actor, case, decision_id = _pending_ban(db, settings)
    _, specialist = staff(db, Role.specialist)
    before = counts(db)
    for who in (actor, specialist):
        with pytest.raises(Conflict) as refused:
            cases.close(db, who, case.id, resolution=Resolution.actioned, note="Done.")
        assert refused.value.code == "decision_pending"
        db.rollback()
    assert counts(db) == before
    # The approver's answer still applies the decision, and that closes the case.
    service.approve(db, specialist, decision_id, settings=settings)
    db.refresh(case)
    assert case.status == CaseStatus.closed and case.resolution == Resolution.actioned


def test_after_a_rejection_the_case_can_be_closed(db: Session, settings: Settings) -> None:
    _, actor, case, decision_id = _pending_ban(db, settings)
    _, specialist = staff(db, Role.specialist)
    service.reject(db, specialist, decision_id, reason="Not enough evidence for a ban.")
    closed = cases.close(db, actor, case.id, resolution=Resolution.no_violation, note="Dropped.")
    assert closed.status == CaseStatus.closed


def test_the_api_refuses_to_close_a_case_whose_decision_waits(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user, _, case, decision_id = _pending_ban(db, settings)
    login_as(client, db, user)
    r = client.post(
        f"/v1/cases/{case.id}/close", json={"resolution": "actioned", "note": "Banned."}
    )
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "decision_pending"
    specialist_user, _ = staff(db, Role.specialist)
    login_as(client, db, specialist_user)
    approved = client.post(f"/v1/decisions/{decision_id}/approve", json={})
    assert approved.status_code == 200 and approved.json()["status"] == "applied"


# --- 2 and 4. a half-filled decision --------------------------------------------------------


def _preview(client: TestClient, case_id: int, data: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/v1/cases/{case_id}/decisions/preview", json=data)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_suspension_without_duration_previews_no_message_and_every_problem(
    client: TestClient, db: Session
) -> None:
    user, _ = staff(db)
    case = held_case(db, user, make_account(db))
    login_as(client, db, user)
    got = _preview(
        client,
        case.id,
        body(
            actions=[{"type": "suspend", "scope": "account"}],
            departure_reason=WHY,
            internal_reasoning="",
            statement=statement(facts="Paid outside."),
        ),
    )
    # Never the reporter's "thank you for your report" for a violation: no message at all.
    assert got["message"] is None
    by_field = {p["field"]: p for p in got["problems"]}
    assert by_field["actions.0.duration_days"]["code"] == "duration_required"
    assert by_field["internal_reasoning"]["code"] == "internal_reasoning_required"
    assert by_field["statement.facts"]["code"] == "invalid_statement"
    assert "at least 30 characters" in by_field["statement.facts"]["message"]
    assert by_field["message"]["code"] == "message_needs_action"
    # Each problem once: the facts are not reported again as the database's field names.
    fields = [p["field"] for p in got["problems"]]
    assert len(fields) == len(set(fields))


def test_an_unknown_policy_previews_no_message(client: TestClient, db: Session) -> None:
    user, _ = staff(db)
    case = held_case(db, user, make_account(db))
    login_as(client, db, user)
    got = _preview(client, case.id, body(policy="no_such_policy", actions=SUSPEND_7))
    assert got["message"] is None
    codes = {p["code"] for p in got["problems"]}
    assert {"unknown_policy", "message_needs_action"} <= codes


def test_the_statement_is_checked_even_when_the_action_is_refused(
    client: TestClient, db: Session
) -> None:
    user, _ = staff(db)
    case = held_case(db, user, make_account(db))
    login_as(client, db, user)
    tomorrow = (clock.now() + timedelta(days=1)).date().isoformat()
    got = _preview(
        client,
        case.id,
        body(
            actions=[
                {"type": "restrict", "scope": "payouts", "duration_days": 3},
                {"type": "suspend", "scope": "account", "duration_days": 7,
                 "ends_at": "2030-01-01T00:00:00Z"},
            ],
            departure_reason=WHY,
            statement=statement(facts="", content_date=tomorrow),
        ),
    )  # fmt: skip
    fields = {p["field"]: p["code"] for p in got["problems"]}
    assert fields["actions.1.ends_at"] == "duration_and_end_date"
    assert fields["statement.facts"] == "missing_field"
    assert fields["statement.content_date"] == "content_date_in_future"


def test_decide_still_refuses_at_the_first_problem_and_writes_nothing(
    db: Session, settings: Settings
) -> None:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    before = counts(db)
    with pytest.raises(InvalidInput) as refused:
        decide(db, actor, case, settings, actions=[{"type": "suspend", "scope": "account"}],
               departure_reason=WHY, internal_reasoning="")  # fmt: skip
    assert refused.value.field == "actions.0.duration_days"
    db.rollback()
    assert counts(db) == before


# --- 3. content dates -------------------------------------------------------------------------


@pytest.mark.parametrize("days", [1, 400])
def test_a_content_date_in_the_future_is_refused(
    client: TestClient, db: Session, settings: Settings, days: int
) -> None:
    user, _ = staff(db)
    case = held_case(db, user, make_account(db))
    login_as(client, db, user)
    before = counts(db)
    later = (clock.now() + timedelta(days=days)).date().isoformat()
    r = client.post(
        f"/v1/cases/{case.id}/decisions",
        json=body(actions=SUSPEND_7, departure_reason=WHY, statement=statement(content_date=later)),
    )
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["field"]) == (
        "content_date_in_future",
        "statement.content_date",
    )
    assert counts(db) == before


def test_a_content_date_of_today_is_taken(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    today = clock.now().date().isoformat()
    decision = decide(db, actor, case, settings, actions=SUSPEND_7, departure_reason=WHY,
                      statement=statement(content_date=today))  # fmt: skip
    (st,) = db.scalars(select(Statement).where(Statement.decision_id == decision.id))
    assert st.fields["content_date"] == today == st.fields["application_date"]


def test_a_content_date_before_2000_is_refused_by_the_databases_rule(
    db: Session, settings: Settings
) -> None:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    with pytest.raises(InvalidInput) as refused:
        decide(db, actor, case, settings, actions=SUSPEND_7, departure_reason=WHY,
               statement=statement(content_date="1999-12-31"))  # fmt: skip
    assert refused.value.field == "statement.content_date"
    assert "2000-01-01" in refused.value.message


# --- 9. where a report comes from; the reference a reinstatement quotes -----------------------


@pytest.mark.parametrize(
    ("case_type", "ground", "expected"),
    [
        (
            CaseType.user_report,
            "DECISION_GROUND_INCOMPATIBLE_CONTENT",
            "SOURCE_TYPE_OTHER_NOTIFICATION",
        ),
        (CaseType.user_report, "DECISION_GROUND_ILLEGAL_CONTENT", "SOURCE_ARTICLE_16"),
        (CaseType.account_review, "DECISION_GROUND_ILLEGAL_CONTENT", "SOURCE_VOLUNTARY"),
    ],
)
def test_source_type_follows_the_report_and_the_policys_ground(
    db: Session, settings: Settings, case_type: CaseType, ground: str, expected: str
) -> None:
    code = "reported"
    extra: dict[str, Any] = {}
    if ground.endswith("ILLEGAL_CONTENT"):
        extra = {"legal_ground": "Fraud under national criminal law.",
                 "illegal_explanation": "The account obtained money by deception."}  # fmt: skip
    make_policy(db, FEES, code=code, dsa_ground=ground, **extra)
    user, actor = staff(db)
    case = held_case(db, user, make_account(db), type=case_type)
    decision = decide(db, actor, case, settings, policy=code, actions=SUSPEND_7,
                      departure_reason=WHY)  # fmt: skip
    (st,) = db.scalars(select(Statement).where(Statement.decision_id == decision.id))
    assert st.fields["source_type"] == expected


def test_the_reinstatement_quotes_the_statements_reference(db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    decision = decide(db, actor, case, settings, actions=SUSPEND_7, departure_reason=WHY)
    (st,) = db.scalars(select(Statement).where(Statement.decision_id == decision.id))
    _, specialist = staff(db, Role.specialist)
    service.reverse_decision(db, specialist, decision.id, "Appeal upheld.", settings=settings)
    sent = list(db.scalars(select(Message).where(Message.decision_id == decision.id)))
    first = [m for m in sent if "suspended" in m.subject]
    back = [m for m in sent if m not in first]
    assert first and back
    assert all(st.reference in m.body for m in first + back)
    assert all(f"C-{case.id}" not in m.body for m in back)


# --- 10. the terms clause in the user's language -------------------------------------------


def test_the_statement_in_the_message_quotes_the_users_language_ground(
    db: Session, settings: Settings
) -> None:
    grounds = {
        "en": "Our terms, section 7: pay through the platform",
        "es": "Nuestros términos, sección 7: paga a través de la plataforma",
        "pt": "Nossos termos, seção 7: pague pela plataforma",
    }
    make_policy(db, FEES, code="fees_localized", user_ground=grounds)
    user, actor = staff(db)
    case = held_case(db, user, make_account(db, locale="es-MX"))
    decision = decide(db, actor, case, settings, policy="fees_localized", actions=SUSPEND_7,
                      departure_reason=WHY)  # fmt: skip
    (st,) = db.scalars(select(Statement).where(Statement.decision_id == decision.id))
    # The DSA field set keeps the clause of the terms as the policy states it.
    assert st.fields["incompatible_content_ground"] == FEES["tos_ground"]
    sent = list(db.scalars(select(Message).where(Message.decision_id == decision.id)))
    assert sent and all(grounds["es"] in m.body for m in sent)
    assert all(FEES["tos_ground"] not in m.body for m in sent)


def test_preview_and_decide_agree_on_the_localized_ground(client: TestClient, db: Session) -> None:
    make_policy(db, FEES, code="fees_pt", user_ground={"en": "E", "es": "S", "pt": "Cláusula P"})
    user, _ = staff(db)
    case = held_case(db, user, make_account(db, locale="pt-BR"))
    login_as(client, db, user)
    got = _preview(client, case.id, body(policy="fees_pt", actions=SUSPEND_7,
                                         departure_reason=WHY))  # fmt: skip
    assert got["problems"] == []
    assert "Cláusula P" in got["message"]["statement_section"]
    assert "SOR-####." in got["message"]["statement_section"]
    assert "…." not in got["message"]["statement_section"]


def test_service_preview_matches(db: Session, settings: Settings) -> None:
    """The same half-filled body through the service: problems, no message."""
    user, actor = staff(db)
    case = held_case(db, user, make_account(db))
    data = DecisionIn(
        **body(actions=[{"type": "suspend", "scope": "account"}], departure_reason=WHY)
    )
    result = service.preview(db, actor, case.id, data, settings=settings)
    assert result.message is None
    assert [p.code for p in result.problems] == ["duration_required", "message_needs_action"]
