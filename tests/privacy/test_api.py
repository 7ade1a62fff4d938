"""The privacy API: legal holds, erasure and access requests, round trips and refusals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import auth_header, login_as, make_api_key, make_staff
from tests.privacy.conftest import SECRET_EMAIL, SECRET_TEXT, Person
from vigil.auth.permissions import Permission, Role
from vigil.auth.principal import Principal
from vigil.cases.models import Case, Tier
from vigil.dsa.order_models import AuthorityOrder, OrderKind
from vigil.kit import clock
from vigil.kit.errors import PermissionDenied
from vigil.privacy import export
from vigil.privacy.export import SECTIONS


def _count(db: Session, sql: str) -> int:
    db.rollback()
    found = int(db.execute(text(sql)).scalar() or 0)
    db.rollback()  # end the read: on SQLite an open transaction would hold up the app's writes
    return found


def test_legal_holds_round_trip(client: TestClient, db: Session, person_factory: Any) -> None:
    person: Person = person_factory()
    login_as(client, db, make_staff(db, role=Role.legal))
    r = client.post(
        "/v1/legal-holds",
        json={
            "account_external_id": person.external_id,
            "reason": "litigation 17",
            "review_at": "2099-01-01T00:00:00Z",
        },
    )
    assert r.status_code == 201, r.text
    hold = r.json()
    assert hold["active"] and hold["account_id"] == person.account_id
    r = client.post("/v1/legal-holds", json={"case_id": person.case_id, "reason": "police"})
    assert r.status_code == 201, r.text
    listed = client.get("/v1/legal-holds", params={"active": True, "limit": 1}).json()
    assert len(listed["items"]) == 1 and listed["next_cursor"]
    rest = client.get("/v1/legal-holds", params={"cursor": listed["next_cursor"]}).json()
    assert [h["id"] for h in rest["items"]] == [hold["id"]]
    r = client.post(f"/v1/legal-holds/{hold['id']}/lift", json={"reason": "settled"})
    assert r.status_code == 200 and r.json()["active"] is False
    r = client.post(f"/v1/legal-holds/{hold['id']}/lift", json={"reason": "again"})
    assert r.status_code == 409 and r.json()["code"] == "hold_lifted"
    assert client.get(f"/v1/legal-holds/{hold['id']}").json()["lift_reason"] == "settled"
    assert (
        _count(db, "SELECT count(*) FROM audit_records WHERE action LIKE 'privacy.legal_hold.%'")
        == 3
    )


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"reason": "x"}, 422, "hold_subject_required", "account_external_id"),
        (
            {"account_external_id": "a", "case_id": 1, "reason": "x"},
            422,
            "hold_subject_required",
            "account_external_id",
        ),
        (
            {"account_external_id": "nobody", "reason": "x"},
            404,
            "account_not_found",
            "account_external_id",
        ),
        ({"case_id": 999999, "reason": "x"}, 404, "case_not_found", "case_id"),
        ({"case_id": 1, "reason": "   "}, 422, "reason_required", "reason"),
        (
            {"case_id": 1, "reason": "x", "review_at": "2001-01-01T00:00:00Z"},
            422,
            "invalid_review_at",
            "review_at",
        ),
    ],
)
def test_bad_holds_are_refused_and_write_nothing(
    client: TestClient,
    db: Session,
    person_factory: Any,
    body: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    person: Person = person_factory()
    assert person.case_id == 1
    login_as(client, db, make_staff(db, role=Role.legal))
    r = client.post("/v1/legal-holds", json=body)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["field"] == field
    assert _count(db, "SELECT count(*) FROM legal_holds") == 0
    assert _count(db, "SELECT count(*) FROM audit_records WHERE action LIKE 'privacy.%'") == 0


def test_roles_without_the_permission_are_refused(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.agent))
    assert client.get("/v1/legal-holds").status_code == 403
    assert (
        client.post("/v1/privacy/access-requests", json={"account_external_id": "x"}).status_code
        == 403
    )


def test_erasure_request_from_the_marketplace_then_carried_out_by_legal(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    person: Person = person_factory()
    _, secret = make_api_key(db, scopes=["privacy:requests"])
    legal = make_staff(db, role=Role.legal)
    db.commit()
    key = auth_header(secret)
    r = client.post(
        "/v1/privacy/erasure-requests",
        json={"account_external_id": person.external_id, "reference": "TICKET-9"},
        headers=key,
    )
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    again = client.post(
        "/v1/privacy/erasure-requests",
        json={"account_external_id": person.external_id},
        headers=key,
    )
    assert again.status_code == 200 and again.json()["id"] == request_id
    r = client.post(f"/v1/privacy/erasure-requests/{request_id}/complete", headers=key)
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    login_as(client, db, legal)
    listed = client.get("/v1/privacy/erasure-requests", params={"status": "received"}).json()
    assert [i["id"] for i in listed["items"]] == [request_id]
    r = client.post(f"/v1/privacy/erasure-requests/{request_id}/complete")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed" and body["handled_by"] == legal.name
    assert {k["data"] for k in body["result"]["kept"]} >= {"decisions", "statements_of_reasons"}
    assert _count(db, f"SELECT count(*) FROM accounts WHERE email = '{SECRET_EMAIL}'") == 0
    r = client.post(f"/v1/privacy/erasure-requests/{request_id}/refuse", json={"reason": "late"})
    assert r.status_code == 409 and r.json()["code"] == "erasure_request_closed"
    r = client.post("/v1/privacy/erasure-requests", json={"account_external_id": "nobody"})
    assert r.status_code == 404 and r.json()["field"] == "account_external_id"
    assert client.get("/v1/privacy/erasure-requests/999").status_code == 404
    assert (
        client.get("/v1/privacy/erasure-requests", params={"cursor": "@@"}).json()["code"]
        == "invalid_cursor"
    )


def test_access_request_returns_every_section_and_is_audited(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    person: Person = person_factory()
    _, secret = make_api_key(db, scopes=["privacy:requests"])
    db.commit()
    r = client.post(
        "/v1/privacy/access-requests",
        json={"account_external_id": person.external_id},
        headers=auth_header(secret),
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert set(doc["sections"]) == set(SECTIONS)
    s = doc["sections"]
    assert s["account"]["email"] == SECRET_EMAIL
    # Events include the one sent before the account existed (matched by external id).
    assert len(s["identifiers"]) == 3 and len(s["events"]) == 4 and len(s["messages"]) == 3
    assert person.extra["pre_signup_event_id"] and any(
        e["as_sent"]["account_id"] == person.external_id and e["type"] == "message_sent"
        for e in s["events"]
    )
    (decision,) = s["decisions"]
    assert decision["id"] == person.decision_id and decision["automated"] is True
    assert "internal_reasoning" not in decision
    # What was sent to the marketplace about the person, and the texts quoted in clusters.
    assert len(s["webhook_deliveries"]) == 3
    assert [x["text"] for x in s["text_cluster_examples"]] == [SECRET_TEXT]
    (ver,) = s["identity_verifications"]
    assert ver["read_from_document"]["document_number"] and len(ver["images"]) == 2
    assert "checks" not in ver and "document_fingerprint" not in ver
    assert len(s["statements_of_reasons"]) == 1 and len(s["strikes"]) == 1
    assert len(s["restrictions"]) == 1 and len(s["cases"]) == 2
    # Fraud signals and other people's reports are withheld, and the document says so.
    assert all("hits" not in e and "features" not in e for e in s["events"])
    assert "scammed" not in r.text
    assert {w["data"] for w in doc["withheld"]} >= {
        "fraud_signals",
        "reports_and_messages_by_others",
        "matters_under_authority_confidentiality",
    }
    assert (
        _count(
            db, "SELECT count(*) FROM audit_records WHERE action = 'privacy.access_request.export'"
        )
        == 1
    )
    r = client.post(
        "/v1/privacy/access-requests",
        json={"account_external_id": "nobody"},
        headers=auth_header(secret),
    )
    assert r.status_code == 404 and r.json()["code"] == "account_not_found"
    r = client.post(
        "/v1/privacy/access-requests", json={"account_external_id": ""}, headers=auth_header(secret)
    )
    assert r.status_code == 422


def test_access_request_by_api_key_withholds_legal_matters(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    """Legal-tier cases and cases named by an authority order (with their events, messages,
    decisions and statements) never go out through the API; the withheld entry is there
    whether or not such a matter exists, so it reveals nothing."""
    person: Person = person_factory()
    plain: Person = person_factory()
    case = db.get(Case, person.case_id)
    assert case is not None
    case.tier = Tier.legal
    db.add(
        AuthorityOrder(
            kind=OrderKind.provide_information,
            category="fraud",
            authority="Juzgado 3 Valencia",
            member_state="ES",
            legal_reference="DP 17/2026",
            account_id=person.account_id,
            case_id=person.other_case_id,
            summary="confidential police inquiry",
            received_at=clock.now(),
        )
    )
    _, secret = make_api_key(db, scopes=["privacy:requests"])
    db.commit()
    r = client.post(
        "/v1/privacy/access-requests",
        json={"account_external_id": person.external_id},
        headers=auth_header(secret),
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    s = doc["sections"]
    assert s["cases"] == [] and s["decisions"] == [] and s["statements_of_reasons"] == []
    assert "authority_orders" not in s and "Juzgado" not in r.text
    assert "confidential police" not in r.text
    # The events and messages on those cases are withheld too; the rest is there.
    assert {m["sent_to"] for m in s["messages"]} == {None}  # the in-app message only
    assert len(s["events"]) == 3
    withheld = {w["data"] for w in doc["withheld"]}
    assert "matters_under_authority_confidentiality" in withheld
    r = client.post(
        "/v1/privacy/access-requests",
        json={"account_external_id": plain.external_id},
        headers=auth_header(secret),
    )
    assert "matters_under_authority_confidentiality" in {w["data"] for w in r.json()["withheld"]}
    # Legal may release them (the CLI's --include-legal-matters); an API key may not.
    legal_user = make_staff(db, role=Role.legal)
    legal = Principal.staff(legal_user.id, legal_user.email, legal_user.role)
    released = export.export_person(db, legal, person.external_id, include_legal_matters=True)
    assert len(released["sections"]["cases"]) == 2
    assert [o["summary"] for o in released["sections"]["authority_orders"]] == [
        "confidential police inquiry"
    ]
    key = Principal.api_key(1, "market", frozenset({Permission.privacy_requests}))
    with pytest.raises(PermissionDenied):
        export.export_person(db, key, person.external_id, include_legal_matters=True)
