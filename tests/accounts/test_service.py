"""Account service rules on SQLite and PostgreSQL: upsert and versions, identifiers, linked
accounts, restrictions and account status, and the audit trail of views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.accounts.conftest import audit_actions, upsert
from tests.factories import make_staff
from vigil.accounts import service, tasks
from vigil.accounts.models import (
    Account,
    AccountStatus,
    Identifier,
    IdentifierKind,
    Restriction,
    RestrictionKind,
)
from vigil.accounts.schemas import AccountUpsert, IdentifierIn
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.auth.service import principal_for
from vigil.config import Settings
from vigil.jobs.registry import JobContext
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, PermissionDenied, VersionConflict


def _staff(db: Session, role: Role = Role.specialist) -> Principal:
    return principal_for(make_staff(db, role=role))


def _identifiers(db: Session, account: Account) -> dict[tuple[str, str], Identifier]:
    rows = db.scalars(
        select(Identifier)
        .where(Identifier.account_id == account.id)
        .execution_options(populate_existing=True)
    )
    return {(r.kind.value, r.value): r for r in rows}


# --- upsert and versions ----------------------------------------------------------------------


def test_create_then_update_bumps_the_version_and_audits_field_names_only(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal
) -> None:
    account, created = upsert(
        db, marketplace, "u-1", side="client", legal_name="Maria Souza",
        email="Maria@Example.com", country="br", locale="pt_BR",
        registered_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
    )  # fmt: skip
    assert created
    assert (account.version, account.status) == (1, AccountStatus.active)
    assert (account.email, account.country, account.locale) == ("maria@example.com", "BR", "pt-BR")

    frozen.advance(timedelta(minutes=5))
    account, created = upsert(db, marketplace, "u-1", side="client", legal_name="Maria S. Souza")
    assert not created
    assert account.version == 2
    assert account.legal_name == "Maria S. Souza"
    assert account.email == "maria@example.com"  # left out, so kept
    assert account.updated_at == clock.now()

    create, update = audit_actions(db)
    assert create.action == "accounts.account.create"
    assert update.action == "accounts.account.update"
    assert update.data["fields"] == ["legal_name"]
    assert update.data["version"] == 2
    text = repr(create.data) + repr(update.data)
    assert "Maria" not in text and "example.com" not in text


def test_unchanged_upsert_keeps_the_version_and_writes_nothing(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal
) -> None:
    fields = {"side": "pro", "display_name": "Bob", "country": "US",
              "registered_at": datetime(2024, 5, 1, 14, tzinfo=UTC)}  # fmt: skip
    upsert(db, marketplace, "u-1", **fields)
    before = len(audit_actions(db))
    # Same instant written in another time zone is the same value.
    fields["registered_at"] = datetime.fromisoformat("2024-05-01T16:00:00+02:00")
    account, created = upsert(db, marketplace, "u-1", **fields)
    assert not created
    assert account.version == 1
    assert len(audit_actions(db)) == before


def test_null_clears_a_field_and_omitting_it_keeps_it(db: Session, marketplace: Principal) -> None:
    upsert(db, marketplace, "u-1", phone="+14155550100", display_name="Bob")
    account, _ = upsert(db, marketplace, "u-1", phone=None)
    assert account.phone is None
    assert account.display_name == "Bob"
    assert account.version == 2


def test_expected_version_guards_concurrent_writers(db: Session, marketplace: Principal) -> None:
    upsert(db, marketplace, "u-1", display_name="First")
    upsert(db, marketplace, "u-1", display_name="Second")  # now at version 2

    with pytest.raises(VersionConflict) as info:
        service.upsert_account(
            db, marketplace, "u-1", AccountUpsert(display_name="Stale"), expected_version=1
        )
    assert info.value.status_code == 409
    assert info.value.details == [{"current_version": 2}]
    with pytest.raises(VersionConflict):  # 0 means "create only"
        service.upsert_account(db, marketplace, "u-1", AccountUpsert(expected_version=0))
    with pytest.raises(VersionConflict):  # a version for an account that does not exist
        service.upsert_account(
            db, marketplace, "u-2", AccountUpsert(side="pro"), expected_version=1
        )

    account, _ = service.upsert_account(
        db, marketplace, "u-1", AccountUpsert(display_name="Fresh"), expected_version=2
    )
    assert (account.display_name, account.version) == ("Fresh", 3)
    assert db.scalar(select(func.count()).select_from(Account)) == 1


def test_a_new_account_needs_a_side(db: Session, marketplace: Principal) -> None:
    with pytest.raises(InvalidInput) as info:
        service.upsert_account(db, marketplace, "u-1", AccountUpsert(display_name="Nobody"))
    assert info.value.field == "side"
    assert db.scalar(select(func.count()).select_from(Account)) == 0


def test_marketplace_closes_accounts_but_cannot_lift_a_suspension(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal
) -> None:
    staff = _staff(db)
    account, _ = upsert(db, marketplace, "u-1")
    service.place_restriction(db, staff, account, RestrictionKind.suspension, "fraud ring")
    assert account.status is AccountStatus.suspended

    account, _ = upsert(db, marketplace, "u-1", status="active")
    assert account.status is AccountStatus.suspended

    account, _ = upsert(db, marketplace, "u-1", status="closed")
    assert account.status is AccountStatus.closed
    # Reopening brings back the status the restrictions in force call for.
    account, _ = upsert(db, marketplace, "u-1", status="active")
    assert account.status is AccountStatus.suspended


# --- identifiers ------------------------------------------------------------------------------


def test_identifiers_are_normalized_and_seen_times_kept(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal
) -> None:
    t0 = clock.now()
    account, _ = upsert(
        db, marketplace, "u-1", email="Maria@Example.com",
        identifiers=[{"kind": "ip", "value": "::ffff:203.0.113.7"},
                     {"kind": "device", "value": " dev-1 "}],
    )  # fmt: skip
    found = _identifiers(db, account)
    assert set(found) == {
        ("email", "maria@example.com"),
        ("ip", "203.0.113.7"),
        ("device", "dev-1"),
    }

    t1 = frozen.advance(timedelta(hours=3))
    merge = service.add_identifiers(
        db, marketplace, account,
        [IdentifierIn(kind=IdentifierKind.ip, value="203.0.113.7"),
         IdentifierIn(kind=IdentifierKind.ip, value="0:0:0:0:0:ffff:cb00:7107"),  # same address
         IdentifierIn(kind=IdentifierKind.phone, value="+55 11 98765-4321")],
    )  # fmt: skip
    assert (merge.received, merge.created, merge.updated) == (2, 1, 1)

    ip = _identifiers(db, account)[("ip", "203.0.113.7")]
    assert (ip.first_seen_at, ip.last_seen_at, ip.seen_count) == (t0, t1, 3)
    device = _identifiers(db, account)[("device", "dev-1")]
    assert (device.first_seen_at, device.last_seen_at, device.seen_count) == (t0, t0, 1)
    assert _identifiers(db, account)[("phone", "+5511987654321")].first_seen_at == t1


def test_backfilled_sightings_move_first_seen_back_and_never_into_the_future(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal
) -> None:
    now = clock.now()
    account, _ = upsert(db, marketplace, "u-1", identifiers=[{"kind": "device", "value": "d"}])
    last_year = now - timedelta(days=365)
    service.add_identifiers(
        db, marketplace, account,
        [IdentifierIn(kind=IdentifierKind.device, value="d", seen_at=last_year),
         IdentifierIn(kind=IdentifierKind.device, value="d", seen_at=now + timedelta(days=9))],
    )  # fmt: skip
    device = _identifiers(db, account)[("device", "d")]
    assert (device.first_seen_at, device.last_seen_at, device.seen_count) == (last_year, now, 3)


def test_one_bad_identifier_writes_none(db: Session, marketplace: Principal) -> None:
    account, _ = upsert(db, marketplace, "u-1")
    with pytest.raises(InvalidInput) as info:
        service.add_identifiers(
            db, marketplace, account,
            [IdentifierIn(kind=IdentifierKind.device, value="dev-ok"),
             IdentifierIn(kind=IdentifierKind.ip, value="999.1.1.1")],
        )  # fmt: skip
    assert info.value.field == "identifiers.1.value"
    assert _identifiers(db, account) == {}
    assert [r.action for r in audit_actions(db)] == ["accounts.account.create"]


def test_profile_email_and_phone_become_identifiers_when_they_change(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal
) -> None:
    account, _ = upsert(db, marketplace, "u-1", email="old@example.com")
    frozen.advance(timedelta(days=1))
    account, _ = upsert(db, marketplace, "u-1", email="new@example.com", phone="+14155550100")
    assert set(_identifiers(db, account)) == {
        ("email", "old@example.com"),
        ("email", "new@example.com"),
        ("phone", "+14155550100"),
    }


# --- linked accounts --------------------------------------------------------------------------


def test_accounts_sharing_a_device_and_a_card_are_linked(
    db: Session, marketplace: Principal
) -> None:
    device = {"kind": "device", "value": "dev-ring"}
    card = {"kind": "payment", "value": "fp_card_1"}
    ring_a, _ = upsert(db, marketplace, "ring-a", identifiers=[device, card])
    upsert(db, marketplace, "ring-b", identifiers=[device, card])
    upsert(db, marketplace, "cafe", identifiers=[{"kind": "device", "value": "dev-ring"}])
    upsert(db, marketplace, "stranger", identifiers=[{"kind": "device", "value": "other"}])

    linked = service.linked_accounts(db, ring_a)
    assert [(i.account.external_id, i.shared_count) for i in linked.items] == [
        ("ring-b", 2),
        ("cafe", 1),
    ]
    assert linked.items[0].shared == [
        (IdentifierKind.device, "dev-ring"),
        (IdentifierKind.payment, "fp_card_1"),
    ]
    assert linked.shared_values == [
        (IdentifierKind.device, "dev-ring", 2),
        (IdentifierKind.payment, "fp_card_1", 1),
    ]
    only_cards = service.linked_accounts(db, ring_a, kinds=[IdentifierKind.payment])
    assert [i.account.external_id for i in only_cards.items] == ["ring-b"]


def test_linked_accounts_page_by_strength(db: Session, marketplace: Principal) -> None:
    shared = [{"kind": "device", "value": "d1"}, {"kind": "payment", "value": "p1"}]
    me, _ = upsert(db, marketplace, "me", identifiers=shared)
    upsert(db, marketplace, "one", identifiers=shared[:1])
    upsert(db, marketplace, "two", identifiers=shared)
    upsert(db, marketplace, "three", identifiers=shared[1:])

    first = service.linked_accounts(db, me, limit=2)
    assert [i.account.external_id for i in first.items] == ["two", "one"]
    assert first.next_cursor is not None
    second = service.linked_accounts(db, me, limit=2, cursor=first.next_cursor)
    assert [i.account.external_id for i in second.items] == ["three"]
    assert second.next_cursor is None


# --- restrictions and status ------------------------------------------------------------------


def test_restrictions_in_force_expired_and_lifted(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal
) -> None:
    staff = _staff(db)
    account, _ = upsert(db, marketplace, "u-1")
    now = clock.now()
    messaging = service.place_restriction(
        db, staff, account, RestrictionKind.messaging, "off-platform payments",
        ends_at=now + timedelta(days=7), policy_code="OFF_PLATFORM",
    )  # fmt: skip
    payouts = service.place_restriction(db, staff, account, RestrictionKind.payouts, "KYC")
    listing = service.place_restriction(db, staff, account, RestrictionKind.listing, "spam")
    assert account.status is AccountStatus.restricted
    assert messaging.created_by_id == staff.staff_id

    service.lift_restriction(db, staff, listing.id, "appeal upheld")
    assert {r.id for r in service.restrictions_in_force(db, account)} == {messaging.id, payouts.id}

    frozen.advance(timedelta(days=8))  # messaging has ended
    assert [r.id for r in service.restrictions_in_force(db, account)] == [payouts.id]
    assert service.in_force_kinds(db, account, at=now) == [
        RestrictionKind.messaging,
        RestrictionKind.payouts,
    ]
    history, _ = service.list_restrictions(db, account, include_history=True)
    assert [r.id for r in history] == [listing.id, payouts.id, messaging.id]

    with pytest.raises(Conflict) as ended:
        service.lift_restriction(db, staff, messaging.id, "too late")
    assert ended.value.code == "restriction_ended"
    with pytest.raises(Conflict) as lifted:
        service.lift_restriction(db, staff, listing.id, "again")
    assert lifted.value.code == "restriction_lifted"
    with pytest.raises(NotFound):
        service.lift_restriction(db, staff, 999_999, "no such")


def test_status_follows_suspension_and_lifting_the_last_restriction(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal
) -> None:
    staff = _staff(db)
    account, _ = upsert(db, marketplace, "u-1")
    messaging = service.place_restriction(db, staff, account, RestrictionKind.messaging, "spam")
    suspension = service.place_restriction(db, staff, account, RestrictionKind.suspension, "ring")
    assert account.status is AccountStatus.suspended

    service.lift_restriction(db, staff, suspension.id, "cleared")
    assert account.status is AccountStatus.restricted
    _, lifted_account = service.lift_restriction(db, staff, messaging.id, "cleared")
    assert lifted_account.status is AccountStatus.active

    actions = [r.action for r in audit_actions(db)]
    assert actions.count("accounts.restriction.place") == 2
    assert actions.count("accounts.restriction.lift") == 2
    assert (
        actions.count("accounts.account.status") == 4
    )  # restricted, suspended, restricted, active


def test_sweep_reactivates_accounts_whose_restrictions_ended(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal, system: Principal
) -> None:
    staff = _staff(db)
    short, _ = upsert(db, marketplace, "short")
    long, _ = upsert(db, marketplace, "long")
    ends = clock.now() + timedelta(days=1)
    service.place_restriction(
        db, staff, short, RestrictionKind.suspension, "cool-off", ends_at=ends
    )
    service.place_restriction(db, staff, long, RestrictionKind.suspension, "fraud")

    assert service.refresh_statuses(db, system) == 0
    frozen.advance(timedelta(days=2))
    assert service.refresh_statuses(db, system) == 1
    assert (short.status, long.status) == (AccountStatus.active, AccountStatus.suspended)


def test_restriction_input_is_checked_before_writing(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal
) -> None:
    staff = _staff(db)
    account, _ = upsert(db, marketplace, "u-1")
    with pytest.raises(InvalidInput) as past:
        service.place_restriction(
            db, staff, account, RestrictionKind.listing, "x", ends_at=clock.now()
        )
    assert past.value.field == "ends_at"
    with pytest.raises(InvalidInput) as blank:
        service.place_restriction(db, staff, account, RestrictionKind.listing, "   ")
    assert blank.value.field == "reason"
    with pytest.raises(NotFound) as case:
        service.place_restriction(db, staff, account, RestrictionKind.listing, "x", case_id=4242)
    assert case.value.field == "case_id"
    assert db.scalar(select(func.count()).select_from(Restriction)) == 0
    assert account.status is AccountStatus.active


# --- views, reveal and lists ------------------------------------------------------------------


def test_staff_views_are_audited_and_api_key_reads_are_not(
    db: Session, marketplace: Principal
) -> None:
    staff = _staff(db, Role.agent)
    created, _ = upsert(db, marketplace, "u-1", email="maria@example.com")

    account, unmasked = service.get_account(db, marketplace, external_id="u-1")
    assert (account.id, unmasked) == (created.id, True)
    assert [r.action for r in audit_actions(db, "accounts.account.view")] == []

    account, unmasked = service.get_account(db, staff, account_id=created.id, reason="case 12")
    assert not unmasked
    (view,) = audit_actions(db, "accounts.account.view")
    assert (view.actor_type, view.target_id, view.reason) == ("staff", str(created.id), "case 12")

    with pytest.raises(NotFound):
        service.get_account(db, staff, external_id="nobody")


def test_reveal_needs_a_reason_and_the_permission(db: Session, marketplace: Principal) -> None:
    upsert(db, marketplace, "u-1", email="maria@example.com")
    agent, qa = _staff(db, Role.agent), _staff(db, Role.qa)

    with pytest.raises(InvalidInput) as missing:
        service.get_account(db, agent, external_id="u-1", reveal=True, reason="  ")
    assert missing.value.field == "reason"
    with pytest.raises(PermissionDenied):
        service.get_account(db, qa, external_id="u-1", reveal=True, reason="curious")

    _, unmasked = service.get_account(
        db, agent, external_id="u-1", reveal=True, reason="verifying identity for case 7"
    )
    assert unmasked
    (reveal,) = audit_actions(db, "accounts.account.reveal")
    assert reveal.reason == "verifying identity for case 7"
    assert reveal.actor_id == str(agent.id)


def test_list_filters_and_pages_by_id(db: Session, marketplace: Principal) -> None:
    staff = _staff(db, Role.agent)
    upsert(db, marketplace, "a", side="client", country="BR", display_name="Ana Lima")
    upsert(db, marketplace, "b", side="freelancer", country="BR", legal_name="Bruno 100%")
    upsert(db, marketplace, "c", side="client", country="US", email="carla@example.com")

    rows, _ = service.list_accounts(db, marketplace, country="br")
    assert [a.external_id for a in rows] == ["a", "b"]
    rows, _ = service.list_accounts(db, marketplace, side="client", country="US")
    assert [a.external_id for a in rows] == ["c"]
    rows, _ = service.list_accounts(db, marketplace, email="CARLA@example.com")
    assert [a.external_id for a in rows] == ["c"]
    rows, _ = service.list_accounts(db, marketplace, q="lim")
    assert [a.external_id for a in rows] == ["a"]
    rows, _ = service.list_accounts(db, marketplace, q="100%")  # % is literal, not a wildcard
    assert [a.external_id for a in rows] == ["b"]
    with pytest.raises(InvalidInput) as bad:
        service.list_accounts(db, marketplace, email="not-an-email")
    assert bad.value.field == "email"

    first, cursor = service.list_accounts(db, staff, limit=2)
    assert [a.external_id for a in first] == ["a", "b"] and cursor
    rest, cursor = service.list_accounts(db, staff, limit=2, cursor=cursor)
    assert [a.external_id for a in rest] == ["c"] and cursor is None
    lists = audit_actions(db, "accounts.account.list")
    assert len(lists) == 2
    assert lists[0].data["account_ids"] == [first[0].id, first[1].id]


def test_expiry_job_moves_statuses(
    db: Session, frozen: clock.FrozenClock, marketplace: Principal, settings: Settings
) -> None:
    staff = _staff(db)
    account, _ = upsert(db, marketplace, "u-1")
    ends = clock.now() + timedelta(hours=1)
    service.place_restriction(db, staff, account, RestrictionKind.payouts, "KYC", ends_at=ends)
    frozen.advance(timedelta(hours=2))

    tasks.refresh_statuses(JobContext(db, settings, job_id=1, attempt=1), {})
    tasks.refresh_statuses(JobContext(db, settings, job_id=1, attempt=2), {})  # a rerun
    assert account.status is AccountStatus.active
    (change,) = [
        r for r in audit_actions(db, "accounts.account.status") if r.actor_type == "system"
    ]
    assert change.data["to"] == "active"


def test_searching_by_personal_data_needs_reveal_and_is_audited_as_hashes(db: Session) -> None:
    import hashlib

    from sqlalchemy import select

    from tests.factories import make_staff
    from vigil.audit.models import AuditRecord
    from vigil.auth import service as auth_service
    from vigil.auth.permissions import Role
    from vigil.auth.principal import Principal
    from vigil.kit.errors import PermissionDenied

    system = Principal.system("test")
    service.upsert_account(
        db, system, "u-1", AccountUpsert.model_validate({"side": "client", "email": "ana@ex.com"})
    )
    qa = auth_service.principal_for(make_staff(db, role=Role.qa))
    with pytest.raises(PermissionDenied):
        service.list_accounts(db, qa, email="ana@ex.com")
    service.list_accounts(db, qa, country="ES")  # non-personal filters stay open to QA

    agent = auth_service.principal_for(make_staff(db, role=Role.agent))
    found, _ = service.list_accounts(db, agent, email="ana@ex.com")
    assert [a.external_id for a in found] == ["u-1"]
    record = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "accounts.account.list")
    ).all()[-1]
    assert "ana@ex.com" not in str(record.data)
    assert record.data["search_sha256"]["email"] == hashlib.sha256(b"ana@ex.com").hexdigest()
