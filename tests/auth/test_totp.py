"""The TOTP second factor: enrolment from the console, the two-step login, replay, recovery
codes, turning it off, an admin's reset, and roles that must have one."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import DEFAULT_PASSWORD, login_as, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth.models import StaffSession, StaffUser
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.kit import clock


def _code(secret: str, offset_steps: int = 0) -> str:
    return str(pyotp.TOTP(secret).at(clock.now().timestamp() + 30 * offset_steps))


def _enrol(client: TestClient, csrf: str) -> tuple[str, list[str]]:
    """Enrol the logged-in member through the security page; returns the secret shown and
    the recovery codes."""
    started = client.post("/account/security/totp/begin", data={"csrf_token": csrf})
    assert started.status_code == 200, started.text
    # The QR code is drawn inline (the CSP allows no external image) next to the key.
    assert "<svg" in started.text and "data-totp-qr" in started.text
    # Shown in groups of 4 to type by hand.
    match = re.search(r"data-totp-secret>([A-Z2-7]{4}(?: [A-Z2-7]{1,4})+)<", started.text)
    assert match is not None
    secret = match.group(1).replace(" ", "")
    confirmed = client.post(
        "/account/security/totp/confirm", data={"csrf_token": csrf, "code": _code(secret)}
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", confirmed.text)
    assert len(codes) == 10
    return secret, codes


def _password_step(client: TestClient, email: str, password: str = DEFAULT_PASSWORD) -> str:
    client.cookies.clear()
    response = client.post(
        "/login", data={"email": email, "password": password}, follow_redirects=False
    )
    assert response.status_code == 200, response.text
    assert "set-cookie" not in response.headers  # no session before the second factor
    match = re.search(r'name="ticket" value="([^"]+)"', response.text)
    assert match is not None
    return match.group(1)


def _code_step(client: TestClient, ticket: str, code: str) -> int:
    response = client.post(
        "/login/code", data={"ticket": ticket, "code": code}, follow_redirects=False
    )
    return response.status_code


def _stored(db: Session, staff_id: int) -> tuple[str | None, list[str], bool]:
    db.expire_all()
    row = db.get(StaffUser, staff_id)
    assert row is not None
    found = (row.totp_secret, list(row.recovery_codes or []), row.totp_enabled_at is not None)
    db.rollback()
    return found


def _actions(db: Session) -> list[str]:
    found = list(db.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))
    db.rollback()
    return found


def test_enrol_then_log_in_with_a_code_once(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    user = make_staff(db, role=Role.specialist, email="spec@staff.example")
    user_id = user.id
    csrf = login_as(client, db, user)
    page = client.get("/account/security")
    assert page.status_code == 200 and 'data-totp-state="off"' in page.text
    # A wrong code does not turn it on.
    client.post("/account/security/totp/begin", data={"csrf_token": csrf})
    wrong = client.post(
        "/account/security/totp/confirm", data={"csrf_token": csrf, "code": "000000"}
    )
    assert wrong.status_code == 422 and "does not match" in wrong.text
    assert _stored(db, user_id)[2] is False
    secret, codes = _enrol(client, csrf)
    sealed_secret, hashes, enabled = _stored(db, user_id)
    # Stored sealed, never in clear; recovery codes only as hashes.
    assert enabled and sealed_secret is not None and sealed_secret.startswith("vgs1.")
    assert secret not in sealed_secret
    assert len(hashes) == 10 and not set(codes) & set(hashes)
    raw = db.execute(text("SELECT totp_secret FROM staff_users WHERE id = :i"), {"i": user_id})
    assert secret not in str(raw.scalar_one())
    db.rollback()
    assert "auth.totp.enable" in _actions(db)

    # The next login: password, then a code; a code already used does not pass again.
    frozen.advance(timedelta(seconds=60))
    ticket = _password_step(client, "spec@staff.example")
    assert _code_step(client, ticket, "123 456") == 401
    code = _code(secret)
    assert _code_step(client, ticket, code) == 303
    assert client.get("/").status_code == 200
    ticket = _password_step(client, "spec@staff.example")
    assert _code_step(client, ticket, code) == 401  # replay inside the window
    # A recovery code works, once.
    assert _code_step(client, ticket, codes[0].lower()) == 303
    ticket = _password_step(client, "spec@staff.example")
    assert _code_step(client, ticket, codes[0]) == 401
    assert len(_stored(db, user_id)[1]) == 9
    assert "auth.totp.recovery_used" in _actions(db)


def test_a_forged_or_stale_ticket_opens_nothing(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    user = make_staff(db, email="tk@staff.example")
    csrf = login_as(client, db, user)
    secret, _ = _enrol(client, csrf)
    ticket = _password_step(client, "tk@staff.example")
    staff_id, expires, mac = ticket.split(".")
    forged = f"{staff_id}.{int(expires) + 3600}.{mac}"
    frozen.advance(timedelta(seconds=31))
    response = client.post(
        "/login/code", data={"ticket": forged, "code": _code(secret)}, follow_redirects=False
    )
    assert response.status_code == 401 and "expired" in response.text
    frozen.advance(timedelta(minutes=6))
    assert _code_step(client, ticket, _code(secret)) == 401


def test_wrong_codes_count_towards_the_lockout(
    settings: Settings, client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    settings.lockout_threshold = 3
    user = make_staff(db, email="lk@staff.example")
    user_id = user.id
    csrf = login_as(client, db, user)
    secret, _ = _enrol(client, csrf)
    ticket = _password_step(client, "lk@staff.example")
    assert [_code_step(client, ticket, "000000") for _ in range(3)] == [401, 401, 401]
    # Locked now: even the right code is refused.
    assert _code_step(client, ticket, _code(secret, 1)) == 429
    db.expire_all()
    row = db.get(StaffUser, user_id)
    assert row is not None and row.locked_until is not None
    db.rollback()


def test_codes_are_rate_limited(
    settings: Settings, client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    settings.totp_attempt_limit = 2
    user = make_staff(db, email="rl@staff.example")
    csrf = login_as(client, db, user)
    _enrol(client, csrf)  # uses one attempt
    ticket = _password_step(client, "rl@staff.example")
    assert [_code_step(client, ticket, "000000") for _ in range(2)] == [401, 429]


def test_turning_it_off_needs_a_code_or_the_password(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    user = make_staff(db, email="off@staff.example")
    user_id = user.id
    csrf = login_as(client, db, user)
    _enrol(client, csrf)
    refused = client.post("/account/security/totp/disable", data={"csrf_token": csrf})
    assert refused.status_code == 422
    assert _stored(db, user_id)[2] is True
    done = client.post(
        "/account/security/totp/disable",
        data={"csrf_token": csrf, "password": DEFAULT_PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert _stored(db, user_id) == (None, [], False)
    assert "auth.totp.disable" in _actions(db)


def test_admin_resets_a_members_second_factor(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    admin = make_staff(db, role=Role.admin)
    member = make_staff(db, email="lost@staff.example")
    member_id = member.id
    csrf = login_as(client, db, member)
    _enrol(client, csrf)
    client.cookies.clear()
    login_as(client, db, admin)
    assert client.get(f"/v1/staff/{member_id}").json()["second_factor"] is True
    refused = client.post(f"/v1/staff/{member_id}/second-factor/reset", json={})
    assert refused.status_code == 422
    response = client.post(
        f"/v1/staff/{member_id}/second-factor/reset", json={"reason": "lost phone"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["second_factor"] is False
    assert _stored(db, member_id) == (None, [], False)
    # Their sessions ended; the admin's did not.
    sessions = db.scalars(select(StaffSession.staff_id)).all()
    assert member_id not in sessions
    record = db.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(1)).one()
    assert (record.action, record.reason) == ("auth.totp.reset", "lost phone")
    db.rollback()
    # The password alone logs them in again.
    client.cookies.clear()
    response = client.post(
        "/login",
        data={"email": "lost@staff.example", "password": DEFAULT_PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_roles_that_must_have_a_second_factor_enrol_first(
    settings: Settings, client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    settings.require_totp_for_roles = "admin,legal"
    make_staff(db, role=Role.admin, email="boss@staff.example")
    agent = make_staff(db, role=Role.agent)
    db.commit()
    response = client.post(
        "/login",
        data={"email": "boss@staff.example", "password": DEFAULT_PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/account/security"
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/account/security"
    api = client.get("/v1/staff/me")
    assert api.status_code == 403 and api.json()["code"] == "second_factor_enrolment_required"
    page = client.get("/account/security")
    assert page.status_code == 200 and "Your role needs a second factor" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    _enrol(client, csrf.group(1))
    assert client.get("/", follow_redirects=False).status_code == 200
    # Other roles are not asked.
    client.cookies.clear()
    login_as(client, db, agent)
    assert client.get("/", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("path", ["/account/security/totp/begin", "/staff/1/unlock"])
def test_security_forms_need_the_csrf_token(
    client: TestClient, db: Session, path: str, backend: str
) -> None:
    admin = make_staff(db, role=Role.admin)
    login_as(client, db, admin)
    client.headers.pop("X-CSRF-Token", None)
    response = client.post(path, data={})
    assert response.status_code == 403


def test_a_code_is_spent_once_when_two_logins_race(
    db: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    frozen: clock.FrozenClock,
) -> None:
    """R1 #2: two logins that read the account before either spends the code (as two
    concurrent /login/code requests do) must not both pass, for a TOTP code or a recovery
    code. The second login's object is stale, like a read that raced the first commit."""
    from vigil.auth import totp

    user = make_staff(db, role=Role.specialist)
    totp.begin_enrolment(settings, db, user)
    secret = totp.pending_enrolment(settings, user)
    assert secret is not None
    codes = totp.confirm_enrolment(settings, db, user, _code(secret.secret))
    db.commit()
    frozen.advance(timedelta(seconds=60))
    code = _code(secret.secret)

    for attempt, expected in ((code, "totp"), (codes[0], "recovery")):
        with session_factory() as first, session_factory() as second:
            stale = second.get(StaffUser, user.id)
            assert stale is not None
            second.commit()  # objects are kept as read (expire_on_commit is off)
            mine = first.get(StaffUser, user.id)
            assert mine is not None
            assert totp.check_code(settings, first, mine, attempt) == expected
            first.commit()
            assert totp.check_code(settings, second, stale, attempt) is None
            second.commit()
