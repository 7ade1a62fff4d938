"""Read-only queries for accounts: identifiers, linked accounts and restrictions in force.

No rules and no audit here; the service decides who may see what and records it. Each query
pages with a keyset and uses the index named in its docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from vigil.accounts.models import (
    Account,
    Identifier,
    IdentifierKind,
    Restriction,
    RestrictionKind,
)
from vigil.kit import clock
from vigil.kit.errors import InvalidInput
from vigil.kit.pagination import decode_cursor, encode_cursor

# Kinds that tie accounts to one person or device; all of them by default.
LINK_KINDS: tuple[IdentifierKind, ...] = (
    IdentifierKind.device,
    IdentifierKind.payment,
    IdentifierKind.phone,
    IdentifierKind.email,
    IdentifierKind.ip,
)


def _after_id(cursor: str) -> int:
    (value,) = decode_cursor(cursor, 1)
    if not isinstance(value, int):
        raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
    return value


# --- identifiers -----------------------------------------------------------------------------


def list_identifiers(
    session: Session,
    account: Account,
    *,
    kind: IdentifierKind | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Identifier], str | None]:
    stmt = select(Identifier).where(Identifier.account_id == account.id)
    if kind is not None:
        stmt = stmt.where(Identifier.kind == kind)
    if cursor is not None:
        stmt = stmt.where(Identifier.id > _after_id(cursor))
    rows = list(session.scalars(stmt.order_by(Identifier.id).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor


# --- linked accounts -------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkedAccount:
    account: Account
    shared_count: int
    shared: list[tuple[IdentifierKind, str]]


@dataclass(frozen=True)
class Linked:
    items: list[LinkedAccount]
    next_cursor: str | None
    # Each of this account's values that another account also has, with how many do.
    shared_values: list[tuple[IdentifierKind, str, int]]


def linked_accounts(
    session: Session,
    account: Account,
    *,
    kinds: Sequence[IdentifierKind] = LINK_KINDS,
    cursor: str | None = None,
    limit: int = 50,
) -> Linked:
    """Other accounts that share at least one identifier value with ``account``, most shared
    values first. Each step is a join through ``ix_identifiers_kind_value``; only the page's
    accounts and their shared values are loaded."""
    mine = aliased(Identifier, name="mine")
    other = aliased(Identifier, name="other")
    joined = and_(
        other.kind == mine.kind, other.value == mine.value, other.account_id != account.id
    )
    base = [mine.account_id == account.id, mine.kind.in_(list(kinds))]
    shared = func.count().label("shared")
    stmt = (
        select(other.account_id, shared)
        .select_from(mine)
        .join(other, joined)
        .where(*base)
        .group_by(other.account_id)
    )
    if cursor is not None:
        after_shared, after_id = decode_cursor(cursor, 2)
        if not isinstance(after_shared, int) or not isinstance(after_id, int):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        stmt = stmt.having(
            or_(
                func.count() < after_shared,
                and_(func.count() == after_shared, other.account_id > after_id),
            )
        )
    page = session.execute(stmt.order_by(shared.desc(), other.account_id).limit(limit + 1)).all()
    next_cursor = None
    if len(page) > limit:
        last = page[limit - 1]
        next_cursor = encode_cursor([int(last.shared), int(last.account_id)])
    page = page[:limit]
    ids = [int(r.account_id) for r in page]

    values: dict[int, list[tuple[IdentifierKind, str]]] = {i: [] for i in ids}
    if ids:
        for account_id, kind, value in session.execute(
            select(other.account_id, mine.kind, mine.value)
            .select_from(mine)
            .join(other, joined)
            .where(*base, other.account_id.in_(ids))
            .order_by(other.account_id, mine.kind, mine.value)
        ):
            values[int(account_id)].append((IdentifierKind(kind), value))
    accounts = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(ids)))}

    counts = session.execute(
        select(mine.kind, mine.value, func.count(func.distinct(other.account_id)))
        .select_from(mine)
        .join(other, joined)
        .where(*base)
        .group_by(mine.kind, mine.value)
        .order_by(func.count(func.distinct(other.account_id)).desc(), mine.kind, mine.value)
    ).all()
    return Linked(
        items=[
            LinkedAccount(accounts[int(r.account_id)], int(r.shared), values[int(r.account_id)])
            for r in page
        ],
        next_cursor=next_cursor,
        shared_values=[(IdentifierKind(k), v, int(n)) for k, v, n in counts],
    )


# --- restrictions ----------------------------------------------------------------------------


def _in_force(at: datetime) -> ColumnElement[bool]:
    return and_(
        Restriction.lifted_at.is_(None),
        Restriction.starts_at <= at,
        or_(Restriction.ends_at.is_(None), Restriction.ends_at > at),
    )


def restrictions_in_force(
    session: Session, account: Account, at: datetime | None = None
) -> list[Restriction]:
    """What the account may not do right now (or at ``at``), newest first."""
    at = at or clock.now()
    return list(
        session.scalars(
            select(Restriction)
            .where(Restriction.account_id == account.id, _in_force(at))
            .order_by(Restriction.id.desc())
        )
    )


def in_force_kinds(
    session: Session, account: Account, at: datetime | None = None
) -> list[RestrictionKind]:
    return sorted({r.kind for r in restrictions_in_force(session, account, at)})


def in_force_kinds_for(
    session: Session, account_ids: Sequence[int], at: datetime | None = None
) -> dict[int, list[RestrictionKind]]:
    """Kinds in force for many accounts in one query (for list pages)."""
    at = at or clock.now()
    out: dict[int, set[RestrictionKind]] = {i: set() for i in account_ids}
    if account_ids:
        for account_id, kind in session.execute(
            select(Restriction.account_id, Restriction.kind)
            .where(Restriction.account_id.in_(list(account_ids)), _in_force(at))
            .distinct()
        ):
            out[account_id].add(RestrictionKind(kind))
    return {i: sorted(k) for i, k in out.items()}


def list_restrictions(
    session: Session,
    account: Account,
    *,
    include_history: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Restriction], str | None]:
    """Restrictions in force (or, with ``include_history``, every one ever placed), newest
    first, one keyset page at a time."""
    stmt = select(Restriction).where(Restriction.account_id == account.id)
    if not include_history:
        stmt = stmt.where(_in_force(clock.now()))
    if cursor is not None:
        stmt = stmt.where(Restriction.id < _after_id(cursor))
    rows = list(session.scalars(stmt.order_by(Restriction.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor
