"""Hearing an appeal: uphold, overturn or modify, by whoever holds the appeal case and was not
involved in the decision; and the user's withdrawal.

Each outcome closes the appeal case (a modification closes it by the new decision), tells the
user once in the appeal's language (``appeal_upheld``, ``appeal_overturned``,
``appeal_modified``: no generic ``reinstate`` message besides it), writes the statement of
reasons' revision, and sends ``appeal.decided``. Every refusal comes before the first write.
A modification whose new decision would wait for a second approver (four-eyes) is refused
before anything is reversed (``modification_needs_approval``: uphold or overturn, then open a
new case). The rest of the new decision is checked after the reversal (the ladder must not
count the strikes being voided), inside a savepoint that a refusal rolls back.

The appeal case is closed only here (its outcome, or the user's withdrawal): the close guard
of :mod:`vigil.appeals.service` refuses every other close while the appeal is open.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts
from vigil.accounts.models import Account, AccountStatus
from vigil.appeals.models import Appeal, AppealStatus, ContactPreference
from vigil.appeals.service import (
    MAX_REASON,
    SYSTEM,
    closing_by_outcome,
    latest_statement,
    load_appeal,
)
from vigil.audit import service as audit
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, Resolution
from vigil.communications import service as communications
from vigil.communications.service import format_date
from vigil.config import Settings
from vigil.dsa import service as dsa
from vigil.dsa.models import Statement
from vigil.enforcement import apply
from vigil.enforcement import service as enforcement
from vigil.enforcement.models import ActionStatus, Decision, DecisionAction, DecisionStatus
from vigil.enforcement.plan import Checks, make_plan
from vigil.enforcement.schemas import DecisionIn, MessageIn
from vigil.integrations import service as integrations
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vigil.policies.actions import ActionType, Scope

DECIDED_EVENT = "appeal.decided"


class Outcome(StrEnum):
    uphold = "uphold"
    overturn = "overturn"
    modify = "modify"


_STATUS_OF = {
    Outcome.uphold: AppealStatus.upheld,
    Outcome.overturn: AppealStatus.overturned,
    Outcome.modify: AppealStatus.modified,
}
_TEMPLATE_OF = {
    AppealStatus.upheld: "appeal_upheld",
    AppealStatus.overturned: "appeal_overturned",
    AppealStatus.modified: "appeal_modified",
}
_REVISION_OF = {
    AppealStatus.upheld: dsa.RevisionOutcome.confirmed,
    AppealStatus.overturned: dsa.RevisionOutcome.overturned,
    AppealStatus.modified: dsa.RevisionOutcome.modified,
}


# --- hearing --------------------------------------------------------------------------------


def _check_open(appeal: Appeal) -> None:
    if appeal.status != AppealStatus.open:
        raise Conflict(
            f"this appeal was already decided ({appeal.status.value})",
            code="appeal_decided",
        )


def may_decide(session: Session, actor: Principal, appeal: Appeal, case: Case) -> None:
    """``appeals:decide``, not recused, and holding the appeal case."""
    actor.require(Permission.appeals_decide)
    if actor.staff_id is None:
        raise PermissionDenied("an appeal is decided by a person", code="staff_only")
    if actor.staff_id in cases.recused_staff(session, case.id):
        raise PermissionDenied(
            "you took or approved the decision under appeal: someone else must hear it",
            code="recused",
        )
    if case.status != CaseStatus.assigned or case.assignee_id != actor.staff_id:
        raise PermissionDenied(
            "take the appeal case first: only its holder decides the appeal",
            code="not_assignee",
        )


def decide_appeal(
    session: Session,
    actor: Principal,
    appeal_id: int,
    *,
    outcome: Outcome,
    reason: str,
    new_decision: DecisionIn | None = None,
    settings: Settings,
) -> Appeal:
    """Uphold, overturn or modify. Refuses (nothing written): 404 ``appeal_not_found``;
    403 ``recused`` / ``not_assignee``; 409 ``appeal_decided``, ``decision_not_applied``;
    422 ``reason_required``, ``decision_required`` (modify without the new decision) or
    ``decision_not_expected``, 409 ``modification_needs_approval`` (the new decision would
    wait for a second approver), and whatever ``enforcement.decide`` refuses in the new
    decision (its field prefixed ``decision.``)."""
    actor.require(Permission.appeals_decide)
    appeal = load_appeal(session, actor, appeal_id)
    case = cases.get_case(session, actor, appeal.case_id, lock=True)
    appeal = load_appeal(session, actor, appeal_id, lock=True)
    _check_open(appeal)
    may_decide(session, actor, appeal, case)
    reason = _reason(reason)
    if outcome is Outcome.modify and new_decision is None:
        raise InvalidInput(
            "a modification needs the new decision", field="decision", code="decision_required"
        )
    if outcome is not Outcome.modify and new_decision is not None:
        raise InvalidInput(
            "only a modification takes a new decision",
            field="decision",
            code="decision_not_expected",
        )
    decision = session.get(Decision, appeal.decision_id)
    if decision is None:  # decisions are never deleted; guards a hand-edited database
        raise NotFound("the appealed decision is gone", code="decision_not_found")
    # A decision reversed by other means since the appeal came in (a reviewer's own
    # reversal) is not reversed twice: overturning or modifying records the appeal's outcome
    # on top of it; upholding it is refused, since it no longer stands.
    in_force = decision.status == DecisionStatus.applied
    if decision.status not in (DecisionStatus.applied, DecisionStatus.reversed) or (
        outcome is Outcome.uphold and not in_force
    ):
        raise Conflict(
            "the decision is no longer in force (reversed since the appeal was made): "
            "overturn the appeal to record it",
            code="decision_not_applied",
        )
    account = session.get(Account, appeal.account_id)
    if account is None:
        raise NotFound("the account is gone", code="account_not_found")
    if new_decision is not None:
        _refuse_four_eyes(session, actor, case, new_decision, settings)
        new_decision = _with_content_date(session, appeal, new_decision)

    status = _STATUS_OF[outcome]
    now = clock.now()
    # What the decision still did when it was heard, read before any reversal: the message
    # says what was lifted and what had already ended.
    measures = _measures(session, decision, now)
    replacement: Decision | None = None
    if outcome is Outcome.uphold:
        with closing_by_outcome(case.id):
            cases.close(
                session, actor, case.id, resolution=Resolution.other,
                note=f"Appeal {appeal.ref} not granted: decision #{decision.id} stands. {reason}",
            )  # fmt: skip
    elif new_decision is not None:
        # The new decision is checked only once the old one is undone (its strikes no longer
        # count on the ladder); a refusal takes the reversal back with it.
        with session.begin_nested(), closing_by_outcome(case.id):
            if in_force:
                enforcement.reverse_decision(
                    session, actor, decision.id, f"appeal {appeal.ref}: {reason}",
                    settings=settings, notify=False,
                )  # fmt: skip
            replacement = _decide_anew(
                session, actor, case, new_decision, settings,
                channels=_channels(account, appeal), locale=appeal.language,
            )  # fmt: skip
            if replacement.status != DecisionStatus.applied:
                # Checked above before any write; this keeps the savepoint from ever ending
                # with the old decision reversed and nothing in force in its place.
                raise _needs_approval([str(replacement.action)] if replacement.action else [])
    else:
        if in_force:
            enforcement.reverse_decision(
                session, actor, decision.id, f"appeal {appeal.ref}: {reason}",
                settings=settings, notify=False,
            )  # fmt: skip
        with closing_by_outcome(case.id):
            cases.close(
                session, actor, case.id, resolution=Resolution.actioned,
                note=f"Appeal {appeal.ref} granted: decision #{decision.id} reversed. {reason}",
            )  # fmt: skip

    old_statement = session.get(Statement, appeal.statement_id) if appeal.statement_id else None
    new_statement = latest_statement(session, replacement.id) if replacement else None
    touched: list[int] = []
    if old_statement is not None:
        dsa.revise(
            session,
            old_statement,
            actor=actor,
            outcome=_REVISION_OF[status],
            reason=reason,
            appeal_id=appeal.id,
            replaced_by_statement_id=new_statement.id if new_statement else None,
            replaced_by_decision_id=replacement.id if replacement else None,
        )
        touched.append(old_statement.id)
    if new_statement is not None:
        touched.append(new_statement.id)

    appeal.status = status
    appeal.decided_at = now
    appeal.decided_by_id = actor.staff_id
    appeal.decided_by_label = actor.label[:200]
    appeal.reason = reason
    appeal.new_decision_id = replacement.id if replacement else None
    appeal.statement_ids = touched
    session.flush()
    _tell_user(
        session, actor, appeal, decision, account, replacement, new_statement, settings,
        measures=measures,
    )  # fmt: skip
    _emit_decided(session, appeal, account)
    audit.record(
        session,
        actor,
        "appeals.appeal.decide",
        "appeal",
        appeal.id,
        reason=reason,
        data={
            "outcome": status.value,
            "decision_id": decision.id,
            "case_id": case.id,
            "new_decision_id": appeal.new_decision_id,
            "statement_ids": touched,
        },
    )
    return appeal


def _reason(value: str | None) -> str:
    reason = (value or "").strip()
    if not reason:
        raise InvalidInput("say why", field="reason", code="reason_required")
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            f"keep the reason to {MAX_REASON} characters", field="reason", code="too_long"
        )
    return reason


def _needs_approval(actions: list[str]) -> Conflict:
    return Conflict(
        "on appeal, a modification must take effect at once, and "
        f"{', '.join(actions) or 'this decision'} would wait for a second approver: "
        "uphold or overturn the appeal, then open a new case for the stricter decision",
        field="decision.actions",
        code="modification_needs_approval",
        details=[{"four_eyes": actions}],
    )


def _refuse_four_eyes(
    session: Session, actor: Principal, case: Case, body: DecisionIn, settings: Settings
) -> None:
    """Whether the new decision would wait for a second approver (``settings.four_eyes``),
    asked before anything is reversed. The hearing already is the second look at the
    decision, and an outcome that takes effect only on approval would tell the user about a
    restriction that may never happen. Other problems with the new decision are left to
    ``enforcement.decide`` (the plan here is read leniently, without locks)."""
    plan = make_plan(
        session, actor, case.id, body, settings, checks=Checks(strict=False), lock=False
    )
    if plan.four_eyes:
        raise _needs_approval(list(plan.four_eyes))


def _with_content_date(session: Session, appeal: Appeal, body: DecisionIn) -> DecisionIn:
    """The content under the new decision is the content of the appealed one: its statement
    of reasons states the date of the content, never the day of the appeal."""
    original = session.get(Statement, appeal.statement_id) if appeal.statement_id else None
    raw = (original.fields or {}).get("content_date") if original is not None else None
    if not raw or body.statement is None:
        return body
    try:
        content_date = date.fromisoformat(str(raw)[:10])
    except ValueError:
        return body
    statement = body.statement.model_copy(update={"content_date": content_date})
    return body.model_copy(update={"statement": statement})


def _decide_anew(
    session: Session,
    actor: Principal,
    case: Case,
    body: DecisionIn,
    settings: Settings,
    *,
    channels: list[str],
    locale: str,
) -> Decision:
    """The replacing decision, on the appeal case. Its refusals name ``decision.<field>``.
    Its message goes where the appeal's outcome goes, in the appeal's language: the outcome
    message tells the user now, and a later reversal of it is told there too."""
    body = body.model_copy(
        update={"message": MessageIn.model_validate({"channels": channels, "locale": locale})}
    )
    if body.no_violation:
        raise InvalidInput(
            "a decision of no violation is an overturn, not a modification",
            field="decision.no_violation",
            code="use_overturn",
        )
    try:
        return enforcement.decide(
            session, actor, case.id, body, settings=settings, notify=False, hearing_appeal=True
        )
    except InvalidInput as exc:
        exc.field = f"decision.{exc.field}" if exc.field else "decision"
        raise


def _channels(account: Account, appeal: Appeal) -> list[str]:
    """Where the user asked to be told; in-app when email was asked for but there is none."""
    if appeal.contact == ContactPreference.email and account.email:
        return ["email"]
    return ["in_app"]


def _ended_at(action: DecisionAction, now: datetime) -> datetime | None:
    """When the action stopped holding, or None while it still holds. An action whose end
    date passed before the expiry sweep reached it has ended all the same."""
    if action.status == ActionStatus.active:
        if action.ends_at is not None and clock.as_utc(action.ends_at) <= now:
            return action.ends_at
        return None
    if action.status == ActionStatus.reversed:
        return action.reversed_at or now
    return action.expired_at or action.ends_at or now


def _measures(session: Session, decision: Decision, now: datetime) -> dict[str, Any]:
    """The decision's actions split by whether they still held when the appeal was heard:
    ``in_force`` (an overturn or a modification lifts them) and ``ended`` (expired, or lifted
    by an earlier reversal: nothing left to lift)."""
    in_force: list[dict[str, Any]] = []
    ended: list[dict[str, Any]] = []
    for action in apply.actions_of(session, decision.id):
        if action.status == ActionStatus.pending:
            continue
        row: dict[str, Any] = {
            "action": ActionType(action.type).value,
            "scope": Scope(action.scope).value,
            "ends_at": action.ends_at,
        }
        stopped = _ended_at(action, now)
        if stopped is None:
            in_force.append(row)
        else:
            how = "lifted" if action.status == ActionStatus.reversed else "expired"
            ended.append({**row, "ended_at": stopped, "how": how})
    return {"in_force": in_force, "ended": ended}


def _other_measures(session: Session, account: Account, decision_id: int) -> bool:
    """Whether anything else still restricts the account once the appealed decision is
    undone: a restriction in force, a removal of the account, or an action in force of
    another decision (content still down). Only whether: the message never describes
    other decisions."""
    if account.status == AccountStatus.removed:
        return True
    if accounts.restrictions_in_force(session, account):
        return True
    other = session.scalar(
        select(DecisionAction.id)
        .join(Decision, Decision.id == DecisionAction.decision_id)
        .where(
            Decision.account_id == account.id,
            Decision.id != decision_id,
            Decision.status == DecisionStatus.applied,
            DecisionAction.status == ActionStatus.active,
            DecisionAction.type != ActionType.warn,
            (DecisionAction.ends_at.is_(None)) | (DecisionAction.ends_at > clock.now()),
        )
        .limit(1)
    )
    return other is not None


def _told(rows: list[dict[str, Any]], locale: str, at: str) -> list[dict[str, Any]]:
    """Actions for the template, their dates as the user's language writes them."""
    return [
        {
            "action": r["action"],
            "scope": r["scope"],
            "ends_at": format_date(r["ends_at"], locale) if r.get("ends_at") else "",
            **({"ended_on": format_date(r[at], locale), "how": r["how"]} if at in r else {}),
        }
        for r in rows
    ]


def _tell_user(
    session: Session,
    actor: Principal,
    appeal: Appeal,
    decision: Decision,
    account: Account,
    replacement: Decision | None,
    new_statement: Statement | None,
    settings: Settings,
    *,
    measures: dict[str, Any],
) -> None:
    """The outcome, in the language of the appeal, once (no ``reinstate`` besides it). It
    says what the outcome lifted, what had already ended, and whether other measures still
    hold on the account (never that the account is back to normal while they do)."""
    locale = appeal.language
    policies = apply.policies_of(session, decision.id)
    original = apply.headline(apply.actions_of(session, decision.id))
    new_top = apply.headline(apply.actions_of(session, replacement.id)) if replacement else None
    new_policies = apply.policies_of(session, replacement.id) if replacement else []
    lead = policies[0] if policies else None
    shown = new_top if new_top is not None else original
    statement_ctx = (
        apply.statement_for_message(
            dsa.template_context(new_statement),
            new_policies[0] if new_policies else lead,
            locale,
        )
        if new_statement is not None
        else None
    )
    original_ref = (
        f"SOR-{appeal.statement_id}" if appeal.statement_id else f"C-{appeal.original_case_id}"
    )
    context = apply.message_context(
        settings=settings,
        case_id=appeal.case_id,
        account=account,
        lead=lead,
        action=ActionType(shown.type) if shown is not None else None,
        scope=Scope(shown.scope) if shown is not None else None,
        ends_at=new_top.ends_at if new_top is not None else None,
        duration_days=new_top.duration_days if new_top is not None else None,
        locale=locale,
        statement=statement_ctx,
        reference=original_ref,
    )
    context["appeal"] = {
        "ref": appeal.ref,
        "outcome": appeal.status.value,
        "reason": appeal.reason or "",
        "decided_on": format_date(clock.now(), locale),
        "original_reference": original_ref,
        "new_reference": new_statement.reference if new_statement is not None else "",
        "new_action": str(new_top.type) if new_top is not None else "",
        "new_scope": str(new_top.scope) if new_top is not None else "",
        "new_ends_at": (
            format_date(new_top.ends_at, locale)
            if new_top is not None and new_top.ends_at is not None
            else ""
        ),
        "in_force": _told(measures["in_force"], locale, "ended_at"),
        "ended": _told(measures["ended"], locale, "ended_at"),
        "other_measures": (
            _other_measures(session, account, decision.id) if replacement is None else False
        ),
    }
    rendered = communications.render(
        session,
        policy_code=lead.code if lead else None,
        action=_TEMPLATE_OF[appeal.status],
        locale=locale,
        context=context,
    )
    communications.send(
        session,
        actor,
        account_id=account.id,
        case_id=appeal.case_id,
        decision_id=replacement.id if replacement else decision.id,
        locale=rendered.locale,
        subject=rendered.subject,
        body=rendered.body,
        statement_section=rendered.statement_section,
        channels=_channels(account, appeal),
        template_id=rendered.template_id,
        template_key=rendered.template_key,
    )


def payload(appeal: Appeal, account: Account) -> dict[str, Any]:
    """The ``data`` of ``appeal.decided``."""
    return {
        "appeal_id": appeal.id,
        "appeal_ref": appeal.ref,
        "account_external_id": account.external_id,
        "decision_id": appeal.decision_id,
        "case_id": appeal.case_id,
        "status": appeal.status.value,
        "reason": appeal.reason,
        "decided_at": appeal.decided_at,
        "new_decision_id": appeal.new_decision_id,
        "statement_ids": list(appeal.statement_ids or []),
    }


def _emit_decided(session: Session, appeal: Appeal, account: Account) -> None:
    integrations.emit(
        session,
        DECIDED_EVENT,
        payload(appeal, account),
        idempotency_key=f"appeal-{appeal.id}-decided",
        subject_type="appeal",
        subject_id=appeal.id,
        case_id=appeal.case_id,
    )


def withdraw_appeal(
    session: Session, actor: Principal, appeal_id: int, *, reason: str | None = None
) -> Appeal:
    """The user takes the appeal back (through the marketplace): its case is closed as
    withdrawn and the decision stands. Refuses 409 ``appeal_decided``."""
    actor.require(Permission.appeals_write)
    appeal = load_appeal(session, actor, appeal_id)
    case = cases.get_case(session, SYSTEM, appeal.case_id, lock=True)
    appeal = load_appeal(session, actor, appeal_id, lock=True)
    _check_open(appeal)
    note = (reason or "").strip()[:MAX_REASON] or "Withdrawn by the user."
    if case.status != CaseStatus.closed:
        with closing_by_outcome(case.id):
            cases.close(
                session, SYSTEM, case.id, resolution=Resolution.withdrawn,
                note=f"Appeal {appeal.ref} withdrawn. {note}",
            )  # fmt: skip
    appeal.status = AppealStatus.withdrawn
    appeal.decided_at = clock.now()
    appeal.decided_by_label = actor.label[:200]
    appeal.reason = note
    session.flush()
    account = session.get(Account, appeal.account_id)
    if account is not None:
        _emit_decided(session, appeal, account)
    audit.record(
        session,
        actor,
        "appeals.appeal.withdraw",
        "appeal",
        appeal.id,
        reason=note,
        data={"case_id": case.id, "decision_id": appeal.decision_id},
    )
    return appeal
