"""Console: the identity review screen, the list of verifications waiting for a person, and
the way from an ``identity_review`` case to its verification.

The screen lays out one verification for a Tier 1 agent: the front, back and selfie next to
the account's profile, the fields each source read next to the profile's values (mismatches
marked), every check with its reason and evidence, and one-key decisions (approve, reject with
reasons the user is shown in their language, escalate).

Invariants:
- Images are never in the page until revealed. A reveal is a POST with the CSRF token (no link
  on another site can make someone reveal a document and write an audit record in their name)
  and goes through ``identity.service.image``, which needs ``identity:images`` and audits it;
  one call, one audit record, per image shown. The picture is re-encoded here (upright, at
  most ``DISPLAY_MAX_SIDE`` pixels, JPEG, no metadata) so the uploader's bytes never reach the
  reviewer's browser, and is sent inline with ``Cache-Control: no-store``.
- Personal data is shown in clear only to staff whose profile view is unmasked (``pii:reveal``,
  recorded as a reveal): everyone else sees the profile, the document's name, birth date and
  number (in every source), the MRZ and the personal values inside the checks' evidence
  masked with the accounts' masking (``accounts.service.mask_name``/``mask_identifier``;
  dates and MRZ lines hidden). Comparison results (match, differs) stay visible.
- A picture that cannot be decoded for display (e.g. ``identity_max_pixels`` lowered after
  the upload) is shown as a "cannot display" placeholder saying why, never a server error.
- Decisions go through ``identity.service.decide`` with the version the reviewer saw (required:
  a form without it is refused), so a second reviewer deciding the same verification gets a
  conflict, never a silent overwrite. Approving while a check failed or has a warning for a
  person (possible screening hit, uncertain face, unconfirmed read, editing signs...) needs
  an explicit confirmation (``confirm=1``); rejecting needs at least one reason; escalating
  needs a note. A refused decision changes nothing.
- Views are thin: the same services as the API, under the logged-in staff member's principal,
  inside the request's transaction.
"""

from __future__ import annotations

import base64
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts
from vigil.accounts.models import Account, IdentifierKind
from vigil.api.deps import DB, AppSettings
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.config import Settings
from vigil.identity import images as image_codec
from vigil.identity import messages, mrz, service
from vigil.identity.models import IdentityImage, IdentityVerification
from vigil.identity.types import (
    CheckName,
    CheckStatus,
    ImageSide,
    Reason,
    VerificationStatus,
)
from vigil.kit.errors import InvalidInput, NotFound, VigilError
from vigil.web.auth import Console, ConsolePost, ConsoleUser
from vigil.web.render import templates
from vigil.web.views import CaseId, _page

router = APIRouter(include_in_schema=False)

VerificationId = Annotated[int, Path(ge=1, le=2**63 - 1)]

# Large enough to read a document's microprint at 2x zoom, small enough to send inline.
DISPLAY_MAX_SIDE = 2400
DISPLAY_QUALITY = 90

SIDES = (ImageSide.front, ImageSide.back, ImageSide.selfie)
SIDE_LABELS = {ImageSide.front: "Front", ImageSide.back: "Back", ImageSide.selfie: "Selfie"}
DECISIONS = ("approve", "reject", "escalate")

NOTICES = {
    "approved": ("ok", "Verification approved."),
    "rejected": ("ok", "Verification rejected; the user is told why."),
    "escalated": ("ok", "Verification escalated to a specialist."),
}

CHECK_LABELS = {
    CheckName.image_quality: "Image quality",
    CheckName.face_present: "Face present",
    CheckName.document_expired: "Document not expired",
    CheckName.minimum_age: "Minimum age",
    CheckName.mrz_integrity: "MRZ integrity",
    CheckName.barcode_integrity: "Barcode integrity",
    CheckName.visual_zone: "Printed fields vs MRZ/barcode",
    CheckName.sides_consistency: "Front vs back",
    CheckName.profile_name: "Name vs profile",
    CheckName.profile_birth_date: "Date of birth vs profile",
    CheckName.profile_country: "Country vs profile",
    CheckName.document_reuse: "Document used by another account",
    CheckName.image_reuse: "Image used by another account",
    CheckName.face_match: "Selfie vs portrait",
    CheckName.editing_signs: "Signs of editing",
    CheckName.screening: "Sanctions / PEP screening",
}

STATUS_ORDER = {
    CheckStatus.failed.value: 0,
    CheckStatus.warning.value: 1,
    CheckStatus.passed.value: 2,
    CheckStatus.skipped.value: 3,
}
SOURCE_LABELS = {"mrz": "MRZ", "barcode": "Barcode", "viz": "Printed"}


def reason_label(code: str) -> str:
    try:
        return messages.reviewer_label(Reason(code))
    except ValueError:
        return code.replace("_", " ")


def check_label(code: str) -> str:
    try:
        return CHECK_LABELS[CheckName(code)]
    except (ValueError, KeyError):
        return code.replace("_", " ")


templates.env.filters["identity_reason"] = reason_label


# --- personal data for roles without pii:reveal ------------------------------------------

HIDDEN = "hidden"  # a date or an MRZ line, masked (as the profile's date of birth)

# Personal values in what the readers and checks report, by the key they come under.
_PERSONAL_KEYS = {
    "surname": "name", "given_names": "name", "full_name": "name", "name": "name",
    "matched_name": "name", "legal_name": "name",
    "birth_date": "date", "date_of_birth": "date", "dob": "date",
    "document_number": "number", "personal_number": "number", "optional_data": "number",
    "lines": "hidden", "raw": "hidden",
    "errors": "errors",
}  # fmt: skip
# Keys holding the value of the key (or the check) they sit under: ``profile_name``'s
# ``profile``/``document``, ``sides_consistency``'s ``surname.front``, ``visual_zone``'s
# ``printed.birth_date.reference``...
_CARRIERS = frozenset({"profile", "document", "compared", "front", "back", "reference", "printed"})
# What the top-level carriers of a check that compares one personal value hold.
_CHECK_VALUES = {CheckName.profile_name.value: "name", CheckName.profile_birth_date.value: "date"}
# Keys whose values are field names and outcomes ("agrees", True...), never personal values.
_NOT_PERSONAL = frozenset({"fields", "check_digits", "failed_check_digits", "differing"})
# An error message naming a personal field carries its value after the colon.
_PERSONAL_ERROR = re.compile(r"birth|name|number|\bD(?:AA|AB|AC|AD|AQ|BB|CS|CT)\b", re.I)


def _mask_error(text: str) -> str:
    """``impossible birth date: 901304`` -> ``impossible birth date: hidden``."""
    head, sep, _value = text.partition(":")
    if sep and _PERSONAL_ERROR.search(head):
        return f"{head}: {HIDDEN}"
    return text


def mask_value(kind: str, value: str) -> str:
    """One personal value as a role without ``pii:reveal`` sees it: names by their initials,
    document numbers by their last two characters (the accounts' masks), dates and MRZ lines
    hidden."""
    if kind == "name":
        return accounts.mask_name(value) or ""
    if kind == "number":
        return accounts.mask_identifier(IdentifierKind.document, value)
    if kind == "errors":
        return _mask_error(value)
    return HIDDEN


def _child_kind(key: str, parent: str | None) -> str | None:
    if key in _NOT_PERSONAL:
        return "keep"
    if key in _PERSONAL_KEYS:
        return _PERSONAL_KEYS[key]
    return parent if key in _CARRIERS else None


def _mask_tree(value: Any, kind: str | None) -> Any:
    if kind == "keep":
        return value
    if isinstance(value, dict):
        return {k: _mask_tree(v, _child_kind(str(k), kind)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_tree(v, kind) for v in value]
    if kind is None or value is None or isinstance(value, bool | int | float):
        return value
    return mask_value(kind, str(value))


def mask_evidence(check_name: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """A check's evidence with its personal values masked (names, birth dates, document
    numbers, MRZ lines, screening names); scores, outcomes and field names stay."""
    masked = _mask_tree(evidence, _CHECK_VALUES.get(check_name))
    return masked if isinstance(masked, dict) else {}


# --- what the screen shows ----------------------------------------------------------------


def _evidence_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value == value else "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_evidence_value(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_evidence_value(v)}" for k, v in value.items()) or "—"
    text = str(value)
    return text if len(text) <= 300 else text[:299] + "…"


def evidence_items(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """A check's evidence as label/value rows: one level of nesting is spread into
    ``outer · inner`` labels, deeper values are written inline."""
    rows: list[tuple[str, str]] = []
    for key, value in evidence.items():
        label = str(key).replace("_", " ")
        if isinstance(value, dict) and value and len(value) <= 12:
            for inner, inner_value in value.items():
                rows.append(
                    (f"{label} · {str(inner).replace('_', ' ')}", _evidence_value(inner_value))
                )
        else:
            rows.append((label, _evidence_value(value)))
    return rows


def _checks_view(raw: Sequence[dict[str, Any]], *, unmasked: bool) -> list[dict[str, Any]]:
    def evidence(c: dict[str, Any]) -> dict[str, Any]:
        found = c.get("evidence") or {}
        return found if unmasked else mask_evidence(str(c.get("name", "")), found)

    rows = [
        {
            "name": str(c.get("name", "")),
            "label": check_label(str(c.get("name", ""))),
            "status": str(c.get("status", "")),
            "reason": str(c.get("reason", "")),
            "reason_label": reason_label(str(c.get("reason", ""))),
            "review_only": bool(c.get("review_only")),
            "evidence": evidence_items(evidence(c)),
        }
        for c in raw
    ]
    rows.sort(key=lambda r: STATUS_ORDER.get(str(r["status"]), 4))
    return rows


def _sources(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The merged reading and each source's own (``mrz``, ``barcode``, ``viz``). A flat
    dict (one ``DocumentFields`` with its ``source``) is its own merge."""
    if "source" in fields and not isinstance(fields.get("source"), dict):
        return fields, {}
    per_source = {
        k: v for k, v in fields.items() if k in SOURCE_LABELS and isinstance(v, dict) and v
    }
    merged = fields.get("merged") or fields.get("document") or {}
    if not merged and per_source:
        merged = next(iter(per_source.values()))
    return merged if isinstance(merged, dict) else {}, per_source


def _name(f: dict[str, Any]) -> str | None:
    parts = [f.get("given_names"), f.get("surname")]
    text = " ".join(str(p) for p in parts if p)
    return text or None


def _comparable(key: str | None, value: Any) -> str:
    """A value as compared across sources: accents, case and punctuation do not count
    (the MRZ transliterates what the visual zone prints), nor alpha-2 vs alpha-3 codes."""
    text = str(value or "")
    if key in ("nationality", "issuing_country") and len(text) == 3:
        text = mrz.country_alpha2(text) or text
    plain = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in plain if ch.isalnum()).upper()


def _check_state(checks: dict[str, dict[str, Any]], name: CheckName) -> str:
    """How a profile comparison went, for the row's colour: ``match``, ``mismatch``,
    ``partial`` or ``unknown``."""
    check = checks.get(name.value)
    if check is None:
        return "unknown"
    status = check.get("status")
    if status == CheckStatus.passed.value:
        return "match"
    if status == CheckStatus.failed.value:
        return "mismatch"
    if status == CheckStatus.warning.value:
        return "partial"
    return "unknown"


# The rows of the fields table that hold personal data, and how they are masked.
_FIELD_MASKS = {"name": "name", "birth_date": "date", "document_number": "number"}


def _field_rows(
    v: IdentityVerification, profile: dict[str, Any], checks: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    merged, per_source = _sources(v.fields or {})
    source_keys = list(per_source)
    mask = None if profile["unmasked"] else _FIELD_MASKS

    def shown(key: str | None, value: Any) -> Any:
        if value in ("", None) or mask is None or key not in mask:
            return value
        return mask_value(mask[key], str(value))

    def row(label: str, key: str | None, value: Any, profile_value: Any, state: str) -> dict:
        by_source = {}
        differs = set()
        for s in source_keys:
            f = per_source[s]
            read = _name(f) if key == "name" else (f.get(key) if key else None)
            by_source[s] = shown(key, read)
            # Compared in clear; only what is shown is masked.
            if read and value and _comparable(key, read) != _comparable(key, value):
                differs.add(s)
        return {
            "label": label,
            "document": shown(key, value) if value not in ("", None) else None,
            "sources": by_source,
            "differs": differs,
            "profile": profile_value,
            "state": state,
        }

    expired = _check_state(checks, CheckName.document_expired)
    kind_read = merged.get("document_kind")
    rows = [
        row("Name", "name", _name(merged), profile["legal_name"],
            _check_state(checks, CheckName.profile_name)),
        row("Date of birth", "birth_date", merged.get("birth_date"), profile["date_of_birth"],
            _check_state(checks, CheckName.profile_birth_date)),
        row("Nationality", "nationality", merged.get("nationality"), profile["country"],
            _check_state(checks, CheckName.profile_country)),
        row("Issuing country", "issuing_country", merged.get("issuing_country"), None, ""),
        row("Document number", "document_number", merged.get("document_number"), None, ""),
        row("Kind", "document_kind", kind_read, v.kind.value,
            "" if not kind_read else ("match" if kind_read == v.kind.value else "mismatch")),
        row("Expires", "expiry_date", merged.get("expiry_date"), None,
            {"match": "", "mismatch": "mismatch"}.get(expired, "")),
        row("Issued", "issue_date", merged.get("issue_date"), None, ""),
        row("Sex", "sex", merged.get("sex"), None, ""),
    ]  # fmt: skip
    return rows, source_keys


def _profile(db: Session, p: Principal, v: IdentityVerification) -> dict[str, Any]:
    """The account's profile values to compare with. Comparing is the point of the screen,
    so staff who may reveal personal data see them unmasked, recorded as a reveal with the
    verification as its reason; everyone else sees them masked (and the view is recorded)."""
    unmask = p.can(Permission.pii_reveal)
    account, unmasked = accounts.get_account(
        db, p, account_id=v.account_id, reveal=unmask,
        reason=f"identity review of verification {v.id}" if unmask else None,
        view="identity_review",
    )  # fmt: skip
    dob: date | None = account.date_of_birth
    return {
        "external_id": account.external_id,
        "display_name": account.display_name,
        "legal_name": account.legal_name if unmasked else accounts.mask_name(account.legal_name),
        "date_of_birth": (dob.isoformat() if unmasked else HIDDEN) if dob else None,
        "country": account.country,
        "locale": account.locale,
        "status": account.status.value,
        "unmasked": unmasked,
    }


def _images(db: Session, verification_id: int) -> dict[ImageSide, IdentityImage]:
    return {ImageSide(r.side): r for r in service.images_of(db, verification_id)}


def _reject_options(v: IdentityVerification, locale: str) -> list[dict[str, Any]]:
    """Every reason a reviewer can reject for, with what the user reads in their language.
    The verification's own reasons come first (so ``1``, ``2``... pick them), the user
    reasons it already carries ticked; then the reasons the user can act on, then the ones
    never disclosed (reuse, screening, editing...), which show the neutral text."""
    own = [r for r in [*(v.user_reasons or []), *(v.reasons or [])] if r in Reason.__members__]
    own = list(dict.fromkeys(own))
    options = []
    for reason in Reason:
        if reason in (Reason.ok, Reason.not_applicable):
            continue
        options.append(
            {
                "value": reason.value,
                "label": reason_label(reason.value),
                "text": messages.user_text(reason, locale),
                "disclosed": reason in messages.USER_REASONS,
                "suggested": reason.value in own,
                "checked": reason.value in (v.user_reasons or []),
            }
        )
    options.sort(
        key=lambda o: (
            not o["suggested"],
            own.index(str(o["value"])) if o["suggested"] else 0,
            not o["disclosed"],
        )
    )
    return options


def _mrz_view(fields: dict[str, Any], *, unmasked: bool) -> dict[str, Any] | None:
    """The MRZ as read (after correction), which check digits passed, and any repair. The
    lines are personal data (name, number, birth date): hidden unless ``unmasked``."""
    mrz = fields.get("mrz")
    if not isinstance(mrz, dict) or not mrz.get("lines"):
        return None
    errors = [str(e) for e in mrz.get("errors") or []]
    return {
        "format": mrz.get("format"),
        "lines": [str(line) for line in mrz.get("lines") or []] if unmasked else [],
        "lines_hidden": not unmasked,
        "valid": bool(mrz.get("valid")),
        "check_digits": dict(mrz.get("check_digits") or {}),
        "repairs": list(mrz.get("repairs") or []),
        "errors": errors if unmasked else [_mask_error(e) for e in errors],
        "confirmed": mrz.get("confirmed_by_second_read"),
    }


@dataclass
class Revealed:
    """The pictures of one reveal: ``shown`` side -> data: URL; ``unavailable`` side -> why it
    cannot be displayed (it was fetched, and the fetch recorded, but it does not decode)."""

    shown: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def _image_items(
    images: dict[ImageSide, IdentityImage], revealed: Revealed | None, sides: Sequence[ImageSide]
) -> list[dict[str, Any]]:
    """What ``identity/_image.html`` draws for each side; ``key`` is its shortcut."""
    revealed = revealed or Revealed()
    return [
        {
            "side": side.value,
            "label": SIDE_LABELS[side],
            "image": images.get(side),
            "src": revealed.shown.get(side.value),
            "unavailable": revealed.unavailable.get(side.value),
            "key": str(SIDES.index(side) + 1),
        }
        for side in sides
    ]


def _staff_name(db: Session, staff_id: int | None) -> str | None:
    if staff_id is None:
        return None
    user = db.get(StaffUser, staff_id)
    return user.name if user is not None else None


def _render(
    request: Request,
    db: Session,
    who: ConsoleUser,
    settings: Settings,
    verification_id: int,
    *,
    revealed: Revealed | None = None,
    error: str | None = None,
    error_field: str | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    p = who.principal
    v = service.get(db, p, verification_id)
    profile = _profile(db, p, v)
    checks_raw = list(v.checks or [])
    by_name = {str(c.get("name")): c for c in checks_raw}
    fields, source_keys = _field_rows(v, profile, by_name)
    images = _images(db, v.id)
    failed = [check_label(str(c.get("name"))) for c in checks_raw if c.get("status") == "failed"]
    warnings = [check_label(str(c.get("name"))) for c in checks_raw if c.get("status") == "warning"]
    can_decide = v.status == VerificationStatus.review and p.can(Permission.identity_decide)
    locale = messages.normalize_locale(profile["locale"])
    form = form or {}
    return _page(
        request,
        who,
        "identity/review.html",
        status_code=status_code,
        v=v,
        profile=profile,
        fields=fields,
        sources=[(s, SOURCE_LABELS[s]) for s in source_keys],
        checks=_checks_view(checks_raw, unmasked=profile["unmasked"]),
        counts={
            s.value: sum(1 for c in checks_raw if c.get("status") == s.value) for s in CheckStatus
        },
        failed=failed,
        warnings=warnings,
        images=_image_items(images, revealed, SIDES),
        can_images=p.can(Permission.identity_images),
        can_decide=can_decide,
        reject_options=_reject_options(v, locale) if can_decide else [],
        locale=locale,
        decided_by=_staff_name(db, v.decided_by_id),
        reasons=[(r, reason_label(r)) for r in (v.reasons or [])],
        mrz=_mrz_view(v.fields or {}, unmasked=profile["unmasked"]),
        reader_errors=[
            str(e) if profile["unmasked"] else _mask_error(str(e))
            for e in (v.fields or {}).get("reader_errors") or []
        ],
        error=error,
        error_field=error_field,
        form=form,
    )


def _display_src(data: bytes, settings: Settings) -> str:
    """The image as a data: URL of a fresh JPEG: upright, bounded, without metadata."""
    decoded = image_codec.decode(
        data, max_bytes=max(settings.identity_max_upload_bytes, len(data)),
        max_pixels=settings.identity_max_pixels,
    )  # fmt: skip
    picture = decoded.image
    if max(picture.size) > DISPLAY_MAX_SIDE:
        picture = picture.copy()
        picture.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=DISPLAY_QUALITY, optimize=False)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _reveal(
    db: Session,
    p: Principal,
    settings: Settings,
    v: IdentityVerification,
    sides: Sequence[ImageSide],
) -> Revealed:
    images = _images(db, v.id)
    reason = f"identity review of verification {v.id}"
    if v.case_id is not None:
        reason += f" (case {v.case_id})"
    out = Revealed()
    for side in sides:
        image = images.get(side)
        if image is None:
            continue
        data, _media_type = service.image(db, p, image.id, reason=reason, settings=settings)
        try:
            out.shown[side.value] = _display_src(data, settings)
        except image_codec.ImageRejected as exc:
            # Accepted at upload but refused now (a limit lowered since, a codec changed):
            # the reviewer is told why, and the other sides still show.
            out.unavailable[side.value] = exc.message
    return out


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _no_store(response: Response) -> Response:
    response.headers["cache-control"] = "no-store"
    return response


# --- routes -----------------------------------------------------------------------------


@router.get("/identity")
def review_list(request: Request, db: DB, who: Console, cursor: str | None = None) -> HTMLResponse:
    """Verifications waiting for a person, oldest first."""
    p = who.principal
    p.require(Permission.identity_read)
    rows, next_cursor = service.list_reviews(db, p, cursor=cursor, limit=50)
    wanted = {v.account_id for v in rows}
    external = {
        row.id: row.external_id
        for row in db.execute(select(Account.id, Account.external_id).where(Account.id.in_(wanted)))
    }
    key = request.query_params.get("notice")
    notice = {"kind": NOTICES[key][0], "text": NOTICES[key][1]} if key in NOTICES else None
    return _page(
        request,
        who,
        "identity/list.html",
        rows=[
            {
                "v": v,
                "account": external.get(v.account_id),
                "reasons": [(r, reason_label(r)) for r in (v.reasons or [])[:4]],
                "more": max(0, len(v.reasons or []) - 4),
            }
            for v in rows
        ],
        next_cursor=next_cursor,
        notice=notice,
    )


@router.get("/identity/verifications/{verification_id}")
def review_page(
    request: Request, db: DB, settings: AppSettings, who: Console,
    verification_id: VerificationId,
) -> HTMLResponse:  # fmt: skip
    who.principal.require(Permission.identity_read)
    return _render(request, db, who, settings, verification_id)


@router.get("/identity/cases/{case_id}")
def case_verification(db: DB, who: Console, case_id: CaseId) -> RedirectResponse:
    """From an ``identity_review`` case to its verification."""
    p = who.principal
    p.require(Permission.identity_read)
    case = cases.get_case(db, p, case_id)  # 404 for a case the viewer may not see
    found = db.scalar(
        select(IdentityVerification.id)
        .where(IdentityVerification.case_id == case.id)
        .order_by(IdentityVerification.id.desc())
        .limit(1)
    )
    if found is None:
        raise NotFound(f"case {case_id} has no identity verification", code="not_found")
    return RedirectResponse(f"/identity/verifications/{found}", status_code=303)


@router.post("/identity/verifications/{verification_id}/reveal")
def reveal_images(
    request: Request, db: DB, settings: AppSettings, who: ConsolePost,
    verification_id: VerificationId, side: Annotated[str, Form()] = "all",
) -> Response:  # fmt: skip
    """Show the images (one side, or ``all``): each one audited by ``service.image``. htmx
    gets the images row; a plain form post gets the whole screen."""
    p = who.principal
    p.require(Permission.identity_read)
    if side == "all":
        sides: list[ImageSide] = list(SIDES)
    else:
        try:
            sides = [ImageSide(side)]
        except ValueError:
            raise InvalidInput(
                "side must be front, back, selfie or all", field="side", code="invalid_side"
            ) from None
    v = service.get(db, p, verification_id)
    shown = _reveal(db, p, settings, v, sides)
    if not _is_htmx(request):
        return _no_store(_render(request, db, who, settings, verification_id, revealed=shown))
    images = _images(db, v.id)
    return _no_store(
        templates.TemplateResponse(
            request,
            "identity/_image.html",
            {
                "items": _image_items(images, shown, sides),
                "v": v,
                "can_images": True,
                "csrf_token": who.csrf_token,
            },
        )
    )


def _attention(checks: Sequence[dict[str, Any]]) -> str:
    """Why approving needs a confirmation ("" when it does not): a failed check, or a warning
    the machine left for a person (screening, face, reuse, editing, an unconfirmed read...)."""
    statuses = {c.get("status") for c in checks}
    if CheckStatus.failed.value in statuses:
        return "some checks failed"
    if CheckStatus.warning.value in statuses:
        return "some checks need a look"
    return ""


def _parse_decision(
    decision: str, reasons: list[str], note: str, version: str, confirm: str, attention: str
) -> tuple[str, list[Reason], str | None, int]:
    if decision not in DECISIONS:
        raise InvalidInput(
            "choose approve, reject or escalate", field="decision", code="invalid_decision"
        )
    chosen: list[Reason] = []
    for raw in reasons:
        try:
            chosen.append(Reason(raw))
        except ValueError:
            raise InvalidInput(
                f"{raw!r} is not a reason code", field="reasons", code="invalid_reason"
            ) from None
    text = note.strip() or None
    if text is not None and len(text) > 4000:
        raise InvalidInput("the note is longer than 4000 characters", field="note", code="too_long")
    if not version.strip():
        # Without it a second reviewer would silently overwrite the first one's decision.
        raise InvalidInput(
            "the version you saw is missing: reload the screen and decide again",
            field="version", code="version_required",
        )  # fmt: skip
    if not version.strip().isdigit() or len(version.strip()) > 18:
        raise InvalidInput("version must be a number", field="version", code="invalid_version")
    expected = int(version.strip())
    if decision == "reject" and not chosen:
        raise InvalidInput(
            "choose at least one reason to tell the user", field="reasons",
            code="reason_required",
        )  # fmt: skip
    if decision == "escalate" and text is None:
        raise InvalidInput(
            "say why you escalate: the specialist reads it first", field="note",
            code="note_required",
        )  # fmt: skip
    if decision == "approve" and attention and confirm != "1":
        raise InvalidInput(
            f"{attention}: confirm that you approve anyway", field="confirm",
            code="confirmation_required",
        )  # fmt: skip
    return decision, chosen, text, expected


@router.post("/identity/verifications/{verification_id}/decision")
def decide(
    request: Request,
    db: DB,
    settings: AppSettings,
    who: ConsolePost,
    verification_id: VerificationId,
    decision: Annotated[str, Form()] = "",
    reasons: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Approve, reject (with the reasons the user is told) or escalate. A refusal shows the
    screen again with the problem next to its control and writes nothing."""
    p = who.principal
    p.require(Permission.identity_decide)
    form = {"decision": decision, "reasons": reasons or [], "note": note}
    try:
        v = db.get(IdentityVerification, verification_id)
        if v is None:
            raise NotFound(
                f"no identity verification {verification_id}", code="verification_not_found"
            )
        chosen, picked, text, expected = _parse_decision(
            decision, reasons or [], note, version, confirm, _attention(v.checks or [])
        )
        service.decide(
            db, p, verification_id, decision=chosen, reasons=picked, note=text,
            expected_version=expected,
        )  # fmt: skip
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _render(
            request, db, who, settings, verification_id, error=exc.message,
            error_field=exc.field, form=form, status_code=exc.status_code,
        )  # fmt: skip
    notice = {"approve": "approved", "reject": "rejected", "escalate": "escalated"}[chosen]
    return RedirectResponse(f"/identity?notice={notice}", status_code=303)
