"""Disputes between a buyer and a seller: the domain's public entry points.

This module opens disputes and linked account reviews, and re-exports everything callers use
from the modules that hold the rest, so ``api`` and ``web`` import one name:

- ``queries``: :func:`get_dispute`, :func:`dispute_for_case`, :func:`dispute_for_review`,
  :func:`list_disputes`, :func:`view` (the two-sided screen: :class:`DisputeView`) and the
  small readers (``submissions_of``, ``proposals_of``, ``timeline_of``, ``open_proposal_of``,
  ``linked_reviews``, ``can_mediate``);
- ``sides``: :func:`submit`, :func:`add_file`, :func:`file_content`;
- ``mediation``: :func:`propose`, :func:`answer`, :func:`rule`, :func:`withdraw`,
  :func:`release_payment`;
- ``deadlines``: :func:`sweep`;
- ``states`` (the lifecycle), ``outbound`` (webhooks and messages), ``access`` (loading and
  the checks every change makes first).

Rules kept throughout (``docs/disputes.md``):
- Every function takes ``(session, actor, ...)``, checks everything before it writes (a refused
  call leaves no trace), flushes and never commits, and writes an audit record per change.
- The marketplace (an API key with ``disputes:write``) acts *for* a party, named by the
  account's external id; an account that is neither the buyer nor the seller is refused with
  403 ``not_a_party`` (field ``party``).
- Staff act as mediator: ``disputes:mediate`` and holding the dispute's case (or
  ``cases:assign``, a lead). The mediator proposes, rules, opens linked account reviews and
  releases a payment held for a redo.
- Each dispute has one case of type ``dispute`` (routed to the ``disputes`` queue), closed
  when the dispute resolves.
- Every status change emits ``dispute.updated``; the money moves by
  ``dispute.payment_instruction`` (``hold`` at opening; ``refund``/``release`` at the outcome,
  ``hold`` again for a redo and ``release`` when the mediator releases it), each with an
  idempotency key per dispute and instruction.
- Locks: a change locks the dispute row first (``SELECT ... FOR UPDATE`` on PostgreSQL), then
  the proposal, then the case; the sweep takes rows with ``SKIP LOCKED`` in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.accounts.models import Account, Side
from vigil.audit import service as audit
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases import states as case_states
from vigil.cases.models import Case, CaseEventKind, CaseType
from vigil.config import Settings
from vigil.disputes import messages, money, states
from vigil.disputes.access import (
    SYSTEM,
    case_of,
    clean_text,
    get_visible,
    load_account,
    require_marketplace,
    require_mediator,
)
from vigil.disputes.deadlines import sweep
from vigil.disputes.mediation import answer, propose, release_payment, rule, withdraw
from vigil.disputes.models import (
    Dispute,
    DisputeEventKind,
    DisputeReview,
    DisputeStatus,
    DisputeSubmission,
    Party,
    PaymentStatus,
    SubmissionKind,
)
from vigil.disputes.outbound import emit_updated, instruct, notify
from vigil.disputes.queries import (
    DisputeFilter,
    DisputeView,
    LinkedReview,
    PartySide,
    ProposalView,
    can_mediate,
    dispute_for_case,
    dispute_for_review,
    get_dispute,
    linked_reviews,
    list_disputes,
    open_proposal_of,
    proposals_of,
    submissions_of,
    timeline_of,
    view,
)
from vigil.disputes.schemas import (
    MAX_STATEMENT_CHARS,
    OpenDispute,
    ProposalIn,
    RulingIn,
    SubmissionIn,
)
from vigil.disputes.sides import FILE_TYPES, MAX_FILE_BYTES, add_file, file_content, sniff, submit
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput

__all__ = [
    "FILE_TYPES",
    "MAX_FILE_BYTES",
    "DisputeFilter",
    "DisputeView",
    "LinkedReview",
    "OpenDispute",
    "OpenResult",
    "PartySide",
    "ProposalIn",
    "ProposalView",
    "RulingIn",
    "SubmissionIn",
    "add_file",
    "answer",
    "can_mediate",
    "dispute_for_case",
    "dispute_for_review",
    "file_content",
    "get_dispute",
    "linked_reviews",
    "list_disputes",
    "open_dispute",
    "open_dispute_result",
    "open_proposal_of",
    "open_review",
    "proposals_of",
    "propose",
    "release_payment",
    "rule",
    "sniff",
    "submissions_of",
    "submit",
    "sweep",
    "timeline_of",
    "view",
    "withdraw",
]

BUYER_SIDES = frozenset({Side.client, Side.customer, Side.student})
SELLER_SIDES = frozenset({Side.freelancer, Side.pro, Side.instructor})


@dataclass(frozen=True)
class OpenResult:
    dispute: Dispute
    created: bool  # False: the live dispute for this key / subject and parties was returned


# Rough major-unit thresholds for priorities 1, 2 and 3 (about USD 5,000 / 500 / 50), for the
# currencies most marketplaces settle in. Deliberately coarse (no exchange rates to keep
# current): they only order the queue. Any other currency gets the case's normal priority 3.
PRIORITY_THRESHOLDS: dict[str, tuple[int, int, int]] = {
    **dict.fromkeys(("USD", "EUR", "GBP", "CHF", "CAD", "AUD", "NZD", "SGD"), (5_000, 500, 50)),
    "BRL": (25_000, 2_500, 250),
    "MXN": (100_000, 10_000, 1_000),
    "INR": (400_000, 40_000, 4_000),
    "JPY": (750_000, 75_000, 7_500),
}
DEFAULT_PRIORITY = 3


def _priority(amount_minor: int, currency: str) -> int:
    """The case's priority (1 most urgent) from the disputed amount: bigger sums first, by
    :data:`PRIORITY_THRESHOLDS` in the currency's major units; 3 for other currencies."""
    thresholds = PRIORITY_THRESHOLDS.get(currency)
    if thresholds is None:
        return DEFAULT_PRIORITY
    major = amount_minor / (10 ** money.MINOR_UNITS[currency])
    for priority, floor in enumerate(thresholds, start=1):
        if major >= floor:
            return priority
    return 4


def _refuse_close_while_live(session: Session, case: Case) -> None:
    """The closing guard registered with ``cases``: a dispute's case closes when the dispute
    resolves (its outcome closes it), never by hand while the dispute is live."""
    if case.type != CaseType.dispute:
        return
    live = session.scalar(
        select(Dispute.id).where(
            Dispute.case_id == case.id, Dispute.status != DisputeStatus.resolved
        )
    )
    if live is not None:
        raise Conflict(
            f"dispute {live} on this case is live; its outcome (a ruling, an agreement or a "
            "withdrawal) closes the case",
            code="dispute_live",
        )


cases.register_close_guard(_refuse_close_while_live)


# --- open -------------------------------------------------------------------------------------


def _find_account(session: Session, external_id: str, field_name: str) -> Account:
    account = session.scalar(select(Account).where(Account.external_id == external_id.strip()))
    if account is None:
        raise InvalidInput(
            "no account with this external id", field=field_name, code="account_not_found"
        )
    return account


def _live_for(
    session: Session, spec: OpenDispute, buyer: Account, seller: Account
) -> Dispute | None:
    return session.scalar(
        select(Dispute)
        .where(
            Dispute.subject_type == spec.subject_type,
            Dispute.subject_ref == spec.subject_ref.strip(),
            Dispute.buyer_account_id == buyer.id,
            Dispute.seller_account_id == seller.id,
            Dispute.status != DisputeStatus.resolved,
        )
        .execution_options(populate_existing=True)
    )


def _same_dispute(d: Dispute, spec: OpenDispute, buyer: Account, seller: Account) -> bool:
    return (
        d.subject_type == spec.subject_type
        and d.subject_ref == spec.subject_ref.strip()
        and d.buyer_account_id == buyer.id
        and d.seller_account_id == seller.id
    )


def _same_request(d: Dispute, spec: OpenDispute, amount_minor: int, currency: str) -> bool:
    """Whether an open request repeats the one that opened ``d`` (so replaying ``d`` loses
    nothing): the same opener, amount, currency and reason."""
    return (
        d.opened_by == Party(spec.opened_by)
        and d.amount_minor == amount_minor
        and d.currency == currency
        and d.reason_code == spec.reason_code
    )


def _replay_or_refuse(
    existing: Dispute,
    spec: OpenDispute,
    buyer: Account,
    seller: Account,
    amount_minor: int,
    currency: str,
    *,
    by_key: bool,
) -> OpenResult:
    if by_key and not (
        _same_dispute(existing, spec, buyer, seller)
        and _same_request(existing, spec, amount_minor, currency)
    ):
        raise Conflict(
            f"this idempotency key opened dispute {existing.id} with other details",
            field="idempotency_key",
            code="idempotency_key_reused",
        )
    if not by_key and not _same_request(existing, spec, amount_minor, currency):
        raise Conflict(
            f"dispute {existing.id} about this {existing.subject_type.value} between these "
            f"accounts is open; send the {spec.opened_by.value}'s side to it as a submission",
            field="subject_ref",
            code="dispute_exists",
        )
    return OpenResult(existing, False)


def open_dispute(
    session: Session,
    actor: Principal,
    spec: OpenDispute,
    *,
    settings: Settings,
    idempotency_key: str | None = None,
) -> Dispute:
    """Open a dispute for one of its parties. See :func:`open_dispute_result` (which also says
    whether it was new); this returns the dispute only."""
    return open_dispute_result(
        session, actor, spec, settings=settings, idempotency_key=idempotency_key
    ).dispute


def open_dispute_result(
    session: Session,
    actor: Principal,
    spec: OpenDispute,
    *,
    settings: Settings,
    idempotency_key: str | None = None,
) -> OpenResult:
    """Open a dispute: its case (the ``disputes`` queue, priority by amount), the opener's
    statement, the ``hold`` instruction, the message to the respondent.

    Idempotent: the same ``idempotency_key`` (argument or ``spec.idempotency_key``) returns
    the dispute it opened (409 ``idempotency_key_reused`` if the request differs: subject,
    parties, opener, amount, currency or reason). Without a known key, a live dispute about
    the same subject between the same accounts is returned when the request repeats it
    (same opener, amount, currency and reason); otherwise 409 ``dispute_exists`` names it
    (the other party's side goes to it through :func:`submit`). Only the marketplace opens
    (403 ``marketplace_only`` for staff).
    """
    require_marketplace(actor)
    key = (idempotency_key or spec.idempotency_key or "").strip() or None
    if key is not None and len(key) > 200:
        raise InvalidInput("the idempotency key is too long", field="idempotency_key")
    subject_ref = clean_text(spec.subject_ref, "subject_ref", 200, required=True)
    currency = money.check_currency(spec.amount.currency, "currency")
    amount_minor = money.to_minor(spec.amount.amount, currency, "amount")
    statement = clean_text(spec.statement, "statement", MAX_STATEMENT_CHARS, required=False)
    buyer = _find_account(session, spec.buyer_external_id, "buyer_external_id")
    seller = _find_account(session, spec.seller_external_id, "seller_external_id")
    if buyer.id == seller.id:
        raise InvalidInput(
            "the buyer and the seller are the same account",
            field="seller_external_id",
            code="same_account",
        )
    if buyer.side not in BUYER_SIDES:
        raise InvalidInput(
            f"the buyer's account is a {buyer.side} (a seller's side)",
            field="buyer_external_id",
            code="wrong_side",
        )
    if seller.side not in SELLER_SIDES:
        raise InvalidInput(
            f"the seller's account is a {seller.side} (a buyer's side)",
            field="seller_external_id",
            code="wrong_side",
        )
    if key is not None:
        existing = session.scalar(
            select(Dispute)
            .where(Dispute.idempotency_key == key)
            .execution_options(populate_existing=True)
        )
        if existing is not None:
            return _replay_or_refuse(
                existing, spec, buyer, seller, amount_minor, currency, by_key=True
            )
    live = _live_for(session, spec, buyer, seller)
    if live is not None:
        return _replay_or_refuse(live, spec, buyer, seller, amount_minor, currency, by_key=False)

    opener = Party(spec.opened_by)
    respondent = opener.other
    respondent_account = buyer if respondent is Party.buyer else seller
    now = clock.now()
    language, _ = messages.language_of(respondent_account)
    title = (
        f"Dispute: {spec.reason_code.value.replace('_', ' ')} — {spec.subject_type.value} "
        f"{subject_ref} ({money.display(amount_minor, currency)})"
    )[:300]
    try:
        # Two opens of one subject can race: the live index lets one win and the loser
        # returns the winner's dispute. The savepoint also drops the loser's case.
        with session.begin_nested():
            case = cases.create_case(
                session,
                SYSTEM,
                cases.NewCase(
                    type=CaseType.dispute,
                    title=title,
                    summary=statement[:2000],
                    priority=_priority(amount_minor, currency),
                    language=language,
                    account_id=respondent_account.id,
                    source="dispute",
                    source_ref=f"{spec.subject_type.value}:{subject_ref}",
                    attributes={
                        "buyer_account_id": buyer.id,
                        "seller_account_id": seller.id,
                        "amount_minor": amount_minor,
                        "currency": currency,
                    },
                ),
            ).case
            dispute = Dispute(
                case_id=case.id,
                status=DisputeStatus.awaiting_response,
                subject_type=spec.subject_type,
                subject_ref=subject_ref,
                buyer_account_id=buyer.id,
                seller_account_id=seller.id,
                opened_by=opener,
                reason_code=spec.reason_code,
                summary=statement,
                amount_minor=amount_minor,
                currency=currency,
                idempotency_key=key,
                opened_via=actor.label[:200],
                opened_at=now,
                response_due_at=now + timedelta(hours=settings.dispute_response_hours),
                payment_status=PaymentStatus.held,
            )
            session.add(dispute)
            session.flush()
    except IntegrityError:
        by_key = (
            session.scalar(select(Dispute).where(Dispute.idempotency_key == key))
            if key is not None
            else None
        )
        again = by_key or _live_for(session, spec, buyer, seller)
        if again is None:
            raise
        return _replay_or_refuse(
            again, spec, buyer, seller, amount_minor, currency, by_key=by_key is not None
        )
    case.attributes = {**case.attributes, "dispute_id": dispute.id}
    event = states.record(
        session,
        dispute,
        DisputeEventKind.opened,
        actor=actor,
        party=opener,
        to_status=DisputeStatus.awaiting_response.value,
        data={
            "amount_minor": amount_minor,
            "currency": currency,
            "due_at": dispute.response_due_at,
        },
    )
    if statement:
        sub = DisputeSubmission(
            dispute_id=dispute.id,
            party=opener,
            kind=SubmissionKind.statement,
            statement=statement,
            excerpts=[],
            submitted_via=actor.label[:200],
            created_at=now,
        )
        session.add(sub)
        session.flush()
        states.record(
            session,
            dispute,
            DisputeEventKind.submission,
            actor=actor,
            party=opener,
            data={"submission_id": sub.id, "kind": SubmissionKind.statement.value},
        )
    session.flush()
    audit.record(
        session,
        actor,
        "disputes.dispute.open",
        "dispute",
        dispute.id,
        data={
            "case_id": case.id,
            "subject_type": dispute.subject_type.value,
            "subject_ref": subject_ref,
            "opened_by": opener.value,
            "amount_minor": amount_minor,
            "currency": currency,
        },
    )
    instruct(session, actor, dispute, "hold", key="hold")
    notify(session, settings, dispute, [respondent], "opened")
    emit_updated(session, dispute, event)
    session.flush()
    return OpenResult(dispute, True)


# --- linked account review --------------------------------------------------------------------


def open_review(
    session: Session,
    actor: Principal,
    dispute_id: int,
    party: str,
    policy_code: str | None,
    summary: str,
) -> Case:
    """An account review case about one party, linked to the dispute (the review's
    ``attributes.dispute_id``; the dispute lists it)."""
    dispute = get_visible(session, actor, dispute_id, lock=True)
    require_mediator(session, actor, dispute)
    actor.require(Permission.cases_create)
    try:
        who = Party(party)
    except ValueError:
        raise InvalidInput(
            "party is buyer or seller", field="party", code="invalid_party"
        ) from None
    text = clean_text(summary, "summary", 20_000, required=True)
    code = (policy_code or "").strip() or None
    account = load_account(session, dispute.account_id_of(who))
    case = cases.create_case(
        session,
        actor,
        cases.NewCase(
            type=CaseType.account_review,
            title=f"Account review from dispute {dispute.id} ({who.value})",
            summary=text,
            policy_code=code,
            account_id=account.id,
            language=messages.language_of(account)[0],
            source="dispute",
            source_ref=f"dispute:{dispute.id}",
            attributes={"dispute_id": dispute.id, "dispute_party": who.value},
        ),
    ).case
    session.add(
        DisputeReview(
            dispute_id=dispute.id,
            case_id=case.id,
            party=who,
            created_by_id=actor.staff_id,
            created_at=clock.now(),
        )
    )
    states.record(
        session,
        dispute,
        DisputeEventKind.review_opened,
        actor=actor,
        data={"case_id": case.id, "party": who.value, "policy_code": code},
    )
    dispute_case = case_of(session, dispute)
    case_states.record_event(
        session,
        dispute_case,
        CaseEventKind.note,
        actor=actor,
        reason=f"account review case {case.id} opened about the {who.value}",
        data={"review_case_id": case.id},
    )
    session.flush()
    audit.record(
        session,
        actor,
        "disputes.review.open",
        "dispute",
        dispute.id,
        reason=text,
        data={"case_id": case.id, "party": who.value, "policy_code": code},
    )
    return case
