"""Identity verification API: the marketplace submits an account's document (front, back,
selfie) and reads the result; staff list the verifications waiting for a person, reveal
images (audited) and decide.

The upload is ``multipart/form-data``; the global body limit is raised for that route alone
(:func:`upload_limit`). API keys see results, never images.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Request, Response
from fastapi import status as http_status
from starlette.concurrency import run_in_threadpool

from vigil.api.deps import DB, AppSettings, require
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.identity import service
from vigil.identity.schemas import DecisionIn, VerificationOut
from vigil.identity.types import DocumentKind, ImageSide, VerificationStatus
from vigil.kit.errors import InvalidInput
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
FORM_FIELDS = frozenset({"kind", "issuing_country", *(s.value for s in ImageSide)})
# Multipart framing and the two text fields, on top of the images themselves.
_FORM_OVERHEAD = 64 * 1024


def upload_limit(settings: Settings) -> tuple[str, str, int]:
    """The body limit of the upload route: three images at their own limit each."""
    return ("POST", UPLOAD_PATH, 3 * settings.identity_max_upload_bytes + _FORM_OVERHEAD)


def _page_limit(settings: Settings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


async def _form_keys(request: Request) -> frozenset[str]:
    """The parts the client sent (Starlette caches the parsed form, so this reads it once)."""
    form = await request.form()
    return frozenset(form.keys())


def _check_parts(sent: frozenset[str]) -> None:
    unknown = sorted(sent - FORM_FIELDS)
    if unknown:
        raise InvalidInput(
            f"unknown form field {unknown[0]!r}; send kind, issuing_country, front, back, selfie",
            field=unknown[0],
            code="unknown_field",
        )


@router.post(
    "/accounts/{external_id}/documents",
    response_model=VerificationOut,
    status_code=http_status.HTTP_202_ACCEPTED,
    summary="Submit an identity document for verification",
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
    response: Response,
    settings: AppSettings,
    db: DB,
    actor: IdentityWrite,
    kind: Annotated[DocumentKind, Form(description="what the document is")],
    sent: Annotated[frozenset[str], Depends(_form_keys)],
    front: Annotated[bytes | None, File(description="front of the document (required)")] = None,
    back: Annotated[bytes | None, File(description="back (ID cards, driver's licenses)")] = None,
    selfie: Annotated[bytes | None, File(description="a photo of the holder's face")] = None,
    issuing_country: Annotated[
        str | None, Form(max_length=3, description="ISO alpha-2 or ICAO alpha-3 code")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(description="your id for this submission: a repeat returns the first result"),
    ] = None,
) -> VerificationOut:
    _check_parts(sent)
    images: dict[ImageSide, bytes] = {}
    for side, data in ((ImageSide.front, front), (ImageSide.back, back),
                       (ImageSide.selfie, selfie)):  # fmt: skip
        if data is not None:
            images[side] = data

    def work() -> VerificationOut:
        verification = service.submit(
            db,
            actor,
            account_external_id=external_id,
            kind=kind,
            issuing_country=issuing_country,
            images=images,
            idempotency_key=idempotency_key,
            settings=settings,
        )
        return service.describe(db, verification)

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
    return Page(items=service.describe_many(db, rows), next_cursor=next_cursor)


@router.get(
    "/identity/verifications",
    response_model=Page[VerificationOut],
    summary="Verifications by status (default: waiting for a person), oldest first",
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
    return Page(items=service.describe_many(db, rows), next_cursor=next_cursor)


@router.get(
    "/identity/verifications/{verification_id}",
    response_model=VerificationOut,
    summary="One verification: status, outcome, checks, fields read",
)
def get_verification(
    verification_id: Annotated[int, Path(ge=1, le=2**62)],
    db: DB,
    actor: IdentityRead,
) -> VerificationOut:
    return service.describe(db, service.get(db, actor, verification_id))


@router.get(
    "/identity/images/{image_id}",
    summary="One document image or selfie (staff with identity:images; every reveal audited)",
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "application/pdf": {}}}},
)
def get_image(
    image_id: Annotated[int, Path(ge=1, le=2**62)],
    db: DB,
    settings: AppSettings,
    actor: IdentityImages,
    reason: Annotated[str | None, Query(max_length=500, description="why you look")] = None,
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
        409: {"description": "verification_not_in_review, version_conflict"},
        422: {"description": "reasons_required (reject), note_required (escalate)"},
    },
)
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
    )
    return service.describe(db, verification)


__all__ = ["UPLOAD_PATH", "router", "upload_limit"]
