"""From fired rules to what Vigil does: nothing, a case for a reviewer, or an automated action.

One *lead* hit names what is done: the live (non-shadow) hit with the most severe outcome,
then the highest score, then the first fired. Its policy, queue and action are used; every
live hit is kept as evidence.

- ``allow``: nothing.
- ``review``: a ``detection`` case in the lead rule's queue (routing's choice when it names
  none), deduplicated per account and policy (``detection:<account>:<policy>``): while a case
  with that key is open, a new signal is noted on it instead of opening another. When the
  last such case closed as ``no_violation`` less than ``detection_snooze_days`` ago, the
  signal is snoozed: recorded on the event, no case.
- ``block``: an automated decision (:func:`vigil.enforcement.automated.decide_automated`) with
  the action the rule names, else the one the policy's ladder proposes for the account's
  record; on the review case waiting for the account and policy when nobody holds it (it is
  closed by the decision), else on a case of its own. When that cannot be done (no policy
  on the rule, the policy refuses the action...) the reason is recorded and the signal goes
  to review, so a person sees it. An account already removed gets nothing more.
  A burst of events must not climb the ladder on its own (warn, restrict, suspend in one
  second): while a decision for the account and policy waits for approval, keeps an action
  in force, or was applied less than ``detection_block_cooldown_hours`` ago, the event is
  added to that decision's case as evidence and answered with that decision.

Nothing needs an account more than acting does: an event about an account Vigil does not
know yet is decided, stored and answered, but opens nothing (``account_unknown``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account, AccountStatus
from vigil.cases import service as cases_service
from vigil.cases import states as case_states
from vigil.cases.models import Case, CaseEventKind, CaseStatus, CaseType, Resolution, Severity
from vigil.config import Settings
from vigil.detection.events import TEXT_TYPES, EventIn
from vigil.detection.models import Outcome
from vigil.enforcement.automated import ACTOR, decide_automated
from vigil.enforcement.models import (
    ActionStatus,
    Decision,
    DecisionAction,
    DecisionPolicy,
    DecisionStatus,
)
from vigil.enforcement.suggest import suggest
from vigil.kit import clock
from vigil.kit.errors import VigilError
from vigil.policies import service as policies_service
from vigil.policies.actions import ActionType, Scope


class Hit(Protocol):
    """What is read of a rule hit (``vigil.detection.rules.engine.RuleHit``)."""

    rule_id: int
    rule_version: int
    name: str
    score: float
    outcome: str
    policy_code: str | None
    queue: str | None
    shadow: bool
    reason: str


@dataclass
class Acted:
    case_id: int | None = None
    decision_id: int | None = None
    snoozed_by_case_id: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


def error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def dedup_key(account_id: int, policy_code: str) -> str:
    return f"detection:{account_id}:{policy_code}"


def lead_hit(hits: list[Any]) -> Any | None:
    live = [h for h in hits if not h.shadow]
    if not live:
        return None
    ranked = sorted(
        enumerate(live),
        key=lambda item: (-_rank(item[1].outcome), -float(item[1].score), item[0]),
    )
    # A hit with a policy leads over one without at the same outcome: only it can be acted on.
    best = ranked[0][1]
    if best.policy_code is None:
        same = [h for _, h in ranked if _rank(h.outcome) == _rank(best.outcome) and h.policy_code]
        if same:
            return same[0]
    return best


def _rank(outcome: str) -> int:
    try:
        return Outcome(outcome).rank
    except ValueError:
        return 0


def _summary(hits: list[Any]) -> list[str]:
    return [f"{h.name}: {h.reason}" if h.reason else h.name for h in hits if not h.shadow]


def _evidence(event: EventIn, hits: list[Any], score: float, occurred: str) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_type": event.type,
        "occurred_at": occurred,
        "has_text": event.type in TEXT_TYPES and bool(event.text),
        "score": score,
        "rules": _summary(hits),
        "rule_ids": [h.rule_id for h in hits if not h.shadow],
    }


def act(
    session: Session,
    settings: Settings,
    *,
    event: EventIn,
    occurred_at: str,
    account: Account | None,
    hits: list[Any],
    outcome: str,
    score: float,
) -> Acted:
    """Carry out ``outcome`` for the event. Never raises for a refusal of the action itself:
    it is recorded in ``errors`` (and a block that cannot be taken becomes a review)."""
    acted = Acted()
    if outcome == Outcome.allow:
        return acted
    lead = lead_hit(hits)
    if lead is None:
        return acted
    if account is None:
        acted.errors.append(
            error(
                "account_unknown",
                f"no account {event.account_id!r} in Vigil yet: the {outcome} outcome is "
                "recorded, but nothing is opened or applied (send a signup event or upsert the "
                "account first)",
                field="account_id",
            )
        )
        return acted
    evidence = _evidence(event, hits, score, occurred_at)
    if outcome == Outcome.block and _block(
        session, settings, event, account, lead, evidence, acted
    ):
        return acted
    _review(session, settings, event, account, lead, hits, outcome, acted)
    return acted


# --- block --------------------------------------------------------------------------------------


def _block(
    session: Session,
    settings: Settings,
    event: EventIn,
    account: Account,
    lead: Any,
    evidence: dict[str, Any],
    acted: Acted,
) -> bool:
    """Take the automated action; False (with the reason in ``acted.errors``) when it could
    not be taken and the signal should go to review instead."""
    if lead.policy_code is None:
        acted.errors.append(
            error(
                "block_needs_policy",
                f"rule '{lead.name}' blocks but cites no policy; opened for review instead",
                rule_id=lead.rule_id,
            )
        )
        return False
    # One block at a time per account: a concurrent event for it waits here, then sees the
    # decision this one takes (and joins it) instead of taking another.
    locked = session.scalar(
        select(Account)
        .where(Account.id == account.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    account = locked if locked is not None else account
    if account.status is AccountStatus.removed:
        acted.errors.append(
            error("account_removed", "the account is already removed; nothing more to take")
        )
        return True
    current = _standing_decision(session, settings, account.id, lead.policy_code)
    if current is not None:
        _join(session, current, event, evidence, acted)
        return True
    savepoint = session.begin_nested()
    try:
        action, scope, days = _action_for(session, account, lead)
        evidence = {**evidence, "target_ref": _target_ref(event, lead, scope)}
        decision = decide_automated(
            session,
            settings,
            account_id=account.id,
            policy_code=lead.policy_code,
            action=action,
            scope=scope,
            duration_days=days,
            reason=f"{lead.name}: {lead.reason}" if lead.reason else lead.name,
            evidence=evidence,
            case_id=_waiting_case(session, account.id, lead.policy_code),
        )
    except VigilError as exc:
        savepoint.rollback()
        acted.errors.append(
            error(
                "block_not_applied",
                f"the automated action was refused ({exc.message}); opened for review instead",
                field=exc.field,
                refused=exc.code,
                rule_id=lead.rule_id,
            )
        )
        return False
    savepoint.commit()
    acted.case_id = decision.case_id
    acted.decision_id = decision.id
    return True


# Actions that keep the account restricted while they last; a warning or a removal of one
# piece of content does not, so after them only the cooldown holds new blocks back.
_IN_FORCE_TYPES = (ActionType.restrict, ActionType.suspend, ActionType.ban)


def _standing_decision(
    session: Session, settings: Settings, account_id: int, policy_code: str
) -> Decision | None:
    """The newest decision for the account and policy that a new block would repeat: one
    waiting for approval, one with a restriction still in force, or one applied within
    ``detection_block_cooldown_hours``. Reviewers' decisions count as much as automated
    ones. Reads ``ix_decisions_account``."""
    now = clock.now()
    in_force = exists().where(
        DecisionAction.decision_id == Decision.id,
        DecisionAction.status == ActionStatus.active,
        DecisionAction.type.in_(_IN_FORCE_TYPES),
        or_(DecisionAction.ends_at.is_(None), DecisionAction.ends_at > now),
    )
    cooldown = now - timedelta(hours=settings.detection_block_cooldown_hours)
    return session.scalar(
        select(Decision)
        .join(DecisionPolicy, DecisionPolicy.decision_id == Decision.id)
        .where(
            Decision.account_id == account_id,
            DecisionPolicy.policy_code == policy_code,
            or_(
                Decision.status == DecisionStatus.pending_approval,
                and_(
                    Decision.status == DecisionStatus.applied,
                    or_(Decision.applied_at >= cooldown, in_force),
                ),
            ),
        )
        .order_by(Decision.id.desc())
        .limit(1)
    )


def _join(
    session: Session, decision: Decision, event: EventIn, evidence: dict[str, Any], acted: Acted
) -> None:
    """Keep the event as evidence on ``decision``'s case, and answer with that decision."""
    case = session.get(Case, decision.case_id)
    if case is not None:
        case_states.record_event(
            session,
            case,
            CaseEventKind.deduplicated,
            actor=ACTOR,
            reason=(
                f"Another blocked event ({event.event_id}); decision {decision.id} already "
                "covers it, so nothing more was taken."
            ),
            data={**evidence, "decision_id": decision.id},
        )
    acted.case_id = decision.case_id
    acted.decision_id = decision.id


def _waiting_case(session: Session, account_id: int, policy_code: str) -> int | None:
    """The review case open for the account and policy, if nobody has picked it up: the
    automated decision is taken on it (and closes it), so no reviewer later decides the same
    thing a second time. A case someone holds is left to them."""
    last = _last_case(session, account_id, policy_code)
    if (
        last is not None
        and last.status == CaseStatus.open
        and last.dedup_key == dedup_key(account_id, policy_code)
    ):
        return last.id
    return None


def _action_for(
    session: Session, account: Account, lead: Any
) -> tuple[ActionType, Scope, int | None]:
    """The rule's own action when it names one, else the ladder's for this account."""
    named = getattr(lead, "action", None)
    if named:
        return (
            ActionType(named),
            Scope(getattr(lead, "scope", None) or "account"),
            getattr(lead, "duration_days", None),
        )
    policy = policies_service.resolve(session, lead.policy_code, field="policy_code")
    proposed = suggest(session, account.id, [policy])
    return proposed.action, proposed.scope, proposed.duration_days


# The payload field that names the content an action on a scope takes down.
_TARGET_FIELD = {Scope.listing: ("listing_id", "job_id"), Scope.message: ("message_id",)}


def _target_ref(event: EventIn, lead: Any, scope: Scope) -> str | None:
    named = getattr(lead, "target_ref", None)
    if named:
        return str(named)
    for name in _TARGET_FIELD.get(scope, ()):
        value = event.data.get(name)
        if isinstance(value, str) and value:
            return value
    return None


# --- review -------------------------------------------------------------------------------------


def _review(
    session: Session,
    settings: Settings,
    event: EventIn,
    account: Account,
    lead: Any,
    hits: list[Any],
    outcome: str,
    acted: Acted,
) -> None:
    """Open (or add to) the case for the account and the lead rule's policy, unless a
    recent case for it closed without a violation (snooze)."""
    key = dedup_key(account.id, lead.policy_code or f"rule-{lead.rule_id}")
    severity = Severity.medium
    if lead.policy_code is not None:
        last = _last_case(session, account.id, lead.policy_code)
        joining = last is not None and last.status != CaseStatus.closed and last.dedup_key == key
        if last is not None and not joining and _snoozes(settings, last):
            acted.snoozed_by_case_id = last.id
            return
        if not joining:  # a new case: its severity is the policy's
            try:
                severity = Severity(policies_service.resolve(session, lead.policy_code).severity)
            except VigilError as exc:
                acted.errors.append(error("unknown_policy", exc.message, rule_id=lead.rule_id))
    reasons = _summary(hits)
    spec = cases_service.NewCase(
        type=CaseType.detection,
        title=f"Detection: {lead.name}"[:300],
        summary="\n".join(reasons)[:4000],
        priority=2 if outcome == Outcome.block else 3,  # a block that could not be taken
        severity=severity,
        language=(account.locale or "en").split("-", 1)[0],
        policy_code=lead.policy_code,
        account_id=account.id,
        source="detection",
        source_ref=event.event_id,
        dedup_key=key,
        attributes={"event_id": event.event_id, "outcome": outcome, "rules": reasons},
        queue_slug=lead.queue or None,
    )
    try:
        with session.begin_nested():
            result = cases_service.create_case(session, ACTOR, spec)
    except VigilError as exc:
        if spec.queue_slug is None:
            raise
        # The rule's queue was retired or moved tiers after the rule was saved: the case
        # still opens, where routing sends it.
        acted.errors.append(
            error("queue_unavailable", exc.message, field="queue", rule_id=lead.rule_id)
        )
        result = cases_service.create_case(session, ACTOR, replace(spec, queue_slug=None))
    acted.case_id = result.case.id


def _last_case(session: Session, account_id: int, policy_code: str) -> Case | None:
    """The account's newest detection case for the policy (reads ``ix_cases_account``)."""
    rows, _ = cases_service.list_cases(
        session,
        ACTOR,
        cases_service.CaseFilter(
            account_id=account_id, policy_code=policy_code, type=CaseType.detection
        ),
        limit=1,
    )
    return rows[0] if rows else None


def _snoozes(settings: Settings, last: Case) -> bool:
    """Whether ``last`` holds new signals back: it closed as no violation within
    ``detection_snooze_days`` (a reviewer looked and found nothing)."""
    return (
        last.status == CaseStatus.closed
        and last.resolution == Resolution.no_violation
        and last.closed_at is not None
        and clock.now() - last.closed_at < timedelta(days=settings.detection_snooze_days)
    )
