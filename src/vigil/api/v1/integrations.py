"""HTTP API for integrations (the marketplace's webhook endpoints) and the delivery log.

The signing secret is in the answer of create and rotate-secret only. Bad input is a 422 with
the ``field`` at fault (``invalid_url``, ``unknown_event_type``) and nothing is written.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from vigil.api.deps import DB, AppSettings, IntegrationsRead, IntegrationsWrite
from vigil.integrations import service
from vigil.integrations.models import DeliveryStatus
from vigil.integrations.schemas import (
    DeliveryDetailOut,
    DeliveryOut,
    IntegrationCreate,
    IntegrationOut,
    IntegrationUpdate,
    IntegrationWithSecret,
    RedeliverBody,
    RotateSecretBody,
)
from vigil.kit.pagination import Page

router = APIRouter(tags=["integrations"])

IntegrationId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The integration's id.")]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The delivery's id.")]


def _limit(settings: AppSettings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


@router.post(
    "/integrations",
    response_model=IntegrationWithSecret,
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook endpoint (its signing secret is shown this once)",
)
def create_integration(
    body: IntegrationCreate, db: DB, actor: IntegrationsWrite
) -> IntegrationWithSecret:
    issued = service.create_integration(
        db, actor, name=body.name, url=body.url, event_types=body.event_types, active=body.active
    )
    return IntegrationWithSecret.of(issued)


@router.get("/integrations", response_model=Page[IntegrationOut], summary="List integrations")
def list_integrations(
    db: DB,
    settings: AppSettings,
    _actor: IntegrationsRead,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[IntegrationOut]:
    rows, next_cursor = service.list_integrations(db, cursor=cursor, limit=_limit(settings, limit))
    return Page[IntegrationOut](
        items=[IntegrationOut.model_validate(i) for i in rows], next_cursor=next_cursor
    )


@router.get("/integrations/{integration_id}", response_model=IntegrationOut, summary="One")
def get_integration(
    integration_id: IntegrationId, db: DB, _actor: IntegrationsRead
) -> IntegrationOut:
    return IntegrationOut.model_validate(service.get_integration(db, integration_id))


@router.patch(
    "/integrations/{integration_id}",
    response_model=IntegrationOut,
    summary="Change an integration's URL, event types or active flag",
)
def update_integration(
    integration_id: IntegrationId, body: IntegrationUpdate, db: DB, actor: IntegrationsWrite
) -> IntegrationOut:
    integration = service.update_integration(
        db,
        actor,
        integration_id,
        url=body.url,
        event_types=body.event_types,
        active=body.active,
    )
    return IntegrationOut.model_validate(integration)


@router.post(
    "/integrations/{integration_id}/rotate-secret",
    response_model=IntegrationWithSecret,
    summary="Issue a new signing secret; the old one signs too during the grace period",
)
def rotate_secret(
    integration_id: IntegrationId,
    db: DB,
    actor: IntegrationsWrite,
    body: RotateSecretBody | None = None,
) -> IntegrationWithSecret:
    body = body or RotateSecretBody()
    issued = service.rotate_secret(db, actor, integration_id, grace_seconds=body.grace_seconds)
    return IntegrationWithSecret.of(issued)


@router.post(
    "/integrations/{integration_id}/test",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a ping event to this integration",
    responses={409: {"description": "The integration is inactive (`integration_inactive`)."}},
)
def send_test(integration_id: IntegrationId, db: DB, actor: IntegrationsWrite) -> DeliveryOut:
    return DeliveryOut.of(service.send_test(db, actor, integration_id))


@router.get(
    "/deliveries", response_model=Page[DeliveryOut], summary="The delivery log, newest first"
)
def list_deliveries(
    db: DB,
    settings: AppSettings,
    actor: IntegrationsRead,
    integration_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[DeliveryOut]:
    rows, next_cursor = service.list_deliveries(
        db,
        actor,
        integration_id=integration_id,
        status=status_,
        event_type=event_type,
        cursor=cursor,
        limit=_limit(settings, limit),
    )
    return Page[DeliveryOut](items=[DeliveryOut.of(d) for d in rows], next_cursor=next_cursor)


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryDetailOut,
    summary="One delivery with its body and every attempt",
)
def get_delivery(delivery_id: DeliveryId, db: DB, actor: IntegrationsRead) -> DeliveryDetailOut:
    return DeliveryDetailOut.of_detail(service.get_delivery(db, actor, delivery_id))


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a failed delivery again, with a fresh attempt budget",
    responses={
        409: {
            "description": "Not failed (`delivery_not_failed`), or the integration is "
            "inactive (`integration_inactive`)."
        }
    },
)
def redeliver(
    delivery_id: DeliveryId, db: DB, actor: IntegrationsWrite, body: RedeliverBody | None = None
) -> DeliveryOut:
    delivery = service.redeliver(db, actor, delivery_id, reason=body.reason if body else None)
    return DeliveryOut.of(delivery)
