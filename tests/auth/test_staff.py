"""Staff accounts: creation, changes, the last-admin rule and passwords."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth import passwords, service
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.kit.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied

CLI = Principal.system("cli")


def test_create_staff_hashes_password_lowercases_email_and_audits(db: Session) -> None:
    user = service.create_staff(
        db,
        CLI,
        email="  Rita@Trust.Example ",
        name=" Rita Gomes ",
        role=Role.legal,
        password="a long enough password",
        languages=["pt", "en", "PT"],
    )
    assert (user.email, user.name, user.role, user.languages) == (
        "rita@trust.example",
        "Rita Gomes",
        Role.legal,
        ["pt", "en"],
    )
    assert passwords.verify_password(user.password_hash, "a long enough password")
    record = db.scalars(select(AuditRecord)).one()
    assert (record.action, record.actor_type, record.target_id) == (
        "auth.staff.create",
        "system",
        str(user.id),
    )
    assert "password" not in str(record.data)


@pytest.mark.parametrize(
    "kwargs, field, code",
    [
        ({"email": "no-at-sign"}, "email", "invalid_email"),
        ({"password": "short"}, "password", "password_too_short"),
        ({"name": "   "}, "name", "name_required"),
        ({"languages": ["en us"]}, "languages", "invalid_language"),
    ],
)
def test_create_staff_rejects_bad_input(db: Session, kwargs: dict, field: str, code: str) -> None:
    args = {
        "email": "x@trust.example",
        "name": "X",
        "role": Role.agent,
        "password": "a long enough password",
    } | kwargs
    with pytest.raises(InvalidInput) as err:
        service.create_staff(db, CLI, **args)
    assert (err.value.field, err.value.code) == (field, code)


def test_duplicate_email_is_a_conflict(db: Session) -> None:
    make_staff(db, email="dup@trust.example")
    with pytest.raises(Conflict) as err:
        service.create_staff(
            db, CLI, email="DUP@trust.example", name="D", role=Role.qa, password="x" * 12
        )
    assert err.value.code == "email_taken"


def test_update_records_each_change_as_old_and_new(db: Session) -> None:
    admin = make_staff(db, role=Role.admin)
    user = make_staff(db, role=Role.agent, languages=["en"])
    service.update_staff(
        db,
        service.principal_for(admin),
        user.id,
        role=Role.specialist,
        languages=["en", "es"],
        name=user.name,  # unchanged: not recorded
        reason="promoted after review",
    )
    record = db.scalars(select(AuditRecord).where(AuditRecord.action == "auth.staff.update")).one()
    assert record.data == {"role": ["agent", "specialist"], "languages": [["en"], ["en", "es"]]}
    assert record.reason == "promoted after review"
    assert record.actor_id == str(admin.id)


def test_update_without_changes_writes_nothing(db: Session) -> None:
    user = make_staff(db)
    service.update_staff(db, CLI, user.id, name=user.name, active=True)
    assert db.scalars(select(AuditRecord)).all() == []


def test_last_active_admin_cannot_be_demoted_or_deactivated(db: Session) -> None:
    admin = make_staff(db, role=Role.admin)
    for change in ({"role": Role.qa}, {"active": False}):
        with pytest.raises(Conflict) as err:
            service.update_staff(db, CLI, admin.id, **change)
        assert err.value.code == "last_admin"
    second = make_staff(db, role=Role.admin)
    service.update_staff(db, CLI, admin.id, role=Role.qa)
    assert admin.role is Role.qa
    with pytest.raises(Conflict):
        service.update_staff(db, CLI, second.id, active=False)


def test_admin_cannot_deactivate_themselves(db: Session) -> None:
    admin = make_staff(db, role=Role.admin)
    make_staff(db, role=Role.admin)
    with pytest.raises(Conflict) as err:
        service.update_staff(db, service.principal_for(admin), admin.id, active=False)
    assert err.value.code == "self_deactivate"


def test_own_password_change_needs_the_current_password(db: Session) -> None:
    user = make_staff(db)
    me = service.principal_for(user)
    with pytest.raises(InvalidInput) as err:
        service.set_password(db, me, user.id, "a brand new password", current_password="nope")
    assert err.value.field == "current_password"
    service.set_password(db, me, user.id, "a brand new password", current_password=DEFAULT_PASSWORD)
    assert passwords.verify_password(user.password_hash, "a brand new password")


def test_others_password_only_by_admin_and_it_ends_their_sessions(db: Session) -> None:
    from datetime import timedelta

    agent = make_staff(db)
    other = make_staff(db)
    admin = make_staff(db, role=Role.admin)
    issued = service.login(db, other.email, DEFAULT_PASSWORD, ttl=timedelta(hours=1))
    with pytest.raises(PermissionDenied):
        service.set_password(db, service.principal_for(agent), other.id, "agent sets this pw")
    service.set_password(db, service.principal_for(admin), other.id, "admin reset password")
    assert service.resolve_session(db, issued.token) is None
    with pytest.raises(NotAuthenticated):
        service.login(db, other.email, DEFAULT_PASSWORD, ttl=timedelta(hours=1))
    service.login(db, other.email, "admin reset password", ttl=timedelta(hours=1))


def test_new_password_must_be_long_enough(db: Session) -> None:
    user = make_staff(db)
    with pytest.raises(InvalidInput) as err:
        service.set_password(db, CLI, user.id, "short")
    assert (err.value.field, err.value.code) == ("new_password", "password_too_short")


def test_list_staff_pages_by_id_and_filters(db: Session) -> None:
    made = [make_staff(db, role=Role.agent) for _ in range(5)]
    make_staff(db, role=Role.qa)
    make_staff(db, role=Role.agent, active=False)
    page1, cursor = service.list_staff(db, role=Role.agent, active=True, limit=3)
    assert cursor is not None
    page2, end = service.list_staff(db, role=Role.agent, active=True, cursor=cursor, limit=3)
    assert end is None
    assert [u.id for u in page1 + page2] == [u.id for u in made]
