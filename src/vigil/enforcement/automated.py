"""Automated decisions: the system itself takes an action that detection asked for.

An automated decision is an ordinary decision made by the system actor through
:func:`vigil.enforcement.service.decide`, so it gets everything a reviewer's decision gets and
nothing is duplicated here: the plan's checks (the policy allows the action, the scope fits,
a suspension has a duration), the strike, the restriction, the ``action.applied`` webhook, the
user's message in their language, the DSA statement of reasons, and the case closed.

What is particular to it:
- It sits on a case of type ``detection`` that it opens itself (no dedup key: one automated
  decision, one case), or on the open case it is given.
- The statement declares ``automated_detection`` and, when nobody looks before it applies,
  ``AUTOMATED_DECISION_FULLY``. An action that needs a second approver (ban and remove by
  default, and long or open-ended restrictions: :func:`vigil.enforcement.plan.needs_four_eyes`)
  is not applied by the system alone: the decision waits for a specialist's approval on its
  case, and the statement says ``AUTOMATED_DECISION_PARTIALLY``.
- A departure from the ladder (the rule named a harsher action than the account's record
  proposes) is recorded with the rule's reason, as a reviewer would have to.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.auth.principal import Principal
from vigil.cases import service as cases_service
from vigil.cases.models import CaseType, Severity
from vigil.config import Settings
from vigil.dsa import vocabulary as dsa_vocabulary
from vigil.enforcement import service as enforcement
from vigil.enforcement.models import Decision
from vigil.enforcement.plan import PlannedAction, departs_from, needs_four_eyes
from vigil.enforcement.schemas import ActionIn, DecisionIn, StatementIn, ViolationIn
from vigil.enforcement.suggest import suggest
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, NotFound
from vigil.policies import service as policies_service
from vigil.policies.actions import ActionType, Scope

ACTOR = Principal.system("detection")

_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}")
_MAX_FACTS = 4500


def _public(text: str) -> str:
    """Statements go to a public database: no email addresses, whatever a rule's reason holds."""
    return _EMAIL.sub("[email address]", text).strip()


def _content_day(evidence: dict[str, Any]) -> date:
    raw = evidence.get("occurred_at")
    if isinstance(raw, datetime):
        return clock.as_utc(raw).date()
    if isinstance(raw, str):
        try:
            return clock.as_utc(datetime.fromisoformat(raw)).date()
        except ValueError:
            pass
    return clock.now().astimezone(UTC).date()


def _facts(reason: str, evidence: dict[str, Any]) -> str:
    event_type = evidence.get("event_type")
    rules = [str(r) for r in evidence.get("rules", []) if r]
    parts = [f"Vigil's automated detection found: {_public(reason)}."]
    if event_type:
        parts.append(f"It was triggered by the account's {str(event_type).replace('_', ' ')}")
        parts[-1] += f" on {_content_day(evidence).isoformat()}."
    if rules:
        parts.append("Detection rules that fired: " + "; ".join(_public(r) for r in rules) + ".")
    return " ".join(parts)[:_MAX_FACTS]


def _content_type(evidence: dict[str, Any]) -> tuple[list[str], str | None]:
    if evidence.get("content_type"):
        return [str(evidence["content_type"])], evidence.get("content_type_other")
    if evidence.get("has_text"):
        return [dsa_vocabulary.ContentType.TEXT.value], None
    return [dsa_vocabulary.ContentType.OTHER.value], "Account activity on the marketplace"


def decide_automated(
    session: Session,
    settings: Settings,
    *,
    account_id: int,
    policy_code: str,
    action: ActionType,
    scope: Scope,
    duration_days: int | None,
    reason: str,
    evidence: dict[str, Any],
    case_id: int | None,
) -> Decision:
    """Take ``action`` on the account under ``policy_code``, as the system.

    ``evidence`` is kept on the case and in the decision's reasoning; these keys are also
    read: ``event_id`` (the case's source reference), ``event_type``, ``occurred_at`` (the
    statement's content date), ``has_text`` or ``content_type`` (the statement's content
    type), ``rules`` (names and reasons, for the statement's facts), ``target_ref`` (the
    listing or message a removal takes down).

    Refuses like ``decide`` does (422 naming the field: ``violations.0.policy``,
    ``actions.0.type``, ``actions.0.duration_days``, ``statement.facts``...; 409 for a case
    that is closed or already waits for an approval), before anything is written; the case
    it opened is then left to the caller's transaction to roll back.
    """
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("no such account", field="account_id", code="account_not_found")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why", field="reason", code="reason_required")
    policy = policies_service.resolve(session, policy_code, field="policy_code")
    planned = PlannedAction(0, action, scope, duration_days, None, None)
    four_eyes = needs_four_eyes(planned, settings, clock.now())

    if case_id is None:
        case = cases_service.create_case(
            session,
            ACTOR,
            cases_service.NewCase(
                type=CaseType.detection,
                title=f"Automated {action.value}: {policy.title}"[:300],
                summary=_public(reason),
                priority=2,
                severity=Severity(policy.severity),
                language=(account.locale or "en").split("-", 1)[0],
                policy_code=policy.code,
                account_id=account.id,
                source="detection",
                source_ref=str(evidence.get("event_id") or "")[:200] or None,
                attributes={"automated": True, "evidence": evidence},
            ),
        ).case
        case_id = case.id

    proposed = suggest(session, account.id, [policy])
    departs = departs_from([planned], proposed, clock.now())
    content_type, content_type_other = _content_type(evidence)
    body = DecisionIn(
        violations=[ViolationIn(policy=policy.code, version=policy.version)],
        actions=[
            ActionIn(
                type=action,
                scope=scope,
                duration_days=duration_days,
                target_ref=evidence.get("target_ref") or None,
            )
        ],
        departure_reason=(
            f"The detection rule sets this action: {_public(reason)}"[:4000] if departs else None
        ),
        internal_reasoning=f"Automated decision. {reason}\nEvidence: {evidence}"[:20_000],
        statement=StatementIn(
            facts=_facts(reason, evidence),
            content_type=content_type,
            content_type_other=content_type_other,
            content_date=_content_day(evidence),
            source_type=dsa_vocabulary.SourceType.VOLUNTARY.value,
            automated_detection=True,
            automated_decision=(
                dsa_vocabulary.AutomatedDecision.PARTIALLY
                if four_eyes
                else dsa_vocabulary.AutomatedDecision.FULLY
            ).value,
        ),
    )
    return enforcement.decide(session, ACTOR, case_id, body, settings=settings)
