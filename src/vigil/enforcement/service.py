"""Decisions on cases: the ladder's suggestion, deciding (with four-eyes on severe actions),
previewing, approving, rejecting, reversing, and reading them back.

Every function takes ``(session, actor, ...)`` and never commits. A decision is checked in
full before anything is written (:mod:`vigil.enforcement.plan`); applying it
(:mod:`vigil.enforcement.apply`) happens in the same transaction. Row locks are always taken
case first, then decision, then account, like the cases service does, so two transactions
never wait on each other in opposite orders.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Role
from vigil.auth.principal import Principal
from vigil.cases import repository as cases_repository
from vigil.cases import service as cases_service
from vigil.cases import states as case_states
from vigil.cases.models import Case, CaseEventKind, CaseStatus, CaseType
from vigil.config import Settings, get_settings
from vigil.dsa import service as dsa_service
from vigil.enforcement import apply, states
from vigil.enforcement.apply import Outgoing, compose, expire_due
from vigil.enforcement.models import (
    Approval,
    ApprovalOutcome,
    Decision,
    DecisionAction,
    DecisionPolicy,
    DecisionStatus,
)
from vigil.enforcement.plan import (
    HEADLINE,
    Checks,
    Plan,
    PlannedAction,
    PlannedMessage,
    make_plan,
    required_text,
    statement_input,
    today,
)
from vigil.enforcement.queries import (  # re-exported: callers need only the service
    DecisionDetail,
    DecisionFilter,
    DecisionView,
    StrikeRecord,
    cases_waiting_approval,
    decision_detail,
    decisions_for_case,
    get_decision,
    legal_decision_ids,
    list_decisions,
    pending_count,
    pending_decision_id,
    strikes_for_account,
    visible_decision,
)
from vigil.enforcement.schemas import DecisionIn
from vigil.enforcement.suggest import Suggestion, suggest
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, PermissionDenied, VigilError
from vigil.policies import service as policies_service
from vigil.policies.actions import ActionType, Scope
from vigil.policies.models import PolicyVersion

__all__ = [
    "APPROVER_ROLES",
    "DecisionDetail",
    "DecisionFilter",
    "DecisionView",
    "Preview",
    "StrikeRecord",
    "approve",
    "cases_waiting_approval",
    "decide",
    "decision_detail",
    "decisions_for_case",
    "draft",
    "expire_due",
    "get_decision",
    "list_decisions",
    "pending_count",
    "pending_decision_id",
    "pending_draft",
    "preview",
    "reject",
    "reverse_decision",
    "strikes_for_account",
    "suggestion_for",
]

# Second approvers (four-eyes) come from the specialist tier or above.
APPROVER_ROLES = frozenset({Role.specialist, Role.legal, Role.admin})
# The statement's number is known only once it is written: a preview shows this in its place
# (no ellipsis: templates end the sentence after the reference, "quote reference SOR-….").
PREVIEW_REFERENCE = "SOR-####"

# Statement fields the reviewer writes (``statement.<request name>``), by the DSA field they
# become; the rest come from the policy and the actions and keep their DSA names.
_FROM_REQUEST = {
    "decision_facts": "facts",
    "incompatible_content_explanation": "facts",
    "content_type": "content_type",
    "content_type_other": "content_type_other",
    "content_date": "content_date",
    "content_language": "content_language",
    "source_type": "source_type",
    "automated_detection": "automated_detection",
    "automated_decision": "automated_decision",
    "territorial_scope": "territorial_scope",
}


def _request_field(name: str | None) -> str | None:
    if name is None or not name.startswith("statement."):
        return name
    dsa_name = name.removeprefix("statement.")
    return f"statement.{_FROM_REQUEST.get(dsa_name, dsa_name)}"


def _in_request_terms(exc: InvalidInput) -> InvalidInput:
    """A statement refusal named by the request's fields, so the form can point at them."""
    exc.field = _request_field(exc.field)
    exc.details = [
        {**d, "field": _request_field(d.get("field")), "dsa_field": d.get("field")}
        for d in exc.details
    ]
    return exc


# --- the ladder's suggestion ------------------------------------------------------------------


def _parse_policy_ref(value: str, index: int) -> tuple[str, int | None]:
    """``code`` or ``code:version``."""
    code, sep, number = value.strip().partition(":")
    if not sep:
        return code, None
    if not number.isdigit() or int(number) < 1:
        raise InvalidInput(
            "write a policy as code or code:version", field=f"policy.{index}", code="invalid_policy"
        )
    return code, int(number)


def suggestion_for(
    session: Session, actor: Principal, case_id: int, policies: list[str]
) -> Suggestion:
    """What the ladder proposes for a decision on ``case_id`` citing ``policies`` (codes, or
    ``code:version``), with the account's active strikes that led to it."""
    actor.require(Permission.decisions_write)
    case = cases_service.get_case(session, actor, case_id)
    if not policies:
        raise InvalidInput("name at least one policy", field="policy", code="policy_required")
    versions: list[PolicyVersion] = []
    for i, ref in enumerate(policies):
        code, number = _parse_policy_ref(ref, i)
        found = policies_service.resolve(session, code, number, field=f"policy.{i}")
        if all(v.code != found.code for v in versions):
            versions.append(found)
    if case.account_id is None:
        raise InvalidInput(
            "this case is about no account: there is no record to climb the ladder",
            field="case_id",
            code="case_has_no_account",
        )
    result = suggest(session, case.account_id, versions)
    return _visible_strikes(session, actor, result)


def _visible_strikes(session: Session, actor: Principal, result: Suggestion) -> Suggestion:
    """Strikes from legal-tier cases count, but are listed only to those who may see them."""
    if actor.can(Permission.legal_cases) or not result.strikes:
        return result
    hidden = legal_decision_ids(session, [s.decision_id for s in result.strikes])
    if not hidden:
        return result
    return Suggestion(
        **{
            **{k: getattr(result, k) for k in result.__dataclass_fields__},
            "strikes": [s for s in result.strikes if s.decision_id not in hidden],
        }
    )


# --- drafts: the statement and the message, checked for real ------------------------------


@dataclass
class Draft:
    statement_fields: dict[str, Any] | None = None
    statement_violations: list[dict[str, Any]] = field(default_factory=list)
    outgoing: Outgoing | None = None


def _headline(actions: list[PlannedAction]) -> PlannedAction | None:
    return max(actions, key=lambda a: (HEADLINE[a.type], -a.index)) if actions else None


def _draft(session: Session, plan: Plan, settings: Settings, checks: Checks) -> Draft:
    """Build the statement of reasons with ``dsa.create_statement`` and render the message
    with ``communications.render`` inside a savepoint that is always rolled back: the rules
    that will apply the decision judge it now, and nothing stays behind."""
    draft = Draft()
    account, lead = plan.account, plan.lead
    if account is None:
        return draft
    now = clock.now()
    savepoint = session.begin_nested()
    try:
        statement_ctx: dict[str, Any] | None = None
        if plan.restrictive and plan.statement_spec is not None and lead is not None:
            spec = statement_input(
                decision_id=0,
                account=account,
                lead=lead,
                actions=[(a.type, a.scope, a.ends_at(now)) for a in plan.actions],
                spec=plan.statement_spec,
                application_date=today(),
            )
            draft.statement_fields, _ = dsa_service.build_fields(spec, "vgl-preview")
            try:
                statement = dsa_service.create_statement(session, spec, settings=settings)
                statement_ctx = apply.statement_for_message(
                    dsa_service.template_context(statement),
                    lead,
                    plan.message.locale if plan.message is not None else "en",
                )
                statement_ctx["reference"] = PREVIEW_REFERENCE
            except InvalidInput as exc:
                exc = _in_request_terms(exc)
                draft.statement_violations = list(exc.details)
                _statement_problems(exc, checks)
        message = plan.message
        if message is not None and message.channels and not _wordable(plan):
            # The template is chosen by the action and worded from the policy: until both
            # are accepted there is no message to show (never the "no violation" one).
            checks.report(
                InvalidInput(
                    "complete the policy and the action first: the message is written from them",
                    field="message",
                    code="message_needs_action",
                )
            )
        elif message is not None and message.channels:
            top = _headline(plan.actions)
            ends = top.ends_at(now) if top is not None else None
            try:
                draft.outgoing = compose(
                    session,
                    settings=settings,
                    message=message,
                    template_action=top.type.value if top is not None else "no_violation",
                    case_id=plan.case.id,
                    account=account,
                    lead=lead,
                    action=top.type if top is not None else None,
                    scope=top.scope if top is not None else None,
                    ends_at=ends,
                    duration_days=top.effective_days(now) if top is not None else None,
                    statement=statement_ctx,
                )
            except InvalidInput as exc:
                if exc.field is None:
                    exc.field = "message"
                checks.add([exc])
    finally:
        savepoint.rollback()
    return draft


def _wordable(plan: Plan) -> bool:
    """Whether the message can be worded: "no violation", or accepted policies and actions."""
    return plan.no_violation or (plan.complete and bool(plan.actions) and plan.lead is not None)


def _statement_problems(exc: InvalidInput, checks: Checks) -> None:
    """A refused statement: ``decide`` raises it whole; a preview lists each violation as a
    problem of its own, except those on a field already reported (a missing facts field is
    said once, not again as the database's ``decision_facts``)."""
    if checks.strict:
        raise exc
    for detail in exc.details:
        name = detail.get("field")
        if name is not None and checks.reported(name):
            continue
        checks.report(
            InvalidInput(
                str(detail.get("message", exc.message)),
                field=name,
                code=exc.code,
                details=[detail],
            )
        )


# Public names: the console renders drafts with them.
draft = _draft


def pending_draft(
    session: Session, actor: Principal, decision_id: int, *, settings: Settings
) -> Draft | None:
    """What a decision waiting for approval would send if approved now (the message as the
    user will read it, the statement's field set and its violations), rendered by the code
    ``decide`` and ``approve`` use, in a savepoint that is rolled back. None for a decision
    about no account."""
    decision = visible_decision(session, actor, decision_id)
    view = get_decision(session, actor, decision.id)
    case = session.get(Case, decision.case_id)
    account = session.get(Account, decision.account_id) if decision.account_id else None
    if case is None or account is None:
        return None
    plan = Plan(
        case=case,
        account=account,
        no_violation=decision.no_violation,
        policies=list(view.policies),
        actions=[
            PlannedAction(
                index=a.position,
                type=ActionType(a.type),
                scope=Scope(a.scope),
                duration_days=a.duration_days,
                requested_ends_at=a.requested_ends_at,
                target_ref=a.target_ref,
            )
            for a in view.actions
        ],
        message=PlannedMessage.from_spec(decision.message_spec or {}),
        statement_spec=decision.statement_spec,
    )
    return _draft(session, plan, settings, Checks(strict=False))


# --- deciding ---------------------------------------------------------------------------------


def decide(
    session: Session,
    actor: Principal,
    case_id: int,
    body: DecisionIn,
    *,
    settings: Settings,
    notify: bool = True,
    hearing_appeal: bool = False,
) -> Decision:
    """Record a decision on a case and, unless one of its actions needs a second approver
    (``settings.four_eyes``), apply it at once: restrictions, strikes, statement of reasons,
    webhooks, the user's message, the case closed. ``notify=False`` applies it without the
    user's message (the caller sends its own: an appeal's outcome).

    Refuses (nothing written): 404 case not visible; 403 ``not_assignee``; 409
    ``case_closed`` / ``decision_pending`` / ``version_conflict`` /
    ``appeal_outcome_required`` (an appeal case, unless ``hearing_appeal``: the appeals
    service deciding a modification); 422 naming the field at fault (``violations.0.policy``,
    ``actions.1.scope``, ``departure_reason``, ``statement.facts``, ``message.channels``...).
    """
    checks = Checks(strict=True)
    plan = make_plan(session, actor, case_id, body, settings, checks=checks, lock=True)
    if plan.case.type == CaseType.appeal and not hearing_appeal:
        # An appeal is heard through its outcome (``vigil.appeals``): uphold, overturn or
        # modify. A decision taken here would leave the appeal open and the contested
        # decision in force.
        raise Conflict(
            "an appeal case is decided by hearing the appeal: uphold, overturn or modify",
            code="appeal_outcome_required",
        )
    _draft(session, plan, settings, checks)

    now = clock.now()
    pending = bool(plan.four_eyes)
    top = plan.primary
    decision = Decision(
        case_id=plan.case.id,
        account_id=plan.account.id if plan.account is not None else None,
        status=DecisionStatus.pending_approval if pending else DecisionStatus.applied,
        applied_at=None if pending else now,
        no_violation=plan.no_violation,
        action=top.type if top is not None else None,
        suggestion=plan.suggestion.as_dict() if plan.suggestion is not None else None,
        departed=plan.departs,
        departure_reason=plan.departure_reason,
        internal_reasoning=plan.internal_reasoning,
        locale=plan.message.locale if plan.message is not None else "en",
        message_spec=plan.message.as_spec() if plan.message is not None else {},
        statement_spec=plan.statement_spec,
        decided_by_id=actor.staff_id,
        decided_by_label=actor.label,
        created_at=now,
    )
    session.add(decision)
    session.flush()
    for position, policy in enumerate(plan.policies):
        session.add(
            DecisionPolicy(
                decision_id=decision.id,
                position=position,
                policy_code=policy.code,
                policy_version=policy.version,
                policy_version_id=policy.id,
            )
        )
    for action in plan.actions:
        session.add(
            DecisionAction(
                decision_id=decision.id,
                position=action.index,
                type=action.type,
                scope=action.scope,
                target_ref=action.target_ref,
                duration_days=action.duration_days,
                requested_ends_at=action.requested_ends_at,
            )
        )
    session.flush()
    audit.record(
        session,
        actor,
        "enforcement.decision.create",
        "decision",
        decision.id,
        reason=plan.departure_reason,
        data={
            "case_id": plan.case.id,
            "status": decision.status.value,
            "no_violation": plan.no_violation,
            "policies": [{"code": p.code, "version": p.version} for p in plan.policies],
            "actions": [
                {"type": a.type.value, "scope": a.scope.value, "days": a.duration_days}
                for a in plan.actions
            ],
            "departed": plan.departs,
        },
    )
    if pending:
        session.add(
            Approval(
                decision_id=decision.id,
                requested_by_id=actor.staff_id,
                requested_at=now,
                required_for=list(plan.four_eyes),
            )
        )
        case_states.record_event(
            session,
            plan.case,
            CaseEventKind.decision_pending,
            actor=actor,
            data={"decision_id": decision.id, "four_eyes": list(plan.four_eyes)},
        )
        session.flush()
        audit.record(
            session,
            actor,
            "enforcement.decision.request_approval",
            "decision",
            decision.id,
            data={"case_id": plan.case.id, "four_eyes": list(plan.four_eyes)},
        )
        return decision
    apply.apply_decision(
        session,
        actor,
        decision,
        case=plan.case,
        account=plan.account,
        settings=settings,
        notify=notify,
    )
    return decision


@dataclass
class Preview:
    suggestion: Suggestion | None
    four_eyes: list[str]
    departs: bool
    channels: list[str]
    message: Outgoing | None
    edited: bool
    statement_fields: dict[str, Any] | None
    statement_violations: list[dict[str, Any]]
    problems: list[VigilError]


def preview(
    session: Session,
    actor: Principal,
    case_id: int,
    body: DecisionIn,
    *,
    settings: Settings,
) -> Preview:
    """What ``decide`` would do with ``body``, writing nothing: the ladder's suggestion,
    whether four-eyes applies, the message as the user would read it (in their locale), the
    statement of reasons' field set and its violations, and every problem that would make
    ``decide`` refuse. Case-level refusals (404, 403, 409) raise as in ``decide``."""
    checks = Checks(strict=False)
    plan = make_plan(session, actor, case_id, body, settings, checks=checks, lock=False)
    draft = _draft(session, plan, settings, checks)
    suggestion = (
        _visible_strikes(session, actor, plan.suggestion) if plan.suggestion is not None else None
    )
    message = plan.message
    return Preview(
        suggestion=suggestion,
        four_eyes=list(plan.four_eyes),
        departs=plan.departs,
        channels=list(message.channels) if message is not None else [],
        message=draft.outgoing,
        edited=message.edited if message is not None else False,
        statement_fields=draft.statement_fields,
        statement_violations=draft.statement_violations,
        problems=checks.problems,
    )


# --- four-eyes --------------------------------------------------------------------------------


def _locked(session: Session, decision_id: int) -> Decision:
    decision = session.scalar(
        select(Decision)
        .where(Decision.id == decision_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if decision is None:
        raise NotFound("no such decision", code="decision_not_found")
    return decision


def _lock_case_and_decision(
    session: Session, actor: Principal, decision_id: int
) -> tuple[Case, Decision]:
    found = visible_decision(session, actor, decision_id)
    case = cases_service.get_case(session, actor, found.case_id, lock=True)
    return case, _locked(session, decision_id)


def _may_approve(actor: Principal, decision: Decision) -> None:
    if not actor.is_staff:
        raise PermissionDenied("a second approver is a person", code="staff_only")
    if actor.role not in APPROVER_ROLES:
        raise PermissionDenied(
            "a second approver must be a specialist, legal or admin",
            code="approver_tier_required",
        )
    if decision.decided_by_id is not None and decision.decided_by_id == actor.staff_id:
        raise PermissionDenied(
            "you made this decision: someone else must approve or reject it",
            code="own_decision",
        )


def _refuse_recused(session: Session, actor: Principal, case: Case) -> None:
    """Someone recused from the case (an appeal's original reviewer) approves nothing on it."""
    if actor.staff_id is not None and cases_repository.is_recused(session, case.id, actor.staff_id):
        raise PermissionDenied(
            "you are recused from this case: someone else must approve", code="recused"
        )


def _waiting_approval(session: Session, decision_id: int) -> Approval:
    approval = session.scalar(
        select(Approval)
        .where(Approval.decision_id == decision_id, Approval.outcome.is_(None))
        .order_by(Approval.id.desc())
        .with_for_update()
    )
    if approval is None:  # written with the decision; guards a hand-edited database
        raise Conflict("this decision is not waiting for approval", code="decision_not_pending")
    return approval


def approve(
    session: Session,
    actor: Principal,
    decision_id: int,
    *,
    reason: str | None = None,
    settings: Settings,
) -> Decision:
    """Second approval of a decision waiting for one: it is applied at once, by
    ``actor``. Refuses 403 ``approver_tier_required`` / ``own_decision`` / ``recused``, 409
    ``decision_not_pending`` / ``case_closed`` / ``ends_at_passed``."""
    actor.require(Permission.decisions_approve)
    case, decision = _lock_case_and_decision(session, actor, decision_id)
    states.check_decision(decision, DecisionStatus.applied)
    _may_approve(actor, decision)
    _refuse_recused(session, actor, case)
    if case.status == CaseStatus.closed:
        raise Conflict(
            "the case was closed while the decision waited; reject it", code="case_closed"
        )
    note = (reason or "").strip() or None
    account = (
        session.get(Account, decision.account_id, with_for_update=True)
        if decision.account_id is not None
        else None
    )
    approval = _waiting_approval(session, decision.id)
    now = clock.now()
    apply._ends(apply.actions_of(session, decision.id), now)  # refuses before any write
    states.transition_decision(decision, DecisionStatus.applied, at=now, staff_id=actor.staff_id)
    approval.outcome = ApprovalOutcome.approved
    approval.decided_by_id = actor.staff_id
    approval.decided_at = now
    approval.reason = note
    case_states.record_event(
        session,
        case,
        CaseEventKind.decision_approved,
        actor=actor,
        reason=note,
        data={"decision_id": decision.id, "decided_by_id": decision.decided_by_id},
    )
    session.flush()
    audit.record(
        session, actor, "enforcement.decision.approve", "decision", decision.id, reason=note,
        data={"case_id": case.id, "decided_by_id": decision.decided_by_id},
    )  # fmt: skip
    apply.apply_decision(session, actor, decision, case=case, account=account, settings=settings)
    return decision


def reject(
    session: Session,
    actor: Principal,
    decision_id: int,
    *,
    reason: str,
) -> Decision:
    """Refuse a decision waiting for approval. Nothing it would have done happens; the case
    goes back to the reviewer who decided it (if it sits unassigned in its queue, it is
    assigned back to them) to decide again."""
    actor.require(Permission.decisions_approve)
    case, decision = _lock_case_and_decision(session, actor, decision_id)
    states.check_decision(decision, DecisionStatus.rejected)
    _may_approve(actor, decision)
    reason = required_text(reason, "reason")
    approval = _waiting_approval(session, decision.id)
    now = clock.now()
    states.transition_decision(decision, DecisionStatus.rejected, at=now, staff_id=actor.staff_id)
    approval.outcome = ApprovalOutcome.rejected
    approval.decided_by_id = actor.staff_id
    approval.decided_at = now
    approval.reason = reason
    case_states.record_event(
        session,
        case,
        CaseEventKind.decision_rejected,
        actor=actor,
        reason=reason,
        data={"decision_id": decision.id, "decided_by_id": decision.decided_by_id},
    )
    session.flush()
    audit.record(
        session, actor, "enforcement.decision.reject", "decision", decision.id, reason=reason,
        data={"case_id": case.id, "decided_by_id": decision.decided_by_id},
    )  # fmt: skip
    _return_to_decider(session, actor, case, decision)
    return decision


def _return_to_decider(session: Session, actor: Principal, case: Case, decision: Decision) -> None:
    if case.status != CaseStatus.open or decision.decided_by_id is None:
        return  # still with its holder (or held, or with someone else): leave it there
    # If the reviewer left or cannot work this tier any more, the case waits in its queue;
    # ``assign`` checks before it writes, so nothing of the attempt remains.
    with contextlib.suppress(VigilError):
        cases_service.assign(
            session,
            actor,
            case.id,
            staff_id=decision.decided_by_id,
            reason=f"decision {decision.id} was rejected; decide again",
        )


# --- reversal ---------------------------------------------------------------------------------


def reverse_decision(
    session: Session,
    actor: Principal,
    decision_id: int,
    reason: str,
    *,
    settings: Settings | None = None,
    notify: bool = True,
) -> Decision:
    """Overturn an applied decision: lift its restrictions, reinstate a removed account,
    void its strikes, send ``action.reversed`` for each action still in force and the
    ``reinstate`` message (not with ``notify=False``: an appeal sends its own outcome
    message instead). The case stays closed. Appeals call this.

    Refuses 422 ``reason_required``, 409 ``decision_not_applied`` (pending, rejected or
    already reversed) and ``nothing_to_reverse`` (a decision of no violation)."""
    actor.require(Permission.decisions_reverse)
    settings = settings or get_settings()
    visible_decision(session, actor, decision_id)
    reason = required_text(reason, "reason")
    case, decision = _lock_case_and_decision(session, actor, decision_id)
    states.check_decision(decision, DecisionStatus.reversed)
    if decision.no_violation:
        raise Conflict(
            "a decision of no violation took no action; reopen the case to decide again",
            code="nothing_to_reverse",
        )
    # Not locked here: lifting a restriction locks it and then its account, and the order
    # must be the same as the restrictions API's.
    account = session.get(Account, decision.account_id) if decision.account_id else None
    now = clock.now()
    states.transition_decision(
        decision, DecisionStatus.reversed, at=now, staff_id=actor.staff_id, reason=reason
    )
    undone = apply.reverse_actions(
        session, actor, decision, account=account, reason=reason, settings=settings,
        notify=notify,
    )  # fmt: skip
    case_states.record_event(
        session,
        case,
        CaseEventKind.decision_reversed,
        actor=actor,
        reason=reason,
        data={"decision_id": decision.id, "action_ids": [a.id for a in undone]},
    )
    session.flush()
    audit.record(
        session, actor, "enforcement.decision.reverse", "decision", decision.id, reason=reason,
        data={"case_id": case.id, "action_ids": [a.id for a in undone]},
    )  # fmt: skip
    return decision
