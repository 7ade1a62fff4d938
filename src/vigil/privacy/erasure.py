"""Carrying out an erasure request for one account.

Everything deletable is deleted or anonymized; what must be kept is kept and listed with the
reason, in the request's result. Idempotent: a second pass changes nothing (and counts 0).

What goes (unless a hold keeps it, see ``privacy.service``):
- the profile (names, date of birth, email, phone, free attributes) and every identifier
  (emails, phones, devices, IPs, payment instruments, document numbers);
- identity images (rows, hash bands, encrypted files) and what was read from documents
  (fields, checks, the document fingerprint);
- the personal parts of the person's events (ip, device, payment instrument, data),
  including events sent before the account existed (matched by the marketplace's id);
- the address, body and last sending error of messages Vigil sent the person;
- finished webhook deliveries whose body copies one of those messages or an identity
  verification's outcome (in-app messages, verification results), with their attempts;
- the person's texts quoted as examples of text clusters (and their event ids there).

What stays, listed with its reason: anything under a legal hold; decisions, statements of
reasons, strikes and restrictions (the law requires them: DSA Art. 17 and 24, and the
marketplace's defence of legal claims); cases, their notes and appeals (the record behind
those decisions); disputes (another party's rights and payment records); events others sent
about the person (another user's report or message); the audit log (tamper evidence); the
marketplace's own id of the account (ties the kept records to this request); velocity state
(see ``REASONS``: the detection store offers no per-person delete, it expires on its own).
Authority orders about the person are kept (Art. 17(3)(b)) and deliberately NOT listed: the
result goes back to the marketplace and the person, and an order's existence may be
confidential (docs/privacy.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, not_, or_, select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account, Identifier, Restriction
from vigil.appeals.models import Appeal
from vigil.cases.models import Case, CaseEvent, CaseNote
from vigil.communications.models import Message
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.disputes.models import Dispute
from vigil.dsa.models import Statement
from vigil.enforcement.models import Decision, Strike
from vigil.identity.models import IdentityHashBand, IdentityImage, IdentityVerification
from vigil.integrations.models import WebhookDelivery
from vigil.kit.blobs import BlobStore
from vigil.kit.errors import NotFound
from vigil.privacy import service as holds
from vigil.privacy.blobs import delete_after_commit
from vigil.privacy.models import LegalHold
from vigil.privacy.retention import (
    FINISHED,
    account_deliveries,
    anonymize_event,
    anonymize_message,
    clear_identity_fields,
    delete_deliveries,
    delivery_hold_filter,
    drop_cluster_examples,
    event_hold_filter,
    identity_hold_filter,
    person_copy_deliveries,
    person_events,
)

HELD = "under legal hold"
REASONS = {
    "decisions": "enforcement decisions are kept as the record the law requires (DSA Art. 17) "
    "and to defend legal claims (GDPR Art. 17(3)(b), (e))",
    "statements_of_reasons": "statements of reasons must be kept and are published to the "
    "DSA transparency database (DSA Art. 17, 24(5)); they hold no direct identifiers",
    "strikes": "strikes count toward the repeat-infringer policy until they expire (DSA Art. 23)",
    "restrictions": "restrictions in force or past are part of the enforcement record",
    "appeals": "appeals and their outcome are part of the decision's legal record (DSA Art. 20)",
    "cases": "case files and notes are the record behind kept decisions",
    "disputes": "disputes involve another party's rights and payment records",
    "events_by_others": "events another user sent about this person (reports, messages) "
    "belong to that user's record too",
    "webhook_deliveries": "the delivery log of decisions sent to the marketplace, and "
    "deliveries not finished yet; removed by the webhook retention class",
    "audit_log": "the audit log is append-only tamper evidence; it holds ids and actions, "
    "not profile data",
    "external_id": "the marketplace's own id of the account ties the kept records to it",
    "velocity_state": "velocity counters (in memory or Redis) hold the raw account id, IPs, "
    "device ids, payment fingerprints and counterparty ids the marketplace sent; the store "
    "has no per-person delete, so they are not erased but expire on their own at most 91 "
    "days after the person's last event",
}


@dataclass
class ErasureResult:
    account_external_id: str
    erased: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    holds: list[int] = field(default_factory=list)

    def did(self, data: str, action: str, count: int) -> None:
        self.erased.append({"data": data, "action": action, "count": count})

    def keep(self, data: str, count: int, reason: str) -> None:
        if count:
            self.kept.append({"data": data, "count": count, "reason": reason})

    def erased_counts(self) -> dict[str, int]:
        return {e["data"]: e["count"] for e in self.erased}

    def to_json(self) -> dict[str, Any]:
        return {
            "account_external_id": self.account_external_id,
            "erased": self.erased,
            "kept": self.kept,
            "legal_holds": self.holds,
        }


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _hold_reason(ids: list[int]) -> str:
    return f"{HELD} ({', '.join(f'#{i}' for i in ids)})"


def erase_account(
    session: Session,
    account_id: int,
    *,
    settings: Settings | None = None,
    store: BlobStore | None = None,
) -> ErasureResult:
    """Erase what may go for ``account_id``; never commits. Blob files go after the commit."""
    from vigil.identity.service import blob_store

    account = session.scalar(select(Account).where(Account.id == account_id).with_for_update())
    if account is None:
        raise NotFound("no such account", code="account_not_found")
    store = store or blob_store(settings or Settings())
    result = ErasureResult(account_external_id=account.external_id)
    hold_ids = list(
        session.scalars(
            holds.active_holds()
            .with_only_columns(LegalHold.id)
            .where(
                or_(
                    LegalHold.account_id == account_id,
                    LegalHold.case_id.in_(select(Case.id).where(Case.account_id == account_id)),
                )
            )
            .order_by(LegalHold.id)
        )
    )
    result.holds = hold_ids
    evidence_held = holds.is_account_held(session, account_id)

    # --- profile and identifiers --------------------------------------------------------
    identifiers = select(Identifier.id).where(Identifier.account_id == account_id)
    if evidence_held:
        result.did("profile", "anonymized", 0)
        result.did("identifiers", "deleted", 0)
        result.keep("profile", 1, _hold_reason(hold_ids))
        result.keep("identifiers", _count(session, identifiers), _hold_reason(hold_ids))
    else:
        changed = any(
            getattr(account, name) not in (None, {})
            for name in (
                "display_name",
                "legal_name",
                "date_of_birth",
                "email",
                "phone",
                "attributes",
            )
        )
        if changed:
            account.display_name = None
            account.legal_name = None
            account.date_of_birth = None
            account.email = None
            account.phone = None
            account.attributes = {}
        result.did("profile", "anonymized", int(changed))
        removed = session.execute(delete(Identifier).where(Identifier.account_id == account_id))
        result.did("identifiers", "deleted", int(getattr(removed, "rowcount", 0) or 0))

    # --- identity documents -------------------------------------------------------------
    images = list(
        session.scalars(
            select(IdentityImage).where(
                IdentityImage.account_id == account_id, *identity_hold_filter(IdentityImage)
            )
        )
    )
    if images:
        ids = [i.id for i in images]
        session.execute(delete(IdentityHashBand).where(IdentityHashBand.image_id.in_(ids)))
        session.execute(delete(IdentityImage).where(IdentityImage.id.in_(ids)))
        delete_after_commit(session, store, [i.blob_key for i in images])
    result.did("identity_images", "deleted", len(images))
    verifications = list(
        session.scalars(
            select(IdentityVerification).where(
                IdentityVerification.account_id == account_id,
                *identity_hold_filter(IdentityVerification),
            )
        )
    )
    cleared = 0
    for verification in verifications:
        changed = clear_identity_fields(verification)
        # The fingerprint, a reviewer's free-text note and a processing error can quote
        # the document (name, number).
        for name in ("document_fingerprint", "decision_note", "error"):
            if getattr(verification, name) is not None:
                setattr(verification, name, None)
                changed = True
        cleared += changed
    result.did("identity_fields", "anonymized", cleared)
    result.keep(
        "identity_images",
        _count(session, select(IdentityImage.id).where(IdentityImage.account_id == account_id)),
        _hold_reason(hold_ids),
    )
    kept_verifications = _count(
        session,
        select(IdentityVerification.id).where(IdentityVerification.account_id == account_id),
    )
    result.keep(
        "identity_verification_outcomes",
        kept_verifications,
        "the outcome and reason codes of each verification are kept as decision records; "
        "what was read from the document is removed unless held",
    )

    # --- events and messages --------------------------------------------------------------
    mine = person_events(account_id, account.external_id)
    events = list(session.scalars(select(Event).where(mine, *event_hold_filter())))
    result.did("events", "anonymized", sum(anonymize_event(e) for e in events))
    # Kept: every event of the person the hold filter keeps (a held account or case, or a
    # held counterparty: the person's message to a held account is that account's evidence).
    result.keep(
        "events",
        _count(session, select(Event.id).where(mine)) - len(events),
        _hold_reason(hold_ids) if hold_ids else "under legal hold (of the other party)",
    )
    result.did(
        "text_cluster_examples",
        "deleted",
        drop_cluster_examples(session, {e.id for e in events}),
    )
    held_cases = holds.held_case_ids_query()
    msgs = list(
        session.scalars(
            select(Message).where(
                Message.account_id == account_id,
                Message.account_id.not_in(holds.held_account_ids_query()),
                or_(Message.case_id.is_(None), Message.case_id.not_in(held_cases)),
            )
        )
    )
    result.did("messages", "anonymized", sum(anonymize_message(m) for m in msgs))
    result.keep(
        "messages",
        _count(session, select(Message.id).where(Message.account_id == account_id)) - len(msgs),
        _hold_reason(hold_ids),
    )

    # --- copies of messages and verification outcomes in the webhook delivery log ---------
    copies = list(
        session.scalars(
            select(WebhookDelivery.id).where(
                person_copy_deliveries(account_id),
                WebhookDelivery.status.in_(FINISHED),
                *delivery_hold_filter(),
            )
        )
    )
    if copies:
        delete_deliveries(session, copies)
    result.did("webhook_deliveries", "deleted", len(copies))
    about = select(WebhookDelivery.id).where(account_deliveries(account_id))
    held_deliveries = _count(session, about.where(not_(and_(*delivery_hold_filter()))))
    result.keep("webhook_deliveries_held", held_deliveries, _hold_reason(hold_ids))
    result.keep(
        "webhook_deliveries",
        _count(session, about) - held_deliveries,
        REASONS["webhook_deliveries"],
    )

    # --- what stays by law or for others ---------------------------------------------------
    case_ids = select(Case.id).where(Case.account_id == account_id)
    kept = [
        ("decisions", select(Decision.id).where(Decision.account_id == account_id)),
        ("statements_of_reasons", select(Statement.id).where(Statement.account_id == account_id)),
        ("strikes", select(Strike.id).where(Strike.account_id == account_id)),
        ("restrictions", select(Restriction.id).where(Restriction.account_id == account_id)),
        ("appeals", select(Appeal.id).where(Appeal.account_id == account_id)),
        ("cases", case_ids),
        (
            "disputes",
            select(Dispute.id).where(
                or_(Dispute.buyer_account_id == account_id, Dispute.seller_account_id == account_id)
            ),
        ),
        (
            "events_by_others",
            select(Event.id).where(Event.counterparty_external_id == account.external_id),
        ),
    ]
    for name, query in kept:
        result.keep(name, _count(session, query), REASONS[name])
    notes = _count(session, select(CaseNote.id).where(CaseNote.case_id.in_(case_ids)))
    result.keep("case_notes", notes, REASONS["cases"])
    history = _count(session, select(CaseEvent.id).where(CaseEvent.case_id.in_(case_ids)))
    result.keep("case_history", history, REASONS["cases"])
    result.keep("external_id", 1, REASONS["external_id"])
    result.keep("audit_log", 1, REASONS["audit_log"])
    result.keep("velocity_state", 1, REASONS["velocity_state"])
    session.flush()
    return result
