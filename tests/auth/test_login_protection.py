"""Login throttling per address and per email, account lockout kept in the database, and the
ways an admin ends a lockout (API, console staff page, CLI)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import DEFAULT_PASSWORD, login_as, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Role
from vigil.cli import app as cli_app
from vigil.config import Settings
from vigil.kit import clock

LOCKED_TEXT = "too many failed attempts for this email"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.lockout_threshold = 3
    settings.lockout_minutes = 15
    settings.login_email_limit = 3
    settings.login_ip_limit = 50
    return settings


def _login(client: TestClient, email: str, password: str) -> tuple[int, str]:
    client.cookies.clear()
    response = client.post(
        "/login", data={"email": email, "password": password}, follow_redirects=False
    )
    return response.status_code, response.text


def _actions(db: Session, staff_id: int) -> list[str]:
    db.expire_all()
    found = list(
        db.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_id == str(staff_id))
            .order_by(AuditRecord.id)
        )
    )
    db.rollback()  # on SQLite a transaction holds the write lock the app needs
    return found


def _state(db: Session, staff_id: int) -> tuple[int, object]:
    db.expire_all()
    row = db.get(StaffUser, staff_id)
    assert row is not None
    found = (row.failed_logins, row.locked_until)
    db.rollback()
    return found


def test_consecutive_failures_lock_the_account_until_the_time_is_up(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    user = make_staff(db, role=Role.agent, email="ana@staff.example")
    db.commit()
    for _ in range(3):
        status, text = _login(client, "ana@staff.example", "wrong password here")
        assert status == 401 and "email or password is wrong" in text
    # Locked: even the right password is refused, and says how to get back in.
    status, text = _login(client, "ana@staff.example", DEFAULT_PASSWORD)
    assert status == 429 and LOCKED_TEXT in text and "ask an admin" in text
    assert _state(db, user.id) == (3, clock.now() + timedelta(minutes=15))
    assert _actions(db, user.id) == ["auth.session.login_failed"] * 3 + ["auth.staff.locked"]
    # The lock is in the database: another process (a fresh app) sees it too.
    # Past the lock and past the email's attempt window (15 min, sliding: up to 30 min).
    frozen.advance(timedelta(minutes=31))
    status, _ = _login(client, "ana@staff.example", DEFAULT_PASSWORD)
    assert status == 303
    assert _state(db, user.id) == (0, None)


def test_an_unknown_email_gets_the_same_answers(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    """Whether an email belongs to a staff member cannot be told from the answers."""
    make_staff(db, email="real@staff.example")
    db.commit()
    answers = {}
    for email in ("real@staff.example", "ghost@staff.example"):
        got = [_login(client, email, "wrong password here") for _ in range(4)]
        answers[email] = [(status, LOCKED_TEXT in text) for status, text in got]
    assert answers["real@staff.example"] == answers["ghost@staff.example"]
    assert answers["ghost@staff.example"] == [(401, False)] * 3 + [(429, True)]


def test_an_unknown_email_locks_like_an_account_across_windows(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    """R1 #1: failures spread over two throttle windows lock a real account (the count has no
    window); an unknown email must lock the same way, or the lock tells which emails exist."""
    make_staff(db, email="real@staff.example")
    db.commit()
    answers: dict[str, list[tuple[int, bool]]] = {}
    for email in ("real@staff.example", "ghost@staff.example"):
        got = [_login(client, email, "wrong password here") for _ in range(2)]
        frozen.advance(timedelta(minutes=31))
        got += [_login(client, email, "wrong password here") for _ in range(2)]
        answers[email] = [(status, LOCKED_TEXT in text) for status, text in got]
    assert answers["real@staff.example"] == answers["ghost@staff.example"]
    assert answers["ghost@staff.example"] == [(401, False)] * 3 + [(429, True)]
    # Past the lock, both answer 401 again (the lock runs out the same way).
    frozen.advance(timedelta(minutes=31))
    assert _login(client, "ghost@staff.example", "wrong password here")[0] == 401
    assert _login(client, "real@staff.example", "wrong password here")[0] == 401


def test_success_clears_the_count(client: TestClient, db: Session) -> None:
    user = make_staff(db, email="bo@staff.example")
    db.commit()
    for _ in range(2):
        _login(client, "bo@staff.example", "wrong password here")
    assert _login(client, "bo@staff.example", DEFAULT_PASSWORD)[0] == 303
    # Two more failures do not lock: the count started again, and so did the email limit.
    for _ in range(2):
        assert _login(client, "bo@staff.example", "wrong password here")[0] == 401
    assert _login(client, "bo@staff.example", DEFAULT_PASSWORD)[0] == 303
    assert _state(db, user.id)[0] == 0


def test_attempts_are_throttled_per_address(
    settings: Settings, client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    settings.login_ip_limit = 4
    codes = [_login(client, f"p{i}@staff.example", "whatever it is")[0] for i in range(5)]
    assert codes == [401, 401, 401, 401, 429]


def _lock(client: TestClient, email: str) -> None:
    for _ in range(3):
        _login(client, email, "wrong password here")


def test_admin_unlocks_through_the_api(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    admin = make_staff(db, role=Role.admin)
    user = make_staff(db, email="cy@staff.example")
    user_id = user.id
    db.commit()
    _lock(client, "cy@staff.example")
    login_as(client, db, admin)
    listed = client.get(f"/v1/staff/{user.id}").json()
    assert listed["failed_logins"] == 3 and listed["locked_until"] is not None
    agent = make_staff(db, role=Role.agent)
    db.commit()
    response = client.post(f"/v1/staff/{user.id}/unlock", json={"reason": "called the desk"})
    assert response.status_code == 200, response.text
    assert response.json()["locked_until"] is None
    assert _actions(db, user.id)[-1] == "auth.staff.unlock"
    record = db.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(1)).one()
    assert record.reason == "called the desk" and record.actor_id == str(admin.id)
    db.rollback()
    assert _login(client, "cy@staff.example", DEFAULT_PASSWORD)[0] == 303
    # An agent may not unlock.
    client.cookies.clear()
    login_as(client, db, agent)
    refused = client.post(f"/v1/staff/{user_id}/unlock", json={})
    assert refused.status_code == 403


def test_admin_unlocks_from_the_console_staff_page(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    admin = make_staff(db, role=Role.admin)
    user = make_staff(db, email="di@staff.example")
    db.commit()
    user_id = user.id  # read now: a lazy load later would hold SQLite's write lock
    _lock(client, "di@staff.example")
    csrf = login_as(client, db, admin)
    staff_page = client.get("/staff")
    assert staff_page.status_code == 200
    assert f'data-staff-id="{user.id}"' in staff_page.text and "data-locked" in staff_page.text
    done = client.post(
        f"/staff/{user_id}/unlock",
        data={"csrf_token": csrf, "reason": "called the desk"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert _actions(db, user_id)[-1] == "auth.staff.unlock"
    db.expire_all()
    record = db.scalars(select(AuditRecord).where(AuditRecord.action == "auth.staff.unlock")).one()
    assert record.reason == "called the desk"
    db.rollback()
    # Like the API and the CLI, the console asks for a reason (tester A7).
    refused = client.post(
        f"/staff/{user_id}/unlock", data={"csrf_token": csrf, "reason": " "}, follow_redirects=False
    )
    assert refused.status_code == 422 and "needs a reason" in refused.text
    assert _actions(db, user_id).count("auth.staff.unlock") == 1
    db.rollback()
    assert "data-locked" not in client.get("/staff").text


def test_cli_unlocks(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    database_url: str,
    client: TestClient,
    db: Session,
    frozen: clock.FrozenClock,
) -> None:
    monkeypatch.setenv("VIGIL_DATABASE_URL", database_url)
    # The CLI cannot reach this process's in-memory attempt counts (Redis would share
    # them): only the database lock is under test here.
    settings.login_email_limit = 50
    user = make_staff(db, email="ed@staff.example")
    db.commit()
    _lock(client, "ed@staff.example")
    result = CliRunner().invoke(cli_app, ["staff", "unlock", "ed@staff.example", "--reason", "x"])
    assert result.exit_code == 0, result.output
    assert "unlocked ed@staff.example" in result.output
    assert _actions(db, user.id)[-1] == "auth.staff.unlock"
    assert _login(client, "ed@staff.example", DEFAULT_PASSWORD)[0] == 303
