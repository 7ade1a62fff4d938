"""Scorecards: agreement and Cohen's kappa (blind label vs original label) per reviewer,
queue or policy over scored samples, with the mean scores.

The counts come from one GROUP BY over (group, original label, blind label): each group's
confusion table and sums, never the rows themselves. The period is the time of the original
decision (``decided_at``), half-open: ``since <= decided_at < until``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases.models import Case, Queue
from vigil.kit.errors import InvalidInput
from vigil.quality.common import as_dict
from vigil.quality.kappa import kappa_with_note
from vigil.quality.models import QASample, SampleStatus


class GroupBy(StrEnum):
    reviewer = "reviewer"  # the reviewer of the original decision
    queue = "queue"
    policy = "policy"  # the original decision's policy (``none`` for no violation)


@dataclass(frozen=True)
class ScoreRow:
    key: str
    label: str
    samples: int
    agreed: int
    agreement_rate: float | None
    kappa: float | None
    kappa_note: str | None
    right_policy_rate: float | None
    right_action_rate: float | None
    message_quality_mean: float | None
    # {original label: {blind label: count}}: the table kappa is computed from.
    confusion: dict[str, dict[str, int]]


@dataclass
class _Acc:
    samples: int = 0
    agreed: int = 0
    right_policy: int = 0
    right_action: int = 0
    quality_sum: int = 0
    quality_n: int = 0

    def __post_init__(self) -> None:
        self.table: dict[tuple[str, str], int] = {}


def _check_time(value: datetime | None, field: str) -> None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(
            "give a time zone (e.g. 2026-11-21T09:00:00Z)", field=field, code="naive_datetime"
        )


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _labels(session: Session, group_by: GroupBy, keys: list[Any]) -> dict[Any, str]:
    ids = [k for k in keys if k is not None]
    if group_by is GroupBy.reviewer and ids:
        return as_dict(
            session.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(ids)))
        )
    if group_by is GroupBy.queue and ids:
        return as_dict(session.execute(select(Queue.id, Queue.name).where(Queue.id.in_(ids))))
    return {}


def scorecards(
    session: Session,
    actor: Principal,
    *,
    group_by: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ScoreRow]:
    """One row per reviewer, queue or policy with scored samples in the period, largest
    first. ``kappa`` is null with ``kappa_note`` saying why when it is undefined."""
    actor.require(Permission.qa_read)
    try:
        grouping = GroupBy(group_by)
    except ValueError:
        raise InvalidInput(
            "group_by is reviewer, queue or policy", field="group_by", code="invalid_group_by"
        ) from None
    _check_time(since, "since")
    _check_time(until, "until")
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until must be after since", field="until", code="empty_period")
    key_col = {
        GroupBy.reviewer: QASample.decided_by_id,
        GroupBy.queue: QASample.queue_id,
        GroupBy.policy: QASample.original_policy_code,
    }[grouping]
    flag = lambda col: func.sum(sql_case((col.is_(True), 1), else_=0))  # noqa: E731
    query = (
        select(
            key_col,
            QASample.original_label,
            QASample.blind_label,
            func.count(),
            flag(QASample.agreed),
            flag(QASample.right_policy),
            flag(QASample.right_action),
            func.coalesce(func.sum(QASample.message_quality), 0),
            func.count(QASample.message_quality),
        )
        .where(QASample.status == SampleStatus.scored)
        .group_by(key_col, QASample.original_label, QASample.blind_label)
    )
    if since is not None:
        query = query.where(QASample.decided_at >= since)
    if until is not None:
        query = query.where(QASample.decided_at < until)
    if not actor.can(Permission.legal_cases):
        query = query.join(Case, Case.id == QASample.case_id).where(Case.tier != Tier.legal)

    groups: dict[Any, _Acc] = {}
    for key, original, blind, n, agreed, right_policy, right_action, q_sum, q_n in session.execute(
        query
    ):
        acc = groups.setdefault(key, _Acc())
        acc.samples += int(n)
        acc.agreed += int(agreed or 0)
        acc.right_policy += int(right_policy or 0)
        acc.right_action += int(right_action or 0)
        acc.quality_sum += int(q_sum or 0)
        acc.quality_n += int(q_n or 0)
        cell = (str(original), str(blind))
        acc.table[cell] = acc.table.get(cell, 0) + int(n)

    names = _labels(session, grouping, list(groups))
    rows: list[ScoreRow] = []
    for key, acc in groups.items():
        kappa, note = kappa_with_note(acc.table)
        confusion: dict[str, dict[str, int]] = {}
        for (original, blind), n in sorted(acc.table.items()):
            confusion.setdefault(original, {})[blind] = n
        if grouping is GroupBy.policy:
            key_text = key if key is not None else "none"
            label = key if key is not None else "No violation"
        else:
            key_text = str(key) if key is not None else "none"
            label = names.get(key, f"#{key}") if key is not None else "(deleted)"
        rows.append(
            ScoreRow(
                key=key_text,
                label=label,
                samples=acc.samples,
                agreed=acc.agreed,
                agreement_rate=_ratio(acc.agreed, acc.samples),
                kappa=kappa,
                kappa_note=note,
                right_policy_rate=_ratio(acc.right_policy, acc.samples),
                right_action_rate=_ratio(acc.right_action, acc.samples),
                message_quality_mean=(acc.quality_sum / acc.quality_n if acc.quality_n else None),
                confusion=confusion,
            )
        )
    rows.sort(key=lambda r: (-r.samples, r.label))
    return rows
