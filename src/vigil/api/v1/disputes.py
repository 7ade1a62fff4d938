"""HTTP API: disputes between a buyer and a seller.

The marketplace (an API key with ``disputes:write``) opens disputes, submits each party's side
(statement, message excerpts, files), relays the parties' answers to proposals and the
opener's withdrawal, naming the party by its account's external id. Staff with
``disputes:mediate`` who hold the dispute's case propose, rule, open linked account reviews
and release a payment held for a redo. Everything is documented in ``docs/disputes.md``.

An API key sees the parties' view (no case, mediator or linked reviews); staff see those too.
Errors have the one shape of the API: ``{"code", "message", "field", "request_id"}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vigil.api.deps import DB, AppSettings, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases.schemas import CaseOut
from vigil.config import Settings
from vigil.disputes import metrics, money, queries, service
from vigil.disputes.models import Dispute, DisputeStatus, SubjectType
from vigil.disputes.schemas import (
    AnswerIn,
    DisputeDetailOut,
    DisputeOut,
    DisputePage,
    DisputeStaffOut,
    DurationStats,
    EventOut,
    LinkedReviewOut,
    MetricsOut,
    OpenDispute,
    ProposalIn,
    ProposalOut,
    ReleaseIn,
    ReviewIn,
    RulingIn,
    SubmissionIn,
    SubmissionOut,
    WithdrawIn,
)
from vigil.kit.asgi import RouteLimit
from vigil.kit.errors import InvalidInput, TooLarge

router = APIRouter(tags=["disputes"])

DisputesRead = Annotated[Principal, Depends(require(Permission.disputes_read))]
DisputesWrite = Annotated[Principal, Depends(require(Permission.disputes_write))]
DisputesMediate = Annotated[Principal, Depends(require(Permission.disputes_mediate))]

DisputeId = Annotated[int, Path(ge=1, le=2**62, description="The dispute's id.")]
ItemId = Annotated[int, Path(ge=1, le=2**62)]


class _JsonNumber(str):
    """A JSON number with a fraction or an exponent, kept as it was written."""


async def _plain_amounts(request: Request) -> None:
    """Refuse an amount sent as a JSON number with an exponent (``1e3``): the body model sees
    that as the float 1000.0, indistinguishable from ``1000``, so the text is read here (the
    body is already buffered). Strings are checked by ``money.parse_amount``."""
    raw = await request.body()
    try:
        data = json.loads(raw, parse_float=_JsonNumber) if raw else None
    except ValueError:
        return  # the body's own validation says what is wrong
    amount = data.get("amount") if isinstance(data, dict) else None
    if isinstance(amount, dict):
        amount = amount.get("amount")
    if isinstance(amount, _JsonNumber) and "e" in amount.lower():
        raise InvalidInput(
            f"amount is not a plain decimal number: {money.PLAIN_HINT}",
            field="amount",
            code="invalid_amount",
        )


PlainAmounts = Annotated[None, Depends(_plain_amounts)]

UPLOAD_PATH = r"/v1/disputes/[0-9]+/files"
_FORM_OVERHEAD = 64 * 1024
MAX_TEXT_PART = 400


def upload_limit(settings: Settings) -> RouteLimit:
    """The body limit of the file upload route (one file plus its form), for requests that
    carry credentials only."""
    return RouteLimit(
        "POST", UPLOAD_PATH, service.MAX_FILE_BYTES + _FORM_OVERHEAD, credentials_required=True
    )


# --- output ---------------------------------------------------------------------------------


def _dispute_outs(
    db: Session, actor: Principal, rows: Sequence[Dispute]
) -> list[DisputeOut | DisputeStaffOut]:
    """The page's rows, with the accounts, open proposals and linked reviews read in one
    query each (never one per row)."""
    extras = queries.page_extras(db, actor, rows)
    out: list[DisputeOut | DisputeStaffOut] = []
    for d in rows:
        values = DisputeOut.fields_of(
            d,
            extras.external_ids[d.buyer_account_id],
            extras.external_ids[d.seller_account_id],
            extras.open_proposals.get(d.id),
        )
        if not actor.is_staff:
            out.append(DisputeOut(**values))
            continue
        reviews = [
            LinkedReviewOut(
                case_id=r.case.id,
                party=r.party,
                status=r.case.status.value,
                created_at=r.case.created_at,
            )
            for r in extras.reviews.get(d.id, [])
        ]
        out.append(DisputeStaffOut(**values, case_id=d.case_id, linked_reviews=reviews))
    return out


def _dispute_out(db: Session, actor: Principal, d: Dispute) -> DisputeOut | DisputeStaffOut:
    return _dispute_outs(db, actor, [d])[0]


def _detail(db: Session, actor: Principal, d: Dispute) -> DisputeDetailOut:
    return DisputeDetailOut(
        dispute=_dispute_out(db, actor, d),
        submissions=[SubmissionOut.of(s) for s in service.submissions_of(db, d)],
        proposals=[ProposalOut.of(p, d) for p in service.proposals_of(db, d)],
        timeline=[
            EventOut.of(e, staff=actor.is_staff)
            for e in service.timeline_of(db, d, public=not actor.is_staff)
        ],
    )


def _limit(settings: Settings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


# --- routes: the marketplace ----------------------------------------------------------------


@router.post(
    "/disputes",
    response_model=DisputeStaffOut | DisputeOut,
    status_code=status.HTTP_201_CREATED,
    summary="Open a dispute",
    description="Opens the dispute and its case, tells the respondent, and sends the `hold` "
    "payment instruction. Repeating the request with the same `Idempotency-Key` (header or "
    "body) returns the dispute it opened with 200; so does repeating it (same opener, amount, "
    "currency and reason) while that dispute is live. Any other open about a live subject "
    "between the same two accounts (the other party's counter-open, other terms) is refused "
    "with 409 `dispute_exists`, naming the dispute: send that side as a submission. Only an "
    "API key opens (403 `marketplace_only` for staff).",
    responses={
        200: {"description": "the dispute this key (or this live subject) already opened"},
        403: {"description": "marketplace_only: staff do not act for a party"},
        409: {"description": "idempotency_key_reused: the key opened a dispute with other "
                             "details; dispute_exists: a live dispute about this subject "
                             "between these accounts (its id in the message)"},
        422: {"description": "unknown_currency, too_many_decimals, amount_not_positive, "
                             "amount_too_large, invalid_amount, account_not_found, "
                             "same_account, wrong_side; field names it"},
    },
)  # fmt: skip
def open_dispute(
    body: OpenDispute,
    response: Response,
    db: DB,
    settings: AppSettings,
    actor: DisputesWrite,
    _plain: PlainAmounts,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="Your id for this request.")
    ] = None,
) -> DisputeOut | DisputeStaffOut:
    result = service.open_dispute_result(
        db, actor, body, settings=settings, idempotency_key=idempotency_key
    )
    if not result.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/disputes/{result.dispute.id}"
    return _dispute_out(db, actor, result.dispute)


@router.get(
    "/disputes",
    response_model=DisputePage,
    summary="List disputes, newest first",
)
def list_disputes(
    db: DB,
    settings: AppSettings,
    actor: DisputesRead,
    status_: Annotated[list[DisputeStatus] | None, Query(alias="status")] = None,
    subject_type: SubjectType | None = None,
    subject_ref: Annotated[str | None, Query(max_length=200)] = None,
    account_external_id: Annotated[
        str | None, Query(max_length=200, description="Disputes where this account is a party.")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> DisputePage:
    rows, next_cursor = service.list_disputes(
        db,
        actor,
        service.DisputeFilter(
            status=status_,
            subject_type=subject_type,
            subject_ref=subject_ref,
            account_external_id=account_external_id,
        ),
        cursor=cursor,
        limit=_limit(settings, limit),
    )
    return DisputePage(items=_dispute_outs(db, actor, rows), next_cursor=next_cursor)


@router.get(
    "/disputes/metrics",
    response_model=MetricsOut,
    summary="Dispute counts, outcomes, default rate and durations for a time window",
)
def dispute_metrics(
    db: DB,
    actor: DisputesRead,
    since: Annotated[datetime | None, Query(description="Opened/resolved at or after.")] = None,
    until: Annotated[datetime | None, Query(description="Opened/resolved before.")] = None,
) -> MetricsOut:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone", field=name, code="naive_datetime")
    m = metrics.compute(db, actor, since=since, until=until)

    def stats(d: metrics.Durations) -> DurationStats:
        return DurationStats(
            count=d.count, median_seconds=d.median_seconds, p90_seconds=d.p90_seconds
        )

    return MetricsOut(
        since=m.since,
        until=m.until,
        opened=m.opened,
        resolved=m.resolved,
        resolved_by_outcome=m.resolved_by_outcome,
        resolved_by=m.resolved_by,
        respondent_default_rate=m.respondent_default_rate,
        time_to_first_response=stats(m.time_to_first_response),
        time_to_first_proposal=stats(m.time_to_first_proposal),
        time_to_resolution=stats(m.time_to_resolution),
    )


@router.get(
    "/disputes/{dispute_id}",
    response_model=DisputeDetailOut,
    summary="One dispute with both sides, the proposals and the timeline",
)
def get_dispute(dispute_id: DisputeId, db: DB, actor: DisputesRead) -> DisputeDetailOut:
    return _detail(db, actor, service.get_dispute(db, actor, dispute_id))


@router.post(
    "/disputes/{dispute_id}/submissions",
    response_model=SubmissionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a party's statement and/or message excerpts",
    responses={
        403: {"description": "not_a_party (field party)"},
        409: {"description": "dispute_resolved"},
        422: {"description": "empty_submission, too_long, party_external_id missing"},
    },
)
def submit(
    dispute_id: DisputeId,
    body: SubmissionIn,
    db: DB,
    settings: AppSettings,
    actor: DisputesWrite,
) -> SubmissionOut:
    if body.party_external_id is None:
        raise InvalidInput(
            "party_external_id is required", field="party_external_id", code="missing_field"
        )
    sub = service.submit(db, actor, dispute_id, body.party_external_id, body, settings=settings)
    return SubmissionOut.of(sub)


# --- the file upload ------------------------------------------------------------------------


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    data: bytearray = field(default_factory=bytearray)
    header_name: bytes = b""
    header_value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)


@dataclass
class _Form:
    text: dict[str, str] = field(default_factory=dict)
    file: _Part | None = None


class _FileParser:
    """Reads ``party_external_id`` and one ``file`` part into memory, refusing the file as
    soon as it passes ``max_bytes`` (413) and any other or repeated part (422)."""

    def __init__(self, boundary: bytes, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.form = _Form()
        self.part = _Part()
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._hfield,
                "on_header_value": self._hvalue,
                "on_header_end": self._hend,
                "on_headers_finished": self._headers_done,
                "on_part_data": self._data,
                "on_part_end": self._end,
            },
        )

    def _begin(self) -> None:
        self.part = _Part()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self.part.header_name += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]

    def _hend(self) -> None:
        self.part.headers[self.part.header_name.strip().lower()] = self.part.header_value
        self.part.header_name = self.part.header_value = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        raw = options.get(b"name")
        if raw is None:
            raise InvalidInput("every part needs a name", code="invalid_multipart")
        name = raw.decode("utf-8", "replace")
        if name not in ("party_external_id", "file"):
            raise InvalidInput(
                f"unknown form field {name[:40]!r}; send party_external_id and file",
                field=name[:100],
                code="unknown_field",
            )
        if name in self.form.text or (name == "file" and self.form.file is not None):
            raise InvalidInput(f"{name} is sent twice", field=name, code="duplicate_field")
        self.part.name = name
        filename = options.get(b"filename")
        self.part.filename = filename.decode("utf-8", "replace") if filename else None
        declared = self.part.headers.get(b"content-type")
        self.part.content_type = declared.decode("latin-1").strip() if declared else None

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        part.data += data[start:end]
        if part.name == "file" and len(part.data) > self.max_bytes:
            raise TooLarge(
                f"the file is larger than {self.max_bytes:,} bytes",
                field="file",
                code="file_too_large",
            )
        if part.name != "file" and len(part.data) > MAX_TEXT_PART:
            raise InvalidInput(f"{part.name} is too long", field=part.name, code="invalid_field")

    def _end(self) -> None:
        part = self.part
        if part.name == "file":
            self.form.file = part
            return
        try:
            self.form.text[part.name] = part.data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InvalidInput(
                f"{part.name} is not UTF-8 text", field=part.name, code="invalid_field"
            ) from None


async def _read_file_form(request: Request, max_bytes: int) -> _Form:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput(
            "send the file as multipart/form-data (party_external_id, file)",
            code="multipart_required",
        )
    reader = _FileParser(boundary, max_bytes)
    try:
        async for chunk in request.stream():
            if chunk:
                reader.parser.write(chunk)
        reader.parser.finalize()
    except FormParserError:
        raise InvalidInput("the multipart body is malformed", code="invalid_multipart") from None
    return reader.form


_FILE_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["party_external_id", "file"],
                "properties": {
                    "party_external_id": {"type": "string", "maxLength": 200},
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "PDF, JPEG, PNG, WebP, GIF or UTF-8 text, at most "
                        f"{service.MAX_FILE_BYTES:,} bytes; the type is read from the bytes",
                    },
                },
            }
        }
    },
}


@router.post(
    "/disputes/{dispute_id}/files",
    response_model=SubmissionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a file of evidence for a party (multipart/form-data)",
    openapi_extra={"requestBody": _FILE_BODY},
    responses={
        403: {"description": "not_a_party (field party)"},
        409: {"description": "dispute_resolved, too_many_files"},
        413: {"description": "file_too_large (field file)"},
        422: {"description": "multipart_required, unsupported_file_type, "
                             "content_type_mismatch, empty_file, missing_field"},
    },
)  # fmt: skip
async def upload_file(
    dispute_id: DisputeId,
    request: Request,
    db: DB,
    settings: AppSettings,
    actor: DisputesWrite,
) -> SubmissionOut:
    # Authenticated. End the transaction the authentication began before receiving the
    # body, so the upload holds no lock or connection while it arrives.
    await run_in_threadpool(db.commit)
    form = await _read_file_form(request, service.MAX_FILE_BYTES)
    party = form.text.get("party_external_id")
    if not party:
        raise InvalidInput(
            "party_external_id is required", field="party_external_id", code="missing_field"
        )
    if form.file is None:
        raise InvalidInput("file is required", field="file", code="missing_field")
    upload = form.file

    def work() -> SubmissionOut:
        sub = service.add_file(
            db,
            actor,
            dispute_id,
            party,
            upload.filename,
            upload.content_type,
            bytes(upload.data),
            settings=settings,
        )
        return SubmissionOut.of(sub)

    return await run_in_threadpool(work)


@router.get(
    "/disputes/{dispute_id}/files/{submission_id}",
    summary="A file's content (staff only; every read is audited)",
    responses={200: {"content": {t: {} for t in service.FILE_TYPES}}},
)
def get_file(
    dispute_id: DisputeId,
    submission_id: ItemId,
    db: DB,
    settings: AppSettings,
    actor: DisputesRead,
) -> Response:
    data, media_type = service.file_content(db, actor, dispute_id, submission_id, settings=settings)
    return Response(
        content=data,
        media_type=media_type,
        headers={
            "Cache-Control": "no-store, private",
            "Content-Disposition": "attachment",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post(
    "/disputes/{dispute_id}/proposals/{proposal_id}/answer",
    response_model=ProposalOut,
    summary="Relay a party's answer to a proposal",
    responses={
        403: {"description": "not_a_party (field party)"},
        409: {"description": "already_answered, proposal_closed"},
    },
)
def answer_proposal(
    dispute_id: DisputeId,
    proposal_id: ItemId,
    body: AnswerIn,
    db: DB,
    settings: AppSettings,
    actor: DisputesWrite,
) -> ProposalOut:
    proposal = service.answer(
        db,
        actor,
        dispute_id,
        proposal_id,
        body.party_external_id,
        body.accept,
        body.comment,
        settings=settings,
    )
    return ProposalOut.of(proposal, service.get_dispute(db, actor, dispute_id))


@router.post(
    "/disputes/{dispute_id}/withdraw",
    response_model=DisputeStaffOut | DisputeOut,
    summary="The opener withdraws the dispute",
    responses={
        403: {"description": "not_opener, not_a_party (field party)"},
        409: {"description": "dispute_resolved"},
    },
)
def withdraw(
    dispute_id: DisputeId,
    body: WithdrawIn,
    db: DB,
    settings: AppSettings,
    actor: DisputesWrite,
) -> DisputeOut | DisputeStaffOut:
    d = service.withdraw(
        db, actor, dispute_id, body.party_external_id, body.reason, settings=settings
    )
    return _dispute_out(db, actor, d)


# --- routes: the mediator -------------------------------------------------------------------


@router.post(
    "/disputes/{dispute_id}/proposals",
    response_model=ProposalOut,
    status_code=status.HTTP_201_CREATED,
    summary="Propose a resolution to both parties",
    responses={
        403: {"description": "not_mediator: you do not hold the dispute's case"},
        409: {"description": "awaiting_response, dispute_resolved"},
        422: {"description": "amount_exceeds_disputed, amount_required, amount_not_expected, "
                             "use_full_refund, too_many_decimals, invalid_amount, "
                             "amount_not_positive, note_required, invalid_outcome"},
    },
)  # fmt: skip
def propose(
    dispute_id: DisputeId,
    body: ProposalIn,
    db: DB,
    settings: AppSettings,
    actor: DisputesMediate,
    _plain: PlainAmounts,
) -> ProposalOut:
    proposal = service.propose(db, actor, dispute_id, body, settings=settings)
    return ProposalOut.of(proposal, service.get_dispute(db, actor, dispute_id))


@router.post(
    "/disputes/{dispute_id}/ruling",
    response_model=DisputeStaffOut | DisputeOut,
    summary="Rule on the dispute (resolves it; a reason is required)",
    responses={
        403: {"description": "not_mediator"},
        409: {"description": "awaiting_response, dispute_resolved"},
        422: {"description": "reason_required and the amount codes of a proposal"},
    },
)
def rule(
    dispute_id: DisputeId,
    body: RulingIn,
    db: DB,
    settings: AppSettings,
    actor: DisputesMediate,
    _plain: PlainAmounts,
) -> DisputeOut | DisputeStaffOut:
    return _dispute_out(db, actor, service.rule(db, actor, dispute_id, body, settings=settings))


@router.post(
    "/disputes/{dispute_id}/release",
    response_model=DisputeStaffOut | DisputeOut,
    summary="Release a payment held for a redo",
    responses={409: {"description": "nothing_held"}},
)
def release(
    dispute_id: DisputeId,
    body: ReleaseIn,
    db: DB,
    settings: AppSettings,
    actor: DisputesMediate,
) -> DisputeOut | DisputeStaffOut:
    d = service.release_payment(db, actor, dispute_id, body.note, settings=settings)
    return _dispute_out(db, actor, d)


@router.post(
    "/disputes/{dispute_id}/reviews",
    response_model=CaseOut,
    status_code=status.HTTP_201_CREATED,
    summary="Open an account review about one party, linked to the dispute",
    responses={403: {"description": "not_mediator"}, 422: {"description": "summary_required"}},
)
def open_review(
    dispute_id: DisputeId,
    body: ReviewIn,
    db: DB,
    actor: DisputesMediate,
) -> CaseOut:
    case = service.open_review(
        db, actor, dispute_id, body.party.value, body.policy_code, body.summary
    )
    return CaseOut.of(case)
