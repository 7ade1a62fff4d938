"""What became of the appeals against decisions: one answer for every screen that shows it.

An appeal is heard on a case of type ``appeal`` about the decision's account that names the
decision in ``attributes["appeal"]["decision_id"]`` (``vigil.appeals.service.submit_appeal``
writes it, next to its ``Appeal`` row). Hearing it means either reversing the decision
(``enforcement.service.reverse_decision``) and closing the appeal case, or closing the appeal
case and letting the decision stand. So the state of an appeal is read from the appeal case's
status and resolution together with the decision's own status, which holds for every appeal
case, including those opened before the ``appeals`` table existed:

- ``under appeal``: the appeal case is not closed and the decision still stands;
- ``overturned``: the decision was reversed (the appeal case open or closed);
- ``modified``: the decision was reversed and another decision that takes action was applied
  on the appeal case (a warning instead of a suspension, say);
- ``withdrawn``: the appeal case was closed as *withdrawn* and the decision stands;
- ``upheld``: the appeal case was closed any other way and the decision stands.

An appeal case closed as a *duplicate* says nothing about the decision (another case carries
the appeal): it is skipped. When a decision was appealed more than once, the newest appeal
that is not a duplicate counts.

Bounded: three indexed queries whatever the number of appeals, for a page's worth of decision
ids (the decisions by primary key; the appeal cases through ``ix_cases_account`` with at most
``APPEALS_PER_DECISION`` per decision; the decisions on the reversed ones' appeal cases
through ``ix_decisions_case``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vigil.auth.permissions import Tier
from vigil.cases.models import Case, CaseStatus, CaseType, Resolution
from vigil.enforcement.models import Decision, DecisionStatus

# Appeal cases read per decision asked about: a decision is appealed once or twice at most (a
# second submission while one is open is added to it).
APPEALS_PER_DECISION = 5


class AppealState(StrEnum):
    under_appeal = "under appeal"
    upheld = "upheld"
    overturned = "overturned"
    modified = "modified"
    withdrawn = "withdrawn"


@dataclass(frozen=True, slots=True)
class Appeal:
    """The appeal that counts for one decision: its case and what became of it."""

    decision_id: int
    case_id: int
    state: AppealState


def appeal_states(
    session: Session, decision_ids: Collection[int], *, include_legal: bool = True
) -> dict[int, Appeal]:
    """The appeal state of each of ``decision_ids`` that was appealed (others are absent).

    ``include_legal=False`` leaves out appeal cases in the legal tier, for a viewer who may
    not see legal cases (their decisions are not listed to them either)."""
    ids = set(decision_ids)
    if not ids:
        return {}
    decisions = {
        row.id: row
        for row in session.execute(
            select(Decision.id, Decision.account_id, Decision.status).where(Decision.id.in_(ids))
        )
    }
    account_ids = {d.account_id for d in decisions.values() if d.account_id is not None}
    if not account_ids:
        return {}
    appealed = Case.attributes[("appeal", "decision_id")].as_integer()
    stmt = select(Case.id, Case.status, Case.resolution, appealed.label("decision_id")).where(
        Case.account_id.in_(account_ids),
        Case.type == CaseType.appeal,
        appealed.in_(decisions),
        or_(Case.resolution.is_(None), Case.resolution != Resolution.duplicate),
    )
    if not include_legal:
        stmt = stmt.where(Case.tier != Tier.legal)
    chosen: dict[int, tuple[int, CaseStatus, Resolution | None]] = {}
    for row in session.execute(
        stmt.order_by(Case.id.desc()).limit(APPEALS_PER_DECISION * len(decisions))
    ):
        if row.decision_id in decisions:
            chosen.setdefault(
                row.decision_id,
                (
                    row.id,
                    CaseStatus(row.status),
                    Resolution(row.resolution) if row.resolution else None,
                ),
            )

    reversed_cases = [
        case_id
        for decision_id, (case_id, _, _) in chosen.items()
        if decisions[decision_id].status == DecisionStatus.reversed
    ]
    replaced: set[int] = set()
    if reversed_cases:
        replaced = set(
            session.scalars(
                select(Decision.case_id)
                .distinct()
                .where(
                    Decision.case_id.in_(reversed_cases),
                    Decision.status == DecisionStatus.applied,
                    Decision.no_violation.is_(False),
                )
                .limit(len(reversed_cases))
            )
        )

    out: dict[int, Appeal] = {}
    for decision_id, (case_id, status, resolution) in chosen.items():
        if decisions[decision_id].status == DecisionStatus.reversed:
            state = AppealState.modified if case_id in replaced else AppealState.overturned
        elif status != CaseStatus.closed:
            state = AppealState.under_appeal
        elif resolution == Resolution.withdrawn:
            state = AppealState.withdrawn
        else:
            state = AppealState.upheld
        out[decision_id] = Appeal(decision_id, case_id, state)
    return out
