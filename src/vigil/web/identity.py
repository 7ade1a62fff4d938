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
  masked by ``vigil.identity.masking`` (the masks the API uses too: the accounts' masks for
  names and numbers, dates and MRZ lines hidden). Comparison results (match, differs) stay visible.
- A picture that cannot be decoded for display (e.g. ``identity_max_pixels`` lowered after
  the upload) is shown as a "cannot display" placeholder saying why, never a server error.
- Decisions go through ``identity.service.decide`` with the version the reviewer saw (required:
  a form without it is refused), so a second reviewer deciding the same verification gets a
  conflict, never a silent overwrite. Approving while ``service.approval_attention`` has
  something to say (a check failed, or warns for a person: possible screening hit, uncertain
  face, unconfirmed read, editing signs...) needs an explicit confirmation (``confirm=1``):
  the service's rule, which also decides when the approve key asks first. Rejecting needs at
  least one of ``service.REJECTION_REASONS``; escalating needs a note. A refused decision
  changes nothing.
- After a decision the reviewer goes on to the next verification waiting for them (as ``n``
  on the list and the identity queue: :func:`next_waiting`, oldest first, its case taken for
  them), told what was decided; to the list when none is left.
- Messages the console shows are sentences (:func:`sentence`): a capital first letter and a
  full stop, whichever layer raised them.
- Views are thin: the same services as the API, under the logged-in staff member's principal,
  inside the request's transaction.
"""

from __future__ import annotations

import base64
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from PIL import Image
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.api.deps import DB, AppSettings
from vigil.auth.models import StaffUser
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases import repository as case_repository
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus
from vigil.config import Settings
from vigil.identity import images as image_codec
from vigil.identity import messages, mrz, service
from vigil.identity.masking import HIDDEN, mask_error, mask_evidence, mask_value
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
from vigil.web.common import CaseId, notice_of, page
from vigil.web.render import templates

router = APIRouter(include_in_schema=False)

VerificationId = Annotated[int, Path(ge=1, le=2**63 - 1)]

# Large enough to read a document's microprint at 2x zoom, small enough to send inline.
DISPLAY_MAX_SIDE = 2400
DISPLAY_QUALITY = 90

SIDES = (ImageSide.front, ImageSide.back, ImageSide.selfie)
SIDE_LABELS = {ImageSide.front: "Front", ImageSide.back: "Back", ImageSide.selfie: "Selfie"}
DECISIONS = ("approve", "reject", "escalate")

# What a decision did, said on the screen that follows it (the next verification, or the
# list when none is left): "Verification #12 approved."
DECIDED = {
    "approved": "approved",
    "rejected": "rejected; the user is told why",
    "escalated": "escalated to a specialist",
}
NOTICES = {
    "none_waiting": ("info", "No verification is waiting for you. Well done."),
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


def sentence(text: str) -> str:
    """A message as the console writes it: a capital first letter and a closing full stop,
    whichever layer raised it (``the version you saw is missing`` -> ``The version you saw
    is missing.``)."""
    text = " ".join(str(text).split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?…" else text + "."


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


# The evidence keys a reuse check's links stand for (the rest, e.g. ``max_distance``, stays
# as label/value rows).
_REUSE_KEYS = frozenset({"matches", "accounts"})
_REUSE_CHECKS = (CheckName.image_reuse.value, CheckName.document_reuse.value)


def _checks_view(
    raw: Sequence[dict[str, Any]],
    *,
    unmasked: bool,
    reuse: dict[str, list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """The checks for the table, failed first. ``reuse`` (check name -> the other
    verifications and accounts, from :func:`_reuse_view`) replaces those checks' raw
    ``matches``/``accounts`` evidence with links."""
    reuse = reuse or {}

    def evidence(c: dict[str, Any]) -> dict[str, Any]:
        found = c.get("evidence") or {}
        if str(c.get("name")) in reuse:
            found = {k: v for k, v in found.items() if k not in _REUSE_KEYS}
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
            "reuse": reuse.get(str(c.get("name", "")), []),
        }
        for c in raw
    ]
    rows.sort(key=lambda r: STATUS_ORDER.get(str(r["status"]), 4))
    return rows


def _other_accounts(
    db: Session, p: Principal, v: IdentityVerification, account_ids: Sequence[int],
    reason: str | None,
) -> dict[int, dict[str, Any]]:  # fmt: skip
    """The other accounts a reuse check names, as the viewer may see them: the legal name
    in clear when the screen's personal data is shown (``reason``: recorded as a reveal, as
    the profile's is), masked otherwise."""
    unmask = reason is not None and p.can(Permission.pii_reveal)
    out: dict[int, dict[str, Any]] = {}
    for account_id in dict.fromkeys(account_ids):
        try:
            account, unmasked = accounts.get_account(
                db, p, account_id=account_id, reveal=unmask,
                reason=f"{reason}: the same document or image" if unmask else None,
                view="identity_review",
            )  # fmt: skip
        except NotFound:
            continue
        name = account.legal_name if unmasked else accounts.mask_name(account.legal_name)
        out[account_id] = {
            "external_id": account.external_id,
            "display_name": account.display_name,
            "legal_name": name,
            "status": account.status.value,
        }
    return out


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _reuse_view(
    db: Session, p: Principal, v: IdentityVerification, checks: dict[str, dict[str, Any]],
    reason: str | None,
) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """What a failed reuse check points at, one row per other verification: its id (a link
    to its review screen), its account (a link to the account's verifications, the name
    masked as the viewer's role requires), and for an image, which side matched which and
    how closely. The document check's evidence names accounts only, so its verifications
    are found again by this verification's fingerprint."""
    found: dict[str, list[dict[str, Any]]] = {}
    image = checks.get(CheckName.image_reuse.value)
    if image is not None and image.get("status") == CheckStatus.failed.value:
        rows = []
        for m in (image.get("evidence") or {}).get("matches") or []:
            if not isinstance(m, dict):
                continue
            distance = m.get("distance")
            rows.append(
                {
                    "verification_id": _int(m.get("verification_id")),
                    "account_id": _int(m.get("account_id")),
                    "external_id": m.get("account_external_id") or m.get("account"),
                    "side": str(m.get("side") or ""),
                    "this_side": str(m.get("this_side") or ""),
                    "distance": distance if isinstance(distance, int) else None,
                    "how": str(m.get("match") or ""),
                }
            )
        found[CheckName.image_reuse.value] = rows
    document = checks.get(CheckName.document_reuse.value)
    if document is not None and document.get("status") == CheckStatus.failed.value:
        rows = []
        if v.document_fingerprint:
            rows = [
                {
                    "verification_id": m["verification_id"],
                    "account_id": m["account_id"],
                    "external_id": m["account_external_id"],
                }
                for m in service.accounts_with_fingerprint(
                    db, v.document_fingerprint, except_account_id=v.account_id
                )
            ]
        listed = {r["external_id"] for r in rows}
        named = [str(a) for a in (document.get("evidence") or {}).get("accounts") or []]
        missing = [a for a in named if a not in listed]
        if missing:
            # Accounts the check named whose verification is no longer found by the
            # fingerprint (e.g. a key rotated since): still linked, by account.
            ids = {
                external: account_id
                for external, account_id in db.execute(
                    select(Account.external_id, Account.id).where(Account.external_id.in_(missing))
                )
            }
            rows += [
                {"verification_id": None, "account_id": ids.get(a), "external_id": a}
                for a in missing
            ]
        found[CheckName.document_reuse.value] = rows
    wanted = [r["account_id"] for rows in found.values() for r in rows if r["account_id"]]
    others = _other_accounts(db, p, v, wanted, reason) if wanted else {}
    for rows in found.values():
        for r in rows:
            r["account"] = others.get(r["account_id"]) if r["account_id"] else None
    return found


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
        if key == "document_kind" and isinstance(value, str):
            return value.replace("_", " ")
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
    # A profile has no document kind: nothing to compare in the profile column. The kind
    # the user claimed is said in the row instead when the document reads as another one.
    claimed = v.kind.value.replace("_", " ") if kind_read and kind_read != v.kind.value else None
    rows = [
        row("Name", "name", _name(merged), profile["legal_name"],
            _check_state(checks, CheckName.profile_name)),
        row("Date of birth", "birth_date", merged.get("birth_date"), profile["date_of_birth"],
            _check_state(checks, CheckName.profile_birth_date)),
        row("Nationality", "nationality", merged.get("nationality"), profile["country"],
            _check_state(checks, CheckName.profile_country)),
        row("Issuing country", "issuing_country", merged.get("issuing_country"), None, ""),
        row("Document number", "document_number", merged.get("document_number"), None, ""),
        {**row("Kind", "document_kind", kind_read, None, ""), "claimed": claimed},
        row("Expires", "expiry_date", merged.get("expiry_date"), None,
            {"match": "", "mismatch": "mismatch"}.get(expired, "")),
        row("Issued", "issue_date", merged.get("issue_date"), None, ""),
        row("Sex", "sex", merged.get("sex"), None, ""),
    ]  # fmt: skip
    return rows, source_keys


def _working_on(db: Session, p: Principal, v: IdentityVerification) -> bool:
    """Whether the viewer is deciding this verification now: it waits for a decision, they
    may decide it, and its case is assigned to them (docs/encryption.md: the one place the
    console shows personal data without a typed reason, because comparing is the task)."""
    if v.status != VerificationStatus.review or v.case_id is None:
        return False
    if not (p.can(Permission.identity_decide) and p.can(Permission.pii_reveal)):
        return False
    case = db.get(Case, v.case_id)
    return (
        case is not None
        and case.status == CaseStatus.assigned
        and case.assignee_id is not None
        and case.assignee_id == p.staff_id
    )


def reveal_reason(
    db: Session, p: Principal, v: IdentityVerification, typed: str | None
) -> str | None:
    """The reason personal data is shown on the review screen, or ``None`` (masked): the
    reviewer's own words from the Reveal form, else the assigned review itself."""
    if typed is not None:
        return typed
    if _working_on(db, p, v):
        return f"identity review of verification {v.id} (case {v.case_id}, assigned to me)"
    return None


def _profile(
    db: Session, p: Principal, v: IdentityVerification, reason: str | None
) -> dict[str, Any]:
    """The account's profile values to compare with: unmasked (recorded as a reveal with
    ``reason``) when the screen shows personal data, masked otherwise (the view recorded).
    A blank typed reason is refused by ``accounts.get_account`` (422 ``reason_required``)."""
    unmask = reason is not None
    account, unmasked = accounts.get_account(
        db, p, account_id=v.account_id, reveal=unmask, reason=reason if unmask else None,
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
    """Every reason a reviewer can reject for (``service.REJECTION_REASONS``), with what the
    user reads in their language.
    The verification's own reasons come first (so ``1``, ``2``... pick them), the user
    reasons it already carries ticked; then the reasons the user can act on, then the ones
    never disclosed (reuse, screening, editing...), which show the neutral text."""
    own = [r for r in [*(v.user_reasons or []), *(v.reasons or [])] if r in Reason.__members__]
    own = list(dict.fromkeys(own))
    options = []
    for reason in service.REJECTION_REASONS:
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
        "errors": errors if unmasked else [mask_error(e) for e in errors],
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
    reveal_typed: str | None = None,
    error: str | None = None,
    error_field: str | None = None,
    form: dict[str, Any] | None = None,
    notice: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    p = who.principal
    v = service.get(db, p, verification_id)
    reason = reveal_reason(db, p, v, reveal_typed)
    profile = _profile(db, p, v, reason)
    checks_raw = list(v.checks or [])
    by_name = {str(c.get("name")): c for c in checks_raw}
    fields, source_keys = _field_rows(v, profile, by_name)
    images = _images(db, v.id)
    # The approve key asks first exactly when the service would want the confirmation.
    attention = service.approval_attention(checks_raw)
    failed = [check_label(str(c.get("name"))) for c in checks_raw if c.get("status") == "failed"]
    warnings = [check_label(str(c.get("name"))) for c in checks_raw if c.get("status") == "warning"]
    can_decide = v.status == VerificationStatus.review and p.can(Permission.identity_decide)
    locale = messages.normalize_locale(profile["locale"])
    form = form or {}
    return page(
        request,
        who,
        "identity/review.html",
        status_code=status_code,
        v=v,
        profile=profile,
        fields=fields,
        sources=[(s, SOURCE_LABELS[s]) for s in source_keys],
        checks=_checks_view(
            checks_raw, unmasked=profile["unmasked"], reuse=_reuse_view(db, p, v, by_name, reason)
        ),
        counts={
            s.value: sum(1 for c in checks_raw if c.get("status") == s.value) for s in CheckStatus
        },
        failed=failed,
        warnings=warnings,
        attention=attention,
        images=_image_items(images, revealed, SIDES),
        can_images=p.can(Permission.identity_images),
        can_decide=can_decide,
        reject_options=_reject_options(v, locale) if can_decide else [],
        locale=locale,
        decided_by=_staff_name(db, v.decided_by_id),
        reasons=[(r, reason_label(r)) for r in (v.reasons or [])],
        mrz=_mrz_view(v.fields or {}, unmasked=profile["unmasked"]),
        reader_errors=[
            str(e) if profile["unmasked"] else mask_error(str(e))
            for e in (v.fields or {}).get("reader_errors") or []
        ],
        error=sentence(error) if error else None,
        error_field=error_field,
        form=form,
        notice=notice,
        can_next=_can_pull(p),
        can_reveal_data=p.can(Permission.pii_reveal) and not profile["unmasked"],
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
            out.unavailable[side.value] = sentence(exc.message)
    return out


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _no_store(response: Response) -> Response:
    response.headers["cache-control"] = "no-store"
    return response


# --- the next verification to work ---------------------------------------------------------


def _can_pull(p: Principal) -> bool:
    return p.staff_id is not None and p.can(Permission.identity_decide)


def next_waiting(db: Session, p: Principal, *, skip: int | None = None) -> int | None:
    """The oldest verification in review (by submission, as the list orders them) that ``p``
    may work now, taken for them (its case assigned to them, as the console's "next case"
    does), or ``None``.

    A verification may be worked when its case is open in a queue ``p`` pulls from (the
    queues, tiers and languages of ``cases.repository.pull_scope``), or is already theirs,
    or when it has no case. A case someone else holds, or one on hold, is left alone. On
    PostgreSQL a candidate's case is locked with ``SKIP LOCKED``, so two agents pressing
    ``n`` at once get two different verifications; on SQLite writers take turns anyway.
    ``skip`` leaves out one verification (the one just decided, when it stays in review
    after an escalation)."""
    staff_id = p.staff_id
    if staff_id is None or not p.can(Permission.identity_decide):
        return None
    workable = or_(
        IdentityVerification.case_id.is_(None),
        and_(Case.status == CaseStatus.assigned, Case.assignee_id == staff_id),
    )
    scope = case_repository.pull_scope(db, staff_id, p.role, p.languages)
    if scope.queue_ids and p.can(Permission.cases_work):
        in_scope = and_(
            Case.status == CaseStatus.open,
            Case.queue_id.in_(scope.queue_ids),
            Case.tier.in_(scope.tiers),
        )
        if scope.languages:
            in_scope = and_(in_scope, func.lower(Case.language).in_(scope.languages))
        workable = or_(workable, in_scope)
    stmt = (
        select(IdentityVerification.id, IdentityVerification.case_id, Case.status)
        .outerjoin(Case, Case.id == IdentityVerification.case_id)
        .where(IdentityVerification.status == VerificationStatus.review, workable)
        .order_by(IdentityVerification.created_at, IdentityVerification.id)
        .limit(50)
    )
    if skip is not None:
        stmt = stmt.where(IdentityVerification.id != skip)
    postgres = db.get_bind().dialect.name == "postgresql"
    for verification_id, case_id, case_status in db.execute(stmt):
        if case_id is None or case_status != CaseStatus.open:
            return verification_id
        take = select(Case.id).where(Case.id == case_id, Case.status == CaseStatus.open)
        if postgres:
            take = take.with_for_update(skip_locked=True)
        if db.scalar(take) is None:
            continue  # another agent is taking it right now
        cases.assign(db, p, case_id)
        return verification_id
    return None


def _decided_notice(request: Request) -> dict[str, str] | None:
    """``?notice=approved&decided=12`` -> "Verification #12 approved." (other keys from
    ``NOTICES``)."""
    key = request.query_params.get("notice") or ""
    if key in NOTICES:
        kind, text = NOTICES[key]
        return {"kind": kind, "text": text}
    if key not in DECIDED:
        # The console's shared notices: e.g. the work loop's "This is your next case."
        return notice_of(request)
    decided = request.query_params.get("decided") or ""
    which = f" #{int(decided)}" if decided.isdigit() and len(decided) <= 18 else ""
    return {"kind": "ok", "text": f"Verification{which} {DECIDED[key]}."}


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
    notice = _decided_notice(request)
    if notice is not None and request.query_params.get("decided"):
        notice["text"] += " No other verification is waiting for you."
    return page(
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
        can_next=_can_pull(p),
    )


@router.post("/identity/next")
def next_review(db: DB, who: ConsolePost) -> RedirectResponse:
    """Open the oldest verification waiting for this reviewer, taking its case (``n`` on the
    review list and on the identity queue)."""
    p = who.principal
    p.require(Permission.identity_decide)
    found = next_waiting(db, p)
    if found is None:
        return RedirectResponse("/identity?notice=none_waiting", status_code=303)
    return RedirectResponse(f"/identity/verifications/{found}", status_code=303)


@router.get("/identity/verifications/{verification_id}")
def review_page(
    request: Request, db: DB, settings: AppSettings, who: Console,
    verification_id: VerificationId,
) -> HTMLResponse:  # fmt: skip
    who.principal.require(Permission.identity_read)
    return _render(request, db, who, settings, verification_id, notice=_decided_notice(request))


def _case_verification_id(db: Session, p: Principal, case_id: int) -> int | None:
    case = cases.get_case(db, p, case_id)  # 404 for a case the viewer may not see
    return db.scalar(
        select(IdentityVerification.id)
        .where(IdentityVerification.case_id == case.id)
        .order_by(IdentityVerification.id.desc())
        .limit(1)
    )


@router.get("/identity/cases/{case_id}/link")
def case_link(request: Request, db: DB, who: Console, case_id: CaseId) -> HTMLResponse:
    """The case page's way to the review screen (fetched by the page): the button when the
    case has a verification and the viewer may read it, nothing otherwise."""
    p = who.principal
    found = _case_verification_id(db, p, case_id) if p.can(Permission.identity_read) else None
    if found is None:
        return HTMLResponse('<span id="identity-link" hidden></span>')
    return templates.TemplateResponse(
        request, "identity/_case_link.html", {"verification_id": found}
    )


@router.get("/identity/cases/{case_id}")
def case_verification(db: DB, who: Console, case_id: CaseId) -> RedirectResponse:
    """From an ``identity_review`` case to its verification."""
    p = who.principal
    p.require(Permission.identity_read)
    found = _case_verification_id(db, p, case_id)
    if found is None:
        raise NotFound(f"Case {case_id} has no identity verification.", code="not_found")
    return RedirectResponse(f"/identity/verifications/{found}", status_code=303)


@router.get("/identity/accounts/{external_id}")
def account_verifications(
    request: Request, db: DB, who: Console,
    external_id: Annotated[str, Path(min_length=1, max_length=200)],
    cursor: str | None = None,
) -> HTMLResponse:  # fmt: skip
    """An account's verifications, newest first: where a reuse check's account link leads.
    The profile is shown as the review screen shows one (masked unless the viewer may
    reveal personal data, the reveal recorded)."""
    return _account_page(request, db, who, external_id, cursor=cursor)


def _account_page(
    request: Request, db: Session, who: ConsoleUser, external_id: str, *,
    cursor: str | None = None, reason: str | None = None, error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    """The account page: personal data masked unless ``reason`` (typed by the viewer in the
    Reveal form) is given, in which case the reveal is recorded with it."""
    p = who.principal
    p.require(Permission.identity_read)
    account, unmasked = accounts.get_account(
        db, p, external_id=external_id, reveal=reason is not None, reason=reason,
        view="identity_review",
    )  # fmt: skip
    rows, next_cursor = service.list_for_account(db, p, external_id, cursor=cursor, limit=50)
    dob = account.date_of_birth
    return page(
        request,
        who,
        "identity/account.html",
        account={
            "external_id": account.external_id,
            "display_name": account.display_name,
            "legal_name": (
                account.legal_name if unmasked else accounts.mask_name(account.legal_name)
            ),
            "date_of_birth": (dob.isoformat() if unmasked else HIDDEN) if dob else None,
            "country": account.country,
            "status": account.status.value,
            "unmasked": unmasked,
        },
        rows=[
            {"v": v, "reasons": [(r, reason_label(r)) for r in (v.reasons or [])[:4]]} for v in rows
        ],
        next_cursor=next_cursor,
        notice=None,
        can_reveal_data=p.can(Permission.pii_reveal) and not unmasked,
        error=error,
        status_code=status_code,
    )


@router.post("/identity/accounts/{external_id}/reveal")
def reveal_account(
    request: Request, db: DB, who: ConsolePost,
    external_id: Annotated[str, Path(min_length=1, max_length=200)],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:  # fmt: skip
    """Show the account's personal data for a reason the viewer types (needs
    ``pii:reveal``; recorded as ``accounts.account.reveal`` with that reason). A blank
    reason is refused (422 ``reason_required``) and the page stays masked."""
    who.principal.require(Permission.pii_reveal)
    if not reason.strip():
        return _no_store(
            _account_page(
                request, db, who, external_id, status_code=422,
                error="Revealing personal data needs a reason.",
            )
        )  # fmt: skip
    return _no_store(_account_page(request, db, who, external_id, reason=reason.strip()))


@router.post("/identity/verifications/{verification_id}/reveal-data")
def reveal_data(
    request: Request, db: DB, settings: AppSettings, who: ConsolePost,
    verification_id: VerificationId, reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:  # fmt: skip
    """Show the review screen's personal data (profile, what the document says, the MRZ)
    for a reason the viewer types; recorded as a reveal with that reason."""
    who.principal.require(Permission.pii_reveal)
    if not reason.strip():
        return _no_store(
            _render(
                request, db, who, settings, verification_id, status_code=422,
                error="revealing personal data needs a reason", error_field="reason",
            )
        )  # fmt: skip
    return _no_store(
        _render(request, db, who, settings, verification_id, reveal_typed=reason.strip())
    )


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
                "The side must be front, back, selfie or all.", field="side",
                code="invalid_side",
            ) from None  # fmt: skip
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


def _parse_decision(
    decision: str, reasons: list[str], note: str, version: str
) -> tuple[str, list[Reason], str | None, int]:
    """The form as the service's arguments, refusing what the form itself got wrong. The
    rules of deciding (a confirmation to approve while a check failed or warns, the version,
    the case's tier) are the service's, for the console and the API alike."""
    if decision not in DECISIONS:
        raise InvalidInput(
            "Choose approve, reject or escalate.", field="decision", code="invalid_decision"
        )
    chosen: list[Reason] = []
    for raw in reasons:
        try:
            chosen.append(Reason(raw))
        except ValueError:
            raise InvalidInput(
                f"Unknown reason {raw!r}.", field="reasons", code="invalid_reason"
            ) from None
    text = note.strip() or None
    if text is not None and len(text) > 4000:
        raise InvalidInput(
            "The note is longer than 4000 characters.", field="note", code="too_long"
        )
    if not version.strip():
        # Without it a second reviewer would silently overwrite the first one's decision.
        raise InvalidInput(
            "The version you saw is missing: reload the screen and decide again.",
            field="version", code="version_required",
        )  # fmt: skip
    if not version.strip().isdigit() or len(version.strip()) > 18:
        raise InvalidInput("The version must be a number.", field="version", code="invalid_version")
    expected = int(version.strip())
    if decision == "reject" and not chosen:
        raise InvalidInput(
            "Choose at least one reason to tell the user.", field="reasons",
            code="reason_required",
        )  # fmt: skip
    if decision == "escalate" and text is None:
        raise InvalidInput(
            "Say why you escalate: the specialist reads it first.", field="note",
            code="note_required",
        )  # fmt: skip
    return decision, chosen, text, expected


def _form_field(name: str | None) -> str | None:
    """The service's field names as the form's: ``reasons.0`` -> ``reasons``,
    ``expected_version`` -> ``version``."""
    if name is None:
        return None
    name = name.split(".", 1)[0]
    return "version" if name == "expected_version" else name


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
                f"No identity verification {verification_id}.", code="verification_not_found"
            )
        chosen, picked, text, expected = _parse_decision(decision, reasons or [], note, version)
        service.decide(
            db, p, verification_id, decision=chosen, reasons=picked, note=text,
            expected_version=expected, confirm=confirm == "1",
        )  # fmt: skip
    except VigilError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _render(
            request, db, who, settings, verification_id, error=exc.message,
            error_field=_form_field(exc.field), form=form, status_code=exc.status_code,
        )  # fmt: skip
    # On to the next verification waiting for this reviewer, saying what was decided; the
    # list when none is left.
    done = {"approve": "approved", "reject": "rejected", "escalate": "escalated"}[chosen]
    query = f"notice={done}&decided={verification_id}"
    following = next_waiting(db, p, skip=verification_id)
    if following is None:
        return RedirectResponse(f"/identity?{query}", status_code=303)
    return RedirectResponse(f"/identity/verifications/{following}?{query}", status_code=303)
