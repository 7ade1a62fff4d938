"""Reading decisions back: one with everything that followed from it (webhooks, messages,
the statement of reasons, approvals), lists by keyset, and an account's strikes.

Decisions on legal-tier cases exist only for those who may see legal cases, exactly like the
cases themselves; their strikes still count on the ladder.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases_service
from vigil.cases.models import Case
from vigil.communications import service as communications
from vigil.communications.models import Message
from vigil.dsa import service as dsa_service
from vigil.dsa.models import Statement
from vigil.enforcement.apply import SUBJECT
from vigil.enforcement.models import (
    Approval,
    Decision,
    DecisionAction,
    DecisionPolicy,
    DecisionStatus,
    Strike,
)
from vigil.enforcement.suggest import StrikeView, active_strikes
from vigil.integrations import service as integrations
from vigil.integrations.models import WebhookDelivery
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, NotFound
from vigil.kit.pagination import decode_cursor, encode_cursor
from vigil.policies.models import PolicyVersion


def visible_decision(session: Session, actor: Principal, decision_id: int) -> Decision:
    decision = session.get(Decision, decision_id)
    if decision is None:
        raise NotFound("no such decision", code="decision_not_found")
    case = session.get(Case, decision.case_id)
    if case is None or not cases_service.visible(actor, case):
        raise NotFound("no such decision", code="decision_not_found")
    return decision


def legal_decision_ids(session: Session, decision_ids: list[int]) -> set[int]:
    if not decision_ids:
        return set()
    rows = session.scalars(
        select(Decision.id)
        .join(Case, Case.id == Decision.case_id)
        .where(Decision.id.in_(set(decision_ids)), Case.tier == Tier.legal)
    )
    return set(rows)


# --- decisions ----------------------------------------------------------------------------------


@dataclass
class DecisionView:
    decision: Decision
    account_external_id: str | None
    policies: list[PolicyVersion]
    actions: list[DecisionAction]


@dataclass
class DecisionDetail(DecisionView):
    approvals: list[Approval]
    deliveries: dict[int, list[WebhookDelivery]]  # by action id
    messages: list[Message]
    statements: list[Statement]

    @property
    def delivery_status(self) -> str:
        """delivered: every webhook arrived; failed: one gave up (it stays failed until it
        is redelivered); pending: some are still being tried; none: nothing was sent."""
        statuses = {str(d.status) for ds in self.deliveries.values() for d in ds}
        if not statuses:
            return "none"
        if "failed" in statuses:
            return "failed"
        if "pending" in statuses:
            return "pending"
        return "delivered"


def _views(session: Session, decisions: list[Decision]) -> list[DecisionView]:
    ids = [d.id for d in decisions]
    if not ids:
        return []
    cited: dict[int, list[PolicyVersion]] = {i: [] for i in ids}
    for decision_id, version in session.execute(
        select(DecisionPolicy.decision_id, PolicyVersion)
        .join(PolicyVersion, PolicyVersion.id == DecisionPolicy.policy_version_id)
        .where(DecisionPolicy.decision_id.in_(ids))
        .order_by(DecisionPolicy.decision_id, DecisionPolicy.position)
    ):
        cited[decision_id].append(version)
    taken: dict[int, list[DecisionAction]] = {i: [] for i in ids}
    for action in session.scalars(
        select(DecisionAction)
        .where(DecisionAction.decision_id.in_(ids))
        .order_by(DecisionAction.decision_id, DecisionAction.position)
    ):
        taken[action.decision_id].append(action)
    account_ids = {d.account_id for d in decisions if d.account_id is not None}
    external: dict[int, str] = {
        account_id: external_id
        for account_id, external_id in session.execute(
            select(Account.id, Account.external_id).where(Account.id.in_(account_ids))
        )
    }
    return [
        DecisionView(
            decision=d,
            account_external_id=external.get(d.account_id) if d.account_id else None,
            policies=cited[d.id],
            actions=taken[d.id],
        )
        for d in decisions
    ]


def get_decision(session: Session, actor: Principal, decision_id: int) -> DecisionView:
    actor.require(Permission.cases_read)
    return _views(session, [visible_decision(session, actor, decision_id)])[0]


def decision_detail(
    session: Session, actor: Principal, decision_id: int, *, audit_view: bool = True
) -> DecisionDetail:
    """One decision with everything that followed from it: its webhooks per action, its
    messages, its statement of reasons and its approvals. Staff views are audited (the
    internal reasoning is for staff only) unless ``audit_view`` is off (the answer to a
    change the actor just made, which is audited as that change)."""
    view = get_decision(session, actor, decision_id)
    decision = view.decision
    deliveries: dict[int, list[WebhookDelivery]] = {a.id: [] for a in view.actions}
    for delivery in integrations.deliveries_for(session, SUBJECT, list(deliveries)):
        deliveries[delivery.subject_id].append(delivery)
    approvals = list(
        session.scalars(
            select(Approval).where(Approval.decision_id == decision.id).order_by(Approval.id)
        )
    )
    if actor.is_staff and audit_view:
        audit.record(session, actor, "enforcement.decision.view", "decision", decision.id)
    return DecisionDetail(
        decision=decision,
        account_external_id=view.account_external_id,
        policies=view.policies,
        actions=view.actions,
        approvals=approvals,
        deliveries=deliveries,
        messages=list(communications.messages_for(session, decision_id=decision.id)),
        statements=dsa_service.statements_for(session, decision.id),
    )


@dataclass(frozen=True)
class DecisionFilter:
    status: list[DecisionStatus] | None = None
    case_id: int | None = None
    account_external_id: str | None = None


def list_decisions(
    session: Session,
    actor: Principal,
    filters: DecisionFilter,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[DecisionView], str | None]:
    """Newest first, except the approvers' list (``status=pending_approval`` alone), which
    is oldest first: the decision waiting longest comes first."""
    actor.require(Permission.cases_read)
    f = filters
    oldest_first = f.status == [DecisionStatus.pending_approval]
    query = select(Decision).limit(limit + 1)
    if not actor.can(Permission.legal_cases):
        query = query.join(Case, Case.id == Decision.case_id).where(Case.tier != Tier.legal)
    if f.status:
        query = query.where(Decision.status.in_(f.status))
    if f.case_id is not None:
        query = query.where(Decision.case_id == f.case_id)
    if f.account_external_id is not None:
        account_id = session.scalar(
            select(Account.id).where(Account.external_id == f.account_external_id)
        )
        if account_id is None:
            return [], None
        query = query.where(Decision.account_id == account_id)
    if cursor:
        (last,) = decode_cursor(cursor, 1)
        if not isinstance(last, int) or isinstance(last, bool):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(Decision.id > last if oldest_first else Decision.id < last)
    query = query.order_by(Decision.id.asc() if oldest_first else Decision.id.desc())
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return _views(session, rows), encode_cursor([rows[-1].id]) if more and rows else None


def decisions_for_case(session: Session, actor: Principal, case_id: int) -> list[DecisionView]:
    """Every decision made on a case, oldest first (a case holds a handful)."""
    actor.require(Permission.cases_read)
    case = cases_service.get_case(session, actor, case_id)
    rows = list(
        session.scalars(select(Decision).where(Decision.case_id == case.id).order_by(Decision.id))
    )
    return _views(session, rows)


@dataclass
class StrikeRecord:
    account: Account
    active_weight: int  # what the ladder counts now, including strikes not listed to actor
    strikes: list[StrikeView]
    next_cursor: str | None


def strikes_for_account(
    session: Session,
    actor: Principal,
    external_id: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> StrikeRecord:
    """An account's strikes, newest first, active or not (``counts`` says which count)."""
    actor.require(Permission.cases_read)
    account = session.scalar(select(Account).where(Account.external_id == external_id))
    if account is None:
        raise NotFound(f"no account with external id {external_id!r}", code="account_not_found")
    now = clock.now()
    weight = sum(s.weight for s in active_strikes(session, account.id, now))
    query = (
        select(Strike)
        .where(Strike.account_id == account.id)
        .order_by(Strike.id.desc())
        .limit(limit + 1)
    )
    if not actor.can(Permission.legal_cases):
        query = (
            query.join(Decision, Decision.id == Strike.decision_id)
            .join(Case, Case.id == Decision.case_id)
            .where(Case.tier != Tier.legal)
        )
    if cursor:
        (last,) = decode_cursor(cursor, 1)
        if not isinstance(last, int) or isinstance(last, bool):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(Strike.id < last)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return StrikeRecord(
        account=account,
        active_weight=weight,
        strikes=[StrikeView.of(s, now) for s in rows],
        next_cursor=encode_cursor([rows[-1].id]) if more and rows else None,
    )


def pending_decision_id(session: Session, case_id: int) -> int | None:
    """The decision on ``case_id`` waiting for a second approver, if any (at most one:
    ``uq_decisions_pending_case``)."""
    return session.scalar(
        select(Decision.id).where(
            Decision.case_id == case_id, Decision.status == DecisionStatus.pending_approval
        )
    )


def cases_waiting_approval(session: Session, case_ids: list[int]) -> set[int]:
    """Which of ``case_ids`` hold a decision waiting for a second approver (case lists)."""
    if not case_ids:
        return set()
    rows = session.scalars(
        select(Decision.case_id).where(
            Decision.case_id.in_(set(case_ids)),
            Decision.status == DecisionStatus.pending_approval,
        )
    )
    return set(rows)


def pending_count(session: Session) -> int:
    """How many decisions wait for a second approver (console badge)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Decision)
            .where(Decision.status == DecisionStatus.pending_approval)
        )
        or 0
    )
