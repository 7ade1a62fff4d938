"""Console sessions: login, expiry, logout, deactivation, purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, login_as, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth import passwords, service
from vigil.auth.models import StaffSession
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.auth.tasks import PURGE_SESSIONS
from vigil.jobs.registry import JobContext, get_handler, periodic_tasks
from vigil.kit import clock
from vigil.kit.errors import NotAuthenticated

TTL = timedelta(hours=12)


def _actions(db: Session) -> list[str]:
    return list(db.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))


def test_login_opens_a_session_that_resolves_to_the_user(
    db: Session, frozen: clock.FrozenClock
) -> None:
    user = make_staff(db, role=Role.specialist, email="Ana@Trust.example")
    issued = service.login(db, " ANA@trust.example ", DEFAULT_PASSWORD, ttl=TTL, user_agent="ua")
    assert issued.user.id == user.id
    assert issued.expires_at == clock.now() + TTL
    assert user.last_login_at == clock.now()
    resolved = service.resolve_session(db, issued.token)
    assert resolved is not None and resolved[0].id == user.id
    assert resolved[1].csrf_token == issued.csrf_token
    # Only the token's hash is stored.
    stored = db.scalars(select(StaffSession.token_hash)).all()
    assert issued.token not in stored and service.digest(issued.token) in stored
    assert _actions(db) == ["auth.session.login"]


@pytest.mark.parametrize(
    "email, password",
    [
        ("nobody@trust.example", DEFAULT_PASSWORD),
        ("agent@trust.example", "wrong password entirely"),
        ("not an email", DEFAULT_PASSWORD),
    ],
)
def test_wrong_email_or_password_gets_one_error(db: Session, email: str, password: str) -> None:
    make_staff(db, email="agent@trust.example")
    with pytest.raises(NotAuthenticated) as err:
        service.login(db, email, password, ttl=TTL)
    assert err.value.code == "invalid_credentials"
    assert db.scalar(select(func.count()).select_from(StaffSession)) == 0


def test_failed_login_on_a_known_account_is_audited(db: Session) -> None:
    user = make_staff(db)
    with pytest.raises(NotAuthenticated):
        service.login(db, user.email, "wrong password entirely", ttl=TTL)
    record = db.scalars(select(AuditRecord)).one()
    assert (record.action, record.target_id) == ("auth.session.login_failed", str(user.id))


def test_inactive_user_cannot_log_in_even_with_the_right_password(db: Session) -> None:
    user = make_staff(db, active=False)
    with pytest.raises(NotAuthenticated) as err:
        service.login(db, user.email, DEFAULT_PASSWORD, ttl=TTL)
    assert err.value.code == "invalid_credentials"


def test_login_upgrades_a_weak_hash(db: Session) -> None:
    user = make_staff(db)
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash("old but long pw")
    service.login(db, user.email, "old but long pw", ttl=TTL)
    assert not passwords.needs_rehash(user.password_hash)
    assert passwords.verify_password(user.password_hash, "old but long pw")


def test_session_expires_with_the_clock(db: Session, frozen: clock.FrozenClock) -> None:
    user = make_staff(db)
    issued = service.login(db, user.email, DEFAULT_PASSWORD, ttl=TTL)
    frozen.advance(TTL - timedelta(seconds=1))
    assert service.resolve_session(db, issued.token) is not None
    frozen.advance(timedelta(seconds=1))
    assert service.resolve_session(db, issued.token) is None


def test_unknown_token_resolves_to_nothing(db: Session) -> None:
    assert service.resolve_session(db, "made-up") is None
    assert service.resolve_session(db, "") is None


def test_logout_ends_the_session(db: Session) -> None:
    user = make_staff(db)
    issued = service.login(db, user.email, DEFAULT_PASSWORD, ttl=TTL)
    service.logout(db, issued.token)
    assert service.resolve_session(db, issued.token) is None
    assert _actions(db)[-1] == "auth.session.logout"
    service.logout(db, issued.token)  # twice is harmless


def test_deactivated_users_session_stops_working_at_once(db: Session) -> None:
    admin = make_staff(db, role=Role.admin)
    user = make_staff(db)
    issued = service.login(db, user.email, DEFAULT_PASSWORD, ttl=TTL)
    service.update_staff(db, service.principal_for(admin), user.id, active=False, reason="left")
    assert service.resolve_session(db, issued.token) is None


def test_purge_task_removes_only_expired_sessions(
    db: Session, frozen: clock.FrozenClock, settings
) -> None:  # type: ignore[no-untyped-def]
    user = make_staff(db)
    old = service.login(db, user.email, DEFAULT_PASSWORD, ttl=timedelta(hours=1))
    frozen.advance(timedelta(minutes=30))
    fresh = service.login(db, user.email, DEFAULT_PASSWORD, ttl=timedelta(hours=1))
    frozen.advance(timedelta(minutes=45))
    assert any(t.kind == PURGE_SESSIONS for t in periodic_tasks())
    handler = get_handler(PURGE_SESSIONS)
    assert handler is not None
    handler(JobContext(db, settings, job_id=1, attempt=1), {})
    handler(JobContext(db, settings, job_id=1, attempt=2), {})  # safe to run twice
    hashes = set(db.scalars(select(StaffSession.token_hash)))
    assert hashes == {service.digest(fresh.token)}
    assert service.digest(old.token) not in hashes


def test_console_cookie_authenticates_api_calls_until_expiry(
    client: TestClient, db: Session, frozen: clock.FrozenClock
) -> None:
    user = make_staff(db, role=Role.qa)
    csrf = login_as(client, db, user)
    assert csrf
    me = client.get("/v1/staff/me")
    assert me.status_code == 200
    assert me.json()["email"] == user.email
    frozen.advance(timedelta(hours=client.app.state.settings.session_ttl_hours))  # type: ignore[attr-defined]
    expired = client.get("/v1/staff/me")
    assert expired.status_code == 401
    assert expired.json()["code"] == "not_authenticated"


def test_system_principal_holds_every_permission() -> None:
    from vigil.auth.permissions import Permission

    assert all(Principal.system("cli").can(p) for p in Permission)
