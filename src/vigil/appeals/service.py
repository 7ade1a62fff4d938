"""Appeals: submitting one (the public form, or the marketplace through the API) and reading
them back. Hearing one is :mod:`vigil.appeals.hearing`.

Rules that hold whatever the channel:

- Only a decision that took something away can be appealed: applied, not "no violation",
  and more than a warning (``decision_not_appealable``), within ``settings.appeal_window_days``
  of the day it took effect (``appeal_window_closed``).
- One appeal per decision (``appeal_exists``). The public form, which cannot tell the user
  about other people's appeals, adds a repeat to the open appeal instead.
- The appeal is heard on a case of type ``appeal`` in the specialist tier (legal for a legal
  case), from which the reviewer and the approver of the appealed decision are recused (and,
  for a decision that replaced another on appeal, everyone recused from that appeal): they
  never pull it, are never assigned it, and cannot decide it (``recused``).
- Hearing it needs ``appeals:decide`` and holding the appeal case. Upholding closes the case
  and tells the user; overturning reverses the decision (restrictions lifted, the marketplace
  told by ``action.reversed``); modifying reverses it and decides anew on the appeal case
  (a new decision that would wait for a second approver is refused: uphold or overturn, then
  open a new case). The appeal case closes only by the outcome or a withdrawal (the close
  guard below).
  The user is told once, by the appeal's own message (``appeal_upheld``,
  ``appeal_overturned``, ``appeal_modified``), the statement of reasons gets its revision,
  and ``appeal.decided`` goes to the marketplace.

Nothing here commits; every refusal comes before the first write.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.accounts.normalize import normalize_email
from vigil.appeals.models import Appeal, AppealChannel, AppealStatus, ContactPreference
from vigil.audit import service as audit
from vigil.auth.permissions import Permission, Tier
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases import states as case_states
from vigil.cases.models import Case, CaseEvent, CaseEventKind, CaseType
from vigil.communications.service import normalize_locale
from vigil.config import Settings
from vigil.dsa.models import Statement
from vigil.enforcement.models import Decision, DecisionPolicy, DecisionStatus
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound
from vigil.kit.pagination import decode_id_cursor, encode_cursor
from vigil.policies.actions import ActionType

SYSTEM = Principal.system("appeals")

MIN_TEXT = 20
MAX_TEXT = 5_000
MAX_REASON = 4_000

# Control characters other than tab and newlines: never part of what a person typed, and NUL
# is refused by PostgreSQL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A statement of reasons' reference as users and marketplaces type it ("SOR-42", "sor 42",
# "SOR" and a phone's en dash), read the way the public form reads it (upper-cased first).
STATEMENT_REFERENCE = re.compile(r"^#?\s*SOR\s*[-\u2010\u2011\u2013\u2014]?\s*#?\s*(\d{1,18})$")

# Actions that take something substantial away: their appeals are looked at sooner.
_URGENT_ACTIONS = {ActionType.suspend, ActionType.remove, ActionType.ban}
# A decision whose most severe action is one of these took nothing away.
_NOT_RESTRICTIVE = {None, ActionType.warn}


# --- the decision a user appeals ------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    decision: Decision
    case: Case
    account: Account | None
    statement: Statement | None


def find_target(session: Session, kind: str, number: int) -> Target | None:
    """The decision a reference names: ``SOR`` a statement's decision, ``C`` a case's latest
    decision that took effect (applied or since reversed), ``decision`` a decision by id."""
    statement: Statement | None = None
    account_id: int | None = None
    if kind == "SOR":
        statement = session.get(Statement, number)
        if statement is None:
            return None
        decision = session.get(Decision, statement.decision_id)
        account_id = statement.account_id
    elif kind == "decision":
        decision = session.get(Decision, number)
    else:
        decision = session.scalar(
            select(Decision)
            .where(
                Decision.case_id == number,
                Decision.status.in_([DecisionStatus.applied, DecisionStatus.reversed]),
            )
            .order_by(Decision.id.desc())
            .limit(1)
        )
    if decision is None:
        return None
    case = session.get(Case, decision.case_id)
    if case is None:
        return None
    if account_id is None:
        account_id = decision.account_id or case.account_id
    if statement is None:
        statement = latest_statement(session, decision.id)
    account = session.get(Account, account_id) if account_id is not None else None
    return Target(decision, case, account, statement)


def latest_statement(session: Session, decision_id: int) -> Statement | None:
    return session.scalar(
        select(Statement)
        .where(Statement.decision_id == decision_id)
        .order_by(Statement.id.desc())
        .limit(1)
    )


def window_ends(decision: Decision, settings: Settings) -> datetime:
    """The end of the appeal window (exclusive): the last day to appeal is the day the
    decision took effect plus ``appeal_window_days``, as the user's message states it, and
    the window closes at the end of that day (UTC)."""
    took_effect = clock.as_utc(decision.applied_at or decision.created_at)
    last_day = took_effect.date() + timedelta(days=settings.appeal_window_days)
    return datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + timedelta(days=1)


def last_day(decision: Decision, settings: Settings) -> date:
    return (window_ends(decision, settings) - timedelta(days=1)).date()


def restrictive(decision: Decision) -> bool:
    """Whether the decision took something away (more than a warning)."""
    if decision.no_violation:
        return False
    return (ActionType(decision.action) if decision.action else None) not in _NOT_RESTRICTIVE


def restrictive_clause() -> ColumnElement[bool]:
    """:func:`restrictive` in SQL (the metrics' cohort): a violation whose most severe
    action is more than a warning."""
    return and_(
        Decision.no_violation.is_(False),
        Decision.action.is_not(None),
        Decision.action.not_in([a for a in _NOT_RESTRICTIVE if a is not None]),
    )


def refusal(session: Session, settings: Settings, decision: Decision) -> InvalidInput | None:
    """Why ``decision`` cannot be appealed now, or None."""
    if decision.status != DecisionStatus.applied or not restrictive(decision):
        return InvalidInput(
            "this decision restricts nothing (no violation, a warning only, or already "
            "reversed): there is nothing to appeal",
            field="decision_id",
            code="decision_not_appealable",
        )
    if clock.now() >= window_ends(decision, settings):
        return InvalidInput(
            f"the appeal window of this decision closed at the end of "
            f"{last_day(decision, settings).isoformat()}",
            field="decision_id",
            code="appeal_window_closed",
        )
    return None


def appeal_for_decision(session: Session, decision_id: int) -> Appeal | None:
    return session.scalar(select(Appeal).where(Appeal.decision_id == decision_id))


_NO_EMAIL = "\x00no-email-on-record"


def _stored_email(account: Account | None) -> str:
    if account is None or not account.email:
        return _NO_EMAIL
    try:
        return normalize_email(account.email)
    except ValueError:
        return account.email.strip().lower()


def match(
    session: Session, settings: Settings, kind: str, number: int, email: str
) -> Target | None:
    """For the public form: the target when ``email`` is the account's and the decision can
    be appealed (or has an open appeal to add to); ``None`` for every other outcome, without
    saying which."""
    target = find_target(session, kind, number)
    expected = _stored_email(target.account if target else None)
    # Compared every time, even with nothing to compare against, so that "no such reference"
    # and "another email" give the same answer. The work behind the answer differs (a known
    # reference is followed to its case, statement and account; the right email adds the
    # appeal's lookup): the rate limit on the form, not equal timing, keeps references from
    # being probed.
    same_email = hmac.compare_digest(email.encode(), expected.encode())
    if target is None or not same_email:
        return None
    existing = appeal_for_decision(session, target.decision.id)
    if existing is not None:
        return target if existing.status == AppealStatus.open else None
    if refusal(session, settings, target.decision) is not None:
        return None
    return target


# --- submitting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    text: str
    language: str
    contact: ContactPreference
    reference: str
    channel: AppealChannel


@dataclass(frozen=True)
class Submitted:
    appeal: Appeal
    case: Case
    created: bool


def dedup_key(decision_id: int) -> str:
    return f"appeal:decision:{decision_id}"


def _lead_policy(session: Session, decision: Decision) -> str | None:
    return session.scalar(
        select(DecisionPolicy.policy_code)
        .where(DecisionPolicy.decision_id == decision.id)
        .order_by(DecisionPolicy.position)
        .limit(1)
    )


def clean_text(value: str | None, field: str = "statement") -> str:
    text = _CONTROL.sub("", (value or "").replace("\r\n", "\n")).strip()
    if len(text) < MIN_TEXT:
        raise InvalidInput(
            f"say why the decision is wrong in at least {MIN_TEXT} characters",
            field=field,
            code="statement_too_short",
        )
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"keep it to {MAX_TEXT} characters", field=field, code="statement_too_long"
        )
    return text


def language_of(value: str | None) -> str:
    return normalize_locale((value or "en")[:35])[0]


def submit_appeal(
    session: Session,
    actor: Principal,
    target: Target,
    submission: Submission,
    *,
    settings: Settings,
    add_to_open: bool = False,
) -> Submitted:
    """Open the appeal of ``target``'s decision and its case (as Vigil itself: the user has
    no staff account), recusing the decision's reviewer and approver.

    ``add_to_open`` (the public form): a repeat while the appeal is open is added to it as
    a note on the appeal case. Otherwise a second appeal is refused 409 ``appeal_exists``.
    Refuses 422 ``decision_not_appealable`` / ``appeal_window_closed``."""
    actor.require(Permission.appeals_write)
    decision, original = target.decision, target.case
    if target.account is None:
        raise NotFound("no such decision", field="decision_id", code="decision_not_found")
    existing = appeal_for_decision(session, decision.id)
    if existing is not None:
        if add_to_open and existing.status == AppealStatus.open:
            return _add_to(session, actor, existing, submission)
        raise Conflict(
            f"this decision was already appealed ({existing.ref}, {existing.status.value})",
            field="decision_id",
            code="appeal_exists",
            details=[{"appeal_id": existing.id, "status": existing.status.value}],
        )
    problem = refusal(session, settings, decision)
    if problem is not None:
        raise problem

    now = clock.now()
    ends = window_ends(decision, settings)
    action = ActionType(decision.action) if decision.action else None
    statement = target.statement
    link: dict[str, Any] = {
        "reference": submission.reference,
        "decision_id": decision.id,
        "decision_action": action.value if action else None,
        "no_violation": decision.no_violation,
        # Who decided: the appeal must be heard by someone else.
        "decided_by_id": decision.decided_by_id,
        "approved_by_id": decision.approved_by_id,
        "original_case_id": original.id,
        "original_case_ref": f"C-{original.id}",
        "original_case_path": f"/cases/{original.id}",
        "statement_id": statement.id if statement else None,
        "statement_ref": statement.reference if statement else None,
        "contact_preference": submission.contact.value,
        "language": submission.language,
        "channel": submission.channel.value,
        "window_ends_at": ends.isoformat(),
    }
    spec = cases.NewCase(
        type=CaseType.appeal,
        title=f"Appeal against decision #{decision.id} on case #{original.id}",
        summary=submission.text,
        priority=2 if action in _URGENT_ACTIONS else 3,
        severity=original.severity,
        # A legal-tier matter stays with legal; everything else goes up to the specialists.
        tier=Tier.legal if original.tier == Tier.legal else Tier.specialist,
        language=submission.language,
        policy_code=_lead_policy(session, decision) or original.policy_code,
        account_id=target.account.id,
        source=f"appeal_{submission.channel.value}",
        source_ref=submission.reference,
        dedup_key=dedup_key(decision.id),
        attributes={"appeal": link},
    )
    result = cases.create_case(session, SYSTEM, spec)
    case = result.case
    appeal = Appeal(
        decision_id=decision.id,
        case_id=case.id,
        original_case_id=original.id,
        account_id=target.account.id,
        statement_id=statement.id if statement else None,
        reference=submission.reference[:40],
        text=submission.text,
        language=submission.language,
        contact=submission.contact,
        channel=submission.channel,
        submitted_by_label=actor.label[:200],
        submitted_at=now,
        window_ends_at=ends,
        status=AppealStatus.open,
    )
    try:
        with session.begin_nested():
            session.add(appeal)
            session.flush()
    except IntegrityError:
        # Another submission for the same decision won the race.
        raise Conflict(
            "this decision was already appealed", field="decision_id", code="appeal_exists"
        ) from None
    case.attributes = {**case.attributes, "appeal": {**link, "appeal_id": appeal.id}}
    # Named by the appeal's own reference, the one the user quotes, now that it exists.
    case.title = f"Appeal A-{appeal.id} · decision #{decision.id} on case #{original.id}"
    recused = _recused_for(session, decision, original)
    cases.recuse(session, case, recused, f"decided the appealed decision #{decision.id}")
    session.flush()
    audit.record(
        session,
        actor,
        "appeals.appeal.submit",
        "appeal",
        appeal.id,
        data={
            "case_id": case.id,
            "decision_id": decision.id,
            "original_case_id": original.id,
            "reference": submission.reference,
            "channel": submission.channel.value,
            "contact_preference": submission.contact.value,
            "language": submission.language,
            "recused": recused,
        },
    )
    return Submitted(appeal, case, True)


def _recused_for(session: Session, decision: Decision, original: Case) -> list[int]:
    """Who may not hear the appeal: the decision's reviewer and approver and, when the
    decision replaced an earlier one on appeal, everyone recused from that appeal (the
    earlier decision's reviewers), and so on down the chain."""
    staff = {s for s in (decision.decided_by_id, decision.approved_by_id) if s is not None}
    if original.type == CaseType.appeal:
        staff.update(cases.recused_staff(session, original.id))
    return sorted(staff)


def _add_to(
    session: Session, actor: Principal, appeal: Appeal, submission: Submission
) -> Submitted:
    """A repeat of the form while the appeal is open: what the user added, once."""
    case = session.get(Case, appeal.case_id)
    if case is None:  # the appeal's case is never deleted; guards a hand-edited database
        raise NotFound("the appeal's case is gone", code="case_not_found")
    case_states.record_event(
        session,
        case,
        CaseEventKind.deduplicated,
        actor=SYSTEM,
        data={"source": f"appeal_{submission.channel.value}", "source_ref": submission.reference},
    )
    if not _already_said(session, appeal, case, submission.text):
        case_states.record_event(
            session,
            case,
            CaseEventKind.updated,
            actor=SYSTEM,
            reason=submission.text,
            data={
                "appeal_addition": {
                    "reference": submission.reference,
                    "contact": submission.contact.value,
                }
            },
        )
        session.flush()
    audit.record(
        session,
        actor,
        "appeals.appeal.add",
        "appeal",
        appeal.id,
        data={"case_id": case.id, "reference": submission.reference},
    )
    return Submitted(appeal, case, False)


def _already_said(session: Session, appeal: Appeal, case: Case, text: str) -> bool:
    """A reload of the confirmation page posts the same text again: keep it once."""
    if appeal.text == text:
        return True
    found = session.scalar(
        select(CaseEvent.id)
        .where(
            CaseEvent.case_id == case.id,
            CaseEvent.kind == CaseEventKind.updated.value,
            CaseEvent.reason == text,
        )
        .limit(1)
    )
    return found is not None


def submit_for_account(
    session: Session,
    actor: Principal,
    *,
    account_external_id: str,
    decision_id: int | None,
    reference: str | None,
    submission_text: str,
    language: str | None,
    contact: ContactPreference,
    settings: Settings,
) -> Submitted:
    """The API's submission: the marketplace names its user and the decision (by id, or by
    the statement's reference ``SOR-n``). A decision about another account is answered like
    an unknown one (404 ``decision_not_found``)."""
    actor.require(Permission.appeals_write)
    text = clean_text(submission_text)
    if (decision_id is None) == (reference is None):
        raise InvalidInput(
            "name the decision by decision_id or by reference (SOR-n), one of them",
            field="decision_id",
            code="decision_required",
        )
    kind, number, field = "decision", decision_id or 0, "decision_id"
    if reference is not None:
        found = STATEMENT_REFERENCE.match(reference.strip().upper())
        if found is None:
            raise InvalidInput(
                "a statement reference reads SOR-<number>, e.g. SOR-42",
                field="reference",
                code="invalid_reference",
            )
        kind, number, field = "SOR", int(found.group(1)), "reference"
    account = session.scalar(select(Account).where(Account.external_id == account_external_id))
    target = find_target(session, kind, number) if account is not None else None
    if (
        target is None
        or account is None
        or target.account is None
        or target.account.id != account.id
        or target.decision.status not in (DecisionStatus.applied, DecisionStatus.reversed)
    ):
        raise NotFound("no such decision for this account", field=field, code="decision_not_found")
    # What the user would quote: the statement's reference (also when the marketplace named
    # the decision by id), or the decision's number when it has no statement. Never "D-n":
    # that names a dispute.
    if target.statement is not None:
        chosen = target.statement.reference
    else:
        chosen = f"decision #{target.decision.id}"
    submission = Submission(
        text=text,
        language=language_of(language),
        contact=contact,
        reference=chosen,
        channel=AppealChannel.api,
    )
    return submit_appeal(session, actor, target, submission, settings=settings)


# --- reading --------------------------------------------------------------------------------


def _visible(actor: Principal, case: Case | None) -> bool:
    """Staff see a legal-tier appeal with ``cases:legal``. The marketplace (an API key with
    ``appeals:write``, acting for the user) sees every appeal it can submit: the appeal is
    the user's own, and the API key's view of it carries no internal fields."""
    return case is not None and (case.tier != Tier.legal or parties_view(actor))


def parties_view(actor: Principal) -> bool:
    """Whether ``actor`` reads appeals as a party (the marketplace for its user): no
    internal fields, legal-tier appeals included."""
    return not actor.is_staff and actor.can(Permission.appeals_write)


def get_appeal(session: Session, actor: Principal, appeal_id: int, *, lock: bool = False) -> Appeal:
    """One appeal; 404 when it does not exist or its case is in the legal tier and
    ``actor`` may not see legal cases."""
    actor.require(Permission.appeals_read)
    return load_appeal(session, actor, appeal_id, lock=lock)


def load_appeal(
    session: Session, actor: Principal, appeal_id: int, *, lock: bool = False
) -> Appeal:
    """:func:`get_appeal` for callers that checked their own permission (deciding needs
    ``appeals:decide``, withdrawing ``appeals:write``): the same 404s."""
    query = select(Appeal).where(Appeal.id == appeal_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    appeal = session.scalar(query)
    if appeal is None or not _visible(actor, session.get(Case, appeal.case_id)):
        raise NotFound("no such appeal", field="appeal_id", code="appeal_not_found")
    return appeal


def appeal_for_case(session: Session, case_id: int) -> Appeal | None:
    return session.scalar(select(Appeal).where(Appeal.case_id == case_id).limit(1))


# --- the appeal case closes by the appeal's outcome -----------------------------------------

# Appeal cases being closed by their appeal's outcome (hearing or withdrawal), for the guard.
_CLOSING: ContextVar[frozenset[int]] = ContextVar("appeal_cases_closing", default=frozenset())


@contextmanager
def closing_by_outcome(case_id: int) -> Iterator[None]:
    """Within this block, the hearing (or the withdrawal) may close ``case_id``."""
    token = _CLOSING.set(_CLOSING.get() | {case_id})
    try:
        yield
    finally:
        _CLOSING.reset(token)


def _refuse_close_while_open(session: Session, case: Case) -> None:
    """The close guard registered with ``cases``: an appeal case closes by its appeal's
    outcome (uphold, overturn, modify) or the user's withdrawal, never by hand while the
    appeal is open. Closed another way, the appeal would stay open and the user never be
    told."""
    if case.type != CaseType.appeal or case.id in _CLOSING.get():
        return
    open_id = session.scalar(
        select(Appeal.id).where(Appeal.case_id == case.id, Appeal.status == AppealStatus.open)
    )
    if open_id is not None:
        raise Conflict(
            f"appeal A-{open_id} on this case is open: decide it with the appeal's outcome "
            "form (uphold, overturn or modify), or the user withdraws it; that closes the case",
            code="appeal_open",
            details=[{"appeal_id": open_id, "outcome_form": f"/cases/{case.id}#case-appeal"}],
        )


cases.register_close_guard(_refuse_close_while_open)


def list_appeals(
    session: Session,
    actor: Principal,
    *,
    status: AppealStatus | None = None,
    account_external_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Appeal], str | None]:
    """Newest first, by keyset on id (``ix_appeals_status`` / ``ix_appeals_account``)."""
    actor.require(Permission.appeals_read)
    query = select(Appeal).order_by(Appeal.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(Appeal.status == status)
    if account_external_id is not None:
        account_id = session.scalar(
            select(Account.id).where(Account.external_id == account_external_id)
        )
        if account_id is None:
            return [], None
        query = query.where(Appeal.account_id == account_id)
    if cursor:
        query = query.where(Appeal.id < decode_id_cursor(cursor))
    if not actor.can(Permission.legal_cases) and not parties_view(actor):
        query = query.join(Case, Case.id == Appeal.case_id).where(Case.tier != Tier.legal)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id]) if more and rows else None
