"""HTTP API: goals, targets on catalog metrics per period, with their progress.

Reading needs ``metrics:read``; creating, changing and archiving ``goals:write``. Refusals
change nothing: 404 ``goal_not_found``; 409 ``goal_archived`` / ``version_conflict``; 422
``unknown_metric`` / ``filter_not_supported`` / ``reviewer_goal_not_allowed`` /
``target_out_of_range`` / ``invalid_period_start`` / ``owner_not_found`` /
``period_outside_goal`` / ``invalid_period`` / ``invalid_field`` (null for a required field),
with the field at fault (docs/goals.md lists them).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy.orm import Session

from vigil.analytics.goals import service
from vigil.analytics.goals.models import Goal
from vigil.analytics.goals.schemas import (
    ArchiveIn,
    GoalIn,
    GoalList,
    GoalOut,
    GoalUpdate,
    GoalWithProgressOut,
    PeriodResultOut,
    PointOut,
    ProgressOut,
)
from vigil.api.deps import DB, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal

router = APIRouter(tags=["goals"])

MetricsRead = Annotated[Principal, Depends(require(Permission.metrics_read))]
GoalsWrite = Annotated[Principal, Depends(require(Permission.goals_write))]
GoalId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The goal's id.")]


def goal_out(goal: Goal) -> GoalOut:
    return GoalOut(
        id=goal.id,
        metric=goal.metric,
        label=service.label(goal),
        comparator=goal.comparator,
        target=goal.target,
        period=goal.period,
        starts_on=goal.starts_on,
        recurring=goal.recurring,
        filters=dict(goal.filters),
        owner_id=goal.owner_id,
        notes=goal.notes,
        status=goal.status,
        created_by_id=goal.created_by_id,
        created_at=goal.created_at,
        updated_at=goal.updated_at,
        archived_at=goal.archived_at,
        version=goal.version,
        warnings=service.warnings(goal),
    )


def progress_out(p: service.GoalProgress) -> ProgressOut:
    return ProgressOut(
        period_start=p.period_start,
        period_end=p.period_end,
        interval=p.interval,
        points=[PointOut(day=x.day, value=x.value) for x in p.points],
        current=p.current,
        numerator=p.numerator,
        denominator=p.denominator,
        target=p.target,
        status=p.status,
        previous=[
            PeriodResultOut(
                period_start=r.period_start, period_end=r.period_end, value=r.value, status=r.status
            )
            for r in p.previous
        ],
    )


def _with_progress(
    db: Session, actor: Principal, goal: Goal, period: date | None = None, *, history: bool = True
) -> GoalWithProgressOut:
    return GoalWithProgressOut(
        goal=goal_out(goal),
        progress=progress_out(service.progress(db, actor, goal, period, history=history)),
    )


@router.get("/goals", response_model=GoalList, summary="Goals, each with its current progress")
def list_goals(
    db: DB,
    actor: MetricsRead,
    include_archived: Annotated[bool, Query(description="Also list archived goals.")] = False,
    include_previous: Annotated[
        bool,
        Query(
            description="Also give each recurring goal's previous periods (one metrics query "
            "per period and goal; GET /v1/goals/{id} always gives them)."
        ),
    ] = False,
) -> GoalList:
    goals = service.list_goals(db, actor, include_archived=include_archived)
    return GoalList(
        items=[
            _with_progress(db, actor, g, service.default_day(g), history=include_previous)
            for g in goals
        ]
    )


@router.post(
    "/goals",
    response_model=GoalWithProgressOut,
    status_code=status.HTTP_201_CREATED,
    summary="Set a target on a metric",
)
def create_goal(body: GoalIn, db: DB, actor: GoalsWrite) -> GoalWithProgressOut:
    goal = service.create_goal(db, actor, body)
    return _with_progress(db, actor, goal, service.default_day(goal))


@router.get(
    "/goals/{goal_id}", response_model=GoalWithProgressOut, summary="One goal and its progress"
)
def get_goal(
    goal_id: GoalId,
    db: DB,
    actor: MetricsRead,
    period: Annotated[
        date | None, Query(description="Any day of the period to show (default: the current one).")
    ] = None,
) -> GoalWithProgressOut:
    goal = service.get_goal(db, actor, goal_id)
    return _with_progress(db, actor, goal, period or service.default_day(goal))


@router.patch("/goals/{goal_id}", response_model=GoalWithProgressOut, summary="Change a goal")
def update_goal(
    goal_id: GoalId, body: GoalUpdate, db: DB, actor: GoalsWrite
) -> GoalWithProgressOut:
    goal = service.update_goal(db, actor, goal_id, body)
    return _with_progress(db, actor, goal, service.default_day(goal))


@router.post("/goals/{goal_id}/archive", response_model=GoalOut, summary="Archive a goal")
def archive_goal(
    goal_id: GoalId, db: DB, actor: GoalsWrite, body: ArchiveIn | None = None
) -> GoalOut:
    goal = service.archive_goal(db, actor, goal_id, reason=body.reason if body else None)
    return goal_out(goal)
