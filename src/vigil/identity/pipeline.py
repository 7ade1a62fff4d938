"""The identity pipeline: from sealed images to an outcome.

Two halves, so the slow part holds no transaction:

1. :func:`analyze` (CPU only, no database): decode each image, measure its quality, look for
   signs of editing, hash it, read the text (OCR) and the MRZ, the PDF417 barcode (AAMVA),
   compare the printed visual zone with the machine-readable read, find the faces and compare
   the selfie with the document's portrait (with no selfie, the portrait is still looked for).
2. :func:`finish` (database, the caller's transaction): look for the same document or image
   on other accounts, screen the holder against the loaded lists, run every check, decide,
   store the result; a ``review`` opens an ``identity_review`` case (Tier 1 ``identity``
   queue); the document joins the account's identifiers (the linked-accounts graph) and an
   ``identity_verified`` event goes to the rules; the marketplace is told by webhook.

:func:`process` runs both in one go (tests, the simulator's evaluation); the job
(:mod:`vigil.identity.tasks`) runs them around ``JobContext.end_transaction``.

Invariants:
- ``finish`` runs only on a verification in ``processing`` and moves it to its outcome's
  status in the same transaction as the case, the identifier, the event and the webhook:
  either all of them happen or none.
- A reader that fails on one image makes that image ``unreadable`` (a check reports it); it
  does not fail the verification.
- The document fingerprint is keyed (``service.fingerprint``), never a bare hash, and it
  and the graph's document identifier come only from a verified read
  (``Analysis.identity_read``: an MRZ passing its check digits with no unconfirmed repair,
  or a barcode parsed without errors, on photos that passed the quality check); otherwise
  the ``document_reuse`` check says why no fingerprint was used.
- A read the MRZ reader repaired is confirmed only by a read that needed no repair and
  shows the repaired characters (``checks.repairs_confirmed``); the visual zone compares
  those characters exactly.
- The document's portrait is found in any right-angle turn (``faces.largest_face``) and hashed
  upright (``forensics.portrait_hash(..., rotation=...)``): a document photographed sideways
  hashes like the same document photographed upright.
- Screening against no loaded list is ``skipped``, never ``passed``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.accounts import service as accounts_service
from vigil.accounts.models import Account, IdentifierKind
from vigil.accounts.schemas import IdentifierIn
from vigil.audit import service as audit
from vigil.cases import service as cases_service
from vigil.cases.models import CaseType, Severity
from vigil.config import Settings
from vigil.detection import service as detection_service
from vigil.detection.events import EventIn
from vigil.identity import (
    aamva,
    barcode,
    checks,
    decide,
    faces,
    forensics,
    images,
    mrz,
    ocr,
    quality,
    service,
    viz,
)
from vigil.identity.faces import FaceComparison
from vigil.identity.models import IdentityImage, IdentityVerification
from vigil.identity.types import (
    Check,
    CheckName,
    DocumentFields,
    DocumentKind,
    ImageSide,
    Outcome,
    VerificationStatus,
)
from vigil.kit import clock
from vigil.kit.errors import InvalidInput
from vigil.screening import service as screening_service

log = logging.getLogger("vigil.identity")

SYSTEM = service.SYSTEM
DOCUMENT_SIDES = (ImageSide.front, ImageSide.back)
# Kinds whose back must be submitted (the MRZ of a TD1 card, a licence's barcode).
TWO_SIDED = frozenset({DocumentKind.id_card, DocumentKind.driver_license,
                       DocumentKind.residence_permit})  # fmt: skip
# Kinds that carry an MRZ, and on which side we look first.
MRZ_SIDE = {
    DocumentKind.passport: ImageSide.front,
    DocumentKind.visa: ImageSide.front,
    DocumentKind.id_card: ImageSide.back,
    DocumentKind.residence_permit: ImageSide.back,
}
# AAMVA barcodes are issued in the United States and Canada.
BARCODE_COUNTRIES = frozenset({"US", "CA", "USA", "CAN"})


# --- analysis (no database) ----------------------------------------------------------------------


@dataclass
class SideAnalysis:
    side: ImageSide
    decoded: images.DecodedImage | None = None
    error: str | None = None  # why it could not be decoded
    quality: quality.QualityReport | None = None
    editing: forensics.EditingReport | None = None
    phash: str | None = None
    text: ocr.DocumentText | None = None


@dataclass
class Analysis:
    """What the readers found; everything a check needs except the database's answers."""

    kind: DocumentKind
    claimed_country: str | None
    sides: dict[ImageSide, SideAnalysis] = field(default_factory=dict)
    mrz: mrz.MrzResult | None = None
    mrz_side: ImageSide | None = None
    mrz_confirmed: bool = False
    barcode: aamva.AamvaResult | None = None
    barcode_error: str | None = None
    viz_fields: DocumentFields | None = None
    viz_comparison: viz.VizComparison | None = None
    faces: faces.FaceComparison | None = None  # selfie vs portrait (only with a selfie)
    # The document's portrait looked for alone, when there is no selfie to compare it with:
    # ``distance`` None, ``selfie_faces`` 0.
    portrait_faces: FaceComparison | None = None
    portrait_phash: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def submitted(self) -> set[ImageSide]:
        return set(self.sides)

    def image(self, side: ImageSide) -> Image.Image | None:
        found = self.sides.get(side)
        return found.decoded.image if found is not None and found.decoded is not None else None

    @property
    def document(self) -> DocumentFields:
        """The best read: the MRZ, else the barcode, else the printed text."""
        if self.mrz is not None:
            return self.mrz.fields
        if self.barcode is not None:
            return self.barcode.fields
        if self.viz_fields is not None:
            return self.viz_fields
        return DocumentFields(source="none")

    def phash(self, side: ImageSide) -> str | None:
        found = self.sides.get(side)
        return found.phash if found is not None else None

    @property
    def name_truncated(self) -> bool | None:
        """Whether the best read's name is known to be cut: AAMVA's truncation flags when
        the read is the barcode's; None for an MRZ (its readers tell a cut name from its
        length) or printed text."""
        if self.mrz is None and self.barcode is not None:
            return self.barcode.truncated
        return None

    @property
    def repairs_confirmed(self) -> bool:
        """Whether what check-digit repair changed in the MRZ read was seen by a read that
        needed no repair (``checks.repairs_confirmed``); True when nothing was repaired."""
        return checks.repairs_confirmed(
            self.mrz, second_read=self.mrz_confirmed, comparison=self.viz_comparison
        )

    def identity_read(self) -> tuple[DocumentFields | None, str | None]:
        """The read the document's identity may be taken from (the fingerprint for reuse,
        the identifier for the linked-accounts graph), or None and why not. A wrong number
        there links strangers and hides true reuse, so only a verified read counts: an MRZ
        that passes its check digits with no unconfirmed repair, or a barcode that parsed
        without errors, and never from photos that failed the quality check (blurred,
        glared, too small: the outcome is a request to retake them)."""
        for side in DOCUMENT_SIDES:
            part = self.sides.get(side)
            if part is not None and part.quality is not None and not part.quality.ok:
                return None, "image_quality"
        if self.mrz is not None:
            if not self.mrz.valid:
                return None, "mrz_invalid"
            if not self.repairs_confirmed:
                return None, "mrz_repairs_unconfirmed"
            return self.mrz.fields, None
        if self.barcode is not None:
            if self.barcode.errors:
                return None, "barcode_errors"
            return self.barcode.fields, None
        if self.viz_fields is not None and self.viz_fields.document_number:
            return None, "printed_text_only"
        return None, "nothing_read"

    @property
    def barcode_expected(self) -> bool:
        if self.kind is not DocumentKind.driver_license:
            return False
        return self.claimed_country is None or self.claimed_country in BARCODE_COUNTRIES


def _guard(analysis: Analysis, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one reader; a failure is logged and noted, and the check that needed it says so."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # a reader's bug must not lose the whole verification
        log.exception("identity reader %s failed", what)
        analysis.errors.append(f"{what}: {exc.__class__.__name__}: {exc}"[:300])
        return None


def analyze(
    settings: Settings,
    kind: DocumentKind,
    claimed_country: str | None,
    raw: dict[ImageSide, bytes],
) -> Analysis:
    """Read everything the images say. CPU-bound; touches no database."""
    analysis = Analysis(kind=kind, claimed_country=claimed_country)
    for side, data in raw.items():
        part = analysis.sides[side] = SideAnalysis(side)
        try:
            part.decoded = images.decode(
                data,
                max_bytes=settings.identity_max_upload_bytes,
                max_pixels=settings.identity_max_pixels,
            )
        except images.ImageRejected as exc:
            part.error = exc.code
            continue
        img = part.decoded.image
        part.quality = _guard(
            analysis, f"quality:{side}", quality.assess, img,
            blur_min=settings.identity_blur_min, glare_max=settings.identity_glare_max,
            min_short_side=settings.identity_min_pixels_short_side,
        )  # fmt: skip
        part.phash = _guard(analysis, f"phash:{side}", forensics.phash, img)
        if side in DOCUMENT_SIDES:
            part.editing = _guard(
                analysis, f"forensics:{side}", forensics.editing_signals, part.decoded
            )
            if _ocr_wanted(kind, side):
                part.text = _guard(
                    analysis, f"ocr:{side}", ocr.read_document, img,
                    turns=MRZ_SIDE.get(kind) is side,
                )  # fmt: skip

    _read_mrz(analysis)
    _read_barcode(analysis)
    read_visual_zone(analysis)
    _compare_faces(analysis)
    return analysis


def _ocr_wanted(kind: DocumentKind, side: ImageSide) -> bool:
    """OCR is most of the pipeline's time (about a second per pass on an idle core), so read
    only what a check uses: the front (its printed visual zone) and the side with the MRZ.
    Only the MRZ side is read turned when nothing is found upright; a licence's back holds a
    barcode, which the barcode reader finds in any orientation."""
    return side is ImageSide.front or MRZ_SIDE.get(kind) is side


def _read_mrz(analysis: Analysis) -> None:
    """The MRZ from whichever side has one, the expected side first; a valid read wins."""
    first = MRZ_SIDE.get(analysis.kind, ImageSide.front)
    order = [first] + [s for s in DOCUMENT_SIDES if s != first]
    best: tuple[mrz.MrzResult, ImageSide, bool] | None = None
    for side in order:
        part = analysis.sides.get(side)
        if part is None or part.text is None or part.text.mrz is None:
            continue
        candidate = (part.text.mrz, side, part.text.mrz_confirmed)
        if best is None or (candidate[0].valid and not best[0].valid):
            best = candidate
    if best is not None:
        analysis.mrz, analysis.mrz_side, analysis.mrz_confirmed = best


def _read_barcode(analysis: Analysis) -> None:
    if analysis.kind is not DocumentKind.driver_license and not analysis.barcode_expected:
        return
    for side in (ImageSide.back, ImageSide.front):
        img = analysis.image(side)
        if img is None:
            continue
        payloads = _guard(analysis, f"pdf417:{side}", barcode.read_pdf417, img) or []
        for payload in payloads:
            try:
                analysis.barcode = aamva.parse(payload)
                analysis.barcode_error = None
                return
            except aamva.AamvaError as exc:
                analysis.barcode_error = str(exc)[:300]


def read_visual_zone(analysis: Analysis) -> None:
    """The front's printed fields, and their comparison with the MRZ or barcode read. The
    characters the MRZ reader repaired are compared exactly (``viz.compare``'s
    ``exact_number``): the visual zone may confirm a repair only by printing what it
    restored."""
    front = analysis.sides.get(ImageSide.front)
    if front is None or front.text is None:
        return
    lines = front.text.lines
    analysis.viz_fields = _guard(analysis, "viz:extract", viz.extract, lines, kind=analysis.kind)
    reference = (
        analysis.mrz.fields
        if analysis.mrz is not None
        else analysis.barcode.fields
        if analysis.barcode is not None
        else None
    )
    if reference is not None:
        # The printed data of a TD1 card is on its front, its MRZ on the back: compare the
        # front's printed text with the read wherever it came from. A barcode says itself
        # whether it cut the name (AAMVA DDE/DDF/DDG); an MRZ's cut is told from its length.
        exact = mrz.number_repairs(analysis.mrz) if analysis.mrz is not None else frozenset()
        analysis.viz_comparison = _guard(
            analysis, "viz:compare", viz.compare, lines, reference,
            truncated=analysis.name_truncated, exact_number=exact,
        )  # fmt: skip


def _compare_faces(analysis: Analysis) -> None:
    """Selfie vs the front's portrait; with no (readable) selfie, the portrait alone, so that
    ``face_present`` still checks the document shows a face. Either way the portrait is found
    in any right-angle turn and hashed upright."""
    document = analysis.image(ImageSide.front)
    if document is None:
        return
    selfie = analysis.image(ImageSide.selfie)
    box, angle = None, 0
    if selfie is not None:
        analysis.faces = _guard(analysis, "faces:compare", faces.compare, selfie, document)
        if analysis.faces is not None:
            box, angle = analysis.faces.document_box, analysis.faces.document_rotation
    else:
        found = _guard(analysis, "faces:find", faces.largest_face, document)
        if found is not None:
            box, count, angle = found
            analysis.portrait_faces = FaceComparison(
                distance=None,
                selfie_faces=0,
                document_faces=count,
                document_box=box,
                selfie_box=None,
                document_rotation=angle,
            )
    if box is not None:
        analysis.portrait_phash = _guard(
            analysis, "portrait_hash", forensics.portrait_hash, document, box, rotation=angle
        )


# --- the checks --------------------------------------------------------------------------------


@dataclass
class Context:
    """What the database says, gathered by :func:`finish` before the checks run."""

    legal_name: str | None
    birth_date: Any
    country: str | None
    fingerprint: str | None
    reused_by: list[dict[str, Any]]
    image_matches: list[dict[str, Any]]
    screening_hits: list[Any]
    screened: bool
    lists_loaded: int  # screening lists holding entries (0: screening proves nothing)
    # Why no fingerprint was made (``Analysis.identity_read``), None when one was.
    fingerprint_not_used: str | None = None


def run_checks(settings: Settings, analysis: Analysis, context: Context) -> list[Check]:
    today = clock.now().date()
    document = analysis.document
    missing = [ImageSide.front.value] if ImageSide.front not in analysis.sides else []
    if analysis.kind in TWO_SIDED and ImageSide.back not in analysis.sides:
        missing.append(ImageSide.back.value)
    unreadable = [s.value for s, p in analysis.sides.items() if p.decoded is None]
    reports = {s.value: p.quality for s, p in analysis.sides.items() if p.quality is not None}
    confirmed_by = []
    if analysis.mrz_confirmed:
        confirmed_by.append("second_read")
    if checks.visual_zone_confirms(analysis.viz_comparison):
        confirmed_by.append("visual_zone")
    selfie = ImageSide.selfie in analysis.sides
    back_fields: DocumentFields | None = None
    if analysis.mrz is not None and analysis.mrz_side is ImageSide.back:
        back_fields = analysis.mrz.fields
    elif analysis.barcode is not None:
        back_fields = analysis.barcode.fields
    editing = {s.value: p.editing for s, p in analysis.sides.items() if p.editing is not None}
    reference = "mrz" if analysis.mrz is not None else "barcode" if analysis.barcode else None
    # With no selfie compared, the portrait found alone: the document must still show a face.
    # (A selfie that could not be decoded is image_quality's finding, not a missing face.)
    compared = analysis.faces is not None
    return [
        checks.image_quality(reports, missing=missing, unreadable=unreadable),
        checks.face_present(
            analysis.faces if compared else analysis.portrait_faces, selfie_submitted=compared
        ),
        checks.document_expired(document, today),
        checks.minimum_age(document, today, settings.identity_min_age),
        checks.mrz_integrity(
            analysis.mrz,
            bool(confirmed_by),
            analysis.kind in MRZ_SIDE,
            confirmed_by=confirmed_by,
            claimed_kind=analysis.kind,
            repairs_confirmed=analysis.repairs_confirmed,
        ),
        checks.barcode_integrity(
            analysis.barcode,
            analysis.barcode_expected,
            error=analysis.barcode_error,
            claimed_kind=analysis.kind,
        ),
        checks.visual_zone(analysis.viz_comparison, reference=reference),
        checks.sides_consistency(
            analysis.viz_fields if back_fields is not None else None, back_fields
        ),
        checks.profile_name(
            document,
            context.legal_name,
            match_min=settings.identity_name_match_min,
            review_min=settings.identity_name_review_min,
            truncated=bool(analysis.name_truncated),
        ),
        checks.profile_birth_date(document, context.birth_date),
        checks.profile_country(document, context.country),
        checks.document_reuse(
            [m["account"] for m in context.reused_by],
            fingerprint=context.fingerprint,
            not_used=context.fingerprint_not_used,
        ),
        checks.image_reuse(
            context.image_matches, max_distance=settings.identity_image_hash_distance
        ),
        checks.face_match(
            analysis.faces,
            match=settings.identity_face_match_distance,
            mismatch=settings.identity_face_mismatch_distance,
            selfie_submitted=selfie,
            # A selfie that is the document's photo (the same file, or a re-saved or
            # re-photographed copy) is not a selfie: by face distance and by image hash.
            same_image=settings.identity_face_same_image_distance,
            selfie_hash=analysis.phash(ImageSide.selfie),
            document_hashes={s.value: analysis.phash(s) for s in DOCUMENT_SIDES},
            hash_distance=settings.identity_image_hash_distance,
        ),
        checks.editing_signs(editing),
        checks.screening(
            context.screening_hits,
            hit_score=settings.identity_screening_hit_score,
            possible_score=settings.identity_screening_possible_score,
            screened=context.screened,
            lists_loaded=context.lists_loaded,
        ),
    ]


# --- finishing (database) --------------------------------------------------------------------


def _issuer(fields: DocumentFields, claimed: str | None) -> str | None:
    """The document's issuing country as ISO alpha-2 (the identifier's form)."""
    for code in (fields.issuing_country, claimed):
        if not code:
            continue
        if len(code) == 2:
            return code.upper()
        alpha2 = mrz.country_alpha2(code)
        if alpha2:
            return alpha2
    return None


# A 64-bit perceptual hash of a whole document photo mostly sees its layout: two different
# documents of one template, photographed alike, measured 2-6 bits apart (blurred ones closer),
# as close as a re-saved or cropped copy of one photo (0-4). So a near whole-image match counts
# as reuse only when the portraits match too, or the two files are identical; when this
# document shows no portrait to compare, only an identical hash counts.
STRICT_IMAGE_DISTANCE = 0


def corroborated_image_matches(
    image_matches: list[dict[str, Any]],
    portrait_matches: list[dict[str, Any]],
    *,
    has_portrait: bool = True,
) -> list[dict[str, Any]]:
    """The image matches that say "the same image", and every portrait match."""
    same_face = {m["verification_id"] for m in portrait_matches}
    kept = [
        m
        for m in image_matches
        if m["match"] == "same_file"
        or m["verification_id"] in same_face
        or (not has_portrait and m["distance"] <= STRICT_IMAGE_DISTANCE)
    ]
    return kept + portrait_matches


def _gather(
    session: Session,
    settings: Settings,
    verification: IdentityVerification,
    account: Account,
    analysis: Analysis,
) -> Context:
    store = service.blob_store(settings)
    document = analysis.document
    issuer = _issuer(document, verification.issuing_country) or (document.issuing_country or "")
    fingerprint = None
    trusted, not_used = analysis.identity_read()
    if trusted is not None:
        trusted_issuer = _issuer(trusted, verification.issuing_country) or (
            trusted.issuing_country or ""
        )
        if trusted.document_number and trusted_issuer:
            fingerprint = service.fingerprint(
                store,
                number=trusted.document_number,
                issuer=trusted_issuer,
                birth_date=trusted.birth_date,
            )
        else:
            not_used = "number_or_issuer_missing"
    reused = []
    if fingerprint is not None:
        reused = [
            {**m, "account": m["account_external_id"]}
            for m in service.accounts_with_fingerprint(
                session, fingerprint, except_account_id=account.id
            )
        ]
    matches: list[dict[str, Any]] = []
    for side, part in analysis.sides.items():
        if part.phash is None or side is ImageSide.selfie:
            continue
        found = service.similar_images(
            session,
            kind="image",
            phash=part.phash,
            sha256=part.decoded.sha256 if part.decoded is not None else None,
            except_account_id=account.id,
            max_distance=settings.identity_image_hash_distance,
        )
        matches += [{**m, "account": m["account_external_id"], "this_side": side.value}
                    for m in found]  # fmt: skip
    portrait_matches: list[dict[str, Any]] = []
    if analysis.portrait_phash is not None:
        found = service.similar_images(
            session,
            kind="portrait",
            phash=analysis.portrait_phash,
            sha256=None,
            except_account_id=account.id,
            max_distance=settings.identity_image_hash_distance,
        )
        portrait_matches = [{**m, "account": m["account_external_id"], "this_side": "portrait"}
                            for m in found]  # fmt: skip
    matches = corroborated_image_matches(
        matches, portrait_matches, has_portrait=analysis.portrait_phash is not None
    )
    name = document.full_name.strip()
    loaded = screening_service.lists_loaded(session)
    hits: list[Any] = []
    if name and loaded:
        hits = screening_service.screen(
            session, name=name, birth_date=document.birth_date, country=issuer or None
        )
    return Context(
        legal_name=account.legal_name,
        birth_date=account.date_of_birth,
        country=account.country,
        fingerprint=fingerprint,
        reused_by=reused,
        image_matches=matches,
        screening_hits=hits,
        screened=bool(name),
        lists_loaded=loaded,
        fingerprint_not_used=not_used,
    )


def _fields_json(analysis: Analysis) -> dict[str, Any]:
    out: dict[str, Any] = {"document": analysis.document.to_json()}
    if analysis.mrz is not None:
        out["mrz"] = {
            **analysis.mrz.fields.to_json(),
            "format": str(analysis.mrz.format),
            "lines": list(analysis.mrz.lines),
            "valid": analysis.mrz.valid,
            "check_digits": dict(analysis.mrz.check_digits),
            "repairs": list(analysis.mrz.repairs),
            "errors": list(analysis.mrz.errors),
            "side": analysis.mrz_side.value if analysis.mrz_side else None,
            "confirmed_by_second_read": analysis.mrz_confirmed,
            "repairs_confirmed": analysis.repairs_confirmed,
        }
    if analysis.barcode is not None:
        out["barcode"] = {
            **analysis.barcode.fields.to_json(),
            "version": analysis.barcode.version,
            "iin": analysis.barcode.iin,
            "jurisdiction": analysis.barcode.jurisdiction,
            "errors": list(analysis.barcode.errors),
        }
    if analysis.viz_fields is not None:
        out["viz"] = analysis.viz_fields.to_json()
    found = analysis.faces if analysis.faces is not None else analysis.portrait_faces
    if found is not None:
        out["faces"] = {
            "distance": found.distance,
            "selfie_faces": found.selfie_faces if analysis.faces is not None else None,
            "document_faces": found.document_faces,
            "document_rotation": found.document_rotation,
        }
    if analysis.errors:
        out["reader_errors"] = list(analysis.errors)
    return out


def _store_hashes(session: Session, verification: IdentityVerification, analysis: Analysis) -> None:
    rows = {r.side: r for r in service.images_of(session, verification.id)}
    for side, part in analysis.sides.items():
        row = rows.get(side)
        if row is None or row.phash is not None:
            continue  # already stored by an earlier run of this job
        row.phash = part.phash
        if part.phash is not None and side is not ImageSide.selfie:
            service.store_hash_bands(session, row, "image", part.phash)
        if side is ImageSide.front and analysis.portrait_phash is not None:
            row.portrait_phash = analysis.portrait_phash
            service.store_hash_bands(session, row, "portrait", analysis.portrait_phash)


def finish(
    session: Session,
    settings: Settings,
    verification: IdentityVerification,
    analysis: Analysis,
) -> None:
    """Checks, outcome and every consequence, in the caller's transaction (see the module)."""
    if verification.status is not VerificationStatus.processing:
        return
    account = session.get(Account, verification.account_id)
    if account is None:  # the account was deleted since (its verifications cascade)
        return
    context = _gather(session, settings, verification, account, analysis)
    results = run_checks(settings, analysis, context)
    decision = decide.decide(
        results,
        auto_approve=settings.identity_auto_approve,
        auto_reject=settings.identity_auto_reject,
    )
    _store_hashes(session, verification, analysis)
    verification.checks = [c.to_json() for c in results]
    verification.fields = _fields_json(analysis)
    verification.document_fingerprint = context.fingerprint
    verification.face_distance = analysis.faces.distance if analysis.faces is not None else None
    verification.outcome = decision.outcome
    verification.reasons = [r.value for r in decision.reasons]
    verification.user_reasons = [r.value for r in decision.user_reasons]
    verification.status = {
        Outcome.approve: VerificationStatus.approved,
        Outcome.reject: VerificationStatus.rejected,
        Outcome.review: VerificationStatus.review,
    }[decision.outcome]
    verification.processed_at = clock.now()
    verification.error = None
    session.flush()
    if decision.outcome is Outcome.review:
        _open_case(session, verification, account, results)
    _add_document_identifier(session, verification, account, analysis)
    _record_event(session, settings, verification, account, results)
    audit.record(
        session, SYSTEM, "identity.verification.process", service.TARGET, verification.id,
        data={"outcome": decision.outcome.value, "reasons": verification.reasons,
              "case_id": verification.case_id},
    )  # fmt: skip
    service.notify(session, verification)


def _open_case(
    session: Session,
    verification: IdentityVerification,
    account: Account,
    results: list[Check],
) -> None:
    findings = [c for c in results if c.status.value in ("failed", "warning")]
    serious = any(
        c.name in (CheckName.screening, CheckName.document_reuse, CheckName.face_match)
        and c.status.value == "failed"
        for c in findings
    )
    summary = "; ".join(f"{c.name.value}: {c.reason.value}" for c in findings) or (
        "every check passed but the read needs a person to confirm it"
    )
    created = cases_service.create_case(
        session,
        SYSTEM,
        cases_service.NewCase(
            type=CaseType.identity_review,
            title=f"Identity review: {verification.kind.value.replace('_', ' ')}",
            summary=summary[:2000],
            priority=2 if serious else 3,
            severity=Severity.high if serious else Severity.medium,
            language=(account.locale or "en").split("-")[0],
            account_id=account.id,
            source="identity",
            source_ref=f"identity_verification:{verification.id}",
            dedup_key=f"identity_verification:{verification.id}",
            attributes={"identity_verification_id": verification.id},
        ),
    )
    verification.case_id = created.case.id
    session.flush()


def _add_document_identifier(
    session: Session,
    verification: IdentityVerification,
    account: Account,
    analysis: Analysis,
) -> None:
    document, _ = analysis.identity_read()
    if document is None:
        return  # not a verified read: a wrong number would link strangers
    issuer = _issuer(document, verification.issuing_country)
    if not document.document_number or issuer is None:
        return
    try:
        accounts_service.add_identifiers(
            session,
            SYSTEM,
            account,
            [IdentifierIn(kind=IdentifierKind.document,
                          value=f"{issuer}:{document.document_number}")],
        )  # fmt: skip
    except InvalidInput:  # an unusual number the identifier rules refuse: keep the result
        log.info("document identifier not recorded for verification %s", verification.id)


def _record_event(
    session: Session,
    settings: Settings,
    verification: IdentityVerification,
    account: Account,
    results: list[Check],
) -> None:
    failed = {c.name.value for c in results if c.status.value == "failed"}
    event = EventIn(
        event_id=f"identity_verification:{verification.id}",
        type="identity_verified",
        account_id=account.external_id,
        occurred_at=verification.processed_at,
        data={
            "verification_id": verification.id,
            "kind": verification.kind.value,
            "outcome": verification.outcome.value if verification.outcome else None,
            "reasons": list(verification.reasons),
            "document_fingerprint": verification.document_fingerprint,
            "face_distance": verification.face_distance,
            "document_reused": CheckName.document_reuse.value in failed,
            "image_reused": CheckName.image_reuse.value in failed,
            "screening_hit": CheckName.screening.value in failed,
        },
    )
    detection_service.ingest(session, settings, event, actor=SYSTEM)


# --- both halves ---------------------------------------------------------------------------------


def load_images(
    session: Session, settings: Settings, verification_id: int
) -> dict[ImageSide, bytes]:
    store = service.blob_store(settings)
    rows = session.scalars(
        select(IdentityImage).where(IdentityImage.verification_id == verification_id)
    )
    return {row.side: store.get(row.blob_key) for row in rows}


def start(session: Session, verification: IdentityVerification) -> bool:
    """Move a pending verification to ``processing``; False when there is nothing to do (it
    was processed already: a job that runs twice does the work once)."""
    if verification.status is VerificationStatus.pending:
        verification.status = VerificationStatus.processing
        session.flush()
        return True
    return verification.status is VerificationStatus.processing


def process(session: Session, settings: Settings, verification: IdentityVerification) -> None:
    """Read, check and decide one verification in the caller's transaction."""
    if not start(session, verification):
        return
    raw = load_images(session, settings, verification.id)
    analysis = analyze(settings, verification.kind, verification.issuing_country, raw)
    finish(session, settings, verification, analysis)
