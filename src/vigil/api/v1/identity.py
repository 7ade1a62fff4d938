"""Identity verification API: the marketplace submits an account's document (front, back,
selfie) and reads the result; staff list the verifications waiting for a person, reveal
images (audited) and decide.

The upload is ``multipart/form-data``, read by :func:`read_upload` only once the caller is
authenticated, entirely in memory (at most three images at ``identity_max_upload_bytes``
each: nothing spooled to a shared temporary folder), each part held to its own limit while
it arrives. The global body limit is raised for that route alone, and only for requests that
carry credentials (:func:`upload_limit`).

The upload's transaction is short: the one the authentication began is committed before the
body is read (on SQLite every transaction holds the write lock; on PostgreSQL it holds a
pooled connection), the images are decoded and sealed into the blob store outside any
transaction (``service.prepare_images``), and a new transaction records the submission.
Files written for a submission that is then refused or rolled back are deleted again.

What a reader sees of a verification is ``service.describe``'s: API keys never see images,
internal reasons, checks, case or face distance; staff see personal values masked unless
they reveal one verification with a reason (``pii:reveal``; audited).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi import status as http_status
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from vigil.api.deps import DB, AppSettings, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.identity import service
from vigil.identity.schemas import DecisionIn, VerificationOut
from vigil.identity.types import DocumentKind, ImageSide, VerificationStatus
from vigil.kit.asgi import RouteLimit
from vigil.kit.errors import InvalidInput, TooLarge
from vigil.kit.pagination import Page

router = APIRouter(tags=["identity"])

IdentityRead = Annotated[Principal, Depends(require(Permission.identity_read))]
IdentityWrite = Annotated[Principal, Depends(require(Permission.identity_write))]
IdentityImages = Annotated[Principal, Depends(require(Permission.identity_images))]
IdentityDecide = Annotated[Principal, Depends(require(Permission.identity_decide))]

ExternalId = Annotated[
    str,
    Path(min_length=1, max_length=200, description="the marketplace's own id for the account"),
]
UPLOAD_PATH = r"/v1/accounts/[^/]+/documents"
TEXT_FIELDS = frozenset({"kind", "issuing_country"})
FILE_FIELDS = frozenset(s.value for s in ImageSide)
# A text part longer than this is not a kind or a country code.
MAX_TEXT_PART = 64
# Multipart framing and the two text fields, on top of the images themselves.
_FORM_OVERHEAD = 64 * 1024


def upload_limit(settings: Settings) -> RouteLimit:
    """The body limit of the upload route: three images at their own limit each, granted
    only to a request that carries credentials (an API key or a session cookie; the route
    still authenticates them before it reads a byte of the body)."""
    return RouteLimit(
        "POST",
        UPLOAD_PATH,
        3 * settings.identity_max_upload_bytes + _FORM_OVERHEAD,
        credentials_required=True,
    )


def _page_limit(settings: Settings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


# --- reading the upload --------------------------------------------------------------------------


@dataclass
class UploadForm:
    """The parts of one upload: text fields and files, by name, all in memory."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def _check_part_name(form: UploadForm, name: str) -> None:
    if name not in TEXT_FIELDS and name not in FILE_FIELDS:
        raise InvalidInput(
            f"unknown form field {name[:40]!r}; send kind, issuing_country, front, back, selfie",
            field=name[:100],
            code="unknown_field",
        )
    if name in form.fields or name in form.files:
        raise InvalidInput(f"{name} is sent twice", field=name, code="duplicate_field")


@dataclass
class _Part:
    name: str = ""
    data: bytearray = field(default_factory=bytearray)
    header_name: bytes = b""
    header_value: bytes = b""
    disposition: bytes = b""


class _UploadParser:
    """python-multipart's streaming parser with callbacks that keep each part in memory and
    refuse, as soon as it shows, a part that is unknown, repeated or over its limit."""

    def __init__(self, boundary: bytes, *, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.form = UploadForm()
        self.part = _Part()
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
                "on_part_end": self._end,
            },
        )

    def _begin(self) -> None:
        self.part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]

    def _header_end(self) -> None:
        if self.part.header_name.strip().lower() == b"content-disposition":
            self.part.disposition = self.part.header_value
        self.part.header_name = self.part.header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self.part.disposition)
        raw_name = options.get(b"name")
        if raw_name is None:
            raise InvalidInput("every part needs a name", code="invalid_multipart")
        name = raw_name.decode("utf-8", "replace")
        _check_part_name(self.form, name)
        self.part.name = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        part.data += data[start:end]
        if part.name in FILE_FIELDS and len(part.data) > self.max_file_bytes:
            raise TooLarge(
                f"the {part.name} image is larger than {self.max_file_bytes} bytes",
                field=part.name,
                code="image_too_large",
            )
        if part.name in TEXT_FIELDS and len(part.data) > MAX_TEXT_PART:
            raise InvalidInput(f"{part.name} is too long", field=part.name, code="invalid_field")

    def _end(self) -> None:
        part = self.part
        if part.name in FILE_FIELDS:
            self.form.files[part.name] = bytes(part.data)
        else:
            try:
                self.form.fields[part.name] = part.data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(
                    f"{part.name} is not UTF-8 text", field=part.name, code="invalid_field"
                ) from None


async def read_upload(request: Request, *, max_file_bytes: int) -> UploadForm:
    """Read a ``multipart/form-data`` upload into memory, part by part. The whole body is
    held to the route's limit by ``BodyLimit`` (also when no Content-Length is sent); each
    image to ``max_file_bytes`` (413 naming it) and each text field to a few bytes."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type == b"application/x-www-form-urlencoded":
        # What a client sends for a form without files: the text fields, and no image.
        return _text_form(await request.body())
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput("send the document as multipart/form-data", code="multipart_required")
    reader = _UploadParser(boundary, max_file_bytes=max_file_bytes)
    try:
        async for chunk in request.stream():
            if chunk:
                reader.parser.write(chunk)
        reader.parser.finalize()
    except FormParserError:
        raise InvalidInput("the multipart body is malformed", code="invalid_multipart") from None
    return reader.form


def _text_form(body: bytes) -> UploadForm:
    form = UploadForm()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise InvalidInput("the form is not UTF-8 text", code="invalid_multipart") from None
    for name, value in pairs:
        if name in FILE_FIELDS:
            raise InvalidInput(
                f"{name} is an image: send it as a file (multipart/form-data)",
                field=name,
                code="multipart_required",
            )
        _check_part_name(form, name)
        if len(value) > MAX_TEXT_PART:
            raise InvalidInput(f"{name} is too long", field=name, code="invalid_field")
        form.fields[name] = value
    return form


def _form_text(form: UploadForm, name: str) -> str | None:
    value = form.fields.get(name)
    return value if value is None else value.strip() or None


def _form_kind(form: UploadForm) -> DocumentKind:
    value = _form_text(form, "kind")
    if value is None:
        raise InvalidInput("kind is required", field="kind", code="missing_field")
    try:
        return DocumentKind(value)
    except ValueError:
        raise InvalidInput(
            f"kind is one of {', '.join(k.value for k in DocumentKind)}",
            field="kind",
            code="invalid_field",
        ) from None


def _form_country(form: UploadForm) -> str | None:
    value = _form_text(form, "issuing_country")
    if value is not None and len(value) > 3:
        raise InvalidInput(
            "issuing_country is a 2- or 3-letter code", field="issuing_country",
            code="invalid_field",
        )  # fmt: skip
    return value


_UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["kind", "front"],
                "properties": {
                    "kind": {"type": "string", "enum": [k.value for k in DocumentKind]},
                    "issuing_country": {
                        "type": "string",
                        "maxLength": 3,
                        "description": "ISO alpha-2 or ICAO alpha-3 code",
                    },
                    "front": {"type": "string", "format": "binary",
                              "description": "front of the document (required)"},
                    "back": {"type": "string", "format": "binary",
                             "description": "back (ID cards, driver's licenses)"},
                    "selfie": {"type": "string", "format": "binary",
                               "description": "a photo of the holder's face"},
                },
            }
        }
    },
}  # fmt: skip


@router.post(
    "/accounts/{external_id}/documents",
    response_model=VerificationOut,
    status_code=http_status.HTTP_202_ACCEPTED,
    summary="Submit an identity document for verification",
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={
        202: {"description": "accepted: the verification is pending; the result comes by "
                             "webhook (identity.verification.completed) and through GET"},
        404: {"description": "account_not_found"},
        409: {"description": "idempotency_key_reused: the key came with another submission"},
        413: {"description": "an image (or the request) is too large; field names the image"},
        422: {"description": "a field is missing or invalid (field names it); nothing stored"},
    },
)  # fmt: skip
async def submit_document(
    external_id: ExternalId,
    request: Request,
    response: Response,
    settings: AppSettings,
    db: DB,
    actor: IdentityWrite,
    idempotency_key: Annotated[
        str | None,
        Header(description="your id for this submission: a repeat returns the first result"),
    ] = None,
) -> VerificationOut:
    # Authenticated. End the transaction the authentication began (it may have recorded the
    # key's use) before the slow part, receiving and decoding the images, so that part holds
    # no lock and no connection; the submission gets a transaction of its own below.
    await run_in_threadpool(db.commit)
    form = await read_upload(request, max_file_bytes=settings.identity_max_upload_bytes)
    kind, issuing_country, key = service.check_submission(
        _form_kind(form), _form_country(form), idempotency_key
    )

    def work() -> VerificationOut:
        prepared = service.prepare_images(settings, form.files)
        verification = service.submit(
            db,
            actor,
            account_external_id=external_id,
            kind=kind,
            issuing_country=issuing_country,
            images=prepared,
            idempotency_key=key,
            settings=settings,
        )
        return service.describe(db, verification, actor=actor)

    # Decoding and sealing images is CPU work and the session is synchronous: off the loop.
    out = await run_in_threadpool(work)
    if out.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/identity/verifications/{out.id}"
    return out


@router.get(
    "/accounts/{external_id}/documents",
    response_model=Page[VerificationOut],
    summary="An account's verifications, newest first",
)
def list_account_documents(
    external_id: ExternalId,
    db: DB,
    settings: AppSettings,
    actor: IdentityRead,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[VerificationOut]:
    rows, next_cursor = service.list_for_account(
        db, actor, external_id, cursor=cursor, limit=_page_limit(settings, limit)
    )
    return Page(items=service.describe_many(db, rows, actor=actor), next_cursor=next_cursor)


@router.get(
    "/identity/verifications",
    response_model=Page[VerificationOut],
    summary="Verifications by status (default: waiting for a person), oldest submission first",
    description="Staff see the verifications whose review case is in a tier they may work "
    "(an agent: Tier 1; a specialist: Tier 1 and specialist; legal and admins: all); QA and "
    "policy leads every tier they may see. `tier` says where each case sits.",
)
def list_verifications(
    db: DB,
    settings: AppSettings,
    actor: IdentityRead,
    status: VerificationStatus = VerificationStatus.review,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[VerificationOut]:
    rows, next_cursor = service.list_reviews(
        db, actor, status=status, cursor=cursor, limit=_page_limit(settings, limit)
    )
    return Page(items=service.describe_many(db, rows, actor=actor), next_cursor=next_cursor)


@router.get(
    "/identity/verifications/{verification_id}",
    response_model=VerificationOut,
    summary="One verification: status, outcome, checks, fields read",
    description="Staff see the personal values read from the document (names, numbers, "
    "birth dates, MRZ lines) masked unless they reveal them: `reveal=true` with a `reason` "
    "(needs pii:reveal; audited as `identity.verification.reveal` with the reason). Without "
    "a reason: 422 `reason_required`.",
)
def get_verification(
    verification_id: Annotated[int, Path(ge=1, le=2**62)],
    db: DB,
    actor: IdentityRead,
    reveal: Annotated[
        bool, Query(description="staff: show personal data unmasked (pii:reveal and a reason)")
    ] = False,
    reason: Annotated[
        str | None, Query(max_length=500, description="why you look (a case id, a ticket)")
    ] = None,
) -> VerificationOut:
    verification = service.get(db, actor, verification_id, reveal=reveal, reason=reason)
    return service.describe(db, verification, actor=actor, revealed=reveal)


@router.get(
    "/identity/images/{image_id}",
    summary="One document image or selfie (staff with identity:images; every reveal audited)",
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "application/pdf": {}}},
        422: {"description": "reason_required (no reason), too_long (over 500 characters)"},
    },
)
def get_image(
    image_id: Annotated[int, Path(ge=1, le=2**62)],
    db: DB,
    settings: AppSettings,
    actor: IdentityImages,
    reason: Annotated[
        str | None,
        Query(description="Required: why you look (1 to 500 characters), kept in the audit."),
    ] = None,
) -> Response:
    data, media_type = service.image(db, actor, image_id, reason=reason, settings=settings)
    return Response(
        content=data,
        media_type=media_type,
        headers={"Cache-Control": "no-store, private", "Content-Disposition": "inline"},
    )


@router.post(
    "/identity/verifications/{verification_id}/decision",
    response_model=VerificationOut,
    summary="Approve, reject or escalate a verification under review",
    responses={
        403: {"description": "cannot_work_tier: the case is in a tier you may not work"},
        409: {"description": "verification_not_in_review, version_conflict"},
        422: {"description": "version_required, confirmation_required (approve while a check "
                             "failed or has a warning, without confirm: true), reason_required "
                             "or invalid_reason (reject), note_required (escalate)"},
    },
)  # fmt: skip
def decide(
    verification_id: Annotated[int, Path(ge=1, le=2**62)],
    body: DecisionIn,
    db: DB,
    actor: IdentityDecide,
) -> VerificationOut:
    verification = service.decide(
        db,
        actor,
        verification_id,
        decision=body.decision,
        reasons=body.reasons,
        note=body.note,
        expected_version=body.expected_version,
        confirm=body.confirm,
    )
    return service.describe(db, verification, actor=actor)


__all__ = ["UPLOAD_PATH", "UploadForm", "read_upload", "router", "upload_limit"]
