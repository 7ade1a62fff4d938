"""Loading a dispute for an actor and the checks every change makes first: visibility, which
party an account is, whether a staff member is the mediator."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case
from vigil.disputes.models import (
    Dispute,
    DisputeProposal,
    Party,
    ProposalStatus,
)
from vigil.kit.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
)

SYSTEM = Principal.system("disputes")


def clean_text(value: str | None, name: str, limit: int, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"{name} is required", field=name, code=f"{name}_required")
    if len(text) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters", field=name, code="too_long")
    return text


def load_dispute(session: Session, dispute_id: int, *, lock: bool = False) -> Dispute:
    query = (
        select(Dispute).where(Dispute.id == dispute_id).execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update()
    dispute = session.scalar(query)
    if dispute is None:
        raise NotFound("no such dispute", code="dispute_not_found")
    return dispute


def case_of(session: Session, dispute: Dispute) -> Case:
    case = session.get(Case, dispute.case_id)
    assert case is not None  # a foreign key
    return case


def visible(session: Session, actor: Principal, dispute: Dispute) -> bool:
    if not actor.is_staff:
        return True  # the marketplace's own disputes
    return cases.visible(actor, case_of(session, dispute))


def get_visible(session: Session, actor: Principal, dispute_id: int, *, lock: bool) -> Dispute:
    dispute = load_dispute(session, dispute_id, lock=lock)
    if not visible(session, actor, dispute):
        raise NotFound("no such dispute", code="dispute_not_found")
    return dispute


def load_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    assert account is not None  # a foreign key
    return account


def party_of(session: Session, dispute: Dispute, external_id: str | None) -> Party:
    """Which party ``external_id`` is; 403 ``not_a_party`` for any other account (an unknown
    id included: nothing tells the caller whether such an account exists)."""
    ext = (external_id or "").strip()
    if ext:
        found = session.scalar(select(Account.id).where(Account.external_id == ext))
        if found is not None and found == dispute.buyer_account_id:
            return Party.buyer
        if found is not None and found == dispute.seller_account_id:
            return Party.seller
    raise PermissionDenied(
        "this account is not a party to the dispute", field="party", code="not_a_party"
    )


def require_marketplace(actor: Principal) -> None:
    """Party actions (open, submit, upload, answer, withdraw) are relayed by the marketplace
    for its users: an API key with ``disputes:write``. Staff never act as a party (an admin
    holds every permission, and could otherwise "agree" for both sides): 403
    ``marketplace_only``."""
    actor.require(Permission.disputes_write)
    if actor.is_staff:
        raise PermissionDenied(
            "only the marketplace (an API key) acts for a party; staff mediate",
            code="marketplace_only",
        )


def holds_case(actor: Principal, case: Case) -> bool:
    if actor.staff_id is not None and case.assignee_id == actor.staff_id:
        return True
    return actor.can(Permission.cases_assign)


def require_mediator(session: Session, actor: Principal, dispute: Dispute) -> Case:
    actor.require(Permission.disputes_mediate)
    case = case_of(session, dispute)
    if not holds_case(actor, case):
        raise PermissionDenied(
            "only the mediator holding the dispute's case (or a lead) may do this",
            code="not_mediator",
        )
    return case


def open_proposal(
    session: Session, dispute: Dispute, *, lock: bool = False
) -> DisputeProposal | None:
    query = select(DisputeProposal).where(
        DisputeProposal.dispute_id == dispute.id, DisputeProposal.status == ProposalStatus.open
    )
    if lock:
        query = query.with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def decided_by(session: Session, actor: Principal, dispute: Dispute) -> bool:
    """Whether ``actor`` may act on a resolved dispute (its case is closed by then, so nobody
    holds it): the mediator who ruled, the one whose proposal was accepted, or a lead."""
    if holds_case(actor, case_of(session, dispute)):
        return True
    if actor.staff_id is None:
        return False
    if dispute.ruled_by_id == actor.staff_id:
        return True
    proposer = session.scalar(
        select(DisputeProposal.proposed_by_id).where(
            DisputeProposal.dispute_id == dispute.id,
            DisputeProposal.status == ProposalStatus.accepted,
        )
    )
    return proposer == actor.staff_id
