"""What the console's home page (``/``) shows each role, gathered with bounded queries.

Every list here is capped (``LIST_LIMIT`` rows) and every count is counted over at most
``COUNT_CAP`` rows, shown as "100+" beyond: the home page is opened all day by everyone, so
nothing on it may read an unbounded number of rows, however large the backlog grows.

- Workers (agent, specialist, legal): their queues, their cases, escalations waiting on them.
- Second approvers (specialist, legal, admin): decisions waiting for their approval.
- Policy leads: rules in draft and shadow with their recent hits, recent backtests.
- Admins: everything, escalations in every tier they may see.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from vigil.auth.permissions import Permission, Role, Tier
from vigil.auth.principal import Principal
from vigil.cases import queues as queue_service
from vigil.cases import repository as case_repository
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, Queue
from vigil.detection.models import Event
from vigil.detection.rules import backtest as backtests
from vigil.detection.rules.models import Backtest, BacktestStatus, Rule, RuleState, RuleVersion
from vigil.enforcement import service as enforcement
from vigil.enforcement.models import Decision, DecisionPolicy, DecisionStatus
from vigil.kit import clock
from vigil.policies.models import PolicyVersion
from vigil.web.common import SLA_LABELS
from vigil.web.render import human_delta, minutes_label

LIST_LIMIT = 10
COUNT_CAP = 100
# Shadow rules' live hits are counted over the newest events of this window, at most
# HIT_SCAN_EVENTS of them (the figure says so when the cap was reached).
HIT_WINDOW = timedelta(days=7)
HIT_SCAN_EVENTS = 5_000
RULES_LIMIT = 25
BACKTESTS_LIMIT = 5
# Draft rules never run on live events: their figure is the hits of the newest finished
# backtest that ran them, looked for among this many recent backtests.
BACKTEST_SCAN = 20


@dataclass(frozen=True)
class Counted:
    """A capped list and its capped count: ``shown`` rows, ``count`` of all (up to the cap),
    ``more`` when the count reached the cap."""

    rows: list[Any]
    count: int
    more: bool

    @property
    def label(self) -> str:
        return f"{self.count}+" if self.more else str(self.count)


def _capped_count(
    db: Session, query: Select[*tuple[Any, ...]], key: Any = Case.id
) -> tuple[int, bool]:
    """How many rows ``query`` finds, counting at most ``COUNT_CAP`` of them (one query over
    ``key`` only, whatever ``query`` selects)."""
    inner = query.with_only_columns(key).order_by(None).limit(COUNT_CAP).subquery()
    n = int(db.scalar(select(func.count()).select_from(inner)) or 0)
    return n, n >= COUNT_CAP


# --- queues -------------------------------------------------------------------------------


def queue_rows(db: Session, principal: Principal) -> list[dict[str, Any]]:
    """The queues ``principal`` may see with their live figures, most urgent SLA first (one
    grouped query over live cases)."""
    visible, _ = queue_service.list_queues(db, principal, limit=500)
    stats = queue_service.queue_stats(db, [q for q in visible if q.active])
    stats.sort(key=lambda s: ({"breached": 0, "warning": 1}.get(s.sla_state, 2), s.queue.name))
    return [
        {
            "id": s.queue.id,
            "name": s.queue.name,
            "tier": s.queue.tier.value,
            "open": s.open,
            "assigned": s.assigned,
            "on_hold": s.on_hold,
            "breached": s.breached,
            "oldest_open_age": (
                human_delta(timedelta(seconds=s.oldest_open_age_seconds))
                if s.oldest_open_age_seconds is not None
                else None
            ),
            "sla": minutes_label(s.queue.sla_minutes),
            "sla_state": s.sla_state,
            "sla_state_label": SLA_LABELS.get(s.sla_state, s.sla_state),
        }
        for s in stats
    ]


def queue_names(db: Session) -> dict[int, str]:
    return {qid: name for qid, name in db.execute(select(Queue.id, Queue.name))}


# --- my cases -----------------------------------------------------------------------------


def works_cases(principal: Principal) -> bool:
    """Whether ``principal`` works cases (and so holds some): a tier, or an admin."""
    return principal.can(Permission.cases_work) and (
        principal.tier is not None or principal.role is Role.admin
    )


def my_cases(db: Session, principal: Principal) -> Counted | None:
    """The cases ``principal`` holds (assigned or on hold), newest first: the newest
    ``LIST_LIMIT`` (listed through ``cases.list_cases``, which audits the listing) and their
    capped count. ``None`` for those who work no cases."""
    staff_id = principal.staff_id
    if staff_id is None or not works_cases(principal):
        return None
    held = [CaseStatus.assigned, CaseStatus.on_hold]
    rows, _ = cases.list_cases(
        db, principal, cases.CaseFilter(assignee_id=staff_id, status=held), limit=LIST_LIMIT
    )
    query = select(Case).where(Case.assignee_id == staff_id, Case.status.in_(held))
    if not principal.can(Permission.legal_cases):
        query = query.where(Case.tier != Tier.legal)
    count, more = _capped_count(db, query)
    return Counted(rows, count, more)


# --- escalations waiting on me ------------------------------------------------------------


def _escalation_filter(db: Session, principal: Principal) -> ColumnElement[bool] | None:
    """Escalated cases (``escalated_at`` set) waiting on ``principal``: open or on hold at
    their own tier in a queue they work (their memberships, else every queue of their tier),
    or assigned to them. Admins: every escalated live case they may see. Not filtered by
    language, unlike "next case": an escalation is rare and should be seen by someone."""
    staff_id = principal.staff_id
    if staff_id is None:
        return None
    waiting = Case.status.in_([CaseStatus.open, CaseStatus.on_hold])
    mine = and_(Case.status == CaseStatus.assigned, Case.assignee_id == staff_id)
    if principal.role is Role.admin:
        return and_(Case.escalated_at.is_not(None), Case.status != CaseStatus.closed)
    tier = principal.tier
    if tier is None or not principal.can(Permission.cases_work):
        return None
    scope = case_repository.pull_scope(db, staff_id, principal.role, ())
    at_my_tier = and_(waiting, Case.tier == tier, Case.queue_id.in_(scope.queue_ids or [-1]))
    return and_(Case.escalated_at.is_not(None), or_(at_my_tier, mine))


def escalations(db: Session, principal: Principal) -> Counted | None:
    """``None`` for roles that work no cases (nothing can wait on them)."""
    where = _escalation_filter(db, principal)
    if where is None:
        return None
    query = select(Case).where(where)
    if not principal.can(Permission.legal_cases):
        query = query.where(Case.tier != Tier.legal)
    rows = list(
        db.scalars(query.order_by(Case.priority, Case.sla_due_at, Case.id).limit(LIST_LIMIT))
    )
    count, more = _capped_count(db, query)
    return Counted(rows, count, more)


# --- four-eyes approvals waiting on me ----------------------------------------------------


def _approvals_query(principal: Principal) -> Select[Decision, Case] | None:
    """Decisions waiting for a second approver that ``principal`` may approve: an approver
    role, not their own decision, on a case they may see. ``None`` for non-approvers."""
    if (
        principal.staff_id is None
        or principal.role not in enforcement.APPROVER_ROLES
        or not principal.can(Permission.decisions_approve)
    ):
        return None
    query = (
        select(Decision, Case)
        .join(Case, Case.id == Decision.case_id)
        .where(
            Decision.status == DecisionStatus.pending_approval,
            or_(Decision.decided_by_id.is_(None), Decision.decided_by_id != principal.staff_id),
        )
    )
    if not principal.can(Permission.legal_cases):
        query = query.where(Case.tier != Tier.legal)
    return query


def approvals_count(db: Session, principal: Principal) -> Counted | None:
    """Only the capped count of :func:`approvals` (no rows): the header's badge, on every
    page, runs this one query."""
    query = _approvals_query(principal)
    if query is None:
        return None
    count, more = _capped_count(db, query, Decision.id)
    return Counted([], count, more)


def approvals(db: Session, principal: Principal) -> Counted | None:
    """The decisions of :func:`_approvals_query`, oldest first like /approvals: the first
    ``LIST_LIMIT`` with their policies, and their capped count."""
    query = _approvals_query(principal)
    if query is None:
        return None
    found = list(db.execute(query.order_by(Decision.id).limit(LIST_LIMIT)))
    codes: dict[int, list[str]] = {d.id: [] for d, _ in found}
    if codes:
        for decision_id, code in db.execute(
            select(DecisionPolicy.decision_id, PolicyVersion.code)
            .join(PolicyVersion, PolicyVersion.id == DecisionPolicy.policy_version_id)
            .where(DecisionPolicy.decision_id.in_(list(codes)))
            .order_by(DecisionPolicy.decision_id, DecisionPolicy.position)
        ):
            codes[decision_id].append(code)
    now = clock.now()
    rows = [
        {
            "decision": d,
            "case": c,
            "policies": codes[d.id],
            "action": d.action.value.replace("_", " ") if d.action else "no action",
            "waiting": human_delta(now - d.created_at),
        }
        for d, c in found
    ]
    count, more = _capped_count(db, query, Decision.id)
    return Counted(rows, count, more)


# --- rules for policy leads ---------------------------------------------------------------


def _live_hits(db: Session, names: set[str], now: datetime) -> tuple[Counter[str], int, bool]:
    """Hits of ``names`` among the newest events of the last week (``ix_events_occurred``),
    reading only the ``hits`` column of at most ``HIT_SCAN_EVENTS`` events."""
    if not names:
        return Counter(), 0, False
    rows = db.scalars(
        select(Event.hits)
        .where(Event.occurred_at >= now - HIT_WINDOW)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(HIT_SCAN_EVENTS)
    ).all()
    counts: Counter[str] = Counter()
    for hits in rows:
        for hit in hits or []:
            name = hit.get("name") if isinstance(hit, dict) else None
            if name in names:
                counts[name] += 1
    return counts, len(rows), len(rows) >= HIT_SCAN_EVENTS


def _backtest_hits(runs: list[Backtest], names: set[str]) -> dict[str, tuple[int, int]]:
    """For each of ``names``: (hits, backtest id) from the newest finished run that ran it."""
    found: dict[str, tuple[int, int]] = {}
    for run in runs:  # newest first
        if run.status != BacktestStatus.done:
            continue
        for result in run.results or []:
            name = result.get("name")
            if name in names and name not in found:
                found[name] = (int(result.get("hits") or 0), run.id)
    return found


def rules_overview(db: Session) -> dict[str, Any]:
    """Rules in draft and shadow (current version, policy, recent hits) and the newest
    backtests. Shadow rules count live hits over the last week; drafts, which never run on
    live events, show their newest backtest's hits."""
    now = clock.now()
    rows = list(
        db.execute(
            select(Rule, RuleVersion)
            .join(
                RuleVersion,
                and_(RuleVersion.rule_id == Rule.id, RuleVersion.version == Rule.current_version),
            )
            .where(Rule.state.in_([RuleState.draft, RuleState.shadow]))
            .order_by(Rule.state.desc(), Rule.state_changed_at.desc(), Rule.id)
            .limit(RULES_LIMIT)
        )
    )
    shadow = {r.name for r, _ in rows if r.state == RuleState.shadow}
    live, scanned, capped = _live_hits(db, shadow, now)
    recent = list(db.scalars(select(Backtest).order_by(Backtest.id.desc()).limit(BACKTEST_SCAN)))
    tested = _backtest_hits(recent, {r.name for r, _ in rows})
    rules = []
    for rule, version in rows:
        test = tested.get(rule.name)
        rules.append(
            {
                "name": rule.name,
                "state": rule.state.value,
                "version": rule.current_version,
                "policy_code": version.policy_code,
                "outcome": version.outcome.value,
                "since": rule.state_changed_at,
                "live_hits": live.get(rule.name, 0) if rule.state == RuleState.shadow else None,
                "backtest_hits": test[0] if test else None,
                "backtest_id": test[1] if test else None,
            }
        )
    runs = []
    for run in recent[:BACKTESTS_LIMIT]:
        runs.append(
            {
                "id": run.id,
                "what": backtests.describe(run.target)
                + (f" vs {backtests.describe(run.compare)}" if run.compare else ""),
                "status": run.status.value,
                "events": run.events_scanned,
                "hits": sum(int(r.get("hits") or 0) for r in run.results or []),
                "by": run.requested_by_label,
                "at": run.created_at,
            }
        )
    return {
        "rules": rules,
        "backtests": runs,
        "events_scanned": scanned,
        "scan_capped": capped,
        "window_days": HIT_WINDOW.days,
    }
