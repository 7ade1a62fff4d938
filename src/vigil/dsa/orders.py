"""Orders from Member States' authorities (DSA Art. 9 / 10): recorded by the legal team, each
handled in a legal-tier case, and counted in the transparency report (Art. 15(1)(a)).

Recording an order needs ``cases:legal`` (the legal team; admins hold every permission).
Invariants:
- Every order opens exactly one legal-tier case, in the same transaction, so no order goes
  unhandled and nobody outside the legal tier sees it.
- ``received_at <= acknowledged_at`` and ``received_at <= effected_at``; none in the future.
- ``acknowledged_at`` is only ever a time the legal team gave (on recording the order or with
  ``acknowledge``): Vigil never fills in "now" for it, so the report's median time to inform
  the authority of receipt is built from real acknowledgements only.
- Acknowledging and giving effect are each recorded once (409 ``order_already_acknowledged``
  / ``order_already_effected`` after that); every change is audited as ``dsa.order.*``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.audit.service import record
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseType, Severity
from vigil.dsa.order_models import AuthorityOrder, OrderKind, OrderStatus
from vigil.dsa.vocabulary import EEA_COUNTRY_CODES, Category
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound
from vigil.kit.pagination import decode_cursor, encode_cursor

Ref = Annotated[str, Field(min_length=1, max_length=500)]


class OrderIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "act_against_content",
                    "category": "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
                    "authority": "Agence de régulation de la communication",
                    "member_state": "FR",
                    "legal_reference": "Ordonnance 2026-1142",
                    "received_at": "2026-11-20T08:30:00Z",
                    "acknowledged_at": "2026-11-20T09:10:00Z",
                    "account_external_id": "u_1042",
                    "content_refs": ["listing:88121"],
                    "summary": "Remove the listing offering counterfeit goods.",
                }
            ]
        },
    )

    kind: OrderKind
    category: Category = Field(
        description="The type of illegal content concerned, as a DSA statement category "
        "(STATEMENT_CATEGORY_...)."
    )
    authority: Annotated[str, Field(min_length=1, max_length=300)]
    member_state: Annotated[str, Field(min_length=2, max_length=2)]
    legal_reference: Annotated[str, Field(min_length=1, max_length=300)]
    received_at: datetime
    acknowledged_at: datetime | None = Field(
        default=None,
        description="When receipt was confirmed to the authority; leave it out until it is "
        "(then POST /v1/orders/{id}/acknowledge).",
    )
    account_external_id: Annotated[str | None, Field(max_length=200)] = None
    content_refs: Annotated[list[Ref], Field(max_length=100)] = Field(default_factory=list)
    summary: Annotated[str, Field(max_length=5000)] = ""


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    acknowledged_at: datetime | None = Field(default=None, description="Default: now.")


class EffectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effected_at: datetime | None = Field(default=None, description="Default: now.")
    note: Annotated[str | None, Field(max_length=5000)] = None


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: OrderKind
    category: str
    authority: str
    member_state: str
    legal_reference: str
    account_id: int | None
    content_refs: list[str]
    summary: str
    status: OrderStatus
    case_id: int | None
    received_at: datetime
    acknowledged_at: datetime | None
    effected_at: datetime | None
    effect_note: str | None
    recorded_by_id: int | None
    created_at: datetime


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(
            "give a time zone (e.g. 2026-11-21T09:00:00Z)", field=field, code="naive_datetime"
        )
    if value > clock.now():
        raise InvalidInput("this time is in the future", field=field, code="time_in_future")
    return clock.as_utc(value)


def record_order(session: Session, actor: Principal, data: OrderIn) -> AuthorityOrder:
    actor.require(Permission.legal_cases)
    state = data.member_state.upper()
    if state not in EEA_COUNTRY_CODES:
        raise InvalidInput(
            "member_state is the two-letter code of an EU/EEA state (FR, DE ...)",
            field="member_state",
            code="invalid_member_state",
        )
    received = _aware(data.received_at, "received_at")
    assert received is not None
    acknowledged = _aware(data.acknowledged_at, "acknowledged_at")
    if acknowledged is not None and acknowledged < received:
        raise InvalidInput(
            "acknowledged before it was received", field="acknowledged_at", code="time_order"
        )
    account_id = None
    if data.account_external_id:
        account_id = session.scalar(
            select(Account.id).where(Account.external_id == data.account_external_id)
        )
        if account_id is None:
            raise NotFound(
                "no account with this external id",
                field="account_external_id",
                code="account_not_found",
            )
    order = AuthorityOrder(
        kind=data.kind,
        category=data.category.value,
        authority=data.authority.strip(),
        member_state=state,
        legal_reference=data.legal_reference.strip(),
        account_id=account_id,
        content_refs=list(data.content_refs),
        summary=data.summary,
        status=OrderStatus.received,
        received_at=received,
        acknowledged_at=acknowledged,
        recorded_by_id=actor.staff_id,
        created_at=clock.now(),
    )
    session.add(order)
    session.flush()
    what = "act against content" if data.kind is OrderKind.act_against_content else "information"
    created = cases.create_case(
        session,
        actor,
        cases.NewCase(
            type=CaseType.account_review,
            title=f"Authority order ({what}) from {order.authority}, {state}",
            summary=f"{order.legal_reference}\n\n{data.summary}".strip(),
            priority=1,
            severity=Severity.high,
            tier=Tier.legal,
            account_id=account_id,
            source="authority_order",
            source_ref=f"order:{order.id}",
            attributes={"authority_order_id": order.id},
        ),
    )
    order.case_id = created.case.id
    session.flush()
    record(
        session,
        actor,
        "dsa.order.record",
        "authority_order",
        order.id,
        data={
            "kind": order.kind.value,
            "category": order.category,
            "member_state": state,
            "case_id": order.case_id,
        },
    )
    return order


def get_order(session: Session, actor: Principal, order_id: int) -> AuthorityOrder:
    actor.require(Permission.legal_cases)
    order = session.get(AuthorityOrder, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found", code="order_not_found")
    return order


def list_orders(
    session: Session, actor: Principal, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[AuthorityOrder], str | None]:
    """Newest first, keyset on id."""
    actor.require(Permission.legal_cases)
    query = select(AuthorityOrder).order_by(AuthorityOrder.id.desc()).limit(limit + 1)
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        if not isinstance(before, int):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(AuthorityOrder.id < before)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


def acknowledge(
    session: Session, actor: Principal, order_id: int, data: AcknowledgeIn
) -> AuthorityOrder:
    """Record when the authority was informed that its order was received."""
    actor.require(Permission.legal_cases)
    order = session.get(AuthorityOrder, order_id, with_for_update=True)
    if order is None:
        raise NotFound(f"order {order_id} not found", code="order_not_found")
    if order.acknowledged_at is not None:
        raise Conflict(
            "the receipt of this order was already acknowledged",
            code="order_already_acknowledged",
        )
    at = _aware(data.acknowledged_at, "acknowledged_at") or clock.now()
    if at < order.received_at:
        raise InvalidInput(
            "acknowledged before it was received", field="acknowledged_at", code="time_order"
        )
    order.acknowledged_at = at
    session.flush()
    record(
        session,
        actor,
        "dsa.order.acknowledge",
        "authority_order",
        order.id,
        data={"acknowledged_at": at.isoformat()},
    )
    return order


def give_effect(
    session: Session, actor: Principal, order_id: int, data: EffectIn
) -> AuthorityOrder:
    actor.require(Permission.legal_cases)
    order = session.get(AuthorityOrder, order_id, with_for_update=True)
    if order is None:
        raise NotFound(f"order {order_id} not found", code="order_not_found")
    if order.status is OrderStatus.effected:
        raise Conflict("this order was already given effect", code="order_already_effected")
    at = _aware(data.effected_at, "effected_at") or clock.now()
    if at < order.received_at:
        raise InvalidInput(
            "given effect before it was received", field="effected_at", code="time_order"
        )
    order.status = OrderStatus.effected
    order.effected_at = at
    order.effect_note = data.note
    session.flush()
    record(
        session,
        actor,
        "dsa.order.effect",
        "authority_order",
        order.id,
        reason=data.note,
        data={"effected_at": at.isoformat()},
    )
    return order
