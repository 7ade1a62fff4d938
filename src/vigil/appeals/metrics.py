"""Appeal and overturn rates, in total and per policy, rule or reviewer.

The cohort is the decisions that could be appealed (applied, or applied and since reversed;
a violation whose action is more than a warning: ``service.restrictive_clause``, the same
rule the submission applies) whose ``applied_at`` falls in the period; each is followed to its
appeal, whenever that was made. Decisions on legal-tier cases count only for callers with
``cases:legal``. So:

- ``appeal_rate`` = appealed decisions / decisions;
- ``overturn_rate`` = (overturned + modified) / decided appeals (upheld, overturned or
  modified; open and withdrawn appeals are not decided).

A decision's *policy* is the first it cites; its *reviewer* is who decided it (not the
approver); its *rules* are the live rules whose hits opened the detection case it was taken
on (the hits of the event the case names as ``source_ref``). A decision on a case that no
rule opened has no rule and is left out of the per-rule rows (it still counts in the total).
Per-reviewer rows are staff performance data: only staff may ask for them
(``reviewer_metrics_staff_only``).

The queries read ``decisions`` through ``ix_decisions_applied_at`` and join appeals by their
unique decision id, cases and policies by primary key, events by their unique ``event_id``;
the rule hits are expanded and counted in SQL (``jsonb_array_elements`` / ``json_each``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, select, true
from sqlalchemy.orm import Session

from vigil.appeals.models import Appeal, AppealStatus
from vigil.appeals.service import restrictive_clause
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case, CaseType
from vigil.detection.models import Event
from vigil.dsa.service import window
from vigil.enforcement.models import Decision, DecisionPolicy, DecisionStatus
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, PermissionDenied

DEFAULT_DAYS = 30
MAX_DAYS = 366
MAX_GROUPS = 500


class GroupBy(StrEnum):
    policy = "policy"
    rule = "rule"
    reviewer = "reviewer"


@dataclass
class Row:
    key: str | None
    label: str | None = None
    decisions: int = 0
    appeals: int = 0
    decided: int = 0
    overturned: int = 0
    modified: int = 0

    @property
    def appeal_rate(self) -> float | None:
        return round(self.appeals / self.decisions, 4) if self.decisions else None

    @property
    def overturn_rate(self) -> float | None:
        return round(self.overturned / self.decided, 4) if self.decided else None

    def add(self, other: Row) -> None:
        self.decisions += other.decisions
        self.appeals += other.appeals
        self.decided += other.decided
        self.overturned += other.overturned
        self.modified += other.modified


@dataclass
class Metrics:
    since: datetime
    until: datetime
    group_by: GroupBy | None
    total: Row
    groups: list[Row]


_DECIDED = (AppealStatus.upheld, AppealStatus.overturned, AppealStatus.modified)
_OVERTURNED = (AppealStatus.overturned, AppealStatus.modified)


def _counts() -> list[Any]:
    def when(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return [
        func.count(Decision.id).label("decisions"),
        func.count(Appeal.id).label("appeals"),
        when(Appeal.status.in_(_DECIDED)).label("decided"),
        when(Appeal.status.in_(_OVERTURNED)).label("overturned"),
        when(Appeal.status == AppealStatus.modified).label("modified"),
    ]


def _cohort(start: datetime, end: datetime, legal: bool) -> list[ColumnElement[bool]]:
    where = [
        Decision.status.in_([DecisionStatus.applied, DecisionStatus.reversed]),
        restrictive_clause(),
        Decision.applied_at >= start,
        Decision.applied_at < end,
    ]
    if not legal:
        where.append(Case.tier != Tier.legal)
    return where


def _row(key: str | None, r: Any, label: str | None = None) -> Row:
    return Row(
        key=key,
        label=label,
        decisions=int(r.decisions or 0),
        appeals=int(r.appeals or 0),
        decided=int(r.decided or 0),
        overturned=int(r.overturned or 0),
        modified=int(r.modified or 0),
    )


def period(since: date | None, until: date | None) -> tuple[datetime, datetime]:
    """Both days inclusive (UTC); by default the last ``DEFAULT_DAYS`` days up to today."""
    today = clock.now().date()
    until = until or today
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if until < since:
        raise InvalidInput("until is before since", field="until", code="invalid_window")
    if (until - since).days >= MAX_DAYS:
        raise InvalidInput(
            f"ask for at most {MAX_DAYS} days at a time", field="since", code="window_too_long"
        )
    start, end = window(since, until)
    assert start is not None and end is not None
    return start, end


def appeal_metrics(
    session: Session,
    actor: Principal,
    *,
    since: date | None = None,
    until: date | None = None,
    group_by: GroupBy | None = None,
) -> Metrics:
    """Refuses 403 ``reviewer_metrics_staff_only`` (``group_by=reviewer`` for an API key)."""
    actor.require(Permission.appeals_read)
    if group_by is GroupBy.reviewer and not actor.is_staff:
        raise PermissionDenied(
            "per-reviewer rates are internal to the moderation team",
            field="group_by",
            code="reviewer_metrics_staff_only",
        )
    start, end = period(since, until)
    cohort = _cohort(start, end, actor.can(Permission.legal_cases))
    joined = (
        select(*_counts())
        .select_from(Decision)
        .join(Case, Case.id == Decision.case_id)
        .outerjoin(Appeal, Appeal.decision_id == Decision.id)
        .where(*cohort)
    )
    total = _row(None, session.execute(joined).one())
    groups: list[Row] = []
    if group_by is GroupBy.policy:
        stmt = (
            joined.add_columns(DecisionPolicy.policy_code.label("key"))
            .join(
                DecisionPolicy,
                and_(DecisionPolicy.decision_id == Decision.id, DecisionPolicy.position == 0),
            )
            .group_by(DecisionPolicy.policy_code)
            .order_by(func.count(Decision.id).desc(), DecisionPolicy.policy_code)
            .limit(MAX_GROUPS)
        )
        groups = [_row(r.key, r, r.key) for r in session.execute(stmt)]
    elif group_by is GroupBy.reviewer:
        stmt = (
            joined.add_columns(Decision.decided_by_id.label("key"))
            .group_by(Decision.decided_by_id)
            .order_by(func.count(Decision.id).desc(), Decision.decided_by_id)
            .limit(MAX_GROUPS)
        )
        rows = list(session.execute(stmt))
        ids = [r.key for r in rows if r.key is not None]
        names = (
            {
                i: name
                for i, name in session.execute(
                    select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(ids))
                )
            }
            if ids
            else {}
        )
        groups = [
            _row(
                str(r.key) if r.key is not None else None,
                r,
                names.get(r.key) if r.key is not None else "automated",
            )
            for r in rows
        ]
    elif group_by is GroupBy.rule:
        groups = _by_rule(session, cohort)
    return Metrics(start, end, group_by, total, groups)


def _by_rule(session: Session, cohort: list[ColumnElement[bool]]) -> list[Row]:
    """One row per rule, from the hits of the event that opened each detection case (one
    event per decision, on its unique ``event_id``), expanded and counted in the database.
    A rule that fired twice on one event counts its decision once."""
    dialect = session.get_bind().dialect.name
    rule: ColumnElement[Any]
    name: ColumnElement[Any]
    if dialect == "postgresql":
        hit = func.jsonb_array_elements(Event.hits).table_valued("value").alias("hit")
        rule = hit.c.value.op("->>")("rule_id")
        name = hit.c.value.op("->>")("name")
        live = func.coalesce(hit.c.value.op("->>")("shadow"), "false") == "false"
    else:
        hit = func.json_each(Event.hits).table_valued("value").alias("hit")
        rule = cast(func.json_extract(hit.c.value, "$.rule_id"), String)
        name = func.json_extract(hit.c.value, "$.name")
        live = func.coalesce(func.json_extract(hit.c.value, "$.shadow"), 0) == 0

    def distinct_when(condition: ColumnElement[bool]) -> Any:
        return func.count(func.distinct(case((condition, Decision.id), else_=None)))

    stmt = (
        select(
            rule.label("key"),
            func.max(name).label("label"),
            func.count(func.distinct(Decision.id)).label("decisions"),
            distinct_when(Appeal.id.is_not(None)).label("appeals"),
            distinct_when(Appeal.status.in_(_DECIDED)).label("decided"),
            distinct_when(Appeal.status.in_(_OVERTURNED)).label("overturned"),
            distinct_when(Appeal.status == AppealStatus.modified).label("modified"),
        )
        .select_from(Decision)
        .join(Case, Case.id == Decision.case_id)
        .join(Event, Event.event_id == Case.source_ref)
        .join(hit, true())
        .outerjoin(Appeal, Appeal.decision_id == Decision.id)
        .where(*cohort, Case.type == CaseType.detection, rule.is_not(None), live)
        .group_by(rule)
        .order_by(func.count(func.distinct(Decision.id)).desc(), rule)
        .limit(MAX_GROUPS)
    )
    return [_row(str(r.key), r, str(r.label or r.key)) for r in session.execute(stmt)]


def as_dict(m: Metrics) -> dict[str, Any]:
    def row(r: Row) -> dict[str, Any]:
        return {
            "key": r.key,
            "label": r.label,
            "decisions": r.decisions,
            "appeals": r.appeals,
            "appeal_rate": r.appeal_rate,
            "decided": r.decided,
            "overturned": r.overturned,
            "modified": r.modified,
            "overturn_rate": r.overturn_rate,
        }

    return {
        "since": m.since,
        "until": m.until,
        "group_by": m.group_by.value if m.group_by else None,
        "total": row(m.total),
        "groups": [row(g) for g in m.groups],
    }
