"""Console: disputes between two users, both sides on one screen.

- ``/disputes``: the list, live disputes first with the nearest deadline at the top, filtered by
  status, one keyset page at a time; "Take next dispute" (``n``) takes the most urgent dispute
  case the mediator may work.
- ``/disputes/{id}``: the two-sided view. A header with what is disputed and its deadlines,
  the buyer's and the seller's sides next to each other (account, statement, the messages
  they quote, their files), the proposals with each party's answer, the dispute's timeline,
  and the mediator's actions: propose, rule, open a linked account review.
- ``case_panel``: the summary on a dispute case's page, with the link to the two-sided view.

Views are thin: every change goes through ``vigil.disputes.service`` (or ``cases.service``
for taking and releasing the case), under the logged-in staff member's principal, in the
request's transaction; the services audit. A refused form is rolled back and shown again
with the problem under its field (422) and what was typed kept.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import case as sql_case
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.api.deps import DB, AppSettings
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases import repository as case_repository
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType
from vigil.cases.sla import sla_state
from vigil.communications.models import Message, MessageChannel, MessageStatus
from vigil.config import Settings
from vigil.disputes import money
from vigil.disputes import service as disputes
from vigil.disputes.models import (
    PROPOSABLE,
    Answer,
    Dispute,
    DisputeEvent,
    DisputeEventKind,
    DisputeProposal,
    DisputeStatus,
    DisputeSubmission,
    Outcome,
    Party,
    ProposalStatus,
)
from vigil.disputes.schemas import ProposalIn, RulingIn
from vigil.integrations.models import DeliveryStatus, WebhookDelivery
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, VigilError
from vigil.kit.pagination import decode_cursor, encode_cursor
from vigil.policies import service as policies
from vigil.web.auth import Console, ConsolePost, ConsoleUser
from vigil.web.common import notice_of, page, redirect
from vigil.web.render import human_delta, when

router = APIRouter(include_in_schema=False)

DisputeId = Annotated[int, Path(ge=1, le=2**63 - 1)]
SubmissionId = Annotated[int, Path(ge=1, le=2**63 - 1)]
PAGE_SIZE = 50

# --- words ----------------------------------------------------------------------------------

STATUS_LABELS = {
    DisputeStatus.awaiting_response: "awaiting response",
    DisputeStatus.in_mediation: "in mediation",
    DisputeStatus.proposed: "proposal out",
    DisputeStatus.resolved: "resolved",
}
STATUS_KINDS = {
    DisputeStatus.awaiting_response: "warning",
    DisputeStatus.in_mediation: "",
    DisputeStatus.proposed: "",
    DisputeStatus.resolved: "ok",
}
# The list's filter: "live" (every status but resolved) is the default.
STATUS_OPTIONS = (
    [("live", "Live (not resolved)")]
    + [(s.value, label) for s, label in STATUS_LABELS.items()]
    + [("all", "All")]
)
REASON_LABELS = {
    "not_delivered": "Not delivered",
    "not_as_described": "Not as described",
    "quality": "Quality of the work",
    "payment_not_received": "Payment not received",
    "cancellation": "Cancellation",
    "other": "Other",
}
OUTCOME_LABELS = {
    Outcome.full_refund: "Full refund to the buyer",
    Outcome.partial_refund: "Partial refund to the buyer",
    Outcome.release: "Release the payment to the seller",
    Outcome.redo: "The seller redoes the work (payment stays held)",
    Outcome.no_action: "No action (the payment is released)",
    Outcome.withdrawn: "Withdrawn by the party who opened it",
}
RESOLVED_BY_LABELS = {
    "agreement": "resolved by agreement",
    "ruling": "resolved by ruling",
    "withdrawn": "withdrawn",
}
PROPOSAL_STATUS = {
    ProposalStatus.open: ("waiting for answers", "warning"),
    ProposalStatus.accepted: ("accepted by both", "ok"),
    ProposalStatus.rejected: ("rejected", "bad"),
    ProposalStatus.lapsed: ("lapsed: not answered in time", "bad"),
    ProposalStatus.superseded: ("superseded", ""),
    ProposalStatus.withdrawn: ("withdrawn", ""),
}
# Where the disputed money stands at the marketplace, as Vigil instructed it.
PAYMENT_LABELS = {
    "held": "held",
    "refunded": "refunded to the buyer",
    "released": "released to the seller",
    "partially_refunded": "split: part refunded to the buyer, the rest released to the seller",
}
ACCOUNT_STATUS_LABELS = {
    "active": "active",
    "restricted": "restricted",
    "suspended": "suspended",
    "removed": "removed",
    "closed": "closed by the user",
}
CASE_STATUS_LABELS = {
    "open": "open",
    "assigned": "in review",
    "on_hold": "on hold",
    "closed": "closed",
}
PARTY_TITLES = {Party.buyer: "Buyer", Party.seller: "Seller"}
EVENT_LABELS = {
    DisputeEventKind.opened: "opened the dispute",
    DisputeEventKind.submission: "added a file or quoted messages",
    DisputeEventKind.reminder: "sent a reminder of the deadline",
    DisputeEventKind.responded: "gave their side",
    DisputeEventKind.defaulted: "did not answer in time",
    DisputeEventKind.proposed: "proposed a resolution",
    DisputeEventKind.answered: "answered the proposal",
    DisputeEventKind.rejected: "the proposal was rejected",
    DisputeEventKind.lapsed: "the proposal lapsed: not answered in time",
    DisputeEventKind.agreed: "both parties accepted: resolved by agreement",
    DisputeEventKind.ruled: "ruled",
    DisputeEventKind.withdrawn: "withdrew the dispute",
    DisputeEventKind.payment_instruction: "payment instruction issued",
    DisputeEventKind.review_opened: "opened an account review",
    DisputeEventKind.file_viewed: "opened a file",
}
# What the form says for the service's refusals, by code (others keep the service's words).
REVIEWER_WORDS = {
    "amount_exceeds_disputed": "The refund can't be more than the amount in dispute ({amount})",
    "amount_required": "Give the refund amount for a partial refund",
    "amount_not_positive": "The refund must be more than zero",
    "too_many_decimals": "{currency} has {decimals} decimal places",
    "invalid_amount": (
        "Write the amount with digits and at most one decimal separator, “.” or “,”: "
        "write {example}, without thousands separators"
    ),
    "use_full_refund": "That is the whole amount in dispute: choose “Full refund” instead",
    "amount_too_large": "The refund can't be more than the amount in dispute ({amount})",
    "note_required": "Write a note to the parties",
    "reason_required": "Give the reason for the ruling",
    "summary_required": "Write what the dispute showed",
    "invalid_outcome": "Choose an outcome",
    "invalid_party": "Choose the party",
    "not_mediator": "Only the mediator who holds this dispute can do that: take it first",
    "awaiting_response": (
        "The other party still has time to give their side: wait for it or for the deadline"
    ),
}
# Service field -> the form control it names.
FORM_FIELDS = {
    "propose": {"outcome": "outcome", "amount": "amount", "note": "note"},
    "rule": {"outcome": "outcome", "amount": "amount", "reason": "reason"},
    "review": {"party": "party", "policy_code": "policy", "summary": "summary"},
    "payment": {"note": "note"},
}
# The deadline chip turns amber this long before the deadline.
SOON = timedelta(hours=24)


def _subject(d: Dispute) -> str:
    """'Job job-77': the kind of thing once, then the marketplace's reference."""
    kind = d.subject_type.value.replace("_", " ")
    return f"{kind[:1].upper()}{kind[1:]} {d.subject_ref}"


def reference(d: Dispute) -> str:
    """The public reference the parties read in their messages (and quote back)."""
    return f"D-{d.id}"


def _actor(label: str | None, *, staff: bool = True) -> str:
    """Who did something, in the console's words rather than the principal's internal name:
    the marketplace's API key (whatever it is called), the deadline sweep and the message
    service are not people. ``staff`` is False for an entry no staff member made."""
    raw = (label or "").strip()
    if not raw or raw == "system":
        return "Vigil"
    if raw.endswith(".sweep"):
        return "deadline check"
    if raw.endswith(".messages") or raw == "mailer":
        return "message service"
    if raw.startswith("marketplace") or not staff:
        return "the marketplace"
    return raw


def _response_state(d: Dispute, party: Party) -> tuple[str, str]:
    """(label, chip kind) of whether ``party`` gave their side."""
    if party == d.opened_by:
        return "opened the dispute", "party"
    if d.responded_at is not None:
        return f"answered {when(clock.as_utc(d.responded_at))}", "party"
    if d.respondent_defaulted:
        return "didn't answer in time", "bad"
    if d.status == DisputeStatus.resolved:
        return "did not answer", ""
    return "waiting for their side", "warning"


def _waiting_on(
    d: Dispute,
    open_proposal: DisputeProposal | None,
    case: Case | None,
    *,
    holder: str | None = None,
    mine: bool = False,
) -> dict[str, Any]:
    """Whose move it is: who, what is due and when (``at``), and the chip's colour. While a
    party's deadline runs it is theirs; in mediation it is the mediator's, on the case SLA."""
    status = DisputeStatus(d.status)
    if status == DisputeStatus.resolved:
        return {"who": "Nobody", "what": "resolved", "at": None, "kind": ""}
    if status == DisputeStatus.awaiting_response:
        who = PARTY_TITLES[d.respondent]
        return {"who": who, "what": "answer due", **_due(d.response_due_at)}
    if status == DisputeStatus.proposed and open_proposal is not None:
        pending = [
            PARTY_TITLES[party]
            for party in (Party.buyer, Party.seller)
            if open_proposal.answer_of(party) is None
        ]
        who = "Both parties" if len(pending) != 1 else pending[0]
        what = "answers due" if len(pending) != 1 else "answer due"
        return {"who": who, "what": what, **_due(open_proposal.due_at)}
    who = "Mediator (you)" if mine else f"Mediator ({holder or 'unassigned'})"
    if case is None or case.status == CaseStatus.closed:
        return {"who": who, "what": "", "at": None, "kind": ""}
    if case.sla_breached_at is not None or clock.as_utc(case.sla_due_at) <= clock.now():
        return {"who": who, "what": "SLA overdue", "at": case.sla_due_at, "kind": "breached"}
    return {"who": who, "what": "SLA due", "at": case.sla_due_at, "kind": sla_state(case)}


def _due(at: datetime) -> dict[str, Any]:
    at = clock.as_utc(at)
    left = at - clock.now()
    kind = "breached" if left.total_seconds() <= 0 else ("warning" if left <= SOON else "ok")
    return {"at": at, "kind": kind}


# --- the two-sided view -----------------------------------------------------------------------


def _side(d: Dispute, side: disputes.PartySide) -> dict[str, Any]:
    party = Party(side.party)
    account = side.account
    label, kind = _response_state(d, party)
    excerpts = []
    for s in side.statements + side.excerpts:
        for e in s.excerpts or []:
            raw = e.get("author")
            author = Party(raw) if raw in ("buyer", "seller") else party
            excerpts.append(
                {
                    "sent_at": _parse_time(e.get("sent_at")),
                    "author": author.value,
                    "author_label": PARTY_TITLES[author],
                    "text": str(e.get("text", "")),
                }
            )
    # The conversation in the order it happened (undated lines last, as submitted).
    excerpts.sort(key=lambda e: (e["sent_at"] is None, e["sent_at"] or clock.now()))
    ext = account.external_id
    return {
        "role": party.value,
        "title": PARTY_TITLES[party],
        "response_label": label,
        "response_kind": kind,
        "defaulted": not side.is_opener and d.respondent_defaulted,
        "account": account,
        "account_status_label": _label(ACCOUNT_STATUS_LABELS, str(account.status)),
        "account_url": "/search/accounts?" + urlencode({"by": "external_id", "value": ext}),
        "cases_url": "/search?" + urlencode({"q": ext}),
        "age": (
            human_delta(clock.now() - clock.as_utc(account.registered_at))
            if account.registered_at
            else None
        ),
        "statements": [
            {"at": s.created_at, "text": s.statement} for s in side.statements if s.statement
        ],
        "excerpts": excerpts,
        "files": [
            {
                "url": f"/disputes/{d.id}/files/{s.id}",
                "filename": s.filename or f"file {s.id}",
                "content_type": s.content_type or "",
                "size": _size(s.size_bytes),
                "at": s.created_at,
            }
            for s in side.files
        ],
    }


def _conversation(sides: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages either party quotes, as one conversation in the order it happened (a line
    quoted by both shows once, saying so); undated lines last, as submitted."""
    lines: dict[tuple[Any, ...], dict[str, Any]] = {}
    for side in sides:
        for e in side["excerpts"]:
            key = (e["sent_at"], e["author"], e["text"])
            line = lines.setdefault(key, {**e, "quoted_by": []})
            if side["title"] not in line["quoted_by"]:
                line["quoted_by"].append(side["title"])
    out = list(lines.values())
    out.sort(key=lambda e: (e["sent_at"] is None, e["sent_at"] or clock.now()))
    for line in out:
        quoted = line["quoted_by"]
        line["quoted_label"] = (
            "quoted by both" if len(quoted) > 1 else f"quoted by the {quoted[0].lower()}"
        )
    return out


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return clock.as_utc(value)
    if isinstance(value, str):
        try:
            return clock.as_utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _size(n: int | None) -> str | None:
    if not n:
        return None
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def _proposals(d: Dispute, views: list[disputes.ProposalView]) -> list[dict[str, Any]]:
    out = []
    for v in views:
        p = v.proposal
        status_label, status_kind = PROPOSAL_STATUS[ProposalStatus(p.status)]
        answers = []
        for party in (Party.buyer, Party.seller):
            answer = p.answer_of(party)
            at = p.buyer_answered_at if party == Party.buyer else p.seller_answered_at
            comment = p.buyer_comment if party == Party.buyer else p.seller_comment
            if answer is None:
                label, kind = (
                    ("no answer yet", "warning")
                    if p.status == ProposalStatus.open
                    else ("did not answer", "")
                )
            elif answer == Answer.accepted:
                label, kind = "accepted", "ok"
            else:
                label, kind = "rejected", "bad"
            answers.append(
                {
                    "party_label": PARTY_TITLES[party],
                    "label": label,
                    "kind": kind,
                    "at": at,
                    "comment": comment,
                }
            )
        out.append(
            {
                "id": p.id,
                "outcome_label": OUTCOME_LABELS[Outcome(p.outcome)],
                "amount": v.refund_display if p.outcome == Outcome.partial_refund else None,
                "status_label": status_label,
                "status_kind": status_kind,
                "open": p.status == ProposalStatus.open,
                "by": p.proposed_by_label or "mediator",
                "at": p.proposed_at,
                "due_at": p.due_at,
                "note": p.note,
                "answers": answers,
            }
        )
    return out


def _instruction(d: Dispute, data: dict[str, Any]) -> str:
    """'Refunded to the buyer: USD 40.00 · released to the seller: USD 80.00': what the
    marketplace was told to do."""
    instruction = str(data["instruction"])
    if instruction == "hold":
        return f"Payment held: {money.display(d.amount_minor, d.currency)}"
    words = {"refund": "refunded to the buyer", "release": "released to the seller"}
    parts = []
    for name in ("refund", "release"):
        minor = data.get(f"{name}_minor")
        if isinstance(minor, int) and minor > 0:
            parts.append(f"{words[name]}: {money.display(minor, d.currency)}")
    text = " · ".join(parts) or instruction.replace("_", " ")
    return text[:1].upper() + text[1:]


MESSAGE_STATUS_WORDS = {
    MessageStatus.queued: ("queued", "warning"),
    MessageStatus.sent: ("sent", "ok"),
    MessageStatus.failed: ("failed", "bad"),
}
CHANNEL_WORDS = {MessageChannel.email: "email", MessageChannel.in_app: "in-app"}


def _messages_sent(db: Session, d: Dispute) -> list[dict[str, Any]]:
    """What each party was told, oldest first: one row per message, its channels (email,
    in-app) with their state. The two channels of one message are written together, one
    after the other, so consecutive rows to the same account with the same subject are one."""
    parties = {d.buyer_account_id: Party.buyer, d.seller_account_id: Party.seller}
    rows = db.scalars(
        select(Message)
        .where(Message.case_id == d.case_id, Message.account_id.in_(list(parties)))
        .order_by(Message.id)
    )
    out: list[dict[str, Any]] = []
    for m in rows:
        word, kind = MESSAGE_STATUS_WORDS.get(MessageStatus(m.status), (str(m.status), ""))
        channel = {
            "name": CHANNEL_WORDS.get(MessageChannel(m.channel), str(m.channel)),
            "status": word,
            "kind": kind,
        }
        last = out[-1] if out else None
        if last and last["account_id"] == m.account_id and last["subject"] == m.subject:
            last["channels"].append(channel)
            continue
        party = parties[m.account_id]
        out.append(
            {
                "account_id": m.account_id,
                "party": party.value,
                "party_label": PARTY_TITLES[party],
                "subject": m.subject,
                "locale": m.locale,
                "at": m.created_at,
                "channels": [channel],
            }
        )
    return out


DELIVERY_WORDS = {
    DeliveryStatus.pending: "queued",
    DeliveryStatus.delivered: "delivered",
    DeliveryStatus.failed: "failed",
}


def _deliveries(db: Session, d: Dispute) -> dict[str, list[str]]:
    """The state of each webhook delivery of the dispute's events, by idempotency key (an
    event reaches each subscribed endpoint through one delivery)."""
    rows = db.execute(
        select(WebhookDelivery.idempotency_key, WebhookDelivery.status)
        .where(WebhookDelivery.subject_type == "dispute", WebhookDelivery.subject_id == d.id)
        .order_by(WebhookDelivery.id)
    )
    out: dict[str, list[str]] = {}
    for key, status in rows:
        out.setdefault(key, []).append(DELIVERY_WORDS.get(DeliveryStatus(status), str(status)))
    return out


def _delivery_state(states: list[str]) -> str:
    """'no webhook endpoint subscribed', 'delivered', 'queued for 2 endpoints',
    '1 delivered, 1 failed': what became of an instruction, not what was meant to."""
    if not states:
        return "no webhook endpoint subscribed"
    counts = {w: states.count(w) for w in DELIVERY_WORDS.values() if w in states}
    if len(counts) == 1:
        word = next(iter(counts))
        return word if len(states) == 1 else f"{word} to {len(states)} endpoints"
    return ", ".join(f"{n} {word}" for word, n in counts.items())


def _timeline(
    d: Dispute, rows: list[DisputeEvent], deliveries: dict[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    items = []
    for e in rows:
        kind = DisputeEventKind(e.kind)
        label = EVENT_LABELS.get(kind, kind.value.replace("_", " "))
        data = e.data or {}
        detail = None
        if kind in (DisputeEventKind.ruled, DisputeEventKind.proposed) and data.get("outcome"):
            outcome = str(data["outcome"])
            detail = (
                OUTCOME_LABELS.get(Outcome(outcome), outcome)
                if outcome in Outcome.__members__
                else outcome
            )
        elif kind == DisputeEventKind.answered and "accept" in data:
            label = "accepted the proposal" if data["accept"] else "rejected the proposal"
        elif kind == DisputeEventKind.submission:
            label = _submission_label(data)
        elif kind == DisputeEventKind.payment_instruction and data.get("instruction"):
            sent = (deliveries or {}).get(str(data.get("key", "")), [])
            detail = f"{_instruction(d, data)} · {_delivery_state(sent)}"
        if kind == DisputeEventKind.payment_instruction:
            actor = "Vigil"  # Vigil issues it, whoever's step caused it
        elif kind == DisputeEventKind.defaulted:
            actor = PARTY_TITLES[d.respondent]
        elif e.party:
            actor = PARTY_TITLES[Party(e.party)]
        else:
            actor = _actor(e.actor_label, staff=e.actor_id is not None)
        items.append({"at": e.at, "actor": actor, "label": label, "detail": detail})
    return items


def _submission_label(data: dict[str, Any]) -> str:
    """'added a statement and quoted 2 messages', 'added a file': what a submission was."""
    if data.get("kind") == "file":
        return "added a file"
    quoted = data.get("excerpts")
    n = quoted if isinstance(quoted, int) else 0
    messages = f"quoted {n} message{'s' if n != 1 else ''}"
    if data.get("kind") == "excerpts":
        return messages
    return "added a statement" + (f" and {messages}" if n else "")


def _label(labels: dict[str, str], value: str) -> str:
    """A status in words; an unlisted value is still readable (underscores become spaces)."""
    return labels.get(value, value.replace("_", " "))


def _reviews(rows: list[disputes.LinkedReview]) -> list[dict[str, Any]]:
    return [
        {
            "case_id": r.case.id,
            "party_label": PARTY_TITLES[Party(r.party)],
            "status": _label(CASE_STATUS_LABELS, CaseStatus(r.case.status).value),
            "title": r.case.title,
        }
        for r in rows
    ]


def _ruled_by(rows: list[DisputeEvent]) -> str | None:
    """The staff member who ruled (the holder is gone once the case closes)."""
    for e in reversed(rows):
        if e.kind == DisputeEventKind.ruled:
            return _actor(e.actor_label)
    return None


def _holder(db: Session, case: Case) -> str | None:
    if case.assignee_id is None or case.status != CaseStatus.assigned:
        return None
    staff = db.get(StaffUser, case.assignee_id)
    return staff.name if staff else f"staff #{case.assignee_id}"


def header(
    d: Dispute,
    open_proposal: DisputeProposal | None,
    case: Case | None = None,
    *,
    holder: str | None = None,
    mine: bool = False,
) -> dict[str, Any]:
    """What the two-sided view's header and the case page's panel show of a dispute."""
    status = DisputeStatus(d.status)
    return {
        "id": d.id,
        "ref": reference(d),
        "waiting": _waiting_on(d, open_proposal, case, holder=holder, mine=mine),
        "answering_label": PARTY_TITLES[d.respondent].lower(),
        "subject_label": _subject(d),
        "amount": money.display(d.amount_minor, d.currency),
        "currency": d.currency,
        "max_amount": money.to_decimal_str(d.amount_minor, d.currency),
        "reason_label": REASON_LABELS.get(d.reason_code.value, d.reason_code.value),
        "status_label": STATUS_LABELS[status],
        "status_kind": STATUS_KINDS[status],
        "defaulted": d.respondent_defaulted,
        "opener_label": PARTY_TITLES[Party(d.opened_by)].lower(),
        "opened_at": d.opened_at,
        "resolved_at": d.resolved_at,
        "resolved_by": d.resolved_by.value if d.resolved_by else None,
        "resolved_by_label": RESOLVED_BY_LABELS.get(d.resolved_by.value, "")
        if d.resolved_by
        else "",
        "outcome_label": OUTCOME_LABELS[Outcome(d.outcome)] if d.outcome else "",
        "outcome_amount": (
            money.display(d.refund_minor, d.currency)
            if d.outcome == Outcome.partial_refund and d.refund_minor
            else None
        ),
        "resolution_note": d.resolution_note,
        "payment_label": _label(PAYMENT_LABELS, d.payment_status.value),
        "payment_differs": d.outcome in (Outcome.redo, Outcome.partial_refund),
        "live": status != DisputeStatus.resolved,
        "case_id": d.case_id,
    }


def _render(
    request: Request,
    db: Session,
    who: ConsoleUser,
    settings: Settings,
    dispute_id: int,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    confirm: dict[str, Any] | None = None,
) -> HTMLResponse:
    p = who.principal
    v = disputes.view(db, p, dispute_id)
    d, case = v.dispute, v.case
    sides = [_side(d, v.buyer), _side(d, v.seller)]
    mine = case.status == CaseStatus.assigned and case.assignee_id == who.user.id
    holder = _holder(db, case)
    head = header(
        d, v.open_proposal.proposal if v.open_proposal else None, case, holder=holder, mine=mine
    )
    head.update(
        holder=holder,
        mine=mine,
        ruled_by=_ruled_by(v.timeline),
        case_status=CaseStatus(case.status).value,
        sla_state=sla_state(case),
        sla_due_at=case.sla_due_at,
        sla_breached=case.sla_breached_at is not None,
        can_take=(
            head["live"]
            and case.status == CaseStatus.open
            and p.can(Permission.cases_work)
            and p.can(Permission.disputes_mediate)
            and p.tier is not None
        ),
        case_version=case.version,
        can_propose=v.can_propose,
        can_rule=v.can_rule,
        can_review=v.can_open_review and head["live"],
        can_release=v.can_release,
        proposal_hours=settings.dispute_proposal_hours,
        first_action="propose" if v.can_propose else ("rule" if v.can_rule else None),
    )
    return page(
        request,
        who,
        "disputes_detail.html",
        status_code=status_code,
        d=head,
        sides=sides,
        conversation=_conversation(sides),
        confirm=confirm,
        proposals=_proposals(d, v.proposals),
        timeline=_timeline(d, v.timeline, _deliveries(db, d)),
        messages_sent=_messages_sent(db, d),
        reviews=_reviews(v.linked_reviews),
        outcomes=[(o.value, OUTCOME_LABELS[o]) for o in PROPOSABLE],
        policies=_policy_choices(db) if head["can_review"] else [],
        errors=errors or {},
        # The cursor goes to the first field refused (a form-wide refusal has none).
        focus=next((key for key in (errors or {}) if "-" in key), None),
        values=values or {},
        notice=_proposal_notice(request, d, v.open_proposal) or _notice(request),
    )


def _proposal_notice(
    request: Request, d: Dispute, open_proposal: disputes.ProposalView | None
) -> dict[str, str] | None:
    """After a proposal, what it said in money, both legs: the mediator reads back the
    amount the parties were sent (a mistyped amount shows at once)."""
    if request.query_params.get("notice") != "proposed" or open_proposal is None:
        return None
    p = open_proposal.proposal
    refund, release = money.split_for(p.outcome, d.amount_minor, p.refund_minor)
    if p.outcome == Outcome.redo:
        what = f"the seller redoes the work; {money.display(d.amount_minor, d.currency)} stays held"
    else:
        what = (
            f"refund {money.display(refund, d.currency)} to the buyer, "
            f"release {money.display(release, d.currency)} to the seller"
        )
    return {
        "kind": "ok",
        "text": f"Proposal sent to both parties: {what}. They have until the deadline to answer.",
    }


def _policy_choices(db: Session) -> list[tuple[str, str]]:
    return [(v.code, v.title) for v in policies.list_policies(db)]


NOTICES = {
    "proposed": ("ok", "Proposal sent to both parties; they have until the deadline to answer."),
    "ruled": ("ok", "Ruling recorded; the dispute is resolved and the payment instruction sent."),
    "review_opened": ("ok", "Account review opened and linked to this dispute."),
    "taken": ("ok", "You hold this dispute."),
    "payment_released": ("ok", "The held payment is released to the seller."),
}


def _notice(request: Request) -> dict[str, str] | None:
    key = request.query_params.get("notice") or ""
    if key in NOTICES:
        kind, text = NOTICES[key]
        return {"kind": kind, "text": text}
    return notice_of(request)


# --- refusals shown on the form ---------------------------------------------------------------


def _reviewer_message(exc: VigilError, d: Dispute | None) -> str:
    words = REVIEWER_WORDS.get(exc.code or "")
    if words is None or d is None:
        return exc.message[:1].upper() + exc.message[1:]
    return words.format(
        amount=money.display(d.amount_minor, d.currency),
        currency=d.currency,
        decimals=money.MINOR_UNITS.get(d.currency, 2),
        example=_example(d.currency),
    )


def _example(currency: str) -> str:
    """'2500.50' (or '2500' for a currency without decimals): how to write an amount."""
    decimals = money.MINOR_UNITS.get(currency, 2)
    return "2500" + ("." + "50".ljust(decimals, "0") if decimals else "")


def _errors_of(form: str, exc: VigilError, d: Dispute | None) -> dict[str, list[str]]:
    fields = FORM_FIELDS[form]
    out: dict[str, list[str]] = {}
    problems = [(exc.field, exc.code, exc.message)] + [
        (x.get("field"), x.get("code"), x.get("message", "")) for x in exc.details
    ]
    for name, code, message in problems:
        leaf = (name or "").split(".")[-1]
        key = f"{form}-{fields[leaf]}" if leaf in fields else form
        text = _reviewer_message(VigilError(message, code=code), d)
        out.setdefault(key, [])
        if text not in out[key]:
            out[key].append(text)
    return out


def _validated(model: type[ProposalIn] | type[RulingIn], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        details = [
            {
                "field": ".".join(str(x) for x in e["loc"]),
                "code": e["type"],
                "message": _pydantic_words(e),
            }
            for e in exc.errors()
        ]
        first = details[0]
        raise InvalidInput(
            first["message"], field=first["field"], code=first["code"], details=details[1:]
        ) from None


def _pydantic_words(e: Any) -> str:
    loc = e["loc"][-1] if e["loc"] else ""
    if loc == "outcome":
        return "Choose an outcome"
    return str(e["msg"])


# Digits, then at most one decimal separator ("." or ",") and the decimals.
_TYPED_AMOUNT = re.compile(r"([0-9]+)(?:[.,]([0-9]+))?")


def _amount(raw: str, outcome: str, currency: str) -> Decimal | None:
    """The amount field: only a partial refund takes one (a value left in the hidden field of
    another outcome is ignored, as the browser would not show it).

    Mediators write "30,50" or "30.50" for thirty and a half, and "2.500,00" or "2,500.00"
    for two thousand five hundred. One separator followed by no more digits than the
    currency has decimals is the decimal separator, whichever it is; anything else (two
    separators, "2.500" in a currency with 2 decimals, an exponent, a sign) is refused with
    how to write it, never guessed at."""
    text = raw.strip() if outcome == Outcome.partial_refund.value else ""
    if not text:
        return None
    m = _TYPED_AMOUNT.fullmatch(text)
    if m is None or len(m.group(2) or "") > money.MINOR_UNITS.get(currency, 2):
        raise InvalidInput(
            f"write {_example(currency)}, without thousands separators",
            field="amount",
            code="invalid_amount",
        )
    whole, fraction = m.group(1), m.group(2)
    return Decimal(f"{whole}.{fraction}" if fraction else whole)


def _currency_of(db: Session, dispute_id: int) -> str:
    d = db.get(Dispute, dispute_id)
    return d.currency if d is not None else "USD"


def _act(
    request: Request,
    db: Session,
    who: ConsoleUser,
    settings: Settings,
    dispute_id: int,
    form: str,
    values: dict[str, str],
    run: Any,
) -> Response:
    """Run one mediator action; on a refusal roll everything back and show the page again
    with the problem next to its field (404 stays a 404)."""
    try:
        target: str = run()
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        d = db.get(Dispute, dispute_id)
        return _render(
            request, db, who, settings, dispute_id,
            errors=_errors_of(form, exc, d), values=values, status_code=exc.status_code,
        )  # fmt: skip
    return redirect(target)


# --- routes -----------------------------------------------------------------------------------


@router.get("/disputes/{dispute_id}")
def dispute_page(
    request: Request, db: DB, settings: AppSettings, who: Console, dispute_id: DisputeId
) -> HTMLResponse:
    who.principal.require(Permission.disputes_read)
    return _render(request, db, who, settings, dispute_id)


@router.post("/disputes/{dispute_id}/propose")
def propose(
    request: Request, db: DB, settings: AppSettings, who: ConsolePost, dispute_id: DisputeId,
    outcome: Annotated[str, Form()] = "", amount: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    values = {"propose-outcome": outcome, "propose-amount": amount, "propose-note": note}

    def run() -> str:
        body = _validated(
            ProposalIn,
            {
                "outcome": outcome,
                "amount": _amount(amount, outcome, _currency_of(db, dispute_id)),
                "note": note,
            },
        )
        if body.outcome == Outcome.withdrawn:
            raise InvalidInput("Choose an outcome", field="outcome", code="invalid_outcome")
        disputes.propose(db, who.principal, dispute_id, body, settings=settings)
        return f"/disputes/{dispute_id}?notice=proposed"

    return _act(request, db, who, settings, dispute_id, "propose", values, run)


@router.post("/disputes/{dispute_id}/rule")
def rule(
    request: Request, db: DB, settings: AppSettings, who: ConsolePost, dispute_id: DisputeId,
    outcome: Annotated[str, Form()] = "", amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "", confirm: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """A ruling moves money without the parties' agreement, so it takes two presses: the
    first checks everything and restates what will happen; only ``confirm=1`` rules."""
    values = {"rule-outcome": outcome, "rule-amount": amount, "rule-reason": reason}
    confirmed = confirm == "1"

    def run() -> str:
        if not reason.strip():
            raise InvalidInput(
                "Give the reason for the ruling", field="reason", code="reason_required"
            )
        body = _validated(
            RulingIn,
            {
                "outcome": outcome,
                "amount": _amount(amount, outcome, _currency_of(db, dispute_id)),
                "reason": reason,
            },
        )
        if body.outcome == Outcome.withdrawn:
            raise InvalidInput("Choose an outcome", field="outcome", code="invalid_outcome")
        d = disputes.rule(db, who.principal, dispute_id, body, settings=settings)
        if confirmed:
            return f"/disputes/{dispute_id}?notice=ruled"
        # The first press only checks: the service ran the whole ruling (every refusal is
        # shown at its field as usual); what it would do is kept, then all of it is rolled
        # back and the mediator is asked to confirm. Nothing left the database meanwhile
        # (messages and webhooks are jobs in the same transaction).
        held["ruling"] = _consequence(d, body.outcome, values)
        raise _Unconfirmed

    held: dict[str, dict[str, Any]] = {}
    try:
        return _act(request, db, who, settings, dispute_id, "rule", values, run)
    except _Unconfirmed:
        db.rollback()
        return _render(
            request, db, who, settings, dispute_id, values=values, confirm=held["ruling"]
        )


class _Unconfirmed(Exception):
    """A ruling that passed every check but was not confirmed yet (see ``rule``)."""


def _consequence(d: Dispute, outcome: Outcome, values: dict[str, str]) -> dict[str, Any]:
    """What a ruling does with the money, in words: the button's label and the restatement
    of the confirmation step. Read from the dispute as the service left it."""
    refund = d.refund_minor or 0
    release = 0 if outcome == Outcome.redo else d.amount_minor - refund

    def show(minor: int) -> str:
        return money.display(minor, d.currency)

    if outcome == Outcome.redo:
        action = f"hold {show(d.amount_minor)} while the seller redoes the work"
    elif refund and release:
        action = f"refund {show(refund)} to the buyer, release {show(release)} to the seller"
    elif refund:
        action = f"refund {show(refund)} to the buyer"
    else:
        action = f"release {show(release)} to the seller"
    return {
        "label": f"Rule: {action}",
        "outcome_label": OUTCOME_LABELS[outcome],
        "buyer_gets": show(refund),
        "seller_gets": show(release),
        "held": outcome == Outcome.redo,
        "values": values,
    }


@router.post("/disputes/{dispute_id}/review")
def open_review(
    request: Request, db: DB, settings: AppSettings, who: ConsolePost, dispute_id: DisputeId,
    party: Annotated[str, Form()] = "", policy_code: Annotated[str, Form()] = "",
    summary: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    values = {"review-party": party, "review-policy": policy_code, "review-summary": summary}

    def run() -> str:
        if party not in (Party.buyer.value, Party.seller.value):
            raise InvalidInput("Choose the party", field="party", code="invalid_party")
        if not summary.strip():
            raise InvalidInput(
                "Write what the dispute showed", field="summary", code="summary_required"
            )
        disputes.open_review(
            db, who.principal, dispute_id, party, policy_code.strip() or None, summary
        )
        return f"/disputes/{dispute_id}?notice=review_opened"

    return _act(request, db, who, settings, dispute_id, "review", values, run)


@router.post("/disputes/{dispute_id}/payment-release")
def release_payment(
    request: Request, db: DB, settings: AppSettings, who: ConsolePost, dispute_id: DisputeId,
    note: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """After a redo: the work is done, the held payment goes to the seller."""
    values = {"payment-note": note}

    def run() -> str:
        disputes.release_payment(db, who.principal, dispute_id, note, settings=settings)
        return f"/disputes/{dispute_id}?notice=payment_released"

    return _act(request, db, who, settings, dispute_id, "payment", values, run)


def _case_action(
    request: Request, db: Session, who: ConsoleUser, settings: Settings, dispute_id: int,
    version: str | None, fn: Any, target: str,
) -> Response:  # fmt: skip
    d = disputes.get_dispute(db, who.principal, dispute_id)
    expected = int(version) if version and version.isdigit() else None
    try:
        fn(db, who.principal, d.case_id, expected_version=expected)
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _render(
            request, db, who, settings, dispute_id,
            errors={"case": [_reviewer_message(exc, None)]}, status_code=exc.status_code,
        )  # fmt: skip
    return redirect(target)


@router.post("/disputes/{dispute_id}/take")
def take(
    request: Request, db: DB, settings: AppSettings, who: ConsolePost, dispute_id: DisputeId,
    version: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    who.principal.require(Permission.disputes_mediate)
    return _case_action(
        request, db, who, settings, dispute_id, version, cases.assign,
        f"/disputes/{dispute_id}?notice=taken",
    )  # fmt: skip


@router.post("/disputes/{dispute_id}/release")
def release(
    request: Request, db: DB, settings: AppSettings, who: ConsolePost, dispute_id: DisputeId,
    version: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    return _case_action(
        request, db, who, settings, dispute_id, version, cases.release,
        "/disputes?notice=released",
    )  # fmt: skip


@router.get("/disputes/{dispute_id}/files/{submission_id}")
def file_download(
    db: DB, settings: AppSettings, who: Console, dispute_id: DisputeId, submission_id: SubmissionId
) -> Response:
    """A party's file, for staff (the service checks and audits the viewing). Always a
    download, never shown inline: a party's upload must not run in the console's origin."""
    data, content_type = disputes.file_content(
        db, who.principal, dispute_id, submission_id, settings=settings
    )
    name = db.scalar(
        select(DisputeSubmission.filename).where(DisputeSubmission.id == submission_id)
    )
    name = name or f"file-{submission_id}"
    # A plain ASCII name for every browser, the party's own name (UTF-8) for those that
    # read filename*; quotes, slashes and control characters never reach the header.
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return Response(
        data,
        media_type=content_type,
        headers={
            "content-disposition": (
                f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
            ),
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        },
    )


# --- the list -----------------------------------------------------------------------------------

_LIVE = (DisputeStatus.awaiting_response, DisputeStatus.in_mediation, DisputeStatus.proposed)


def _urgency() -> Any:
    """The deadline a dispute is racing: the respondent's while awaiting a response, the
    open proposal's answers while proposed; none in mediation (the mediator acts: those sort
    after the ones with a deadline) or once resolved."""
    proposal_due = (
        select(func.min(DisputeProposal.due_at))
        .where(
            DisputeProposal.dispute_id == Dispute.id,
            DisputeProposal.status == ProposalStatus.open,
        )
        .scalar_subquery()
    )
    return sql_case(
        (Dispute.status == DisputeStatus.awaiting_response, Dispute.response_due_at),
        (Dispute.status == DisputeStatus.proposed, proposal_due),
        else_=None,
    )


def list_page(
    db: Session, p: Principal, status: str, cursor: str | None, *, limit: int = PAGE_SIZE
) -> tuple[list[tuple[Dispute, datetime | None]], str | None]:
    """One page of disputes. Live ones by urgency: (live first, the nearest deadline, then
    those with none, oldest first); keyset on (rank, deadline, id)."""
    p.require(Permission.disputes_read)
    rank = sql_case((Dispute.status == DisputeStatus.resolved, 1), else_=0)
    due = _urgency()
    # A dispute with no deadline sorts after every dated one: a far-future stand-in keeps the
    # keyset comparison a plain tuple on both databases.
    far = datetime(9999, 1, 1, tzinfo=clock.now().tzinfo)
    due_key = func.coalesce(due, far)
    stmt = select(Dispute, due).order_by(rank, due_key, Dispute.id)
    if status == "live":
        stmt = stmt.where(Dispute.status.in_(_LIVE))
    elif status != "all":
        stmt = stmt.where(Dispute.status == DisputeStatus(status))
    if not p.can(Permission.legal_cases):
        # As everywhere: a dispute whose case sits in the legal tier exists only for those
        # who hold cases:legal (``cases.service.visible``).
        stmt = stmt.join(Case, Case.id == Dispute.case_id).where(Case.tier != Tier.legal)
    if cursor:
        last_rank, last_due, last_id = decode_cursor(cursor, 3)
        if not isinstance(last_rank, int) or not isinstance(last_id, int):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        at = _parse_time(last_due)
        if at is None:
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        stmt = stmt.where(tuple_(rank, due_key, Dispute.id) > tuple_(last_rank, at, last_id))
    rows = [(d, clock.as_utc(at) if at else None) for d, at in db.execute(stmt.limit(limit + 1))]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        d, at = rows[-1]
        next_cursor = encode_cursor(
            [1 if d.status == DisputeStatus.resolved else 0, (at or far).isoformat(), d.id]
        )
    return rows, next_cursor


@router.get("/disputes")
def dispute_list(
    request: Request, db: DB, who: Console, status: str = "live", cursor: str | None = None
) -> Response:
    p = who.principal
    p.require(Permission.disputes_read)
    valid = {value for value, _ in STATUS_OPTIONS}
    error = None
    if status not in valid:
        error, status = "Choose a status from the list.", "live"
    try:
        found, next_cursor = ([], None) if error else list_page(db, p, status, cursor)
    except InvalidInput as exc:
        error, found, next_cursor = exc.message[:1].upper() + exc.message[1:] + ".", [], None
    ids = {a for d, _ in found for a in (d.buyer_account_id, d.seller_account_id)}
    external: dict[int, str] = {}
    if ids:
        pairs = db.execute(select(Account.id, Account.external_id).where(Account.id.in_(ids)))
        external = {account_id: ext for account_id, ext in pairs}
    case_ids = [d.case_id for d, _ in found]
    holders: dict[int, str] = {}
    case_rows: dict[int, Case] = {}
    proposals: dict[int, DisputeProposal] = {}
    if case_ids:
        held = db.execute(
            select(Case.id, StaffUser.name)
            .join(StaffUser, StaffUser.id == Case.assignee_id)
            .where(Case.id.in_(case_ids), Case.status == CaseStatus.assigned)
        )
        holders = {case_id: name for case_id, name in held}
        case_rows = {c.id: c for c in db.scalars(select(Case).where(Case.id.in_(case_ids)))}
        proposed = [d.id for d, _ in found if d.status == DisputeStatus.proposed]
        if proposed:
            proposals = {
                pr.dispute_id: pr
                for pr in db.scalars(
                    select(DisputeProposal).where(
                        DisputeProposal.dispute_id.in_(proposed),
                        DisputeProposal.status == ProposalStatus.open,
                    )
                )
            }
    rows = []
    for d, _due_at in found:
        st = DisputeStatus(d.status)
        case_row = case_rows.get(d.case_id)
        holder = holders.get(d.case_id)
        mine = (
            case_row is not None
            and case_row.status == CaseStatus.assigned
            and case_row.assignee_id == p.staff_id
        )
        rows.append(
            {
                "id": d.id,
                "subject_label": _subject(d),
                "reason_label": REASON_LABELS.get(d.reason_code.value, d.reason_code.value),
                "status_label": STATUS_LABELS[st],
                "status_kind": STATUS_KINDS[st],
                "defaulted": d.respondent_defaulted,
                "amount": money.display(d.amount_minor, d.currency),
                "buyer": external.get(d.buyer_account_id),
                "seller": external.get(d.seller_account_id),
                "holder": holder,
                "ref": reference(d),
                "waiting": _waiting_on(d, proposals.get(d.id), case_row, holder=holder, mine=mine),
            }
        )
    next_url = (
        "/disputes?" + urlencode({"status": status, "cursor": next_cursor}) if next_cursor else None
    )
    return page(
        request, who, "disputes.html", status_code=422 if error else 200,
        rows=rows, status=status, status_options=STATUS_OPTIONS, error=error,
        next_url=next_url, can_pull=_can_pull(p), notice=_list_notice(request),
    )  # fmt: skip


def _list_notice(request: Request) -> dict[str, str] | None:
    key = request.query_params.get("notice")
    if key == "none_waiting":
        return {"kind": "info", "text": "No dispute is waiting for you."}
    if key == "released":
        return {"kind": "ok", "text": "Dispute released to its queue."}
    return notice_of(request)


def _can_pull(p: Principal) -> bool:
    return (
        p.staff_id is not None
        and p.tier is not None
        and p.can(Permission.cases_work)
        and p.can(Permission.disputes_mediate)
    )


def next_dispute_case(db: Session, p: Principal) -> Case | None:
    """Take the most urgent open dispute case ``p`` may work (the same order and scope as the
    console's "Next case": ``cases.repository``), or ``None``. On PostgreSQL the candidate is
    locked with SKIP LOCKED, so two mediators pressing the button at once get two different
    disputes; ``cases.assign`` re-checks (recusal, version) and audits."""
    if not _can_pull(p) or p.staff_id is None:
        return None
    scope = case_repository.pull_scope(db, p.staff_id, p.role, p.languages)
    if not scope.queue_ids:
        return None
    query = case_repository.next_case_query(scope).where(Case.type == CaseType.dispute)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    case = db.scalar(query)
    if case is None:
        return None
    return cases.assign(db, p, case.id)


@router.post("/disputes/next")
def take_next(db: DB, who: ConsolePost) -> RedirectResponse:
    p = who.principal
    p.require(Permission.disputes_mediate)
    case = next_dispute_case(db, p)
    if case is None:
        return redirect("/disputes?notice=none_waiting")
    dispute_id = db.scalar(select(Dispute.id).where(Dispute.case_id == case.id))
    return redirect(f"/disputes/{dispute_id}" if dispute_id else f"/cases/{case.id}")


# --- the case page ----------------------------------------------------------------------------


def case_panel(db: Session, principal: Principal, case: Case) -> dict[str, Any] | None:
    """What the case page shows of a dispute case (``partials/case_dispute.html``); None for
    any other case."""
    if case.type != CaseType.dispute:
        return None
    d = disputes.dispute_for_case(db, principal, case.id)
    if d is None:
        return None
    mine = case.status == CaseStatus.assigned and case.assignee_id == principal.staff_id
    panel = header(d, disputes.open_proposal_of(db, d), case, holder=_holder(db, case), mine=mine)
    panel["sides"] = []
    for party in (Party.buyer, Party.seller):
        label, kind = _response_state(d, party)
        panel["sides"].append(
            {
                "title": PARTY_TITLES[party],
                "account": db.get(Account, d.account_id_of(party)),
                "response_label": label,
                "response_kind": kind,
            }
        )
    return panel
