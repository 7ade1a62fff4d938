"""Console: search for accounts and cases.

Three GET pages share one template (``search.html``), so a search is a link that can be
bookmarked, shared and paged:

- ``/search?q=`` — the header's box. A smart search: ``#123`` opens case 123, and a quoted
  reference opens what it names (``C-123``, ``A-3`` an appeal's case, ``D-7`` a dispute,
  ``SOR-40`` a statement's case); a bare number
  lists case 123 and the account with that marketplace id; an email, a phone (``+34…``) or a
  document fingerprint (64 hex) searches by that; any other word is a marketplace id, a
  device id or (with ``pii:reveal``) part of a name.
- ``/search/accounts?by=&value=`` — accounts by marketplace id, email, phone, name, device,
  or identity document (its fingerprint, or its number with the issuing country and, to
  match verified documents, the birth date).
- ``/search/cases?status=&queue=&assignee=&policy=&type=&created_from=&created_to=`` — cases,
  newest first, one keyset page at a time; legal-tier cases only for ``cases:legal``.

Bad input is answered with the form, the message next to the field and HTTP 422 (a refused
search: 403); the request's transaction is rolled back first, so nothing is written. A search
that runs writes only its audit record (the services write it: PII terms as SHA-256).
Results never show personal data unmasked: revealing is done on the case page, with a reason.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts import masking
from vigil.accounts import search as account_search
from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.api.deps import DB, AppSettings
from vigil.appeals.models import Appeal
from vigil.auth import service as auth_service
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.cases import queues as queue_service
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType
from vigil.config import Settings
from vigil.disputes.models import Dispute
from vigil.dsa.models import Statement
from vigil.enforcement.models import Decision
from vigil.identity import service as identity
from vigil.kit.errors import InvalidInput, NotFound, VigilError
from vigil.policies import service as policies
from vigil.web.auth import Console, ConsoleUser
from vigil.web.common import page, redirect

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
SMART_LIMIT = 20  # rows per kind of hit in a smart search; the full search pages further
MAX_TERM = 320
MAX_ID = 2**63 - 1

ACCOUNT_KINDS = {
    "external_id": "Marketplace id",
    "email": "Email",
    "phone": "Phone",
    "name": "Name",
    "device": "Device id",
    "document": "Identity document",
}
STATUS_LABELS = {s.value: s.value.replace("_", " ") for s in CaseStatus}
TYPE_LABELS = {t.value: t.value.replace("_", " ") for t in CaseType}

_CASE_REF = re.compile(r"^#\s*(\S*)$")
# The references users and messages quote: C-12 (a case), A-3 (an appeal), D-7 (a dispute),
# SOR-40 (a statement of reasons).
_QUOTED_REF = re.compile(r"^(C|A|D|SOR)-\s*(\d{1,19})$", re.IGNORECASE)
_PHONE = re.compile(r"^\+[\d\s\-().]+$")


class _Refused(Exception):
    """A problem with one field of the form (raised before anything is written)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- rendering -----------------------------------------------------------------------------


def _choices(db: Session, who: ConsoleUser) -> dict[str, Any]:
    """What the cases form offers: bounded lists (queues, active staff, the policy catalog)."""
    queues, _ = queue_service.list_queues(db, who.principal, limit=500)
    staff, _ = auth_service.list_staff(db, active=True, limit=500)
    catalog = policies.list_policies(db, include_retired=True)
    return {
        "queues": queues,
        "staff": staff,
        "policy_codes": sorted({v.code for v in catalog}),
        "statuses": STATUS_LABELS,
        "types": TYPE_LABELS,
        "account_kinds": ACCOUNT_KINDS,
    }


def _render(
    request: Request,
    db: Session,
    who: ConsoleUser,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    found_cases: list[Case] | None = None,
    **context: Any,
) -> Response:
    choices = _choices(db, who)
    if found_cases is not None:
        names = {queue.id: queue.name for queue in choices["queues"]}
        context["case_rows"] = _case_rows(db, found_cases, names)
    values: dict[str, Any] = {
        "q": "",
        "by": "external_id",
        "value": "",
        "document_country": "",
        "birth_date": "",
        "status": [],
        "queue": "",
        "assignee": "",
        "policy": "",
        "type": "",
        "created_from": "",
        "created_to": "",
    }
    values.update(form or {})
    return page(
        request, who, "search.html", status_code=status_code, form=values, errors=errors or {},
        first_error=next(iter(errors or {}), None),
        **choices, **context,
    )  # fmt: skip


def _refuse(
    request: Request,
    db: Session,
    who: ConsoleUser,
    field: str,
    message: str,
    *,
    status_code: int = 422,
    **context: Any,
) -> Response:
    # Nothing of a refused search is kept: not even the view of the session's user.
    db.rollback()
    return _render(request, db, who, status_code=status_code, errors={field: message}, **context)


def _next_url(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    params.append(("cursor", cursor))
    return f"{request.url.path}?{urlencode(params)}"


def _account_rows(db: Session, who: ConsoleUser, rows: list[Account]) -> list[dict[str, Any]]:
    """Masked rows: staff reveal personal data on the case page, with a reason."""
    return [
        {
            "external_id": hit.account.external_id,
            "display_name": hit.account.display_name,
            "email": masking.mask_email(hit.account.email) or "—",
            "phone": masking.mask_phone(hit.account.phone) or "—",
            "side": hit.account.side.value,
            "status": hit.account.status.value,
            "country": hit.account.country or "—",
            "open_cases": hit.open_cases,
            "latest_case_id": hit.latest_case_id,
        }
        for hit in account_search.describe(db, who.principal, rows)
    ]


def _case_rows(db: Session, rows: list[Case], queue_names: dict[int, str]) -> list[dict[str, Any]]:
    staff_ids = {c.assignee_id for c in rows if c.assignee_id is not None}
    names: dict[int, str] = {}
    if staff_ids:
        names = {
            int(i): str(n)
            for i, n in db.execute(
                select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(staff_ids))
            )
        }
    return [
        {
            "id": c.id,
            "title": c.title,
            "type": TYPE_LABELS.get(c.type.value, c.type.value),
            "status": STATUS_LABELS.get(c.status.value, c.status.value),
            "priority": c.priority,
            "queue": queue_names.get(c.queue_id, "—") if c.queue_id is not None else "—",
            "assignee": names.get(c.assignee_id, "—") if c.assignee_id is not None else "—",
            "policy": c.policy_code or "—",
            "created_at": c.created_at,
        }
        for c in rows
    ]


# --- the smart search ------------------------------------------------------------------------


def _case_by_number(db: Session, who: ConsoleUser, number: int, *, shown: bool) -> Case | None:
    """The case with this number if ``who`` may see it. ``shown``: its title goes on the
    results page, which is a view of the case (audited); a redirect to the case page is not
    (the case page audits its own view)."""
    if not 1 <= number <= MAX_ID:
        return None
    who.principal.require(Permission.cases_read)
    try:
        if shown:
            return cases.view_case(db, who.principal, number)
        return cases.get_case(db, who.principal, number)
    except NotFound:
        return None


def _quoted_target(db: Session, who: ConsoleUser, kind: str, number: int) -> str | None:
    """Where a quoted reference leads, if ``who`` may see the case behind it."""
    if not 1 <= number <= MAX_ID:
        return None
    case_id: int | None = number if kind == "C" else None
    if kind == "A":
        case_id = db.scalar(select(Appeal.case_id).where(Appeal.id == number))
    elif kind == "D":
        case_id = db.scalar(select(Dispute.case_id).where(Dispute.id == number))
    elif kind == "SOR":
        decision_id = db.scalar(select(Statement.decision_id).where(Statement.id == number))
        if decision_id is not None:
            case_id = db.scalar(select(Decision.case_id).where(Decision.id == decision_id))
    case = _case_by_number(db, who, case_id, shown=False) if case_id is not None else None
    if case is None:
        return None
    if kind == "D" and who.principal.can(Permission.disputes_read):
        return f"/disputes/{number}"
    return f"/cases/{case.id}"


def _by_profile(
    db: Session, who: ConsoleUser, *, email: str | None = None, phone: str | None = None,
    q: str | None = None,
) -> list[Account]:  # fmt: skip
    rows, _ = accounts.list_accounts(
        db, who.principal, email=email, phone=phone, q=q, limit=SMART_LIMIT
    )
    return rows


@router.get("/search")
def search(request: Request, db: DB, who: Console, q: str = "") -> Response:
    q = q.strip()
    form = {"q": q}
    if not q:
        return _render(request, db, who, form=form)
    if len(q) > MAX_TERM:
        return _refuse(request, db, who, "q", f"search for at most {MAX_TERM} characters",
                       form=form)  # fmt: skip
    found: dict[str, Any] = {"case": None, "accounts": [], "how": "", "notes": [], "more": None}
    try:
        quoted = _QUOTED_REF.match(q)
        ref = _CASE_REF.match(q)
        if quoted:
            kind, number = quoted.group(1).upper(), int(quoted.group(2))
            target = _quoted_target(db, who, kind, number)
            if target is not None:
                return redirect(target)
            found["how"] = f"reference {kind}-{number}"
            found["notes"].append(f"There is no {kind}-{number} that you can see.")
        elif ref:
            digits = ref.group(1)
            if not digits.isdigit():
                raise _Refused("q", "a case number is # followed by digits, such as #123")
            case = _case_by_number(db, who, int(digits), shown=False)
            if case is not None:
                return redirect(f"/cases/{case.id}")
            found["how"] = f"case #{digits}"
            found["notes"].append(f"There is no case #{digits} that you can see.")
        elif "@" in q:
            found["how"] = "email"
            found["accounts"] = _by_profile(db, who, email=q)
            found["more"] = "/search/accounts?" + urlencode({"by": "email", "value": q})
        elif _PHONE.match(q):
            found["how"] = "phone"
            found["accounts"] = _by_profile(db, who, phone=q)
            found["more"] = "/search/accounts?" + urlencode({"by": "phone", "value": q})
        elif account_search.is_fingerprint(q):
            found["how"] = "document fingerprint"
            found["accounts"], _ = account_search.accounts_by_fingerprint(
                db, who.principal, q, limit=SMART_LIMIT
            )
            found["more"] = "/search/accounts?" + urlencode({"by": "document", "value": q})
        else:
            found["how"] = "marketplace id, device id or name"
            hits = account_search.accounts_by_id_or_device(db, who.principal, q,
                                                           limit=SMART_LIMIT)  # fmt: skip
            if q.isdigit():
                found["how"] = "case number, marketplace id, device id or name"
                # A number that is only a case number opens the case.
                found["case"] = _case_by_number(db, who, int(q), shown=bool(hits))
                if found["case"] is not None and not hits:
                    return redirect(f"/cases/{found['case'].id}")
                if found["case"] is None:
                    found["notes"].append(f"There is no case #{q} that you can see.")
            if who.principal.can(Permission.pii_reveal):
                seen = {a.id for a in hits}
                hits += [a for a in _by_profile(db, who, q=q) if a.id not in seen]
                found["more"] = "/search/accounts?" + urlencode({"by": "name", "value": q})
            else:
                found["notes"].append(
                    "Names were not searched: that needs the 'pii:reveal' permission."
                )
            found["accounts"] = hits
    except _Refused as exc:
        return _refuse(request, db, who, exc.field, exc.message, form=form)
    except VigilError as exc:
        if exc.status_code not in (403, 422):
            raise
        return _refuse(request, db, who, "q", exc.message, status_code=exc.status_code,
                       form=form)  # fmt: skip
    return _render(
        request, db, who, form=form, searched="smart", how=found["how"], notes=found["notes"],
        account_rows=_account_rows(db, who, found["accounts"]),
        found_cases=[found["case"]] if found["case"] else [],
        more_url=found["more"] if len(found["accounts"]) >= SMART_LIMIT else None,
    )  # fmt: skip


# --- accounts ----------------------------------------------------------------------------------


def _birth_date(value: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _Refused("birth_date", "give the birth date as YYYY-MM-DD") from None


def _find_accounts(
    db: Session,
    who: ConsoleUser,
    settings: Settings,
    form: dict[str, Any],
    cursor: str | None,
) -> tuple[list[Account], str | None]:
    by, value = form["by"], form["value"]
    principal = who.principal
    principal.require(Permission.accounts_read)
    if by not in ACCOUNT_KINDS:
        raise _Refused("by", f"choose what to search by, not {by!r}")
    if not value:
        raise _Refused("value", f"enter the {ACCOUNT_KINDS[by].lower()} to search for")
    if len(value) > MAX_TERM:
        raise _Refused("value", f"search for at most {MAX_TERM} characters")
    if by == "external_id":
        if cursor:
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        return account_search.accounts_by_external_id(db, principal, value), None
    if by == "email":
        return accounts.list_accounts(db, principal, email=value, cursor=cursor, limit=PAGE_SIZE)
    if by == "phone":
        return accounts.list_accounts(db, principal, phone=value, cursor=cursor, limit=PAGE_SIZE)
    if by == "name":
        return accounts.list_accounts(db, principal, q=value, cursor=cursor, limit=PAGE_SIZE)
    if by == "device":
        return account_search.accounts_by_device(db, principal, value, cursor=cursor,
                                                 limit=PAGE_SIZE)  # fmt: skip
    # A document: its fingerprint as stored, or its number with the issuing country.
    if account_search.is_fingerprint(value):
        return account_search.accounts_by_fingerprint(db, principal, value, cursor=cursor,
                                                      limit=PAGE_SIZE)  # fmt: skip
    if not form["document_country"]:
        raise _Refused(
            "document_country",
            "give the issuing country (such as ES), or search by the 64-character fingerprint",
        )
    return account_search.accounts_by_document(
        db, principal, identity.blob_store(settings), country=form["document_country"],
        number=value, birth_date=_birth_date(form["birth_date"]), cursor=cursor,
        limit=PAGE_SIZE,
    )  # fmt: skip


@router.get("/search/accounts")
def search_accounts(
    request: Request,
    db: DB,
    who: Console,
    settings: AppSettings,
    by: str = "external_id",
    value: str = "",
    document_country: str = "",
    birth_date: str = "",
    cursor: str | None = None,
) -> Response:
    form = {
        "by": by,
        "value": value.strip(),
        "document_country": document_country.strip(),
        "birth_date": birth_date.strip(),
    }
    try:
        rows, next_cursor = _find_accounts(db, who, settings, form, cursor or None)
    except _Refused as exc:
        return _refuse(request, db, who, exc.field, exc.message, form=form)
    except VigilError as exc:
        if exc.status_code not in (403, 422):
            raise
        # The services name their own fields (email, device, document_number...): all of
        # them are the value box here, except the document's country and the cursor.
        field = exc.field if exc.field in ("document_country", "cursor") else "value"
        return _refuse(request, db, who, field, exc.message, status_code=exc.status_code,
                       form=form)  # fmt: skip
    return _render(
        request, db, who, form=form, searched="accounts", how=ACCOUNT_KINDS[by].lower(),
        account_rows=_account_rows(db, who, rows), next_url=_next_url(request, next_cursor),
    )  # fmt: skip


# --- cases -------------------------------------------------------------------------------------


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Refused(field, "give a date as YYYY-MM-DD") from None


def _case_filter(db: Session, who: ConsoleUser, form: dict[str, Any]) -> cases.CaseFilter:
    """The form's values checked one by one, each problem named by its field."""
    statuses = []
    for value in form["status"]:
        if value not in STATUS_LABELS:
            raise _Refused("status", f"there is no case status {value!r}")
        statuses.append(CaseStatus(value))
    queue_id = None
    if form["queue"]:
        if not form["queue"].isdigit() or not 1 <= int(form["queue"]) <= MAX_ID:
            raise _Refused("queue", "choose a queue from the list")
        try:
            queue_id = queue_service.get_queue(db, who.principal, int(form["queue"])).id
        except NotFound:
            raise _Refused("queue", "there is no such queue") from None
    assignee_id = None
    if form["assignee"] == "me":
        assignee_id = who.user.id
    elif form["assignee"]:
        if not form["assignee"].isdigit() or not 1 <= int(form["assignee"]) <= MAX_ID:
            raise _Refused("assignee", "choose a person from the list")
        if db.get(StaffUser, int(form["assignee"])) is None:
            raise _Refused("assignee", "there is no such staff member")
        assignee_id = int(form["assignee"])
    policy_code = None
    if form["policy"]:
        try:
            policy_code = policies.get_policy(db, form["policy"]).code
        except NotFound:
            raise _Refused("policy", f"there is no policy {form['policy']!r}") from None
    case_type = None
    if form["type"]:
        if form["type"] not in TYPE_LABELS:
            raise _Refused("type", f"there is no case type {form['type']!r}")
        case_type = CaseType(form["type"])
    start = _day(form["created_from"], "created_from")
    end = _day(form["created_to"], "created_to")
    if start and end and end < start:
        raise _Refused("created_to", "the end date is before the start date")
    return cases.CaseFilter(
        status=statuses or None,
        queue_id=queue_id,
        assignee_id=assignee_id,
        type=case_type,
        policy_code=policy_code,
        created_from=datetime.combine(start, time(), UTC) if start else None,
        # The form's end date is inclusive: cases created on that day are in.
        created_to=datetime.combine(end + timedelta(days=1), time(), UTC) if end else None,
    )


@router.get("/search/cases")
def search_cases(
    request: Request,
    db: DB,
    who: Console,
    status: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    queue: str = "",
    assignee: str = "",
    policy: str = "",
    type: str = "",
    created_from: str = "",
    created_to: str = "",
    cursor: str | None = None,
) -> Response:
    form: dict[str, Any] = {
        "status": [s.strip() for s in status if s.strip()],
        "queue": queue.strip(),
        "assignee": assignee.strip(),
        "policy": policy.strip(),
        "type": type.strip(),
        "created_from": created_from.strip(),
        "created_to": created_to.strip(),
    }
    try:
        who.principal.require(Permission.cases_read)
        filters = _case_filter(db, who, form)
        rows, next_cursor = cases.list_cases(
            db, who.principal, filters, cursor=cursor or None, limit=PAGE_SIZE
        )
    except _Refused as exc:
        return _refuse(request, db, who, exc.field, exc.message, form=form)
    except VigilError as exc:
        if exc.status_code not in (403, 422):
            raise
        field = exc.field if exc.field in form or exc.field == "cursor" else "status"
        return _refuse(request, db, who, field or "status", exc.message,
                       status_code=exc.status_code, form=form)  # fmt: skip
    return _render(
        request, db, who, form=form, searched="cases", found_cases=rows,
        next_url=_next_url(request, next_cursor),
    )  # fmt: skip
