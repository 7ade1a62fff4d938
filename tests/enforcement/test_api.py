"""The decision panel's preview, and reading decisions back with what followed from them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.enforcement.conftest import (
    SUSPEND_7,
    body,
    counts,
    decide,
    held_case,
    make_account,
    staff,
    statement,
)
from tests.factories import auth_header, login_as, make_api_key
from vigil.auth.permissions import Role, Tier
from vigil.config import Settings
from vigil.enforcement import service
from vigil.integrations.models import DeliveryStatus, WebhookDelivery

pytestmark = pytest.mark.usefixtures("fees")

WHY = "Second request for payment outside the platform this week."


def test_preview_renders_in_the_users_language_and_writes_nothing(
    client: TestClient, db: Session
) -> None:
    user, _ = staff(db)
    case = held_case(db, user, make_account(db, locale="pt-BR"))
    login_as(client, db, user)
    before = counts(db)
    r = client.post(
        f"/v1/cases/{case.id}/decisions/preview",
        json=body(actions=SUSPEND_7, departure_reason=WHY),
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert counts(db) == before
    assert got["problems"] == [] and got["statement_violations"] == []
    assert got["suggestion"]["action"] == "warn" and got["departs"] is True
    assert got["four_eyes"] is False
    message = got["message"]
    assert message["locale"] == "pt" and message["channels"] == ["email", "in_app"]
    assert "28 de novembro de 2026" in message["body"]
    assert message["statement_section"]  # the statement of reasons and how to appeal
    fields = got["statement_fields"]
    assert fields["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert fields["end_date_account_restriction"] == "2026-11-28"


def test_preview_lists_every_problem_instead_of_refusing(client: TestClient, db: Session) -> None:
    user, _ = staff(db)
    case = held_case(db, user, make_account(db))
    login_as(client, db, user)
    draft = body(
        actions=[{"type": "ban", "scope": "account"}],
        statement=statement(facts="Too short."),
        internal_reasoning="",
    )
    r = client.post(f"/v1/cases/{case.id}/decisions/preview", json=draft)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["four_eyes"] is True and got["four_eyes_actions"] == ["ban"]
    assert {p["field"] for p in got["problems"]} == {
        "departure_reason",
        "internal_reasoning",
        "statement.facts",
    }
    assert got["statement_violations"][0]["field"] == "statement.facts"
    assert got["statement_fields"]["decision_account"] == "DECISION_ACCOUNT_TERMINATED"


def test_a_decision_shows_its_webhooks_messages_and_statement(
    client: TestClient, db: Session, settings: Settings, webhook: int
) -> None:
    user, actor = staff(db)
    account = make_account(db)
    case = held_case(db, user, account)
    decision = decide(db, actor, case, settings, actions=SUSPEND_7, departure_reason=WHY)
    login_as(client, db, user)

    got = client.get(f"/v1/decisions/{decision.id}").json()
    assert got["status"] == "applied" and got["account_external_id"] == account.external_id
    assert got["policies"] == [
        {"policy": "fee_circumvention", "version": 1, "title": "Fee circumvention"}
    ]
    (action,) = got["actions"]
    assert [d["event_type"] for d in action["deliveries"]] == ["action.applied"]
    assert got["delivery_status"] == "pending"  # no worker has run
    assert sorted(m["channel"] for m in got["messages"]) == ["email", "in_app"]
    assert len(got["statement_ids"]) == 1 and got["statement_puids"][0].startswith("vgl-")
    assert got["internal_reasoning"].startswith("Bank details")

    # A webhook that gave up shows on the decision.
    delivery = db.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event_type == "action.applied")
    ).one()
    delivery.status = DeliveryStatus.failed
    db.commit()
    assert client.get(f"/v1/decisions/{decision.id}").json()["delivery_status"] == "failed"
    delivery.status = DeliveryStatus.delivered
    db.commit()
    assert client.get(f"/v1/decisions/{decision.id}").json()["delivery_status"] == "delivered"

    listed = client.get(f"/v1/cases/{case.id}/decisions").json()
    assert [d["id"] for d in listed] == [decision.id]
    by_account = client.get("/v1/decisions", params={"account": account.external_id}).json()
    assert [d["id"] for d in by_account["items"]] == [decision.id]
    nobody = client.get("/v1/decisions", params={"account": "acct-unknown"}).json()
    assert nobody["items"] == []


STAFF_ONLY = (
    "decided_by",
    "decided_by_id",
    "approved_by_id",
    "rejected_by_id",
    "reversed_by_id",
    "internal_reasoning",
    "departure_reason",
    "suggestion",
)


def test_the_marketplace_reads_decisions_without_staff_names_or_reasoning(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user, actor = staff(db)
    _, approver = staff(db, Role.specialist)
    case = held_case(db, user, make_account(db))
    decision = decide(
        db,
        actor,
        case,
        settings,
        actions=[{"type": "ban", "scope": "account"}],
        departure_reason=WHY,
    )
    service.approve(db, approver, decision.id, reason="Checked the chat.", settings=settings)
    _, secret = make_api_key(db)
    db.commit()
    key = auth_header(secret)
    got = client.get(f"/v1/decisions/{decision.id}", headers=key).json()
    assert got["status"] == "applied" and got["action"] == "ban"
    # Null, not an empty string and not a person's name, whichever endpoint reads it.
    for name in STAFF_ONLY:
        assert got[name] is None, name
    (approval,) = got["approvals"]
    assert approval["outcome"] == "approved" and approval["decided_at"] is not None
    assert approval["requested_by_id"] is None and approval["decided_by_id"] is None
    assert approval["reason"] is None
    listed = client.get("/v1/decisions", headers=key).json()["items"]
    on_case = client.get(f"/v1/cases/{case.id}/decisions", headers=key).json()
    for row in (*listed, *on_case):
        assert all(row[name] is None for name in STAFF_ONLY)
    # Staff still read all of it.
    login_as(client, db, user)
    mine = client.get(f"/v1/decisions/{decision.id}").json()
    assert mine["decided_by"] == user.name and mine["approved_by_id"] is not None
    assert mine["internal_reasoning"] and mine["approvals"][0]["reason"] == "Checked the chat."


def test_decisions_on_legal_cases_are_hidden_from_other_tiers(
    client: TestClient, db: Session, settings: Settings
) -> None:
    legal_user, legal = staff(db, Role.legal)
    account = make_account(db)
    case = held_case(db, legal_user, account, tier=Tier.legal)
    decision = decide(db, legal, case, settings)
    specialist_user, _ = staff(db, Role.specialist)
    login_as(client, db, specialist_user)
    assert client.get(f"/v1/decisions/{decision.id}").status_code == 404
    assert client.get("/v1/decisions").json()["items"] == []
    strikes = client.get(f"/v1/accounts/{account.external_id}/strikes").json()
    assert strikes["items"] == [] and strikes["active_weight"] == 1


def test_decision_lists_page_by_keyset(client: TestClient, db: Session, settings: Settings) -> None:
    user, actor = staff(db)
    account = make_account(db)
    made = [
        decide(
            db, actor, held_case(db, user, account), settings,
            actions=[{"type": "warn", "scope": "account"}], departure_reason=WHY,
        ).id
        for _ in range(3)
    ]  # fmt: skip
    login_as(client, db, user)
    first = client.get("/v1/decisions", params={"limit": 2}).json()
    second = client.get("/v1/decisions", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    seen = [d["id"] for d in first["items"] + second["items"]]
    assert seen == sorted(made, reverse=True) and second["next_cursor"] is None
