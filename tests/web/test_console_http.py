"""Console behaviour that needs no browser: redirects, CSRF, reveal only by POST."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import login_as, logout, make_staff
from tests.web.conftest import seed_case
from vigil.audit.models import AuditRecord
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.cases.models import CaseNote


def _reveals(db: Session) -> int:
    db.expire_all()
    count = db.scalar(select(func.count()).where(AuditRecord.action == "accounts.account.reveal"))
    # End the read at once: on SQLite an open transaction holds the write lock the app needs.
    db.rollback()
    return int(count or 0)


def test_pages_redirect_to_login_and_back(client: TestClient, db: Session) -> None:
    response = client.get("/my-cases", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/my-cases"


def test_login_refuses_to_redirect_off_site(client: TestClient, db: Session) -> None:
    email, _ = seed_case(db)
    response = client.post(
        "/login",
        data={"email": email, "password": "correct horse battery", "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_console_posts_need_the_csrf_token(client: TestClient, db: Session) -> None:
    email, case_id = seed_case(db)
    user = db.scalar(select(StaffUser).where(StaffUser.email == email))
    assert user is not None
    csrf = login_as(client, db, user)
    client.headers.pop("X-CSRF-Token", None)
    refused = client.post("/cases/next", data={}, follow_redirects=False)
    assert refused.status_code == 403
    taken = client.post("/cases/next", data={"csrf_token": csrf}, follow_redirects=False)
    assert taken.status_code == 303
    assert taken.headers["location"] == f"/cases/{case_id}"


def test_a_link_cannot_reveal_personal_data(client: TestClient, db: Session) -> None:
    email, case_id = seed_case(db)
    user = db.scalar(select(StaffUser).where(StaffUser.email == email))
    assert user is not None
    csrf = login_as(client, db, user)
    page = client.get(f"/cases/{case_id}?reveal=true&reason=clicked+a+link")
    assert page.status_code == 200
    assert "maria@example.com" not in page.text
    assert _reveals(db) == 0

    no_reason = client.post(f"/cases/{case_id}/reveal", data={"csrf_token": csrf, "reason": ""})
    assert no_reason.status_code == 422
    assert "maria@example.com" not in no_reason.text
    assert _reveals(db) == 0

    shown = client.post(
        f"/cases/{case_id}/reveal", data={"csrf_token": csrf, "reason": "payment check"}
    )
    assert shown.status_code == 200
    assert "maria@example.com" in shown.text
    assert _reveals(db) == 1


def test_an_id_past_64_bits_is_not_a_server_error(client: TestClient, db: Session) -> None:
    email, _ = seed_case(db)
    user = db.scalar(select(StaffUser).where(StaffUser.email == email))
    assert user is not None
    login_as(client, db, user)
    page = client.get(f"/cases/{2**64}", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert "There is nothing at this address" in page.text


def test_console_errors_are_pages_not_json(client: TestClient, db: Session) -> None:
    email, _ = seed_case(db)
    user = db.scalar(select(StaffUser).where(StaffUser.email == email))
    assert user is not None
    login_as(client, db, user)
    html = {"accept": "text/html,application/xhtml+xml"}
    missing = client.get("/cases/999999", headers=html)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Not found" in missing.text
    nowhere = client.get("/no/such/page", headers=html)
    assert nowhere.status_code == 404
    assert "Back to the home page" in nowhere.text
    api = client.get("/v1/cases/999999", headers=html)
    assert api.headers["content-type"].startswith("application/json")


def test_an_expired_session_sends_htmx_to_the_login_page(client: TestClient, db: Session) -> None:
    _, case_id = seed_case(db)
    response = client.post(
        f"/cases/{case_id}/notes", data={"body": "x"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 401
    assert response.headers["hx-redirect"].startswith("/login?next=")


def _notes(db: Session) -> int:
    db.expire_all()
    count = db.scalar(select(func.count()).select_from(CaseNote))
    db.rollback()
    return int(count or 0)


def test_a_refused_note_is_shown_in_the_note_form_with_its_own_status(
    client: TestClient, db: Session
) -> None:
    """htmx: the refusal goes into the note form itself (HX-Retarget: this), not over the
    case history, with the service's status; nothing is written."""
    email, case_id = seed_case(db)
    user = db.scalar(select(StaffUser).where(StaffUser.email == email))
    assert user is not None
    csrf = login_as(client, db, user)
    htmx = {"HX-Request": "true"}
    assert client.post("/cases/next", data={"csrf_token": csrf}).status_code == 200

    blank = client.post(
        f"/cases/{case_id}/notes", data={"csrf_token": csrf, "body": "   "}, headers=htmx
    )
    assert blank.status_code == 422
    assert blank.headers["hx-retarget"] == "this"
    assert blank.headers["hx-reswap"] == "afterbegin"
    assert 'role="alert" data-form-error>body is required</p>' in blank.text
    assert 'id="timeline' not in blank.text
    assert _notes(db) == 0

    written = client.post(
        f"/cases/{case_id}/notes", data={"csrf_token": csrf, "body": "Seen."}, headers=htmx
    )
    assert written.status_code == 200 and "Seen." in written.text
    assert "hx-retarget" not in written.headers
    assert _notes(db) == 1

    # Someone who may read the case but not work it: refused with 403, not a forced 422.
    logout(client)
    qa = make_staff(db, role=Role.qa, name="Quinn QA")
    db.commit()
    csrf = login_as(client, db, qa)
    refused = client.post(
        f"/cases/{case_id}/notes", data={"csrf_token": csrf, "body": "Looks fine."}, headers=htmx
    )
    assert refused.status_code == 403
    assert refused.headers["hx-retarget"] == "this"
    assert "data-form-error" in refused.text
    assert _notes(db) == 1
