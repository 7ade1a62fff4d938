"""Queues: their settings, routing rules, members and live statistics.

Legal queues, like legal cases, exist only for those who hold ``cases:legal``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth import service as auth_service
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases import repository
from vigil.cases.models import CaseType, Queue, QueueMember, RoutingRule, Severity
from vigil.cases.sla import WARNING_FRACTION
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound
from vigil.kit.pagination import decode_cursor, encode_cursor

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_SLA_MINUTES = 60 * 24 * 90


def _sees(actor: Principal, queue: Queue) -> bool:
    return queue.tier != Tier.legal or actor.can(Permission.legal_cases)


def get_queue(session: Session, actor: Principal, queue_id: int) -> Queue:
    queue = session.get(Queue, queue_id)
    if queue is None or not _sees(actor, queue):
        raise NotFound("no such queue", code="queue_not_found")
    return queue


def list_queues(
    session: Session, actor: Principal, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[Queue], str | None]:
    query = select(Queue).order_by(Queue.id).limit(limit + 1)
    if not actor.can(Permission.legal_cases):
        query = query.where(Queue.tier != Tier.legal)
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(Queue.id > after)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None


def _check_sla(minutes: int) -> int:
    if not 1 <= minutes <= MAX_SLA_MINUTES:
        raise InvalidInput(f"sla_minutes is 1 to {MAX_SLA_MINUTES} (90 days)", field="sla_minutes")
    return minutes


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a queue needs a name of 1 to 200 characters", field="name")
    return name


def create_queue(
    session: Session,
    actor: Principal,
    *,
    slug: str,
    name: str,
    tier: Tier = Tier.tier1,
    sla_minutes: int = 24 * 60,
    description: str = "",
) -> Queue:
    actor.require(Permission.queues_write)
    slug = slug.strip().lower()
    if not SLUG.match(slug):
        raise InvalidInput(
            "a slug is lower-case letters, digits and dashes (at most 64)",
            field="slug",
            code="invalid_slug",
        )
    if session.scalar(select(Queue.id).where(Queue.slug == slug)) is not None:
        raise Conflict("a queue with this slug exists", field="slug", code="slug_taken")
    queue = Queue(
        slug=slug,
        name=_check_name(name),
        tier=tier,
        sla_minutes=_check_sla(sla_minutes),
        description=description.strip(),
    )
    session.add(queue)
    session.flush()
    audit.record(
        session,
        actor,
        "cases.queue.create",
        "queue",
        queue.id,
        data={"slug": slug, "tier": tier.value, "sla_minutes": sla_minutes},
    )
    return queue


def update_queue(
    session: Session,
    actor: Principal,
    queue_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    sla_minutes: int | None = None,
    active: bool | None = None,
) -> Queue:
    """Change a queue's settings. A new SLA applies to cases that enter the queue from now on;
    cases already waiting keep the due time they were promised. A queue's tier never
    changes (its cases' tier would silently change with it): make a new queue instead."""
    actor.require(Permission.queues_write)
    queue = get_queue(session, actor, queue_id)
    changes: dict[str, object] = {}
    if name is not None:
        queue.name = _check_name(name)
        changes["name"] = queue.name
    if description is not None:
        queue.description = description.strip()
        changes["description"] = queue.description
    if sla_minutes is not None:
        queue.sla_minutes = _check_sla(sla_minutes)
        changes["sla_minutes"] = sla_minutes
    if active is not None:
        queue.active = active
        changes["active"] = active
    session.flush()
    audit.record(session, actor, "cases.queue.update", "queue", queue.id, data=changes)
    return queue


# --- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueStats:
    queue: Queue
    open: int = 0
    assigned: int = 0
    on_hold: int = 0
    breached: int = 0
    oldest_open_age_seconds: int | None = None
    next_due_at: datetime | None = None
    sla_state: str = "ok"


def _queue_sla_state(queue: Queue, breached: int, next_due: datetime | None, now: datetime) -> str:
    """``breached`` while any live case is past due; ``warning`` when the next case to come
    due has used more than 75% of the queue's SLA; ``ok`` otherwise."""
    if breached:
        return "breached"
    if next_due is not None:
        left = next_due - now
        if left < timedelta(minutes=queue.sla_minutes * (1 - WARNING_FRACTION)):
            return "warning"
    return "ok"


def queue_stats(session: Session, queues: Sequence[Queue]) -> list[QueueStats]:
    """Live figures for ``queues``, from one grouped query over live cases only."""
    now = clock.now()
    counts = repository.live_counts(session, now)
    out: list[QueueStats] = []
    for queue in queues:
        c = counts.get(queue.id)
        if c is None:
            out.append(QueueStats(queue))
            continue
        oldest = (
            int((now - c.oldest_open_queued_at).total_seconds())
            if c.oldest_open_queued_at is not None
            else None
        )
        out.append(
            QueueStats(
                queue,
                c.open,
                c.assigned,
                c.on_hold,
                c.breached,
                oldest,
                c.next_due_at,
                _queue_sla_state(queue, c.breached, c.next_due_at, now),
            )
        )
    return out


# --- routing rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInput:
    queue_id: int
    case_types: list[CaseType] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    tiers: list[Tier] = field(default_factory=list)
    min_severity: Severity | None = None
    active: bool = True


def routing_rules(session: Session) -> list[RoutingRule]:
    return list(session.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)))


def replace_routing_rules(
    session: Session, actor: Principal, rules: Sequence[RuleInput]
) -> list[RoutingRule]:
    """Replace every rule with ``rules``, tried in the order given. All or nothing: one bad
    rule (unknown queue, or a rule that could never match its queue's tier) refuses the lot."""
    actor.require(Permission.queues_write)
    queue_ids = {r.queue_id for r in rules}
    queues = {q.id: q for q in session.scalars(select(Queue).where(Queue.id.in_(queue_ids)))}
    for i, rule in enumerate(rules):
        queue = queues.get(rule.queue_id)
        if queue is None:
            raise NotFound("no such queue", field=f"rules.{i}.queue_id", code="queue_not_found")
        if rule.tiers and queue.tier not in rule.tiers:
            raise InvalidInput(
                f"queue {queue.slug} takes {queue.tier} cases, so this rule could never match",
                field=f"rules.{i}.tiers",
                code="rule_never_matches",
            )
    session.execute(delete(RoutingRule))
    created = []
    for i, rule in enumerate(rules):
        row = RoutingRule(
            position=(i + 1) * 10,
            queue_id=rule.queue_id,
            case_types=[t.value for t in rule.case_types],
            languages=[x.strip().lower() for x in rule.languages if x.strip()],
            tiers=[t.value for t in rule.tiers],
            min_severity=rule.min_severity.value if rule.min_severity else None,
            active=rule.active,
        )
        session.add(row)
        created.append(row)
    session.flush()
    audit.record(
        session,
        actor,
        "cases.routing.replace",
        "routing_rules",
        None,
        data={
            "rules": [
                {
                    "queue_id": r.queue_id,
                    "case_types": r.case_types,
                    "languages": r.languages,
                    "tiers": r.tiers,
                    "min_severity": r.min_severity,
                    "active": r.active,
                }
                for r in created
            ]
        },
    )
    return created


# --- members ----------------------------------------------------------------------------------


def members(session: Session, queue_id: int) -> list[int]:
    return list(
        session.scalars(
            select(QueueMember.staff_id)
            .where(QueueMember.queue_id == queue_id)
            .order_by(QueueMember.staff_id)
        )
    )


def set_members(
    session: Session, actor: Principal, queue_id: int, staff_ids: Sequence[int]
) -> list[int]:
    """Make exactly ``staff_ids`` the queue's members. Someone with any membership works only
    their member queues; someone with none works every queue of their tier."""
    actor.require(Permission.queues_write)
    queue = get_queue(session, actor, queue_id)
    wanted = sorted(set(staff_ids))
    for i, staff_id in enumerate(staff_ids):
        try:
            user = auth_service.get_staff(session, staff_id)
        except NotFound:
            raise NotFound(
                "no such staff member", field=f"staff_ids.{i}", code="staff_not_found"
            ) from None
        if not repository.can_work_tier(user.role, Tier(queue.tier)):
            raise InvalidInput(
                f"a {user.role.value} cannot work {queue.tier} cases",
                field=f"staff_ids.{i}",
                code="cannot_work_tier",
            )
    before = members(session, queue.id)
    session.execute(delete(QueueMember).where(QueueMember.queue_id == queue.id))
    session.add_all(QueueMember(queue_id=queue.id, staff_id=s) for s in wanted)
    session.flush()
    audit.record(
        session,
        actor,
        "cases.queue.members",
        "queue",
        queue.id,
        data={"before": before, "after": wanted},
    )
    return wanted
