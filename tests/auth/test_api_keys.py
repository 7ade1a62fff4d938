"""API keys: creation, authentication, scopes, revocation and rotation with grace."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_api_key
from vigil.audit.models import AuditRecord
from vigil.auth import service
from vigil.auth.models import ApiKey
from vigil.auth.permissions import Permission
from vigil.auth.principal import ActorType, Principal
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput

CLI = Principal.system("cli")


def test_created_key_authenticates_with_its_scopes_and_stores_no_secret(
    db: Session, frozen: clock.FrozenClock
) -> None:
    issued = service.create_api_key(
        db, CLI, name="marketplace prod", scopes=["cases:create", "accounts:write"]
    )
    assert issued.secret.startswith("vgl_")
    assert issued.key.scopes == ["accounts:write", "cases:create"]
    assert issued.secret.startswith(issued.key.prefix)
    stored = db.scalars(select(ApiKey)).one()
    assert issued.secret not in (stored.key_hash, stored.prefix)
    principal = service.authenticate_api_key(db, issued.secret)
    assert principal is not None
    assert principal.type is ActorType.api_key and principal.id == issued.key.id
    assert principal.permissions == {Permission.cases_create, Permission.accounts_write}
    assert stored.last_used_at == clock.now()
    record = db.scalars(select(AuditRecord)).one()
    assert record.action == "auth.api_key.create"
    assert issued.secret not in str(record.data)


def test_wrong_secret_does_not_authenticate(db: Session) -> None:
    _, secret = make_api_key(db)
    assert service.authenticate_api_key(db, secret + "x") is None
    assert service.authenticate_api_key(db, "not-even-a-key") is None


@pytest.mark.parametrize(
    "scopes, code",
    [
        (["staff:write"], "scope_not_allowed"),
        (["audit:read"], "scope_not_allowed"),
        (["cases:fly"], "unknown_scope"),
        ([], "scopes_required"),
    ],
)
def test_scopes_keys_may_not_hold_are_refused(db: Session, scopes: list[str], code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        service.create_api_key(db, CLI, name="k", scopes=scopes)
    assert (err.value.field, err.value.code) == ("scopes", code)
    assert db.scalars(select(ApiKey)).all() == []


def test_a_stored_scope_keys_may_not_hold_grants_nothing(db: Session) -> None:
    _, secret = make_api_key(db, scopes=["cases:read", "staff:write"])
    principal = service.authenticate_api_key(db, secret)
    assert principal is not None
    assert principal.permissions == {Permission.cases_read}


def test_revoked_key_stops_working_and_revoking_twice_conflicts(db: Session) -> None:
    key, secret = make_api_key(db)
    service.revoke_api_key(db, CLI, key.id, "leaked in a log")
    assert service.authenticate_api_key(db, secret) is None
    with pytest.raises(Conflict):
        service.revoke_api_key(db, CLI, key.id, "again")
    record = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "auth.api_key.revoke")
    ).one()
    assert record.reason == "leaked in a log"


def test_revoke_needs_a_reason(db: Session) -> None:
    key, _ = make_api_key(db)
    with pytest.raises(InvalidInput) as err:
        service.revoke_api_key(db, CLI, key.id, "  ")
    assert err.value.field == "reason"


def test_expired_key_does_not_authenticate(db: Session, frozen: clock.FrozenClock) -> None:
    issued = service.create_api_key(
        db, CLI, name="temp", scopes=["cases:read"], expires_at=clock.now() + timedelta(hours=1)
    )
    assert service.authenticate_api_key(db, issued.secret) is not None
    frozen.advance(timedelta(hours=1))
    assert service.authenticate_api_key(db, issued.secret) is None


def test_rotation_without_grace_cuts_the_old_key_at_once(db: Session) -> None:
    key, old_secret = make_api_key(db, scopes=["cases:create"])
    issued = service.rotate_api_key(db, CLI, key.id)
    assert service.authenticate_api_key(db, old_secret) is None
    new = service.authenticate_api_key(db, issued.secret)
    assert new is not None and new.permissions == {Permission.cases_create}
    assert issued.key.rotated_from_id == key.id and issued.key.name == key.name


def test_rotation_with_grace_keeps_the_old_key_until_the_grace_ends(
    db: Session, frozen: clock.FrozenClock
) -> None:
    key, old_secret = make_api_key(db)
    issued = service.rotate_api_key(db, CLI, key.id, grace=timedelta(minutes=10))
    assert service.authenticate_api_key(db, old_secret) is not None
    assert service.authenticate_api_key(db, issued.secret) is not None
    frozen.advance(timedelta(minutes=10))
    assert service.authenticate_api_key(db, old_secret) is None
    assert service.authenticate_api_key(db, issued.secret) is not None
    record = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "auth.api_key.rotate")
    ).one()
    assert record.data == {"new_key_id": issued.key.id, "grace_seconds": 600}


def test_a_key_is_rotated_once_and_revoked_keys_not_at_all(db: Session) -> None:
    key, _ = make_api_key(db)
    service.rotate_api_key(db, CLI, key.id, grace=timedelta(minutes=5))
    with pytest.raises(Conflict) as err:
        service.rotate_api_key(db, CLI, key.id, grace=timedelta(minutes=5))
    assert err.value.code == "api_key_rotated"
    other, _ = make_api_key(db)
    service.revoke_api_key(db, CLI, other.id, "gone")
    with pytest.raises(Conflict):
        service.rotate_api_key(db, CLI, other.id)


def test_rotation_grace_is_bounded(db: Session) -> None:
    key, _ = make_api_key(db)
    with pytest.raises(InvalidInput) as err:
        service.rotate_api_key(db, CLI, key.id, grace=timedelta(days=31))
    assert err.value.field == "grace_seconds"


def test_list_hides_revoked_and_expired_keys_unless_asked(
    db: Session, frozen: clock.FrozenClock
) -> None:
    live, _ = make_api_key(db)
    gone, _ = make_api_key(db)
    service.revoke_api_key(db, CLI, gone.id, "no longer used")
    rows, _ = service.list_api_keys(db)
    assert [k.id for k in rows] == [live.id]
    rows, _ = service.list_api_keys(db, include_revoked=True)
    assert [k.id for k in rows] == [live.id, gone.id]
