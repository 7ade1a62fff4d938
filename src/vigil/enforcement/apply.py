"""Taking a decision's actions, undoing them, and ending them when they run out.

Everything here runs inside the caller's transaction: restrictions, strikes, the statement of
reasons, the webhooks (transactional outbox: a delivery row and its job) and the user's
message are written together with the decision's new status, or not at all.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts_service
from vigil.accounts.models import Account, RestrictionKind
from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.cases import service as cases_service
from vigil.cases import states as case_states
from vigil.cases.models import Case, CaseEventKind, Resolution
from vigil.communications import service as communications
from vigil.communications.service import format_date
from vigil.config import Settings
from vigil.dsa import service as dsa_service
from vigil.dsa.models import Statement
from vigil.dsa.vocabulary import DecisionGround
from vigil.enforcement import states
from vigil.enforcement.models import (
    ActionStatus,
    Decision,
    DecisionAction,
    DecisionPolicy,
    Strike,
)
from vigil.enforcement.plan import (
    HEADLINE,
    PlannedMessage,
    case_ref,
    statement_input,
    today,
)
from vigil.integrations import service as integrations
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound
from vigil.policies.actions import REVERSAL, ActionType, Scope
from vigil.policies.models import PolicyVersion

SUBJECT = "decision_action"
APPLIED = "action.applied"
REVERSED = "action.reversed"

# Which restriction each capability-taking action places.
RESTRICTION_FOR_SCOPE: dict[Scope, RestrictionKind] = {
    Scope.listing: RestrictionKind.listing,
    Scope.profile: RestrictionKind.profile,
    Scope.message: RestrictionKind.messaging,
    Scope.payouts: RestrictionKind.payouts,
}


def headline(actions: list[DecisionAction]) -> DecisionAction | None:
    if not actions:
        return None
    return max(actions, key=lambda a: (HEADLINE[ActionType(a.type)], -a.position))


# --- loading ----------------------------------------------------------------------------------


def policies_of(session: Session, decision_id: int) -> list[PolicyVersion]:
    """The cited versions, most severe first."""
    rows = session.execute(
        select(PolicyVersion)
        .join(DecisionPolicy, DecisionPolicy.policy_version_id == PolicyVersion.id)
        .where(DecisionPolicy.decision_id == decision_id)
        .order_by(DecisionPolicy.position)
    ).scalars()
    return list(rows)


def actions_of(session: Session, decision_id: int, *, lock: bool = False) -> list[DecisionAction]:
    query = (
        select(DecisionAction)
        .where(DecisionAction.decision_id == decision_id)
        .order_by(DecisionAction.position)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update()
    return list(session.scalars(query))


def statement_of(session: Session, decision_id: int) -> Statement | None:
    found = dsa_service.statements_for(session, decision_id)
    return found[-1] if found else None


# --- what the marketplace and the user are told -----------------------------------------------


def action_payload(
    action: DecisionAction,
    *,
    decision: Decision,
    account: Account,
    policies: list[PolicyVersion],
    statement: Statement | None,
) -> dict[str, Any]:
    """The ``data`` of ``action.applied`` (and, with the reversal added, ``action.reversed``)."""
    return {
        "action_id": action.id,
        "decision_id": decision.id,
        "case_id": decision.case_id,
        "case_ref": case_ref(decision.case_id),
        "account_external_id": account.external_id,
        "type": ActionType(action.type).value,
        "scope": Scope(action.scope).value,
        "target_ref": action.target_ref,
        "starts_at": action.starts_at,
        "ends_at": action.ends_at,
        "duration_days": action.duration_days,
        "policies": [{"code": p.code, "version": p.version} for p in policies],
        "statement_puid": statement.puid if statement is not None else None,
    }


def reversal_payload(
    action: DecisionAction,
    *,
    decision: Decision,
    account: Account,
    policies: list[PolicyVersion],
    statement: Statement | None,
    reason: str,
) -> dict[str, Any]:
    reversal = REVERSAL[ActionType(action.type)]
    data = action_payload(
        action, decision=decision, account=account, policies=policies, statement=statement
    )
    data["reversal"] = reversal.value if reversal is not None else None
    data["reason"] = reason
    data["reversed_at"] = action.reversed_at or action.expired_at
    return data


def localized(texts: dict[str, str] | None, locale: str, fallback: str) -> str:
    texts = texts or {}
    return texts.get(locale) or texts.get("en") or fallback


def statement_for_message(
    statement: dict[str, Any], lead: PolicyVersion | None, locale: str
) -> dict[str, Any]:
    """The statement as the user reads it in their message: where it cites the terms, the
    policy's plain-language clause in their language (``user_ground``; the DSA field set
    keeps ``tos_ground``). A ground in law is quoted as the statement states it."""
    if (
        lead is None
        or not lead.user_ground
        or lead.dsa_ground != DecisionGround.INCOMPATIBLE_CONTENT
    ):
        return dict(statement)
    return {**statement, "ground": localized(lead.user_ground, locale, lead.tos_ground)}


def message_context(
    *,
    settings: Settings,
    case_id: int,
    account: Account,
    lead: PolicyVersion | None,
    action: ActionType | None,
    scope: Scope | None,
    ends_at: datetime | None,
    duration_days: int | None,
    locale: str,
    statement: dict[str, Any] | None,
    reference: str | None = None,
) -> dict[str, Any]:
    """Every key a message template may read (the contract with communications).
    ``reference`` is what the user quotes: the statement's when there is one (a
    reinstatement passes the statement of the decision it undoes), else the case's."""
    deadline = today() + timedelta(days=settings.appeal_window_days)
    if reference is None:
        reference = statement["reference"] if statement else case_ref(case_id)
    return {
        "user_name": account.display_name or "",
        "marketplace": settings.marketplace_name,
        "policy_title": localized(lead.user_title, locale, lead.title) if lead else "",
        "policy_explanation": (
            localized(lead.user_explanation, locale, lead.description) if lead else ""
        ),
        "action": action.value if action is not None else "",
        "scope": scope.value if scope is not None else "",
        "ends_at": format_date(ends_at, locale) if ends_at is not None else "",
        "duration_days": duration_days or 0,
        "case_ref": case_ref(case_id),
        "reference": reference,
        "appeal_url": settings.appeal_link,
        "appeal_deadline": format_date(deadline, locale),
        "statement": statement,
    }


def days_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(1, round((end - start) / timedelta(days=1)))


@dataclass
class Outgoing:
    subject: str
    body: str
    statement_section: str
    locale: str
    template_id: int | None
    fell_back: bool
    template_key: str | None = None


def compose(
    session: Session,
    *,
    settings: Settings,
    message: PlannedMessage,
    template_action: str,
    case_id: int,
    account: Account,
    lead: PolicyVersion | None,
    action: ActionType | None,
    scope: Scope | None,
    ends_at: datetime | None,
    duration_days: int | None,
    statement: dict[str, Any] | None,
    reference: str | None = None,
) -> Outgoing:
    """The message as it will be sent: the reviewer's subject and body where they wrote one,
    the template's otherwise, and always the template's statement section."""
    if message.subject is not None and message.body is not None and statement is None:
        # Fully written by the reviewer and no statement to add: no template involved.
        return Outgoing(message.subject, message.body, "", message.locale, None, False)
    context = message_context(
        settings=settings,
        case_id=case_id,
        account=account,
        lead=lead,
        action=action,
        scope=scope,
        ends_at=ends_at,
        duration_days=duration_days,
        locale=message.locale,
        statement=statement,
        reference=reference,
    )
    try:
        rendered = communications.render(
            session,
            policy_code=lead.code if lead else None,
            action=template_action,
            locale=message.locale,
            context=context,
        )
    except NotFound as exc:
        raise InvalidInput(exc.message, field="message", code="template_not_found") from None
    return Outgoing(
        subject=message.subject if message.subject is not None else rendered.subject,
        body=message.body if message.body is not None else rendered.body,
        statement_section=rendered.statement_section,
        locale=rendered.locale,
        template_id=rendered.template_id,
        fell_back=rendered.fell_back,
        template_key=rendered.template_key,
    )


# --- applying ---------------------------------------------------------------------------------


def _reason(decision: Decision, lead: PolicyVersion | None) -> str:
    cited = f" under {lead.code} v{lead.version}" if lead else ""
    return f"decision {decision.id} on case {case_ref(decision.case_id)}{cited}"


def _ends(actions: list[DecisionAction], now: datetime) -> dict[int, datetime | None]:
    """Each action's end, fixed now. A decision that waited for approval past an end date
    the reviewer gave is refused rather than applied with an end in the past."""
    out: dict[int, datetime | None] = {}
    for action in actions:
        if action.requested_ends_at is not None:
            ends = clock.as_utc(action.requested_ends_at)
            if ends <= now:
                raise Conflict(
                    "the end date of this action passed while the decision waited; reject it "
                    "and decide again",
                    field=f"actions.{action.position}.ends_at",
                    code="ends_at_passed",
                )
        elif action.duration_days is not None:
            ends = now + timedelta(days=action.duration_days)
        else:
            ends = None
        out[action.id] = ends
    return out


def _take(
    session: Session,
    actor: Principal,
    *,
    account: Account,
    action: DecisionAction,
    reason: str,
    lead: PolicyVersion | None,
    case_id: int,
) -> int | None:
    """Place what the action takes away; returns the restriction's id, if any."""
    kind = ActionType(action.type)
    policy_code = lead.code if lead else None
    if kind is ActionType.restrict:
        restriction = accounts_service.place_restriction(
            session, actor, account, RESTRICTION_FOR_SCOPE[Scope(action.scope)], reason,
            ends_at=action.ends_at, policy_code=policy_code, case_id=case_id,
        )  # fmt: skip
        return restriction.id
    if kind is ActionType.suspend:
        restriction = accounts_service.place_restriction(
            session, actor, account, RestrictionKind.suspension, reason,
            ends_at=action.ends_at, policy_code=policy_code, case_id=case_id,
        )  # fmt: skip
        return restriction.id
    if kind is ActionType.ban:
        # An open-ended suspension stops the account at once for pull-based integrations
        # (restrictions in force); ``removed`` says it is for good.
        restriction = accounts_service.place_restriction(
            session, actor, account, RestrictionKind.suspension, reason,
            policy_code=policy_code, case_id=case_id,
        )  # fmt: skip
        accounts_service.mark_removed(session, actor, account, reason)
        return restriction.id
    # warn takes nothing away; remove takes content down on the marketplace's side (the
    # webhook carries target_ref).
    return None


def summary(
    decision: Decision, policies: list[PolicyVersion], actions: list[DecisionAction]
) -> str:
    if decision.no_violation:
        return f"Decision {decision.id}: no violation"
    cited = ", ".join(f"{p.code} v{p.version}" for p in policies)
    taken = ", ".join(
        f"{a.type} {a.scope}" + (f" {a.duration_days}d" if a.duration_days else "") for a in actions
    )
    return f"Decision {decision.id}: {taken} ({cited})"


def apply_decision(
    session: Session,
    actor: Principal,
    decision: Decision,
    *,
    case: Case,
    account: Account | None,
    settings: Settings,
    notify: bool = True,
) -> Statement | None:
    """Take the decision's actions: restrictions, strikes, the statement of reasons, the
    webhooks, the user's message; then close the case. ``decision`` is already ``applied``.
    Returns the statement of reasons (None for warnings and "no violation").

    ``notify=False`` leaves the user's message to the caller (an appeal that modifies a
    decision tells the user once, in its own outcome message)."""
    now = clock.now()
    policies = policies_of(session, decision.id)
    lead = policies[0] if policies else None
    actions = actions_of(session, decision.id)
    ends = _ends(actions, now)
    if actions and account is None:
        raise InvalidInput("the case's account is gone", field="case_id", code="account_not_found")
    reason = _reason(decision, lead)

    statement: Statement | None = None
    if account is not None:
        for action in actions:
            action.ends_at = ends[action.id]
            states.transition_action(action, ActionStatus.active, at=now)
            action.restriction_id = _take(
                session, actor, account=account, action=action, reason=reason, lead=lead,
                case_id=case.id,
            )  # fmt: skip
        for policy in policies:
            if policy.strike_weight > 0:
                session.add(
                    Strike(
                        account_id=account.id,
                        decision_id=decision.id,
                        policy_code=policy.code,
                        policy_version=policy.version,
                        weight=policy.strike_weight,
                        created_at=now,
                        expires_at=now + timedelta(days=policy.strike_ttl_days),
                    )
                )
        session.flush()
        if lead is not None and decision.statement_spec is not None:
            statement = dsa_service.create_statement(
                session,
                statement_input(
                    decision_id=decision.id,
                    account=account,
                    lead=lead,
                    actions=[(ActionType(a.type), Scope(a.scope), a.ends_at) for a in actions],
                    spec=decision.statement_spec,
                    application_date=today(),
                ),
                settings=settings,
            )
        for action in actions:
            integrations.emit(
                session,
                APPLIED,
                action_payload(
                    action,
                    decision=decision,
                    account=account,
                    policies=policies,
                    statement=statement,
                ),
                idempotency_key=f"action-{action.id}-applied",
                subject_type=SUBJECT,
                subject_id=action.id,
                case_id=decision.case_id,
            )
        if notify:
            _message_on_apply(session, actor, decision, account, lead, actions, statement, settings)

    text = summary(decision, policies, actions)
    case_states.record_event(
        session,
        case,
        CaseEventKind.decided,
        actor=actor,
        reason=text,
        data={
            "decision_id": decision.id,
            "no_violation": decision.no_violation,
            "action": decision.action.value if decision.action else None,
            "policies": [{"code": p.code, "version": p.version} for p in policies],
            "actions": [{"id": a.id, "type": a.type, "scope": a.scope} for a in actions],
            "decided_by_id": decision.decided_by_id,
            "approved_by_id": decision.approved_by_id,
        },
    )
    cases_service.close(
        session,
        actor,
        case.id,
        resolution=Resolution.no_violation if decision.no_violation else Resolution.actioned,
        note=text,
    )
    audit.record(
        session,
        actor,
        "enforcement.decision.apply",
        "decision",
        decision.id,
        data={
            "case_id": case.id,
            "action_ids": [a.id for a in actions],
            "restriction_ids": [a.restriction_id for a in actions if a.restriction_id],
            "statement_id": statement.id if statement is not None else None,
        },
    )
    return statement


def _message_on_apply(
    session: Session,
    actor: Principal,
    decision: Decision,
    account: Account,
    lead: PolicyVersion | None,
    actions: list[DecisionAction],
    statement: Statement | None,
    settings: Settings,
) -> None:
    message = PlannedMessage.from_spec(decision.message_spec)
    if not message.channels:
        return
    top = headline(actions)
    out = compose(
        session,
        settings=settings,
        message=message,
        template_action=top.type if top is not None else "no_violation",
        case_id=decision.case_id,
        account=account,
        lead=lead,
        action=ActionType(top.type) if top is not None else None,
        scope=Scope(top.scope) if top is not None else None,
        ends_at=top.ends_at if top is not None else None,
        duration_days=(
            top.duration_days or days_between(top.starts_at, top.ends_at) if top else None
        ),
        statement=(
            statement_for_message(dsa_service.template_context(statement), lead, message.locale)
            if statement is not None
            else None
        ),
    )
    communications.send(
        session,
        actor,
        account_id=account.id,
        case_id=decision.case_id,
        decision_id=decision.id,
        locale=out.locale,
        subject=out.subject,
        body=out.body,
        statement_section=out.statement_section,
        channels=message.channels,
        template_id=out.template_id,
        template_key=out.template_key,
    )


# --- undoing ----------------------------------------------------------------------------------


def _lift(session: Session, actor: Principal, restriction_id: int | None, reason: str) -> None:
    if restriction_id is None:
        return
    # Already lifted by hand, or ended by time before the sweep reached it: either way it no
    # longer holds, which is what undoing wants (and the refusal comes before any write).
    with contextlib.suppress(Conflict):
        accounts_service.lift_restriction(session, actor, restriction_id, reason)


def reverse_actions(
    session: Session,
    actor: Principal,
    decision: Decision,
    *,
    account: Account | None,
    reason: str,
    settings: Settings,
    notify: bool = True,
) -> list[DecisionAction]:
    """Undo every action still in force: lift restrictions, reinstate a removed account,
    void the strikes, tell the marketplace (``action.reversed``) and the user (``reinstate``).
    Actions that already expired were undone then and are left as they are.

    ``notify=False`` sends no ``reinstate`` message (the marketplace is still told): an
    appeal's outcome message says it instead, so the user is told once."""
    now = clock.now()
    policies = policies_of(session, decision.id)
    lead = policies[0] if policies else None
    actions = actions_of(session, decision.id, lock=True)
    statement = statement_of(session, decision.id)
    undone: list[DecisionAction] = []
    for action in actions:
        if action.status != ActionStatus.active:
            continue
        _lift(session, actor, action.restriction_id, reason)
        if ActionType(action.type) is ActionType.ban and account is not None:
            accounts_service.reinstate(session, actor, account, reason)
        states.transition_action(action, ActionStatus.reversed, at=now, reason=reason)
        undone.append(action)
    session.execute(
        update(Strike)
        .where(Strike.decision_id == decision.id, Strike.voided_at.is_(None))
        .values(voided_at=now, void_reason=reason)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    if account is None:
        return undone
    for action in undone:
        if REVERSAL[ActionType(action.type)] is None:
            continue  # a warning took nothing away: there is nothing to give back
        integrations.emit(
            session,
            REVERSED,
            reversal_payload(
                action,
                decision=decision,
                account=account,
                policies=policies,
                statement=statement,
                reason=reason,
            ),
            idempotency_key=f"action-{action.id}-reversed",
            subject_type=SUBJECT,
            subject_id=action.id,
            case_id=decision.case_id,
        )
    message = PlannedMessage.from_spec(decision.message_spec)
    top = headline([a for a in undone if REVERSAL[ActionType(a.type)] is not None])
    if notify and message.channels and top is not None:
        # The reinstatement goes where the decision went, written by the template.
        reinstate_message = PlannedMessage(message.channels, message.locale, None, None, None)
        out = compose(
            session,
            settings=settings,
            message=reinstate_message,
            template_action="reinstate",
            case_id=decision.case_id,
            account=account,
            lead=lead,
            action=ActionType(top.type),
            scope=Scope(top.scope),
            ends_at=None,
            duration_days=None,
            statement=None,
            # The reference the user was given with the decision it undoes.
            reference=statement.reference if statement is not None else None,
        )
        communications.send(
            session,
            actor,
            account_id=account.id,
            case_id=decision.case_id,
            decision_id=decision.id,
            locale=out.locale,
            subject=out.subject,
            body=out.body,
            statement_section=out.statement_section,
            channels=reinstate_message.channels,
            template_id=out.template_id,
            template_key=out.template_key,
        )
    return undone


# --- expiry -----------------------------------------------------------------------------------

SWEEP_BATCH = 200
EXPIRED = "expired"


def expire_due(session: Session, *, batch: int = SWEEP_BATCH) -> list[int]:
    """End every active action whose ``ends_at`` has come: mark it expired, tell the
    marketplace (``action.reversed``, reason ``expired``), bring the account's status in
    line (the restriction itself ended by time) and note it on the case.

    Reads ``ix_decision_actions_due``. Each row is locked (``SKIP LOCKED`` on PostgreSQL) and
    re-checked, so two sweeps never expire one action twice, and a second run finds nothing;
    the webhook's idempotency key (``action-<id>-reversed``) holds even if it did.
    Returns the ids of the actions expired.
    """
    actor = Principal.system("enforcement.expire_due")
    now = clock.now()
    done: list[int] = []
    while True:
        query = (
            select(DecisionAction)
            .where(
                DecisionAction.status == ActionStatus.active,
                DecisionAction.ends_at.is_not(None),
                DecisionAction.ends_at <= now,
            )
            .order_by(DecisionAction.ends_at, DecisionAction.id)
            .limit(batch)
            .execution_options(populate_existing=True)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        due = list(session.scalars(query))
        skipped = False
        for action in due:
            if _expire(session, actor, action, now):
                done.append(action.id)
            else:
                skipped = True
        session.flush()
        if len(due) < batch or skipped:
            # A skipped action stays active and due: the next sweep takes it (or the
            # reversal that held its case undid it).
            return done


def _case_free(session: Session, case_id: int) -> bool:
    """Whether the case row is free to be referenced now. A reversal locks the case, then its
    actions; the sweep holds an action and would wait on the case (a new timeline row takes
    a key-share lock on it), so the sweep gives way instead of deadlocking. PostgreSQL only:
    SQLite runs one writer at a time."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    found = session.scalar(
        select(Case.id).where(Case.id == case_id).with_for_update(key_share=True, skip_locked=True)
    )
    return found is not None


def _expire(session: Session, actor: Principal, action: DecisionAction, now: datetime) -> bool:
    decision = session.get(Decision, action.decision_id)
    assert decision is not None  # the foreign key cascades deletes
    if not _case_free(session, decision.case_id):
        return False
    states.transition_action(action, ActionStatus.expired, at=now)
    account = session.get(Account, decision.account_id) if decision.account_id else None
    if account is not None:
        accounts_service.refresh_status(session, actor, account)
        policies = policies_of(session, decision.id)
        integrations.emit(
            session,
            REVERSED,
            reversal_payload(
                action,
                decision=decision,
                account=account,
                policies=policies,
                statement=statement_of(session, decision.id),
                reason=EXPIRED,
            ),
            idempotency_key=f"action-{action.id}-reversed",
            subject_type=SUBJECT,
            subject_id=action.id,
            case_id=decision.case_id,
        )
    case = session.get(Case, decision.case_id)
    if case is not None:
        case_states.record_event(
            session,
            case,
            CaseEventKind.action_expired,
            actor=actor,
            data={
                "decision_id": decision.id,
                "action_id": action.id,
                "type": action.type,
                "scope": action.scope,
                "ends_at": action.ends_at.isoformat() if action.ends_at else None,
            },
        )
    session.flush()
    audit.record(
        session,
        actor,
        "enforcement.action.expire",
        "decision_action",
        action.id,
        data={"decision_id": decision.id, "type": action.type, "scope": action.scope},
    )
    return True
