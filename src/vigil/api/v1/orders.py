"""HTTP API: orders from Member States' authorities (DSA Art. 9 / 10).

The legal team (``cases:legal``) records an order as it arrives; each opens a legal-tier case.
``POST /v1/orders/{id}/acknowledge`` records when the authority was informed of its receipt,
``POST /v1/orders/{id}/effect`` when it was given effect. Refusals change nothing:
404 ``order_not_found`` / ``account_not_found``; 409 ``order_already_acknowledged`` /
``order_already_effected``; 422
``invalid_member_state`` / ``naive_datetime`` / ``time_in_future`` / ``time_order`` with the
field at fault.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from vigil.api.deps import DB, AppSettings, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.dsa import orders
from vigil.dsa.orders import AcknowledgeIn, EffectIn, OrderIn, OrderOut, OrderPage

router = APIRouter(tags=["orders"])

Legal = Annotated[Principal, Depends(require(Permission.legal_cases))]
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The order's id.")]


@router.post(
    "/orders",
    response_model=OrderOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record an order received from an authority (opens a legal-tier case)",
)
def record_order(body: OrderIn, db: DB, actor: Legal) -> OrderOut:
    return OrderOut.model_validate(orders.record_order(db, actor, body))


@router.get("/orders", response_model=OrderPage, summary="Orders, newest first")
def list_orders(
    db: DB,
    settings: AppSettings,
    actor: Legal,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> OrderPage:
    size = min(limit or settings.page_size_default, settings.page_size_max)
    rows, next_cursor = orders.list_orders(db, actor, cursor=cursor, limit=size)
    return OrderPage(items=[OrderOut.model_validate(o) for o in rows], next_cursor=next_cursor)


@router.get("/orders/{order_id}", response_model=OrderOut, summary="One order")
def get_order(order_id: OrderId, db: DB, actor: Legal) -> OrderOut:
    return OrderOut.model_validate(orders.get_order(db, actor, order_id))


@router.post(
    "/orders/{order_id}/effect", response_model=OrderOut, summary="Record that it was given effect"
)
def give_effect(order_id: OrderId, db: DB, actor: Legal, body: EffectIn | None = None) -> OrderOut:
    return OrderOut.model_validate(orders.give_effect(db, actor, order_id, body or EffectIn()))


@router.post(
    "/orders/{order_id}/acknowledge",
    response_model=OrderOut,
    summary="Record that the authority was informed of the order's receipt",
)
def acknowledge(
    order_id: OrderId, db: DB, actor: Legal, body: AcknowledgeIn | None = None
) -> OrderOut:
    return OrderOut.model_validate(orders.acknowledge(db, actor, order_id, body or AcknowledgeIn()))
