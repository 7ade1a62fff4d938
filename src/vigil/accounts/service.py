"""Accounts, their identifiers and the restrictions placed on them.

Invariants kept here:
- ``Account.version`` moves only when a stored field really changes (optimistic concurrency
  for the marketplace: ``expected_version`` / ``If-Match``).
- Identifiers are unique per (account, kind, value) and hold canonical values, so accounts
  are linked by exact matches through ``ix_identifiers_kind_value``.
- ``Account.status`` follows the restrictions in force: a suspension makes it ``suspended``,
  any other restriction ``restricted``, none ``active``; ``closed`` (by the user) and
  ``removed`` (by enforcement) are never overwritten by restrictions.
- Every change and every staff view of personal data writes an audit record in the caller's
  transaction; audit data holds field names and counts, never personal values.
- Nothing commits; every check runs before the first write, so a refused request leaves no
  trace once the caller rolls back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigil.accounts import normalize
from vigil.accounts.masking import (  # re-exported: other domains mask through the service
    mask_email,
    mask_identifier,
    mask_name,
    mask_phone,
)
from vigil.accounts.models import (
    Account,
    AccountStatus,
    Identifier,
    IdentifierKind,
    Restriction,
    RestrictionKind,
)
from vigil.accounts.repository import (  # re-exported: callers need only the service
    LINK_KINDS,
    Linked,
    LinkedAccount,
    in_force_kinds,
    in_force_kinds_for,
    linked_accounts,
    list_identifiers,
    list_restrictions,
    restrictions_in_force,
)
from vigil.accounts.schemas import AccountUpsert, IdentifierIn, MarketplaceStatus
from vigil.audit import service as audit
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, PermissionDenied, VersionConflict
from vigil.kit.pagination import decode_cursor, encode_cursor

__all__ = [
    "LINK_KINDS",
    "IdentifierMerge",
    "Linked",
    "LinkedAccount",
    "account_by_external_id",
    "add_identifiers",
    "get_account",
    "in_force_kinds",
    "in_force_kinds_for",
    "lift_restriction",
    "linked_accounts",
    "list_accounts",
    "list_identifiers",
    "list_restrictions",
    "mask_email",
    "mask_identifier",
    "mask_name",
    "mask_phone",
    "masks_personal_data",
    "place_restriction",
    "refresh_status",
    "refresh_statuses",
    "restrictions_in_force",
    "upsert_account",
]

TARGET = "account"
PROFILE_FIELDS = (
    "side",
    "display_name",
    "legal_name",
    "date_of_birth",
    "country",
    "locale",
    "email",
    "phone",
    "registered_at",
    "attributes",
)
_TERMINAL = {AccountStatus.closed, AccountStatus.removed}


# --- who sees what -----------------------------------------------------------------------


def masks_personal_data(actor: Principal, revealed: bool = False) -> bool:
    """Staff see personal data masked unless they revealed it with a reason. API keys are
    the marketplace's own servers and get back what they sent; jobs and the CLI see all."""
    return actor.is_staff and not revealed


def _audit_view(
    session: Session,
    actor: Principal,
    account: Account,
    *,
    view: str,
    reveal: bool,
    reason: str | None,
) -> bool:
    """Write the view (or reveal) record for staff; returns whether data is revealed."""
    if not actor.is_staff:
        return False
    reason = (reason or "").strip() or None
    if reveal:
        actor.require(Permission.pii_reveal)
        if reason is None:
            raise InvalidInput(
                "revealing personal data needs a reason", field="reason", code="reason_required"
            )
        audit.record(
            session, actor, "accounts.account.reveal", TARGET, account.id,
            reason=reason, data={"view": view},
        )  # fmt: skip
        return True
    audit.record(
        session, actor, "accounts.account.view", TARGET, account.id,
        reason=reason, data={"view": view},
    )  # fmt: skip
    return False


# --- reading accounts ----------------------------------------------------------------------


def account_by_external_id(session: Session, external_id: str, *, lock: bool = False) -> Account:
    """Resolve the marketplace's id without auditing: for code that links records to an
    account, not for showing it to a person (use :func:`get_account` for that)."""
    stmt = select(Account).where(Account.external_id == external_id)
    if lock:
        stmt = stmt.with_for_update()
    account = session.scalar(stmt)
    if account is None:
        raise NotFound(f"no account with external id {external_id!r}", code="account_not_found")
    return account


def get_account(
    session: Session,
    actor: Principal,
    *,
    external_id: str | None = None,
    account_id: int | None = None,
    reveal: bool = False,
    reason: str | None = None,
    view: str = "profile",
) -> tuple[Account, bool]:
    """Load an account for showing it. Staff views write ``accounts.account.view``; with
    ``reveal`` (needs ``pii:reveal`` and a reason) ``accounts.account.reveal``. Returns the
    account and whether personal data may be shown unmasked to ``actor``."""
    if (external_id is None) == (account_id is None):
        raise ValueError("give exactly one of external_id and account_id")
    if external_id is not None:
        account = account_by_external_id(session, external_id)
    else:
        found = session.get(Account, account_id)
        if found is None:
            raise NotFound(f"no account with id {account_id}", code="account_not_found")
        account = found
    revealed = _audit_view(session, actor, account, view=view, reveal=reveal, reason=reason)
    return account, not masks_personal_data(actor, revealed)


def list_accounts(
    session: Session,
    actor: Principal,
    *,
    status: AccountStatus | None = None,
    side: str | None = None,
    country: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Account], str | None]:
    """Accounts in id order, one keyset page at a time. ``email`` and ``phone`` match the
    normalized value exactly; ``q`` is a case-insensitive substring of either name.

    Searching by personal data is itself a way to read it (a hit confirms a guess), so staff
    need ``pii:reveal`` for ``email``, ``phone`` and ``q``; the search terms are audited.
    """
    searched = {
        name: value
        for name, value in (("email", email), ("phone", phone), ("q", q))
        if value is not None and value.strip()
    }
    if searched and actor.is_staff and not actor.can(Permission.pii_reveal):
        raise PermissionDenied(
            "searching accounts by email, phone or name needs the 'pii:reveal' permission",
            field=next(iter(searched)),
            code="permission_denied",
        )
    stmt = select(Account)
    filters: list[str] = []
    if status is not None:
        stmt = stmt.where(Account.status == status)
        filters.append("status")
    if side is not None:
        stmt = stmt.where(Account.side == side)
        filters.append("side")
    if country is not None:
        stmt = stmt.where(
            Account.country == _checked(normalize.normalize_country, country, "country")
        )
        filters.append("country")
    if email is not None:
        stmt = stmt.where(Account.email == _checked(normalize.normalize_email, email, "email"))
        filters.append("email")
    if phone is not None:
        stmt = stmt.where(Account.phone == _checked(normalize.normalize_phone, phone, "phone"))
        filters.append("phone")
    if q is not None and q.strip():
        needle = q.strip().lower()
        stmt = stmt.where(
            or_(
                func.lower(Account.display_name).contains(needle, autoescape=True),
                func.lower(Account.legal_name).contains(needle, autoescape=True),
            )
        )
        filters.append("q")
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        stmt = stmt.where(Account.id > after)
    rows = list(session.scalars(stmt.order_by(Account.id).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    rows = rows[:limit]
    if actor.is_staff:
        # Search terms are personal data themselves and the audit log is never erased: it
        # keeps their SHA-256, enough to answer "who searched for this email?" later.
        hashed = {
            name: hashlib.sha256(value.strip().lower().encode()).hexdigest()
            for name, value in searched.items()
        }
        audit.record(
            session, actor, "accounts.account.list", TARGET, None,
            data={"filters": filters, "search_sha256": hashed, "account_ids": [a.id for a in rows]},
        )  # fmt: skip
    return rows, next_cursor


def _checked(fn: Any, value: str, field_name: str) -> str:
    try:
        return str(fn(value))
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field_name, code=f"invalid_{field_name}") from None


# --- upsert ----------------------------------------------------------------------------------


def _check_external_id(external_id: str) -> str:
    if not external_id or len(external_id) > 200 or external_id != external_id.strip():
        raise InvalidInput(
            "external id must be 1 to 200 characters without surrounding spaces",
            field="external_id",
            code="invalid_external_id",
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in external_id):
        raise InvalidInput(
            "external id must not contain control characters",
            field="external_id",
            code="invalid_external_id",
        )
    return external_id


def upsert_account(
    session: Session,
    actor: Principal,
    external_id: str,
    data: AccountUpsert,
    expected_version: int | None = None,
) -> tuple[Account, bool]:
    """Create the account or update the fields sent. Returns ``(account, created)``.

    ``expected_version`` (or ``data.expected_version``): ``0`` means "must not exist yet",
    ``n`` means "must be at version n"; anything else raises ``VersionConflict``. Identifiers
    sent with the account, and the profile's email and phone when they change, are merged
    into the account's identifiers.
    """
    external_id = _check_external_id(external_id)
    if expected_version is None:
        expected_version = data.expected_version
    elif data.expected_version is not None and data.expected_version != expected_version:
        raise InvalidInput(
            "If-Match and expected_version disagree",
            field="expected_version",
            code="version_mismatch",
        )
    # Checked before any write: a bad identifier must not leave a half-updated account.
    items = _normalize_items(data.identifiers, "identifiers")
    sent = data.model_fields_set

    account = session.scalar(
        select(Account).where(Account.external_id == external_id).with_for_update()
    )
    if account is None:
        if expected_version not in (None, 0):
            raise VersionConflict(
                f"account {external_id!r} does not exist (expected version {expected_version})",
                field="expected_version",
                details=[{"current_version": None}],
            )
        if data.side is None:
            raise InvalidInput(
                "side is required when the account is created", field="side", code="missing_field"
            )
        values = {name: getattr(data, name) for name in PROFILE_FIELDS if name in sent}
        values.setdefault("attributes", {})
        account = Account(external_id=external_id, **values)
        if data.status is MarketplaceStatus.closed:
            account.status = AccountStatus.closed
        else:
            account.status = AccountStatus.active
        session.add(account)
        session.flush()
        changed = sorted(n for n in values if values[n] is not None and values[n] != {})
        items += _profile_identifiers(account.email, account.phone)
        merge = _merge_identifiers(session, account, items)
        audit.record(
            session, actor, "accounts.account.create", TARGET, account.id,
            data={"external_id": external_id, "fields": changed, **merge.audit_data()},
        )  # fmt: skip
        return account, True

    if expected_version is not None and expected_version != account.version:
        raise VersionConflict(
            f"account {external_id!r} is at version {account.version}, not {expected_version}",
            field="expected_version",
            details=[{"current_version": account.version}],
        )
    changed = []
    for name in PROFILE_FIELDS:
        if name not in sent:
            continue
        new = getattr(data, name)
        if getattr(account, name) != new:
            setattr(account, name, new)
            changed.append(name)
    if data.status is not None:
        status = _requested_status(session, account, data.status)
        if status is not account.status:
            account.status = status
            changed.append("status")
    session.flush()  # bumps the version when something changed
    if "email" in changed or "phone" in changed:
        items += _profile_identifiers(
            account.email if "email" in changed else None,
            account.phone if "phone" in changed else None,
        )
    merge = _merge_identifiers(session, account, items)
    if changed:
        audit.record(
            session, actor, "accounts.account.update", TARGET, account.id,
            data={"fields": sorted(changed), "version": account.version, **merge.audit_data()},
        )  # fmt: skip
    elif merge.received:
        _audit_identifiers(session, actor, account, merge)
    return account, False


def _requested_status(
    session: Session, account: Account, requested: MarketplaceStatus
) -> AccountStatus:
    """The marketplace closes and reopens accounts; it cannot lift Trust & Safety outcomes by
    sending ``active`` (restrictions are lifted through the restrictions API)."""
    if account.status is AccountStatus.removed:
        return account.status
    if requested is MarketplaceStatus.closed:
        return AccountStatus.closed
    if account.status is AccountStatus.closed:
        return _status_from(in_force_kinds(session, account))
    return account.status


# --- identifiers -----------------------------------------------------------------------------


@dataclass
class IdentifierMerge:
    received: int = 0  # distinct (kind, value) pairs
    created: int = 0
    kinds: list[str] = field(default_factory=list)
    identifiers: list[Identifier] = field(default_factory=list)

    @property
    def updated(self) -> int:
        return self.received - self.created

    def audit_data(self) -> dict[str, Any]:
        if not self.received:
            return {}
        return {"identifiers": {"received": self.received, "created": self.created,
                                "kinds": self.kinds}}  # fmt: skip


_Item = tuple[IdentifierKind, str, datetime | None]


def _normalize_items(items: Sequence[IdentifierIn], field_prefix: str) -> list[_Item]:
    out: list[_Item] = []
    for i, item in enumerate(items):
        try:
            value = normalize.normalize_identifier(item.kind, item.value)
        except ValueError as exc:
            raise InvalidInput(
                f"{item.kind.value}: {exc}",
                field=f"{field_prefix}.{i}.value",
                code="invalid_identifier",
            ) from None
        out.append((item.kind, value, item.seen_at))
    return out


def _profile_identifiers(email: str | None, phone: str | None) -> list[_Item]:
    out: list[_Item] = []
    if email:
        out.append((IdentifierKind.email, email, None))
    if phone:
        out.append((IdentifierKind.phone, phone, None))
    return out


def _merge_identifiers(session: Session, account: Account, items: list[_Item]) -> IdentifierMerge:
    """One INSERT .. ON CONFLICT DO UPDATE for the whole batch: concurrent reports of the
    same identifier add up instead of failing on the unique constraint."""
    if not items:
        return IdentifierMerge()
    now = clock.now()
    # Duplicates within one statement would make PostgreSQL refuse the upsert.
    rows: dict[tuple[IdentifierKind, str], dict[str, Any]] = {}
    for kind, value, seen_at in items:
        seen = min(clock.as_utc(seen_at), now) if seen_at is not None else now
        row = rows.get((kind, value))
        if row is None:
            rows[(kind, value)] = {
                "account_id": account.id, "kind": kind, "value": value,
                "first_seen_at": seen, "last_seen_at": seen, "seen_count": 1,
            }  # fmt: skip
        else:
            row["first_seen_at"] = min(row["first_seen_at"], seen)
            row["last_seen_at"] = max(row["last_seen_at"], seen)
            row["seen_count"] += 1
    keys = list(rows)
    existing = _existing_keys(session, account.id, keys)

    stmt: Any
    earliest: Any
    latest: Any
    if session.get_bind().dialect.name == "postgresql":
        stmt = postgresql.insert(Identifier)
        earliest, latest = func.least, func.greatest
    else:
        stmt = sqlite.insert(Identifier)
        # SQLite's two-argument min()/max() are scalar; its timestamps are ISO text, which
        # orders like time.
        earliest, latest = func.min, func.max
    # Sorted, so two concurrent batches for one account lock its rows in the same order.
    stmt = stmt.values([rows[key] for key in sorted(rows)])
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "kind", "value"],
        set_={
            "first_seen_at": earliest(Identifier.first_seen_at, stmt.excluded.first_seen_at),
            "last_seen_at": latest(Identifier.last_seen_at, stmt.excluded.last_seen_at),
            "seen_count": Identifier.seen_count + stmt.excluded.seen_count,
        },
    )
    session.execute(stmt)
    merged = list(
        session.scalars(
            select(Identifier)
            .where(Identifier.account_id == account.id, _key_filter(keys))
            .order_by(Identifier.kind, Identifier.value)
            .execution_options(populate_existing=True)
        )
    )
    return IdentifierMerge(
        received=len(keys),
        created=len(keys) - len(existing),
        kinds=sorted({k.value for k, _ in keys}),
        identifiers=merged,
    )


def _key_filter(keys: Iterable[tuple[IdentifierKind, str]]) -> ColumnElement[bool]:
    return tuple_(Identifier.kind, Identifier.value).in_([(k.value, v) for k, v in keys])


def _existing_keys(
    session: Session, account_id: int, keys: list[tuple[IdentifierKind, str]]
) -> set[tuple[str, str]]:
    rows = session.execute(
        select(Identifier.kind, Identifier.value).where(
            Identifier.account_id == account_id, _key_filter(keys)
        )
    )
    return {(str(kind), value) for kind, value in rows}


def _audit_identifiers(
    session: Session, actor: Principal, account: Account, merge: IdentifierMerge
) -> None:
    audit.record(
        session, actor, "accounts.identifier.add", TARGET, account.id,
        data=merge.audit_data()["identifiers"],
    )  # fmt: skip


def add_identifiers(
    session: Session,
    actor: Principal,
    account: Account,
    items: Sequence[IdentifierIn],
    *,
    field_prefix: str = "identifiers",
) -> IdentifierMerge:
    """Record that ``account`` was seen with these identifiers. All items are checked before
    any is written (one bad item: ``InvalidInput`` naming ``<field_prefix>.<i>.value``).
    ``first_seen_at`` keeps the earliest sighting, ``last_seen_at`` the latest, and
    ``seen_count`` adds one per report."""
    normalized = _normalize_items(items, field_prefix)
    merge = _merge_identifiers(session, account, normalized)
    if merge.received:
        _audit_identifiers(session, actor, account, merge)
    return merge


def _status_from(kinds: Iterable[RestrictionKind]) -> AccountStatus:
    kinds = set(kinds)
    if RestrictionKind.suspension in kinds:
        return AccountStatus.suspended
    return AccountStatus.restricted if kinds else AccountStatus.active


def refresh_status(session: Session, actor: Principal, account: Account) -> bool:
    """Bring ``account.status`` in line with the restrictions in force now. Returns whether
    it changed (and then audits ``accounts.account.status``)."""
    if account.status in _TERMINAL:
        return False
    new = _status_from(in_force_kinds(session, account))
    if new is account.status:
        return False
    old = account.status
    account.status = new
    session.flush()
    audit.record(
        session, actor, "accounts.account.status", TARGET, account.id,
        data={"from": old.value, "to": new.value, "version": account.version},
    )  # fmt: skip
    return True


def refresh_statuses(session: Session, actor: Principal, *, batch: int = 500) -> int:
    """Restrictions that reach ``ends_at`` stop being in force without any write; this sweep
    (a periodic job) moves the statuses of such accounts back. Returns how many changed."""
    changed, after = 0, 0
    while True:
        accounts = list(
            session.scalars(
                select(Account)
                .where(
                    Account.status.in_([AccountStatus.restricted, AccountStatus.suspended]),
                    Account.id > after,
                )
                .order_by(Account.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        if not accounts:
            return changed
        kinds = in_force_kinds_for(session, [a.id for a in accounts])
        for account in accounts:
            if _status_from(kinds[account.id]) is not account.status:
                changed += refresh_status(session, actor, account)
        after = accounts[-1].id


def _check_case(session: Session, actor: Principal, case_id: int) -> None:
    """The case must exist and be visible to ``actor`` (a legal-tier case answers 404 to
    those who may not see it, exactly as the cases API does)."""
    # Imported here: the cases domain reads accounts, so a module-level import would be a
    # cycle; the call still goes through the cases service, which owns visibility.
    from vigil.cases import service as cases_service

    try:
        cases_service.get_case(session, actor, case_id)
    except NotFound:
        raise NotFound(
            f"no case with id {case_id}", field="case_id", code="case_not_found"
        ) from None


def place_restriction(
    session: Session,
    actor: Principal,
    account: Account,
    kind: RestrictionKind,
    reason: str,
    ends_at: datetime | None = None,
    policy_code: str | None = None,
    case_id: int | None = None,
) -> Restriction:
    """Restrict ``account`` from now until ``ends_at`` (or until lifted); updates its status
    and audits ``accounts.restriction.place``."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a restriction needs a reason", field="reason", code="reason_required")
    now = clock.now()
    if ends_at is not None:
        if ends_at.tzinfo is None:
            raise InvalidInput("ends_at needs a time zone", field="ends_at", code="invalid_field")
        if ends_at <= now:
            raise InvalidInput(
                "ends_at must be in the future", field="ends_at", code="ends_at_in_past"
            )
    if case_id is not None:
        _check_case(session, actor, case_id)
    restriction = Restriction(
        account_id=account.id,
        kind=kind,
        reason=reason,
        policy_code=policy_code,
        case_id=case_id,
        starts_at=now,
        ends_at=ends_at,
        created_by_id=actor.staff_id,
        created_at=now,
    )
    session.add(restriction)
    session.flush()
    audit.record(
        session, actor, "accounts.restriction.place", "restriction", restriction.id,
        reason=reason,
        data={"account_id": account.id, "kind": kind.value, "policy_code": policy_code,
              "case_id": case_id, "ends_at": ends_at},
    )  # fmt: skip
    refresh_status(session, actor, account)
    return restriction


def lift_restriction(
    session: Session, actor: Principal, restriction_id: int, reason: str
) -> tuple[Restriction, Account]:
    """Lift a restriction in force; the account's status follows what is left in force."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("lifting needs a reason", field="reason", code="reason_required")
    restriction = session.scalar(
        select(Restriction).where(Restriction.id == restriction_id).with_for_update()
    )
    if restriction is None:
        raise NotFound(f"no restriction with id {restriction_id}", code="restriction_not_found")
    now = clock.now()
    if restriction.lifted_at is not None:
        raise Conflict("this restriction was already lifted", code="restriction_lifted")
    if restriction.ends_at is not None and restriction.ends_at <= now:
        raise Conflict("this restriction has already ended", code="restriction_ended")
    account = session.get(Account, restriction.account_id, with_for_update=True)
    assert account is not None  # the foreign key cascades deletes
    restriction.lifted_at = now
    restriction.lifted_by_id = actor.staff_id
    restriction.lift_reason = reason
    session.flush()
    audit.record(
        session, actor, "accounts.restriction.lift", "restriction", restriction.id,
        reason=reason, data={"account_id": account.id, "kind": restriction.kind.value},
    )  # fmt: skip
    refresh_status(session, actor, account)
    return restriction, account


def mark_removed(session: Session, actor: Principal, account: Account, reason: str) -> bool:
    """Remove (ban) ``account`` by enforcement. ``removed`` is terminal for restrictions: only
    :func:`reinstate` brings the account back. Returns whether the status changed (and then
    audits ``accounts.account.remove``)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "removing an account needs a reason", field="reason", code="reason_required"
        )
    if account.status is AccountStatus.removed:
        return False
    old = account.status
    account.status = AccountStatus.removed
    session.flush()
    audit.record(
        session, actor, "accounts.account.remove", TARGET, account.id, reason=reason,
        data={"from": old.value, "to": AccountStatus.removed.value, "version": account.version},
    )  # fmt: skip
    return True


def reinstate(session: Session, actor: Principal, account: Account, reason: str) -> bool:
    """Undo a removal: the status follows the restrictions still in force (``active`` when
    none). A closed or not-removed account is left alone. Returns whether the status changed
    (and then audits ``accounts.account.reinstate``)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reinstating needs a reason", field="reason", code="reason_required")
    if account.status is not AccountStatus.removed:
        return False
    new = _status_from(in_force_kinds(session, account))
    account.status = new
    session.flush()
    audit.record(
        session, actor, "accounts.account.reinstate", TARGET, account.id, reason=reason,
        data={"from": AccountStatus.removed.value, "to": new.value, "version": account.version},
    )  # fmt: skip
    return True
