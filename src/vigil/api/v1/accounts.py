"""HTTP API for accounts: the marketplace upserts its accounts and their identifiers, staff
read them (masked unless revealed with a reason), and both read the restrictions in force.

Ids in paths are the marketplace's own ``external_id``s, except restriction ids, which are
Vigil's.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Response, status

from vigil.accounts import service
from vigil.accounts.masking import mask_identifier
from vigil.accounts.models import Account, AccountStatus, IdentifierKind, Side
from vigil.accounts.schemas import (
    AccountBrief,
    AccountOut,
    AccountUpsert,
    IdentifierBatch,
    IdentifierBatchOut,
    IdentifierOut,
    LiftIn,
    LinkedAccountOut,
    LinkedPage,
    RestrictionIn,
    RestrictionOut,
    SharedValue,
    SharedValueCount,
)
from vigil.api.deps import DB, AccountsRead, AccountsWrite, AppSettings, RestrictionsWrite
from vigil.kit.errors import InvalidInput
from vigil.kit.pagination import Page

router = APIRouter(tags=["accounts"])

ExternalId = Annotated[
    str,
    Path(min_length=1, max_length=200, description="the marketplace's own id for the account"),
]
Reveal = Annotated[
    bool,
    Query(description="staff: show personal data unmasked (needs pii:reveal and a reason)"),
]
Reason = Annotated[
    str | None,
    Query(max_length=500, description="why you look (a case id, a ticket); audited"),
]
Limit = Annotated[int | None, Query(ge=1)]

_ETAG = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')


def page_limit(settings: AppSettings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    match = _ETAG.match(value.strip())
    if match is None:
        raise InvalidInput(
            'If-Match must be an account version such as "3"',
            field="If-Match",
            code="invalid_if_match",
        )
    return int(match.group(1))


def _account_out(db: DB, account: Account, *, masked: bool) -> AccountOut:
    return AccountOut.build(account, masked=masked, in_force=service.in_force_kinds(db, account))


@router.put(
    "/accounts/{external_id}",
    response_model=AccountOut,
    summary="Create or update an account",
    responses={
        200: {"description": "updated (or unchanged)"},
        201: {"description": "created"},
        409: {"description": "version_conflict: If-Match / expected_version is not current"},
        422: {"description": "a field is missing, unknown or invalid; nothing was written"},
    },
)
def upsert_account(
    external_id: ExternalId,
    body: AccountUpsert,
    response: Response,
    db: DB,
    actor: AccountsWrite,
    if_match: Annotated[
        str | None, Header(description="the version you last read; 409 if it is not current")
    ] = None,
) -> AccountOut:
    account, created = service.upsert_account(
        db, actor, external_id, body, expected_version=_if_match(if_match)
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    response.headers["ETag"] = f'"{account.version}"'
    if created:
        response.headers["Location"] = f"/v1/accounts/{quote(external_id, safe='')}"
    return _account_out(db, account, masked=service.masks_personal_data(actor))


@router.get("/accounts", response_model=Page[AccountOut], summary="List accounts")
def list_accounts(
    db: DB,
    settings: AppSettings,
    actor: AccountsRead,
    status_: Annotated[AccountStatus | None, Query(alias="status")] = None,
    side: Side | None = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
    email: Annotated[str | None, Query(max_length=320, description="exact match")] = None,
    phone: Annotated[str | None, Query(max_length=40, description="exact match")] = None,
    q: Annotated[str | None, Query(max_length=200, description="part of a name")] = None,
    cursor: str | None = None,
    limit: Limit = None,
) -> Page[AccountOut]:
    rows, next_cursor = service.list_accounts(
        db,
        actor,
        status=status_,
        side=side,
        country=country,
        email=email,
        phone=phone,
        q=q,
        cursor=cursor,
        limit=page_limit(settings, limit),
    )
    masked = service.masks_personal_data(actor)
    kinds = service.in_force_kinds_for(db, [a.id for a in rows])
    return Page(
        items=[AccountOut.build(a, masked=masked, in_force=kinds[a.id]) for a in rows],
        next_cursor=next_cursor,
    )


@router.get("/accounts/{external_id}", response_model=AccountOut, summary="One account")
def get_account(
    external_id: ExternalId,
    db: DB,
    actor: AccountsRead,
    reveal: Reveal = False,
    reason: Reason = None,
) -> AccountOut:
    account, unmasked = service.get_account(
        db, actor, external_id=external_id, reveal=reveal, reason=reason
    )
    return _account_out(db, account, masked=not unmasked)


@router.post(
    "/accounts/{external_id}/identifiers",
    response_model=IdentifierBatchOut,
    summary="Report identifiers an account was seen with (up to 100, all or none)",
)
def add_identifiers(
    external_id: ExternalId, body: IdentifierBatch, db: DB, actor: AccountsWrite
) -> IdentifierBatchOut:
    account = service.account_by_external_id(db, external_id)
    merge = service.add_identifiers(db, actor, account, body.identifiers)
    masked = service.masks_personal_data(actor)
    return IdentifierBatchOut(
        received=merge.received,
        created=merge.created,
        updated=merge.updated,
        items=[IdentifierOut.build(i, masked=masked) for i in merge.identifiers],
    )


@router.get(
    "/accounts/{external_id}/identifiers",
    response_model=Page[IdentifierOut],
    summary="Identifiers an account was seen with",
)
def list_identifiers(
    external_id: ExternalId,
    db: DB,
    settings: AppSettings,
    actor: AccountsRead,
    kind: IdentifierKind | None = None,
    reveal: Reveal = False,
    reason: Reason = None,
    cursor: str | None = None,
    limit: Limit = None,
) -> Page[IdentifierOut]:
    account, unmasked = service.get_account(
        db, actor, external_id=external_id, reveal=reveal, reason=reason, view="identifiers"
    )
    rows, next_cursor = service.list_identifiers(
        db, account, kind=kind, cursor=cursor, limit=page_limit(settings, limit)
    )
    return Page(
        items=[IdentifierOut.build(i, masked=not unmasked) for i in rows],
        next_cursor=next_cursor,
    )


@router.get(
    "/accounts/{external_id}/linked",
    response_model=LinkedPage,
    summary="Other accounts sharing a device, card, phone, email or IP",
)
def linked_accounts(
    external_id: ExternalId,
    db: DB,
    settings: AppSettings,
    actor: AccountsRead,
    kind: Annotated[list[IdentifierKind] | None, Query(description="repeat to combine")] = None,
    reveal: Reveal = False,
    reason: Reason = None,
    cursor: str | None = None,
    limit: Limit = None,
) -> LinkedPage:
    account, unmasked = service.get_account(
        db, actor, external_id=external_id, reveal=reveal, reason=reason, view="linked"
    )
    linked = service.linked_accounts(
        db,
        account,
        kinds=kind or service.LINK_KINDS,
        cursor=cursor,
        limit=page_limit(settings, limit),
    )

    def shown(k: IdentifierKind, v: str) -> str:
        return v if unmasked else mask_identifier(k, v)

    return LinkedPage(
        items=[
            LinkedAccountOut(
                account=AccountBrief.build(item.account),
                shared_count=item.shared_count,
                shared=[SharedValue(kind=k, value=shown(k, v)) for k, v in item.shared],
            )
            for item in linked.items
        ],
        next_cursor=linked.next_cursor,
        shared_values=[
            SharedValueCount(kind=k, value=shown(k, v), accounts=n)
            for k, v, n in linked.shared_values
        ],
    )


@router.get(
    "/accounts/{external_id}/restrictions",
    response_model=Page[RestrictionOut],
    summary="Restrictions in force on an account (all=true: every one ever placed)",
)
def list_restrictions(
    external_id: ExternalId,
    db: DB,
    settings: AppSettings,
    actor: AccountsRead,
    all_: Annotated[bool, Query(alias="all", description="include lifted and ended")] = False,
    cursor: str | None = None,
    limit: Limit = None,
) -> Page[RestrictionOut]:
    account, _ = service.get_account(db, actor, external_id=external_id, view="restrictions")
    rows, next_cursor = service.list_restrictions(
        db, account, include_history=all_, cursor=cursor, limit=page_limit(settings, limit)
    )
    return Page(
        items=[RestrictionOut.build(r, account.external_id) for r in rows],
        next_cursor=next_cursor,
    )


@router.post(
    "/accounts/{external_id}/restrictions",
    response_model=RestrictionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Restrict an account",
)
def place_restriction(
    external_id: ExternalId, body: RestrictionIn, db: DB, actor: RestrictionsWrite
) -> RestrictionOut:
    account = service.account_by_external_id(db, external_id, lock=True)
    restriction = service.place_restriction(
        db,
        actor,
        account,
        body.kind,
        body.reason,
        ends_at=body.ends_at,
        policy_code=body.policy_code,
        case_id=body.case_id,
    )
    return RestrictionOut.build(restriction, account.external_id)


@router.post(
    "/restrictions/{restriction_id}/lift",
    response_model=RestrictionOut,
    summary="Lift a restriction in force",
)
def lift_restriction(
    restriction_id: int, body: LiftIn, db: DB, actor: RestrictionsWrite
) -> RestrictionOut:
    restriction, account = service.lift_restriction(db, actor, restriction_id, body.reason)
    return RestrictionOut.build(restriction, account.external_id)
