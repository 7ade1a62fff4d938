"""HTTP API for queues: live figures, settings, routing rules and members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from vigil.api.deps import DB, AppSettings, QueuesRead, QueuesWrite
from vigil.cases import queues
from vigil.cases.schemas import (
    MembersIn,
    MembersOut,
    QueueCreate,
    QueueOut,
    QueuePage,
    QueueUpdate,
    RuleOut,
    RulesIn,
    RulesOut,
)

router = APIRouter(tags=["queues"])

QueueId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The queue's id.")]


@router.get("/queues", response_model=QueuePage, summary="Queues with their live figures")
def list_queues(
    db: DB,
    settings: AppSettings,
    actor: QueuesRead,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> QueuePage:
    size = min(limit or settings.page_size_default, settings.page_size_max)
    rows, next_cursor = queues.list_queues(db, actor, cursor=cursor, limit=size)
    return QueuePage(
        items=[QueueOut.of(s) for s in queues.queue_stats(db, rows)], next_cursor=next_cursor
    )


@router.post(
    "/queues", response_model=QueueOut, status_code=status.HTTP_201_CREATED, summary="New queue"
)
def create_queue(body: QueueCreate, db: DB, actor: QueuesWrite) -> QueueOut:
    queue = queues.create_queue(
        db,
        actor,
        slug=body.slug,
        name=body.name,
        tier=body.tier,
        sla_minutes=body.sla_minutes,
        description=body.description,
    )
    return QueueOut.of(queues.QueueStats(queue), members=[])


@router.get(
    "/queues/routing-rules", response_model=RulesOut, summary="Routing rules, in the order tried"
)
def get_rules(db: DB, _actor: QueuesRead) -> RulesOut:
    return RulesOut(rules=[RuleOut.of(r) for r in queues.routing_rules(db)])


@router.put(
    "/queues/routing-rules",
    response_model=RulesOut,
    summary="Replace every routing rule (tried in the order given)",
)
def put_rules(body: RulesIn, db: DB, actor: QueuesWrite) -> RulesOut:
    rules = queues.replace_routing_rules(
        db, actor, [queues.RuleInput(**r.model_dump()) for r in body.rules]
    )
    return RulesOut(rules=[RuleOut.of(r) for r in rules])


@router.get("/queues/{queue_id}", response_model=QueueOut, summary="One queue with its members")
def get_queue(queue_id: QueueId, db: DB, actor: QueuesRead) -> QueueOut:
    queue = queues.get_queue(db, actor, queue_id)
    (stats,) = queues.queue_stats(db, [queue])
    return QueueOut.of(stats, members=queues.members(db, queue.id))


@router.patch("/queues/{queue_id}", response_model=QueueOut, summary="Change a queue's settings")
def update_queue(queue_id: QueueId, body: QueueUpdate, db: DB, actor: QueuesWrite) -> QueueOut:
    queue = queues.update_queue(
        db,
        actor,
        queue_id,
        name=body.name,
        description=body.description,
        sla_minutes=body.sla_minutes,
        active=body.active,
    )
    (stats,) = queues.queue_stats(db, [queue])
    return QueueOut.of(stats, members=queues.members(db, queue.id))


@router.put(
    "/queues/{queue_id}/members",
    response_model=MembersOut,
    summary="Set exactly who works a queue",
)
def put_members(queue_id: QueueId, body: MembersIn, db: DB, actor: QueuesWrite) -> MembersOut:
    staff_ids = queues.set_members(db, actor, queue_id, body.staff_ids)
    return MembersOut(queue_id=queue_id, staff_ids=staff_ids)
