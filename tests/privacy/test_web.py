"""The console: the erasure request page for legal and the hold panel on case pages."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from tests.privacy.conftest import Person
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.privacy import service


def _scalar(db: Session, sql: str) -> Any:
    db.rollback()
    found = db.execute(text(sql)).scalar()
    db.rollback()
    return found


def test_legal_places_and_lifts_a_hold_from_the_case_page(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    person: Person = person_factory()
    agent = make_staff(db, role=Role.agent)
    legal = make_staff(db, role=Role.legal)
    db.commit()
    login_as(client, db, agent)
    assert "Legal holds" not in client.get(f"/privacy/holds-panel?case_id={person.case_id}").text
    csrf = login_as(client, db, legal)
    panel = client.get(f"/privacy/holds-panel?case_id={person.case_id}")
    assert panel.status_code == 200 and "No legal hold." in panel.text
    r = client.post(
        "/privacy/holds",
        data={
            "csrf_token": csrf,
            "case_id": person.case_id,
            "reason": "",
            "back": f"/cases/{person.case_id}",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and "hold_error=" in r.headers["location"]
    assert _scalar(db, "SELECT count(*) FROM legal_holds") == 0
    r = client.post(
        "/privacy/holds",
        data={
            "csrf_token": csrf,
            "case_id": person.case_id,
            "reason": "subpoena 4",
            "back": f"/cases/{person.case_id}",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith(f"/cases/{person.case_id}?")
    panel = client.get(f"/privacy/holds-panel?case_id={person.case_id}")
    assert "subpoena 4" in panel.text
    hold_id = _scalar(db, "SELECT id FROM legal_holds")
    r = client.post(
        f"/privacy/holds/{hold_id}/lift",
        data={"csrf_token": csrf, "reason": "closed", "back": "https://evil.example/"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/privacy?")
    assert _scalar(db, "SELECT lift_reason FROM legal_holds") == "closed"
    # Without the CSRF token nothing happens.
    client.headers.pop("X-CSRF-Token", None)
    r = client.post("/privacy/holds", data={"case_id": person.case_id, "reason": "x"})
    assert r.status_code == 403
    assert _scalar(db, "SELECT count(*) FROM legal_holds") == 1


def test_legal_carries_out_an_erasure_request_in_the_console(
    client: TestClient, db: Session, person_factory: Any
) -> None:
    person: Person = person_factory()
    legal = make_staff(db, role=Role.legal)
    request, _ = service.receive_erasure_request(
        db, Principal.system("market"), account_external_id=person.external_id
    )
    db.commit()
    csrf = login_as(client, db, legal)
    home = client.get("/privacy")
    assert home.status_code == 200 and person.external_id in home.text
    detail = client.get(f"/privacy/erasure-requests/{request.id}")
    assert "Carry out" in detail.text
    r = client.post(
        f"/privacy/erasure-requests/{request.id}/complete",
        data={"csrf_token": csrf, "confirm": "yes"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "Statements of reasons" in r.text and "completed" in r.text
    assert (
        _scalar(db, f"SELECT status FROM erasure_requests WHERE id = {request.id}") == "completed"
    )
    agent = make_staff(db, role=Role.agent)
    db.commit()
    login_as(client, db, agent)
    assert client.get("/privacy").status_code == 403
