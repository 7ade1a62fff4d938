"""The read side of disputes: one dispute, lists, and the two-sided view the console shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case
from vigil.disputes import money
from vigil.disputes.access import (
    case_of,
    decided_by,
    get_visible,
    holds_case,
    load_account,
    open_proposal,
    visible,
)
from vigil.disputes.models import (
    PUBLIC_EVENT_KINDS,
    Dispute,
    DisputeEvent,
    DisputeProposal,
    DisputeReview,
    DisputeStatus,
    DisputeSubmission,
    Outcome,
    Party,
    PaymentStatus,
    ProposalStatus,
    SubjectType,
    SubmissionKind,
)
from vigil.kit.errors import (
    PermissionDenied,
)
from vigil.kit.pagination import decode_id_cursor, encode_cursor

# --- inputs and views -------------------------------------------------------------------------


@dataclass(frozen=True)
class DisputeFilter:
    status: Sequence[DisputeStatus] | None = None
    subject_type: SubjectType | None = None
    subject_ref: str | None = None
    account_external_id: str | None = None  # the buyer or the seller
    case_id: int | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None


@dataclass(frozen=True)
class PartySide:
    """One party's side: who they are and what they submitted."""

    party: Party
    account: Account
    is_opener: bool
    statements: list[DisputeSubmission]  # kind statement (may also carry excerpts)
    excerpts: list[DisputeSubmission]  # kind excerpts
    files: list[DisputeSubmission]  # kind file: metadata only; content via file_content


@dataclass(frozen=True)
class ProposalView:
    proposal: DisputeProposal
    refund_minor: int
    release_minor: int
    refund_display: str
    release_display: str


@dataclass(frozen=True)
class LinkedReview:
    case: Case
    party: Party


@dataclass(frozen=True)
class DisputeView:
    """Everything the two-sided screen needs, loaded in one call."""

    dispute: Dispute
    case: Case
    buyer: PartySide
    seller: PartySide
    proposals: list[ProposalView]  # newest first
    open_proposal: ProposalView | None
    timeline: list[DisputeEvent]  # oldest first
    linked_reviews: list[LinkedReview]
    amount_display: str  # "USD 120.50"
    refund_display: str | None
    release_display: str | None
    response_due_at: datetime
    proposal_due_at: datetime | None
    can_propose: bool
    can_rule: bool
    can_release: bool  # a redo outcome whose held payment the mediator may release
    can_open_review: bool
    submissions: list[DisputeSubmission] = field(default_factory=list)  # all, oldest first


# --- read -------------------------------------------------------------------------------------


def get_dispute(session: Session, actor: Principal, dispute_id: int) -> Dispute:
    """The dispute, if ``actor`` may see it (404 otherwise)."""
    actor.require(Permission.disputes_read)
    return get_visible(session, actor, dispute_id, lock=False)


def dispute_for_case(session: Session, actor: Principal, case_id: int) -> Dispute | None:
    """The dispute a case of type ``dispute`` belongs to; None for any other case."""
    if not actor.can(Permission.disputes_read):
        return None
    dispute = session.scalar(select(Dispute).where(Dispute.case_id == case_id))
    if dispute is None or not visible(session, actor, dispute):
        return None
    return dispute


def dispute_for_review(session: Session, actor: Principal, case_id: int) -> Dispute | None:
    """The dispute an account review case was opened from, if any (the review's link)."""
    if not actor.can(Permission.disputes_read):
        return None
    dispute_id = session.scalar(
        select(DisputeReview.dispute_id).where(DisputeReview.case_id == case_id)
    )
    if dispute_id is None:
        return None
    dispute = session.get(Dispute, dispute_id)
    if dispute is None or not visible(session, actor, dispute):
        return None
    return dispute


def list_disputes(
    session: Session,
    actor: Principal,
    filters: DisputeFilter,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Dispute], str | None]:
    """Disputes, newest first (keyset on id). Staff do not see disputes whose case sits in
    the legal tier unless they hold ``cases:legal``."""
    actor.require(Permission.disputes_read)
    query = select(Dispute)
    if filters.status:
        query = query.where(Dispute.status.in_(list(filters.status)))
    if filters.subject_type is not None:
        query = query.where(Dispute.subject_type == filters.subject_type)
    if filters.subject_ref:
        query = query.where(Dispute.subject_ref == filters.subject_ref.strip())
    if filters.case_id is not None:
        query = query.where(Dispute.case_id == filters.case_id)
    if filters.opened_from is not None:
        query = query.where(Dispute.opened_at >= filters.opened_from)
    if filters.opened_to is not None:
        query = query.where(Dispute.opened_at < filters.opened_to)
    if filters.account_external_id:
        account_id = session.scalar(
            select(Account.id).where(Account.external_id == filters.account_external_id.strip())
        )
        if account_id is None:
            return [], None
        query = query.where(
            or_(Dispute.buyer_account_id == account_id, Dispute.seller_account_id == account_id)
        )
    if actor.is_staff and not actor.can(Permission.legal_cases):
        query = query.join(Case, Case.id == Dispute.case_id).where(Case.tier != Tier.legal)
    if cursor:
        query = query.where(Dispute.id < decode_id_cursor(cursor))
    limit = max(1, min(limit, 500))
    rows = list(session.scalars(query.order_by(Dispute.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def submissions_of(session: Session, dispute: Dispute) -> list[DisputeSubmission]:
    return list(
        session.scalars(
            select(DisputeSubmission)
            .where(DisputeSubmission.dispute_id == dispute.id)
            .order_by(DisputeSubmission.id)
        )
    )


def proposals_of(session: Session, dispute: Dispute) -> list[DisputeProposal]:
    """Newest first."""
    return list(
        session.scalars(
            select(DisputeProposal)
            .where(DisputeProposal.dispute_id == dispute.id)
            .order_by(DisputeProposal.id.desc())
        )
    )


def timeline_of(session: Session, dispute: Dispute, *, public: bool = False) -> list[DisputeEvent]:
    """The dispute's timeline, oldest first. ``public``: only the kinds the parties may see
    (:data:`PUBLIC_EVENT_KINDS`; no linked reviews, no file views)."""
    query = select(DisputeEvent).where(DisputeEvent.dispute_id == dispute.id)
    if public:
        query = query.where(DisputeEvent.kind.in_([k.value for k in PUBLIC_EVENT_KINDS]))
    return list(session.scalars(query.order_by(DisputeEvent.id)))


def open_proposal_of(session: Session, dispute: Dispute) -> DisputeProposal | None:
    return open_proposal(session, dispute)


def linked_reviews(session: Session, actor: Principal, dispute: Dispute) -> list[LinkedReview]:
    """Account reviews opened from the dispute that ``actor`` may see (staff only)."""
    if not actor.is_staff:
        return []
    rows = session.execute(
        select(Case, DisputeReview.party)
        .join(DisputeReview, DisputeReview.case_id == Case.id)
        .where(DisputeReview.dispute_id == dispute.id)
        .order_by(Case.id)
    ).all()
    return [LinkedReview(case, Party(party)) for case, party in rows if cases.visible(actor, case)]


@dataclass(frozen=True)
class PageExtras:
    """What a page of disputes needs besides the rows, read with one query each (no query
    per row): the accounts' external ids, the open proposals and (staff) linked reviews."""

    external_ids: dict[int, str]
    open_proposals: dict[int, DisputeProposal]
    reviews: dict[int, list[LinkedReview]]


def page_extras(session: Session, actor: Principal, rows: Sequence[Dispute]) -> PageExtras:
    ids = [d.id for d in rows]
    account_ids = {d.buyer_account_id for d in rows} | {d.seller_account_id for d in rows}
    external_ids: dict[int, str] = {}
    proposals: dict[int, DisputeProposal] = {}
    reviews: dict[int, list[LinkedReview]] = {}
    if not ids:
        return PageExtras(external_ids, proposals, reviews)
    for account_id, external_id in session.execute(
        select(Account.id, Account.external_id).where(Account.id.in_(account_ids))
    ):
        external_ids[account_id] = external_id
    for proposal in session.scalars(
        select(DisputeProposal).where(
            DisputeProposal.dispute_id.in_(ids), DisputeProposal.status == ProposalStatus.open
        )
    ):
        proposals[proposal.dispute_id] = proposal
    if actor.is_staff:
        for dispute_id, case, party in session.execute(
            select(DisputeReview.dispute_id, Case, DisputeReview.party)
            .join(DisputeReview, DisputeReview.case_id == Case.id)
            .where(DisputeReview.dispute_id.in_(ids))
            .order_by(Case.id)
        ):
            if cases.visible(actor, case):
                reviews.setdefault(dispute_id, []).append(LinkedReview(case, Party(party)))
    return PageExtras(external_ids, proposals, reviews)


def _proposal_view(p: DisputeProposal, d: Dispute) -> ProposalView:
    refund, release = money.split_for(p.outcome.value, d.amount_minor, p.refund_minor)
    return ProposalView(
        p, refund, release, money.display(refund, d.currency), money.display(release, d.currency)
    )


def _side(
    party: Party, account: Account, dispute: Dispute, subs: Sequence[DisputeSubmission]
) -> PartySide:
    mine = [s for s in subs if s.party == party]
    return PartySide(
        party=party,
        account=account,
        is_opener=dispute.opened_by == party,
        statements=[s for s in mine if s.kind == SubmissionKind.statement],
        excerpts=[s for s in mine if s.kind == SubmissionKind.excerpts],
        files=[s for s in mine if s.kind == SubmissionKind.file],
    )


def can_mediate(session: Session, actor: Principal, dispute: Dispute) -> bool:
    """Whether ``actor`` may propose or rule on ``dispute`` now."""
    return (
        actor.can(Permission.disputes_mediate)
        and dispute.status in (DisputeStatus.in_mediation, DisputeStatus.proposed)
        and holds_case(actor, case_of(session, dispute))
    )


def view(session: Session, actor: Principal, dispute_id: int) -> DisputeView:
    """The two-sided view for staff (audited: both parties' statements are personal)."""
    actor.require(Permission.disputes_read)
    if not actor.is_staff and actor.type.value != "system":
        raise PermissionDenied("the dispute view is for staff", code="staff_only")
    dispute = get_visible(session, actor, dispute_id, lock=False)
    case = case_of(session, dispute)
    subs = submissions_of(session, dispute)
    props = proposals_of(session, dispute)
    open_p = next((p for p in props if p.status == ProposalStatus.open), None)
    mediator = actor.can(Permission.disputes_mediate) and holds_case(actor, case)
    live = dispute.status in (DisputeStatus.in_mediation, DisputeStatus.proposed)
    result = DisputeView(
        dispute=dispute,
        case=case,
        buyer=_side(Party.buyer, load_account(session, dispute.buyer_account_id), dispute, subs),
        seller=_side(Party.seller, load_account(session, dispute.seller_account_id), dispute, subs),
        proposals=[_proposal_view(p, dispute) for p in props],
        open_proposal=_proposal_view(open_p, dispute) if open_p else None,
        timeline=timeline_of(session, dispute),
        linked_reviews=linked_reviews(session, actor, dispute),
        amount_display=money.display(dispute.amount_minor, dispute.currency),
        refund_display=(
            money.display(dispute.refund_minor, dispute.currency) if dispute.refund_minor else None
        ),
        release_display=(
            money.display(dispute.release_minor, dispute.currency)
            if dispute.release_minor
            else None
        ),
        response_due_at=dispute.response_due_at,
        proposal_due_at=open_p.due_at if open_p else None,
        can_propose=mediator and live,
        can_rule=mediator and live,
        can_release=(
            actor.can(Permission.disputes_mediate)
            and decided_by(session, actor, dispute)
            and dispute.status == DisputeStatus.resolved
            and dispute.outcome == Outcome.redo
            and dispute.payment_status == PaymentStatus.held
        ),
        can_open_review=mediator and actor.can(Permission.cases_create),
        submissions=subs,
    )
    audit.record(session, actor, "disputes.dispute.view", "dispute", dispute.id)
    return result
