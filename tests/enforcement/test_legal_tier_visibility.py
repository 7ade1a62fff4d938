"""What quotes a legal-tier case exists only for those who hold ``cases:legal``, like the
case itself: the webhook deliveries about it (a message to the user, a reversal's reason) and
the statements of reasons of its decisions (their facts)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import SUSPEND_7, decide, held_case, make_account, staff
from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.auth.permissions import Role, Tier
from vigil.config import Settings
from vigil.dsa.models import Statement
from vigil.enforcement import service
from vigil.enforcement.models import Decision
from vigil.integrations import service as integrations
from vigil.integrations.models import WebhookDelivery
from vigil.kit.errors import NotFound

pytestmark = pytest.mark.usefixtures("fees", "webhook")

REVERSAL = "Overturned on appeal: the legal team confirmed the court order was withdrawn."


def _decided_cases(db: Session, settings: Settings) -> tuple[int, int]:
    """A suspension with an in-app message on a legal-tier case (then reversed, which sends
    a reinstatement message too) and on a Tier 1 case; returns the two case ids."""
    lawyer, lawyer_actor = staff(db, Role.legal)
    legal_case = held_case(db, lawyer, make_account(db), tier=Tier.legal)
    legal = decide(db, lawyer_actor, legal_case, settings, actions=SUSPEND_7,
                   departure_reason="A court order names this account.",
                   message={"channels": ["in_app"]})  # fmt: skip
    service.reverse_decision(db, lawyer_actor, legal.id, REVERSAL, settings=settings)
    agent, agent_actor = staff(db)
    plain_case = held_case(db, agent, make_account(db))
    decide(db, agent_actor, plain_case, settings, actions=SUSPEND_7,
           departure_reason="Fourth payment request.",
           message={"channels": ["in_app"]})  # fmt: skip
    db.commit()
    return legal_case.id, plain_case.id


def test_deliveries_record_the_case_they_are_about(db: Session, settings: Settings) -> None:
    legal_id, plain_id = _decided_cases(db, settings)
    rows = list(db.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    by_case = {(d.case_id, d.event_type) for d in rows}
    assert by_case == {
        (legal_id, "action.applied"),
        (legal_id, "message.in_app"),
        (legal_id, "action.reversed"),
        (plain_id, "action.applied"),
        (plain_id, "message.in_app"),
    }


@pytest.mark.parametrize("role", [Role.specialist, Role.policy_lead])
def test_without_cases_legal_the_log_hides_legal_tier_deliveries(
    client: TestClient, db: Session, settings: Settings, role: Role
) -> None:
    legal_id, plain_id = _decided_cases(db, settings)
    hidden = list(db.scalars(select(WebhookDelivery.id).where(WebhookDelivery.case_id == legal_id)))
    visible = db.scalar(select(WebhookDelivery.id).where(WebhookDelivery.case_id == plain_id))
    assert hidden and visible
    login_as(client, db, make_staff(db, role=role))  # commits: the app needs the lock

    listed = client.get("/v1/deliveries")
    assert listed.status_code == 200, listed.text
    seen = {d["id"] for d in listed.json()["items"]}
    assert visible in seen and not seen & set(hidden)
    assert REVERSAL not in listed.text
    for delivery_id in hidden:
        one = client.get(f"/v1/deliveries/{delivery_id}")
        assert one.status_code == 404 and one.json()["code"] == "delivery_not_found"
    # Filters do not reveal them either.
    applied = client.get("/v1/deliveries", params={"event_type": "action.reversed"})
    assert applied.json()["items"] == []
    assert client.get(f"/v1/deliveries/{visible}").status_code == 200


def test_with_cases_legal_every_delivery_is_in_the_log(
    client: TestClient, db: Session, settings: Settings
) -> None:
    legal_id, _ = _decided_cases(db, settings)
    reversed_id = db.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.case_id == legal_id, WebhookDelivery.event_type == "action.reversed"
        )
    )
    every = set(db.scalars(select(WebhookDelivery.id)))
    login_as(client, db, make_staff(db, role=Role.legal))  # commits: the app needs the lock
    listed = client.get("/v1/deliveries")
    assert listed.status_code == 200
    assert {d["id"] for d in listed.json()["items"]} == every
    one = client.get(f"/v1/deliveries/{reversed_id}")
    assert one.status_code == 200 and REVERSAL in one.text


def test_the_service_answers_not_found_for_a_hidden_delivery(
    db: Session, settings: Settings
) -> None:
    legal_id, _ = _decided_cases(db, settings)
    _, specialist = staff(db, Role.specialist)
    delivery_id = db.scalar(
        select(WebhookDelivery.id).where(WebhookDelivery.case_id == legal_id).limit(1)
    )
    assert delivery_id is not None
    with pytest.raises(NotFound):
        integrations.get_delivery(db, specialist, delivery_id)
    _, lawyer = staff(db, Role.legal)
    assert integrations.get_delivery(db, lawyer, delivery_id).delivery.case_id == legal_id


# --- statements of reasons --------------------------------------------------------------------


def _statements(db: Session, settings: Settings) -> tuple[list[Statement], list[Statement]]:
    legal_id, plain_id = _decided_cases(db, settings)
    by_case: dict[int, list[Statement]] = {legal_id: [], plain_id: []}
    for statement, case_id in db.execute(
        select(Statement, Decision.case_id).join(Decision, Decision.id == Statement.decision_id)
    ):
        by_case[case_id].append(statement)
    db.commit()
    return by_case[legal_id], by_case[plain_id]


@pytest.mark.parametrize("role", [Role.specialist, Role.policy_lead, Role.qa, Role.agent])
def test_without_cases_legal_statements_of_legal_cases_are_hidden(
    client: TestClient, db: Session, settings: Settings, role: Role
) -> None:
    [legal], [plain] = _statements(db, settings)
    login_as(client, db, make_staff(db, role=role))

    listed = client.get("/v1/statements")
    assert listed.status_code == 200, listed.text
    assert [s["id"] for s in listed.json()["items"]] == [plain.id]
    one = client.get(f"/v1/statements/{legal.id}")
    assert one.status_code == 404 and one.json()["code"] == "statement_not_found"
    of_decision = client.get(f"/v1/decisions/{legal.decision_id}/statements")
    assert of_decision.status_code == 200 and of_decision.json() == []
    assert client.get(f"/v1/statements/{plain.id}").status_code == 200
    assert [
        s["id"] for s in client.get(f"/v1/decisions/{plain.decision_id}/statements").json()
    ] == [plain.id]


def test_an_api_key_with_statements_read_does_not_see_legal_cases_either(
    client: TestClient, db: Session, settings: Settings
) -> None:
    [legal], [plain] = _statements(db, settings)
    _, secret = make_api_key(db, scopes=["statements:read"])
    db.commit()
    listed = client.get("/v1/statements", headers=auth_header(secret))
    assert [s["id"] for s in listed.json()["items"]] == [plain.id]
    assert client.get(f"/v1/statements/{legal.id}", headers=auth_header(secret)).status_code == 404


def test_with_cases_legal_every_statement_is_readable(
    client: TestClient, db: Session, settings: Settings
) -> None:
    [legal], [plain] = _statements(db, settings)
    login_as(client, db, make_staff(db, role=Role.legal))
    listed = client.get("/v1/statements")
    assert {s["id"] for s in listed.json()["items"]} == {legal.id, plain.id}
    one = client.get(f"/v1/statements/{legal.id}")
    assert one.status_code == 200 and one.json()["puid"] == legal.puid
    assert [
        s["id"] for s in client.get(f"/v1/decisions/{legal.decision_id}/statements").json()
    ] == [legal.id]
