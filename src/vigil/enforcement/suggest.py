"""The enforcement ladder's suggestion: what the account's record says the action should be.

The count is account-wide: every strike the account holds that is neither expired nor voided
adds its weight, whatever policy it came from, and the decision being made adds the weight of
each policy it cites. The ladder of the most severe cited policy (severity first, then strike
weight, then the order cited) turns that total into an action with
:func:`vigil.policies.ladder.step_for`. Below the ladder's first step the policy's
``default_action`` is proposed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.cases.models import Severity
from vigil.enforcement.models import Strike
from vigil.kit import clock
from vigil.policies.actions import ALLOWED_SCOPES, ActionType, Scope
from vigil.policies.ladder import step_for
from vigil.policies.models import PolicyVersion


@dataclass(frozen=True)
class StrikeView:
    id: int
    decision_id: int
    policy_code: str
    policy_version: int
    weight: int
    created_at: datetime
    expires_at: datetime
    voided_at: datetime | None
    void_reason: str | None
    counts: bool  # neither expired nor voided now

    @classmethod
    def of(cls, strike: Strike, now: datetime) -> StrikeView:
        return cls(
            id=strike.id,
            decision_id=strike.decision_id,
            policy_code=strike.policy_code,
            policy_version=strike.policy_version,
            weight=strike.weight,
            created_at=strike.created_at,
            expires_at=strike.expires_at,
            voided_at=strike.voided_at,
            void_reason=strike.void_reason,
            counts=strike.voided_at is None and strike.expires_at > now,
        )


@dataclass(frozen=True)
class Suggestion:
    action: ActionType
    scope: Scope
    duration_days: int | None
    policy_code: str  # the policy whose ladder was used
    policy_version: int
    from_ladder: bool  # False: below the ladder's first step, the policy's default action
    step_strikes: int | None  # the ladder step reached
    strikes_before: int  # weight of the account's active strikes
    adding: int  # weight this decision adds (the cited policies' strike weights)
    strikes: list[StrikeView] = field(default_factory=list)  # the active strikes counted

    @property
    def strikes_after(self) -> int:
        return self.strikes_before + self.adding

    def as_dict(self) -> dict[str, Any]:
        """What a decision keeps of the suggestion it was made against."""
        return {
            "action": self.action.value,
            "scope": self.scope.value,
            "duration_days": self.duration_days,
            "policy": self.policy_code,
            "version": self.policy_version,
            "from_ladder": self.from_ladder,
            "step_strikes": self.step_strikes,
            "strikes_before": self.strikes_before,
            "strikes_after": self.strikes_after,
            "strike_ids": [s.id for s in self.strikes],
        }


def most_severe(policies: Sequence[PolicyVersion]) -> PolicyVersion:
    """The policy that leads a decision: highest severity, then heaviest strike, then the
    first cited."""
    if not policies:
        raise ValueError("no policies")
    ranked = sorted(
        enumerate(policies),
        key=lambda p: (-Severity(p[1].severity).rank, -p[1].strike_weight, p[0]),
    )
    return ranked[0][1]


def default_scope(action: ActionType) -> Scope:
    """The scope proposed for an action when the policy names none: the account where that
    is allowed, else the first allowed scope in the vocabulary's order."""
    allowed = ALLOWED_SCOPES[action]
    if Scope.account in allowed:
        return Scope.account
    return next(s for s in Scope if s in allowed)


def active_strikes(session: Session, account_id: int, now: datetime | None = None) -> list[Strike]:
    """Strikes that count now (reads ``ix_strikes_active``)."""
    now = now or clock.now()
    return list(
        session.scalars(
            select(Strike)
            .where(
                Strike.account_id == account_id,
                Strike.voided_at.is_(None),
                Strike.expires_at > now,
            )
            .order_by(Strike.id)
        )
    )


def suggest(
    session: Session,
    account_id: int | None,
    policies: Sequence[PolicyVersion],
    now: datetime | None = None,
) -> Suggestion:
    """The ladder's proposal for a decision citing ``policies`` on ``account_id``."""
    now = now or clock.now()
    lead = most_severe(policies)
    strikes = active_strikes(session, account_id, now) if account_id is not None else []
    before = sum(s.weight for s in strikes)
    adding = sum(p.strike_weight for p in policies)
    step = step_for(lead, before + adding)
    views = [StrikeView.of(s, now) for s in strikes]
    if step is None:
        action = ActionType(lead.default_action)
        return Suggestion(
            action=action,
            scope=default_scope(action),
            duration_days=None,
            policy_code=lead.code,
            policy_version=lead.version,
            from_ladder=False,
            step_strikes=None,
            strikes_before=before,
            adding=adding,
            strikes=views,
        )
    return Suggestion(
        action=ActionType(step.action),
        scope=Scope(step.scope),
        duration_days=step.duration_days,
        policy_code=lead.code,
        policy_version=lead.version,
        from_ladder=True,
        step_strikes=step.strikes,
        strikes_before=before,
        adding=adding,
        strikes=views,
    )
