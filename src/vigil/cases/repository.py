"""Queries over cases and queues that more than one service function needs.

Each query is written for the index that serves it (see ``cases/models.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from vigil.auth.permissions import ROLE_TIER, Role, Tier
from vigil.cases.models import Case, CaseRecusal, CaseStatus, Queue, QueueMember


def can_work_tier(role: Role | None, tier: Tier) -> bool:
    """Whether a staff member of ``role`` may hold cases of ``tier``: their own tier or a lower
    one (a specialist can take a Tier 1 case; an agent cannot take an escalated one). Admins
    may hold anything; roles without a tier (QA, policy) hold nothing."""
    if role is None:
        return False
    if role is Role.admin:
        return True
    own = ROLE_TIER.get(role)
    return own is not None and own.rank >= tier.rank


def member_queue_ids(session: Session, staff_id: int) -> list[int]:
    return list(
        session.scalars(select(QueueMember.queue_id).where(QueueMember.staff_id == staff_id))
    )


@dataclass(frozen=True)
class PullScope:
    """Where a staff member pulls from. ``languages`` is empty when any language will do."""

    queue_ids: list[int]
    tiers: list[Tier]
    languages: list[str]
    # Whose pull this is: cases they are recused from (``CaseRecusal``) are skipped.
    staff_id: int | None = None


def pull_scope(
    session: Session, staff_id: int, role: Role | None, languages: Sequence[str]
) -> PullScope:
    """Queue memberships, when someone has any, say exactly which queues they work (a
    supervisor's explicit choice, so language is not second-guessed). Without memberships
    they work every queue of their own tier, in the languages they speak."""
    member_ids = member_queue_ids(session, staff_id)
    if member_ids:
        rows = session.execute(select(Queue.id, Queue.tier).where(Queue.id.in_(member_ids))).all()
        allowed = [(qid, Tier(tier)) for qid, tier in rows if can_work_tier(role, Tier(tier))]
        return PullScope(
            [q for q, _ in allowed], sorted({t for _, t in allowed}), [], staff_id=staff_id
        )
    own = ROLE_TIER.get(role) if role is not None else None
    if own is None:
        return PullScope([], [], [])
    ids = list(session.scalars(select(Queue.id).where(Queue.tier == own)))
    return PullScope(ids, [own], [x.lower() for x in languages], staff_id=staff_id)


def next_case_query(scope: PullScope) -> Select[Case]:
    """The most urgent open case in scope: priority (1 first), then the nearest SLA due time,
    then the oldest id. Served by ``ix_cases_pull`` / ``ix_cases_pull_any``."""
    query = (
        select(Case)
        .where(
            Case.status == CaseStatus.open,
            Case.queue_id.in_(scope.queue_ids),
            Case.tier.in_(scope.tiers),
        )
        .order_by(Case.priority, Case.sla_due_at, Case.id)
        .limit(1)
    )
    if scope.languages:
        query = query.where(func.lower(Case.language).in_(scope.languages))
    if scope.staff_id is not None:
        # Served by the recusals' primary key (case_id, staff_id): one probe per candidate.
        query = query.where(
            ~select(CaseRecusal.case_id)
            .where(CaseRecusal.case_id == Case.id, CaseRecusal.staff_id == scope.staff_id)
            .exists()
        )
    return query


def is_recused(session: Session, case_id: int, staff_id: int) -> bool:
    """Whether ``staff_id`` must not work ``case_id`` (see ``CaseRecusal``)."""
    found = session.scalar(
        select(CaseRecusal.case_id).where(
            CaseRecusal.case_id == case_id, CaseRecusal.staff_id == staff_id
        )
    )
    return found is not None


@dataclass(frozen=True)
class QueueCounts:
    queue_id: int
    open: int
    assigned: int
    on_hold: int
    breached: int
    oldest_open_queued_at: datetime | None
    next_due_at: datetime | None


def live_counts(session: Session, now: datetime) -> dict[int, QueueCounts]:
    """Per-queue counts of live (not closed) cases in one grouped query over ``ix_cases_live``.

    A case counts as breached when the sweep has flagged it or its due time has passed (the
    sweep runs every minute or so; the figures should not wait for it).
    """
    overdue = or_(Case.sla_breached_at.is_not(None), Case.sla_due_at <= now)

    def count_if(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    rows = session.execute(
        select(
            Case.queue_id,
            count_if(Case.status == CaseStatus.open),
            count_if(Case.status == CaseStatus.assigned),
            count_if(Case.status == CaseStatus.on_hold),
            count_if(overdue),
            func.min(case((Case.status == CaseStatus.open, Case.queued_at))),
            func.min(
                case((and_(Case.sla_breached_at.is_(None), Case.sla_due_at > now), Case.sla_due_at))
            ),
        )
        .where(Case.status != CaseStatus.closed)
        .group_by(Case.queue_id)
    ).all()
    return {
        r[0]: QueueCounts(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), r[5], r[6])
        for r in rows
    }
