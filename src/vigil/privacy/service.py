"""Legal holds and the lifecycle of erasure requests.

Services never commit: the endpoint, the CLI command or the job owns the transaction. Every
change a person makes is audited in the same transaction.

What a hold covers (docs/privacy.md):
- an account hold: the account and every row about it (its events, messages, identity
  documents, decisions, cases and their notes, webhook deliveries of its cases);
- a case hold: the case and every row that names it (events, messages, identity
  verifications, decisions, webhook deliveries), and the identity documents and profile of
  the case's account (the subject of held evidence must stay identifiable).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.accounts.service import account_by_external_id
from vigil.audit import service as audit
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases.models import Case
from vigil.config import Settings
from vigil.kit import clock
from vigil.kit.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from vigil.kit.pagination import decode_cursor, encode_cursor
from vigil.privacy.models import ErasureRequest, ErasureStatus, LegalHold

REASON_MAX = 2000


def _reason(value: str | None, field: str = "reason") -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput("a reason is required", field=field, code="reason_required")
    if len(text) > REASON_MAX:
        raise InvalidInput(
            f"a reason is at most {REASON_MAX} characters", field=field, code="reason_too_long"
        )
    return text


# --- what is held ---------------------------------------------------------------------------


def active_holds() -> Select[Any]:
    return select(LegalHold).where(LegalHold.lifted_at.is_(None))


def held_account_ids_query() -> Select[Any]:
    """Accounts under an account hold (SQL, for ``NOT IN`` filters in batch work)."""
    return select(LegalHold.account_id).where(
        LegalHold.lifted_at.is_(None), LegalHold.account_id.is_not(None)
    )


def held_case_ids_query() -> Select[Any]:
    """Cases under a hold: held themselves, or about a held account."""
    return select(Case.id).where(
        or_(
            Case.id.in_(
                select(LegalHold.case_id).where(
                    LegalHold.lifted_at.is_(None), LegalHold.case_id.is_not(None)
                )
            ),
            Case.account_id.in_(held_account_ids_query()),
        )
    )


def accounts_with_held_evidence_query() -> Select[Any]:
    """Accounts whose profile and identity documents are held: an account hold, or a hold on
    any case about the account."""
    return select(Account.id).where(
        or_(
            Account.id.in_(held_account_ids_query()),
            Account.id.in_(
                select(Case.account_id).where(
                    Case.id.in_(
                        select(LegalHold.case_id).where(
                            LegalHold.lifted_at.is_(None), LegalHold.case_id.is_not(None)
                        )
                    )
                )
            ),
        )
    )


def held_account_ids(session: Session) -> set[int]:
    found: set[int] = {i for i in session.scalars(held_account_ids_query()) if i is not None}
    return found


def held_case_ids(session: Session) -> set[int]:
    return set(session.scalars(held_case_ids_query()))


def is_account_held(session: Session, account_id: int) -> bool:
    """True when the account, or any case about it, is under a hold."""
    return bool(
        session.scalar(
            select(
                exists()
                .where(Account.id == account_id)
                .where(Account.id.in_(accounts_with_held_evidence_query()))
            )
        )
    )


def is_case_held(session: Session, case_id: int) -> bool:
    return bool(session.scalar(select(exists(held_case_ids_query().where(Case.id == case_id)))))


def holds_for(
    session: Session, *, account_id: int | None = None, case_id: int | None = None
) -> list[LegalHold]:
    """Holds in force on an account or a case (for the console panel), newest first."""
    query = active_holds().order_by(LegalHold.id.desc())
    if account_id is not None:
        query = query.where(LegalHold.account_id == account_id)
    if case_id is not None:
        query = query.where(LegalHold.case_id == case_id)
    return list(session.scalars(query))


# --- placing and lifting ------------------------------------------------------------------


def _staff_id(actor: Principal) -> int | None:
    return actor.staff_id


def place_hold(
    session: Session,
    actor: Principal,
    *,
    account_external_id: str | None = None,
    case_id: int | None = None,
    reason: str,
    review_at: datetime | None = None,
) -> LegalHold:
    actor.require(Permission.legal_holds_write)
    if (account_external_id is None) == (case_id is None):
        raise InvalidInput(
            "name exactly one of account_external_id and case_id",
            field="account_external_id",
            code="hold_subject_required",
        )
    text = _reason(reason)
    if review_at is not None:
        review_at = clock.as_utc(review_at) if review_at.tzinfo else None
        if review_at is None:
            raise InvalidInput(
                "review_at needs a time zone", field="review_at", code="invalid_review_at"
            )
        if review_at <= clock.now():
            raise InvalidInput(
                "review_at must be in the future", field="review_at", code="invalid_review_at"
            )
    account_id = None
    locked: int | None = None
    if account_external_id is not None:
        try:
            account_id = account_by_external_id(session, account_external_id).id
        except NotFound as exc:
            exc.field = "account_external_id"
            raise
        locked = account_id
    elif case_id is not None:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound("no such case", field="case_id", code="case_not_found")
        locked = case.account_id
    if locked is not None:
        # Serialise with ``erasure.erase_account``, which locks the same row first and then
        # reads the holds: an erasure running now finishes before this hold exists, and one
        # that starts after waits for this transaction and then sees the hold.
        session.execute(select(Account.id).where(Account.id == locked).with_for_update())
    hold = LegalHold(
        account_id=account_id,
        case_id=case_id,
        reason=text,
        placed_by_id=_staff_id(actor),
        placed_by_label=actor.label,
        placed_at=clock.now(),
        review_at=review_at,
    )
    session.add(hold)
    session.flush()
    audit.record(
        session,
        actor,
        "privacy.legal_hold.place",
        "legal_hold",
        hold.id,
        reason=text,
        data={"account_id": account_id, "case_id": case_id, "review_at": review_at},
    )
    return hold


def get_hold(session: Session, hold_id: int, *, lock: bool = False) -> LegalHold:
    query = select(LegalHold).where(LegalHold.id == hold_id)
    if lock:
        query = query.with_for_update()
    hold = session.scalar(query)
    if hold is None:
        raise NotFound("no such legal hold", code="hold_not_found")
    return hold


def lift_hold(session: Session, actor: Principal, hold_id: int, *, reason: str) -> LegalHold:
    actor.require(Permission.legal_holds_write)
    text = _reason(reason)
    hold = get_hold(session, hold_id, lock=True)
    if hold.lifted_at is not None:
        raise Conflict("this hold was already lifted", code="hold_lifted")
    hold.lifted_at = clock.now()
    hold.lifted_by_id = _staff_id(actor)
    hold.lifted_by_label = actor.label
    hold.lift_reason = text
    session.flush()
    audit.record(
        session,
        actor,
        "privacy.legal_hold.lift",
        "legal_hold",
        hold.id,
        reason=text,
        data={"account_id": hold.account_id, "case_id": hold.case_id},
    )
    return hold


def list_holds(
    session: Session,
    *,
    active: bool | None = None,
    account_id: int | None = None,
    case_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[LegalHold], str | None]:
    """Holds, newest first (keyset on id)."""
    query = select(LegalHold).order_by(LegalHold.id.desc()).limit(limit + 1)
    if active is True:
        query = query.where(LegalHold.lifted_at.is_(None))
    elif active is False:
        query = query.where(LegalHold.lifted_at.is_not(None))
    if account_id is not None:
        query = query.where(LegalHold.account_id == account_id)
    if case_id is not None:
        query = query.where(LegalHold.case_id == case_id)
    if cursor:
        query = query.where(LegalHold.id < _cursor_id(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor([rows[-1].id]) if more and rows else None)


def _cursor_id(cursor: str) -> int:
    (last_id,) = decode_cursor(cursor, 1)
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 < last_id < 2**63:
        raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
    return last_id


# --- erasure requests ------------------------------------------------------------------------


def receive_erasure_request(
    session: Session,
    actor: Principal,
    *,
    account_external_id: str,
    reference: str | None = None,
    note: str | None = None,
) -> tuple[ErasureRequest, bool]:
    """Record a request; returns it and whether it is new. A second request for an account
    that already has one open returns the open one (nothing written, nothing audited)."""
    actor.require(Permission.privacy_requests)
    try:
        account = account_by_external_id(session, account_external_id, lock=True)
    except NotFound as exc:
        exc.field = "account_external_id"
        raise
    open_one = session.scalar(
        select(ErasureRequest).where(
            ErasureRequest.account_id == account.id,
            ErasureRequest.status == ErasureStatus.received,
        )
    )
    if open_one is not None:
        return open_one, False
    request = ErasureRequest(
        account_id=account.id,
        account_external_id=account.external_id,
        status=ErasureStatus.received,
        reference=(reference or "").strip() or None,
        note=(note or "").strip() or None,
        requested_by_label=actor.label,
        received_at=clock.now(),
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        actor,
        "privacy.erasure_request.receive",
        "erasure_request",
        request.id,
        data={"account_id": account.id, "reference": request.reference},
    )
    return request, True


def get_erasure_request(session: Session, request_id: int, *, lock: bool = False) -> ErasureRequest:
    query = select(ErasureRequest).where(ErasureRequest.id == request_id)
    if lock:
        query = query.with_for_update()
    found = session.scalar(query.execution_options(populate_existing=True))
    if found is None:
        raise NotFound("no such erasure request", code="erasure_request_not_found")
    return found


def list_erasure_requests(
    session: Session,
    *,
    status: ErasureStatus | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[ErasureRequest], str | None]:
    query = select(ErasureRequest).order_by(ErasureRequest.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(ErasureRequest.status == status)
    if cursor:
        query = query.where(ErasureRequest.id < _cursor_id(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor([rows[-1].id]) if more and rows else None)


def _check_open(request: ErasureRequest) -> None:
    if request.status is not ErasureStatus.received:
        raise IllegalTransition(
            f"this request is already {request.status.value}", code="erasure_request_closed"
        )


def complete_erasure_request(
    session: Session, actor: Principal, request_id: int, *, settings: Settings
) -> ErasureRequest:
    """Carry out a received request: erase what may go, keep and list the rest."""
    from vigil.privacy import erasure

    # The marketplace files requests (``privacy:requests``); carrying one out or refusing
    # it is legal's call (``privacy:erase``, never an API key scope).
    actor.require(Permission.privacy_erase)
    request = get_erasure_request(session, request_id, lock=True)
    _check_open(request)
    result = erasure.erase_account(session, request.account_id, settings=settings)
    request.result = result.to_json()
    request.status = ErasureStatus.completed
    request.completed_at = clock.now()
    request.handled_by_label = actor.label
    session.flush()
    audit.record(
        session,
        actor,
        "privacy.erasure_request.complete",
        "erasure_request",
        request.id,
        data={"account_id": request.account_id, "erased": result.erased_counts()},
    )
    return request


def refuse_erasure_request(
    session: Session, actor: Principal, request_id: int, *, reason: str
) -> ErasureRequest:
    # The marketplace files requests (``privacy:requests``); carrying one out or refusing
    # it is legal's call (``privacy:erase``, never an API key scope).
    actor.require(Permission.privacy_erase)
    text = _reason(reason)
    request = get_erasure_request(session, request_id, lock=True)
    _check_open(request)
    request.status = ErasureStatus.refused
    request.refused_at = clock.now()
    request.refusal_reason = text
    request.handled_by_label = actor.label
    session.flush()
    audit.record(
        session,
        actor,
        "privacy.erasure_request.refuse",
        "erasure_request",
        request.id,
        reason=text,
        data={"account_id": request.account_id},
    )
    return request
