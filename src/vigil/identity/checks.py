"""The checks of an identity verification: one function per ``CheckName``, each turning what
the readers found (MRZ, barcode, visual zone, faces, image reports, other accounts, lists) into
one ``Check`` with a status, a reason code and JSON evidence for the reviewer.

Invariants:

- Pure functions: no database, no clock (``today`` is passed in), no settings object (the
  thresholds are keyword arguments the pipeline takes from ``Settings``).
- ``failed`` means the check found a problem; ``decide`` chooses whether that problem is
  certain enough to reject or goes to a person. ``warning`` is never a ground to reject.
  ``skipped`` means there was nothing to check (no selfie, no barcode expected...).
- A check ``passes`` only on positive evidence: an MRZ whose check digits pass but that no
  independent read confirms is a ``warning`` (check digits miss M<->W and other confusions
  whose values differ by 10, and two errors can cancel out). A read the MRZ reader repaired
  by its check digits is confirmed only by a read that needed no repair and shows the
  repaired characters (``repairs_confirmed``): never by the repair itself, nor by a
  visual zone that folds the very confusion the repair undid.
- Editing signs are ``review_only``: they never reject on their own.
- Inputs from the readers are typed by the attributes the checks read (Protocols below), so
  these functions stay independent of how the readers are built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Protocol

from vigil.identity import names
from vigil.identity.types import Check, CheckName, CheckStatus, DocumentFields, DocumentKind, Reason

# --- the shapes read from other modules -------------------------------------------------------


class MrzRead(Protocol):
    """``identity.mrz.MrzResult``."""

    @property
    def format(self) -> Any: ...
    @property
    def lines(self) -> tuple[str, ...]: ...
    @property
    def fields(self) -> DocumentFields: ...
    @property
    def check_digits(self) -> dict[str, bool]: ...
    @property
    def valid(self) -> bool: ...
    @property
    def repairs(self) -> list[dict[str, Any]]: ...
    @property
    def errors(self) -> list[str]: ...


class BarcodeRead(Protocol):
    """``identity.aamva.AamvaResult``."""

    @property
    def version(self) -> int: ...
    @property
    def iin(self) -> str: ...
    @property
    def jurisdiction(self) -> str | None: ...
    @property
    def jurisdiction_matches_iin(self) -> bool: ...
    @property
    def fields(self) -> DocumentFields: ...
    @property
    def errors(self) -> list[str]: ...
    @property
    def warnings(self) -> list[str]: ...


class VisualZone(Protocol):
    """``identity.viz.VizComparison``: per field ``agrees`` / ``differs`` / ``not_found``."""

    @property
    def fields(self) -> dict[str, str]: ...
    @property
    def agrees(self) -> int: ...
    @property
    def differs(self) -> int: ...
    @property
    def evidence(self) -> dict[str, Any]: ...


class Quality(Protocol):
    """``identity.quality.QualityReport``."""

    @property
    def blur(self) -> float: ...
    @property
    def glare(self) -> float: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def reasons(self) -> list[Reason]: ...
    @property
    def ok(self) -> bool: ...


class Faces(Protocol):
    """``identity.faces.FaceComparison``: ``distance`` is None when either side has no face."""

    @property
    def distance(self) -> float | None: ...
    @property
    def selfie_faces(self) -> int: ...
    @property
    def document_faces(self) -> int: ...


class Editing(Protocol):
    """``identity.forensics.EditingReport``."""

    @property
    def software(self) -> str | None: ...
    @property
    def ela(self) -> float: ...
    @property
    def suspicious(self) -> bool: ...
    @property
    def evidence(self) -> dict[str, Any]: ...


class Hit(Protocol):
    """``screening.service.ScreeningHit``."""

    @property
    def list_name(self) -> str: ...
    @property
    def entry_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def matched_name(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def birth_date_agrees(self) -> bool | None: ...
    @property
    def topics(self) -> Sequence[str]: ...


# --- helpers ----------------------------------------------------------------------------------


def _check(
    name: CheckName,
    status: CheckStatus,
    reason: Reason = Reason.ok,
    /,
    *,
    review_only: bool = False,
    **evidence: Any,
) -> Check:
    return Check(name, status, reason, _jsonable(evidence), review_only=review_only)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str | int | bool) or value is None:
        return value
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)


def _certain(fields: DocumentFields, certain: bool | None) -> bool:
    """Dates read from a machine-readable zone (MRZ with check digits, barcode with error
    correction) are certain enough to reject on; printed dates read by OCR are not."""
    if certain is not None:
        return certain
    return fields.source in ("mrz", "barcode")


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


# Kinds that one machine-readable zone cannot tell apart (TD1 "I" and "A"/"C" cards).
_KIND_GROUPS: tuple[frozenset[DocumentKind], ...] = (
    frozenset({DocumentKind.passport}),
    frozenset({DocumentKind.id_card, DocumentKind.residence_permit}),
    frozenset({DocumentKind.driver_license}),
    frozenset({DocumentKind.visa}),
)


def kinds_compatible(claimed: DocumentKind | None, read: DocumentKind | None) -> bool:
    """Whether the kind the user claimed fits the kind the document says it is. Unknown on
    either side is compatible (nothing to contradict)."""
    if claimed is None or read is None or claimed == read:
        return True
    return any(claimed in group and read in group for group in _KIND_GROUPS)


# --- image quality and faces -------------------------------------------------------------------

_QUALITY_ORDER = (
    Reason.image_missing,
    Reason.image_unreadable,
    Reason.image_low_resolution,
    Reason.image_blurry,
    Reason.image_glare,
)


def image_quality(
    reports: Mapping[str, Quality],
    *,
    missing: Iterable[str] = (),
    unreadable: Iterable[str] = (),
) -> Check:
    """Blur, glare and resolution of each submitted side (keys: ``front``, ``back``,
    ``selfie``), plus the required sides that were not submitted (``missing``) or could not be
    decoded (``unreadable``).

    ``failed`` with the most basic problem first (missing, unreadable, low resolution, blurry,
    glare) when any side has one: the user can fix it by retaking the photo. ``passed`` when
    every side is fine; ``skipped`` when there is nothing to assess."""
    sides: dict[str, Any] = {}
    found: list[Reason] = []
    for side in missing:
        sides[str(side)] = {"reasons": [Reason.image_missing.value]}
        found.append(Reason.image_missing)
    for side in unreadable:
        sides[str(side)] = {"reasons": [Reason.image_unreadable.value]}
        found.append(Reason.image_unreadable)
    for side, report in reports.items():
        side_reasons = [Reason(r) for r in report.reasons]
        if not report.ok and not side_reasons:
            side_reasons = [Reason.image_unreadable]
        sides[str(side)] = {
            "blur": report.blur,
            "glare": report.glare,
            "width": report.width,
            "height": report.height,
            "reasons": [r.value for r in side_reasons],
        }
        found.extend(side_reasons)
    if not sides:
        return _check(CheckName.image_quality, CheckStatus.skipped, Reason.not_applicable)
    if not found:
        return _check(CheckName.image_quality, CheckStatus.passed, sides=sides)
    reason = min(found, key=lambda r: _QUALITY_ORDER.index(r) if r in _QUALITY_ORDER else 99)
    reasons = sorted({r.value for r in found})
    return _check(CheckName.image_quality, CheckStatus.failed, reason, sides=sides, reasons=reasons)


def face_present(comparison: Faces | None, *, selfie_submitted: bool) -> Check:
    """A portrait on the document and exactly one face on the selfie.

    ``failed`` ``face_not_found`` when the document shows no face (the photo cuts off or hides
    the portrait), ``selfie_face_not_found`` when the selfie shows none, ``multiple_faces`` when
    it shows several: all fixable by retaking the photo. ``skipped`` when the faces were not
    compared (no comparison). The document may show more than one face (the small "ghost"
    portrait of many ID cards): the largest is the portrait."""
    if comparison is None:
        return _check(CheckName.face_present, CheckStatus.skipped, Reason.not_applicable)
    evidence: dict[str, Any] = {
        "document_faces": comparison.document_faces,
        "selfie_faces": comparison.selfie_faces if selfie_submitted else None,
    }
    if comparison.document_faces == 0:
        return _check(CheckName.face_present, CheckStatus.failed, Reason.face_not_found, **evidence)
    if selfie_submitted and comparison.selfie_faces == 0:
        return _check(
            CheckName.face_present, CheckStatus.failed, Reason.selfie_face_not_found, **evidence
        )
    if selfie_submitted and comparison.selfie_faces > 1:
        return _check(CheckName.face_present, CheckStatus.failed, Reason.multiple_faces, **evidence)
    return _check(CheckName.face_present, CheckStatus.passed, **evidence)


def face_match(
    comparison: Faces | None,
    *,
    match: float,
    mismatch: float,
    selfie_submitted: bool = True,
    same_image: float | None = None,
    selfie_hash: str | None = None,
    document_hashes: Mapping[str, str | None] | None = None,
    hash_distance: int | None = None,
) -> Check:
    """Selfie vs the document's portrait by the distance of their face embeddings.

    ``passed`` at or below ``match``; ``failed`` ``face_mismatch`` above ``mismatch``;
    ``warning`` ``face_uncertain`` between. ``skipped`` with ``image_missing`` when no selfie
    was submitted, ``not_applicable`` when a face is missing on either side (``face_present``
    says which).

    A selfie that is a copy of the document is not a selfie: ``warning``
    ``selfie_is_document_copy`` (review) when the distance is below ``same_image`` (two photos
    of one person taken apart never come that close: the same pixels do), or when the
    selfie's perceptual hash (``selfie_hash``) is within ``hash_distance`` bits of one of
    ``document_hashes`` (``{"front": ..., "portrait": ...}``: hashes of the same kind as the
    selfie's, e.g. whole-image pHash against whole-image pHash). This holds whatever the
    distance says, and also when no face could be compared."""
    if not selfie_submitted:
        return _check(CheckName.face_match, CheckStatus.skipped, Reason.image_missing)
    copies = _hash_copies(selfie_hash, document_hashes or {}, hash_distance)
    distance = (
        None if comparison is None or comparison.distance is None else float(comparison.distance)
    )
    evidence: dict[str, Any] = {"distance": distance, "match": match, "mismatch": mismatch}
    if same_image is not None:
        evidence["same_image"] = same_image
    if selfie_hash is not None and hash_distance is not None:
        evidence["hash_distances"] = copies[1]
        evidence["hash_distance"] = hash_distance
    copied_face = distance is not None and same_image is not None and distance < same_image
    if copied_face or copies[0]:
        evidence["copy_of"] = sorted(copies[0]) + (["portrait_face"] if copied_face else [])
        return _check(
            CheckName.face_match, CheckStatus.warning, Reason.selfie_is_document_copy, **evidence
        )
    if distance is None:
        return _check(CheckName.face_match, CheckStatus.skipped, Reason.not_applicable)
    if distance <= match:
        return _check(CheckName.face_match, CheckStatus.passed, **evidence)
    if distance > mismatch:
        return _check(CheckName.face_match, CheckStatus.failed, Reason.face_mismatch, **evidence)
    return _check(CheckName.face_match, CheckStatus.warning, Reason.face_uncertain, **evidence)


def _hash_copies(
    selfie: str | None, documents: Mapping[str, str | None], max_distance: int | None
) -> tuple[list[str], dict[str, int]]:
    """(the document images the selfie's hash is within ``max_distance`` bits of, every
    distance measured). Hashes of different lengths (different kinds) are not compared."""
    if selfie is None or max_distance is None:
        return [], {}
    from vigil.identity import forensics

    distances = {
        str(name): forensics.hash_distance(selfie, value)
        for name, value in documents.items()
        if value and len(value) == len(selfie)
    }
    return sorted(k for k, d in distances.items() if d <= max_distance), distances


# --- validity ----------------------------------------------------------------------------------


def document_expired(fields: DocumentFields, today: date, *, certain: bool | None = None) -> Check:
    """The document is valid on ``today`` (valid through its expiry day).

    ``failed`` ``document_expired`` when it expired before today, read from a machine-readable
    zone (certain: ``certain`` or, by default, ``fields.source`` is ``mrz`` or ``barcode``);
    the same finding from printed text only is a ``warning`` (OCR may misread a date).
    ``warning`` ``expiry_unknown`` when no expiry date was read."""
    if fields.expiry_date is None:
        return _check(
            CheckName.document_expired, CheckStatus.warning, Reason.expiry_unknown, today=today
        )
    evidence: dict[str, Any] = {
        "expiry_date": fields.expiry_date,
        "today": today,
        "source": fields.source,
    }
    if fields.expiry_date >= today:
        return _check(CheckName.document_expired, CheckStatus.passed, **evidence)
    status = CheckStatus.failed if _certain(fields, certain) else CheckStatus.warning
    return _check(CheckName.document_expired, status, Reason.document_expired, **evidence)


def minimum_age(
    fields: DocumentFields, today: date, min_age: int, *, certain: bool | None = None
) -> Check:
    """The holder is at least ``min_age`` years old on ``today``.

    ``failed`` ``holder_under_age`` when younger, from a machine-readable zone (see
    ``document_expired`` for ``certain``); from printed text only a ``warning``. ``warning``
    ``birth_date_unknown`` when no birth date was read or it lies in the future."""
    birth = fields.birth_date
    if birth is None or birth > today:
        return _check(
            CheckName.minimum_age,
            CheckStatus.warning,
            Reason.birth_date_unknown,
            birth_date=birth,
            today=today,
        )
    age = _age(birth, today)
    evidence: dict[str, Any] = {
        "birth_date": birth,
        "age": age,
        "min_age": min_age,
        "source": fields.source,
    }
    if age >= min_age:
        return _check(CheckName.minimum_age, CheckStatus.passed, **evidence)
    status = CheckStatus.failed if _certain(fields, certain) else CheckStatus.warning
    return _check(CheckName.minimum_age, status, Reason.holder_under_age, **evidence)


# --- reading -----------------------------------------------------------------------------------


def _country_error(error: str) -> bool:
    """An MRZ error that names a country code outside ICAO's list (``mrz._interpret``)."""
    return error.startswith(("unknown issuing country", "unknown nationality"))


def repairs_confirmed(
    mrz: MrzRead | None, *, second_read: bool, comparison: VisualZone | None
) -> bool:
    """Whether every character check-digit repair changed in ``mrz`` was seen by an
    independent read that needed no repair. A repair is a guess a misprint satisfies as
    well as a misread (the composite weighs the number like its own check digit), so:

    - ``second_read``: two OCR reads gave the chosen lines and one of them needed no repair
      (``ocr.confirmed``): that read shows the repaired characters as they are;
    - or the visual zone printed the document number with the repaired characters exactly
      (``viz.compare(..., exact_number=mrz.number_repairs(read))`` agrees, and its evidence
      says those indexes were compared exactly). A repair outside the number (a check
      digit, a personal number) is printed nowhere: only a second read confirms it.

    True when nothing was repaired."""
    if mrz is None or not mrz.repairs:
        return True
    if second_read:
        return True
    if comparison is None or comparison.fields.get("document_number") != "agrees":
        return False
    indexes: set[int] = set()
    for repair in mrz.repairs:
        if repair.get("field") != "document_number" or repair.get("index") is None:
            return False
        indexes.add(int(repair["index"]))
    compared = comparison.evidence.get("document_number") or {}
    return indexes <= set(compared.get("exact_indexes") or ())


def mrz_integrity(
    mrz: MrzRead | None,
    confirmed: bool,
    expected: bool,
    *,
    confirmed_by: Sequence[str] = (),
    claimed_kind: DocumentKind | None = None,
    repairs_confirmed: bool = False,
) -> Check:
    """The machine-readable zone: found, check digits pass, fields well-formed, and the read
    confirmed by an independent one (``confirmed``: a second OCR pass gave the same lines, or
    the visual zone agrees; ``confirmed_by`` names which, for the evidence).

    - no MRZ: ``failed`` ``mrz_not_found`` when the document kind has one (``expected``),
      else ``skipped``;
    - check digits fail: ``failed`` ``mrz_check_digits_failed`` (never repaired into a valid
      read: the reader keeps ``valid=False``);
    - an impossible date or a malformed field (sex, document code, empty number or name):
      ``failed`` ``mrz_invalid_field``;
    - a country code outside ICAO's list (``COU``, ``BOS`` on some specimens): ``warning``
      ``mrz_invalid_field`` (a person looks: a new code, a misread or a made-up state);
    - the claimed kind contradicts the MRZ's (passport vs ID card): ``warning``
      ``document_kind_mismatch``;
    - repaired by its check digits (``repairs``) and no independent read that needed no
      repair shows the repaired characters (``repairs_confirmed``, see
      :func:`repairs_confirmed`): ``warning`` ``mrz_unconfirmed``, whatever ``confirmed``
      says: a misprinted or forged number passes its check digits after a repair as easily
      as a misread one;
    - valid but unconfirmed: ``warning`` ``mrz_unconfirmed``;
    - valid and confirmed: ``passed``."""
    if mrz is None:
        if expected:
            return _check(CheckName.mrz_integrity, CheckStatus.failed, Reason.mrz_not_found)
        return _check(CheckName.mrz_integrity, CheckStatus.skipped, Reason.not_applicable)
    read_kind = mrz.fields.document_kind
    repaired = bool(mrz.repairs)
    evidence: dict[str, Any] = {
        "format": mrz.format,
        "lines": list(mrz.lines),
        "check_digits": dict(mrz.check_digits),
        "repairs": list(mrz.repairs),
        "errors": list(mrz.errors),
        "confirmed": confirmed and (repairs_confirmed or not repaired),
        "confirmed_by": list(confirmed_by),
        "document_kind": read_kind,
        "claimed_kind": claimed_kind,
    }
    if repaired:
        evidence["repairs_confirmed"] = repairs_confirmed
    failed_digits = [name for name, ok in mrz.check_digits.items() if not ok]
    if failed_digits:
        evidence["failed_check_digits"] = failed_digits
        return _check(
            CheckName.mrz_integrity, CheckStatus.failed, Reason.mrz_check_digits_failed, **evidence
        )
    malformed = [e for e in mrz.errors if not _country_error(e)]
    if malformed or not mrz.valid:
        return _check(
            CheckName.mrz_integrity, CheckStatus.failed, Reason.mrz_invalid_field, **evidence
        )
    if mrz.errors:  # unknown country codes only
        return _check(
            CheckName.mrz_integrity, CheckStatus.warning, Reason.mrz_invalid_field, **evidence
        )
    if not kinds_compatible(claimed_kind, read_kind):
        return _check(
            CheckName.mrz_integrity,
            CheckStatus.warning,
            Reason.document_kind_mismatch,
            **evidence,
        )
    if not confirmed or (repaired and not repairs_confirmed):
        return _check(
            CheckName.mrz_integrity, CheckStatus.warning, Reason.mrz_unconfirmed, **evidence
        )
    return _check(CheckName.mrz_integrity, CheckStatus.passed, **evidence)


def barcode_integrity(
    aamva: BarcodeRead | None,
    expected: bool,
    *,
    error: str | None = None,
    claimed_kind: DocumentKind | None = None,
) -> Check:
    """The PDF417 barcode of a US/Canadian driver's license or ID card, parsed as AAMVA.

    - no barcode: ``failed`` ``barcode_not_found`` when the document should have one
      (``expected``), else ``skipped``; a barcode that is not AAMVA at all (``error``, the
      parser's message): ``failed`` ``barcode_invalid``;
    - parse errors (an unknown IIN, a country that is not the IIN's...): ``failed``
      ``barcode_invalid``. An address in another state than the issuer's is only a parser
      warning, kept in the evidence (``jurisdiction_matches_iin`` false): people move;
    - the claimed kind contradicts the subfile (DL vs ID): ``warning``
      ``document_kind_mismatch``;
    - otherwise ``passed``. PDF417 carries error correction, so a decoded payload is read
      right; whether it is the *document's* data is the visual zone's check (``decide`` needs
      both to approve)."""
    if aamva is None:
        if error is not None:
            return _check(
                CheckName.barcode_integrity,
                CheckStatus.failed,
                Reason.barcode_invalid,
                errors=[error],
            )
        if expected:
            return _check(CheckName.barcode_integrity, CheckStatus.failed, Reason.barcode_not_found)
        return _check(CheckName.barcode_integrity, CheckStatus.skipped, Reason.not_applicable)
    read_kind = aamva.fields.document_kind
    evidence: dict[str, Any] = {
        "version": aamva.version,
        "iin": aamva.iin,
        "jurisdiction": aamva.jurisdiction,
        "jurisdiction_matches_iin": aamva.jurisdiction_matches_iin,
        "errors": list(aamva.errors),
        "warnings": list(aamva.warnings),
        "document_kind": read_kind,
        "claimed_kind": claimed_kind,
    }
    if aamva.errors:
        return _check(
            CheckName.barcode_integrity, CheckStatus.failed, Reason.barcode_invalid, **evidence
        )
    # A US "ID card" and a driver's license share the format: only passport/visa claims clash.
    if claimed_kind in (DocumentKind.passport, DocumentKind.visa):
        return _check(
            CheckName.barcode_integrity,
            CheckStatus.warning,
            Reason.document_kind_mismatch,
            **evidence,
        )
    return _check(CheckName.barcode_integrity, CheckStatus.passed, **evidence)


# The fields that identify the holder: one of them must agree for the visual zone to confirm.
_IDENTIFYING = ("document_number", "birth_date")


def visual_zone(comparison: VisualZone | None, *, reference: str | None = None) -> Check:
    """The printed fields (visual inspection zone) against the machine-readable read
    (``reference``: ``mrz`` or ``barcode``, for the evidence).

    ``failed`` ``viz_mismatch`` when any printed field contradicts the read (a tampered field,
    or a misread: a person looks); ``passed`` when at least two fields agree, one of them the
    document number or the birth date, and none differs (this is the independent confirmation
    of the read); ``warning`` ``viz_unreadable`` when too little of the printed text was found
    to tell; ``skipped`` when there was no read to compare with."""
    if comparison is None:
        return _check(CheckName.visual_zone, CheckStatus.skipped, Reason.not_applicable)
    evidence: dict[str, Any] = {
        "reference": reference,
        "fields": dict(comparison.fields),
        "agrees": comparison.agrees,
        "differs": comparison.differs,
        "printed": comparison.evidence,
    }
    if comparison.differs > 0:
        differing = sorted(k for k, v in comparison.fields.items() if v == "differs")
        return _check(
            CheckName.visual_zone,
            CheckStatus.failed,
            Reason.viz_mismatch,
            differing=differing,
            **evidence,
        )
    identifying = any(comparison.fields.get(k) == "agrees" for k in _IDENTIFYING)
    if comparison.agrees >= 2 and identifying:
        return _check(CheckName.visual_zone, CheckStatus.passed, **evidence)
    return _check(CheckName.visual_zone, CheckStatus.warning, Reason.viz_unreadable, **evidence)


def visual_zone_confirms(comparison: VisualZone | None) -> bool:
    """Whether the visual zone independently confirms a read (``visual_zone`` passes)."""
    return visual_zone(comparison).status == CheckStatus.passed


def sides_consistency(front: DocumentFields | None, back: DocumentFields | None) -> Check:
    """What the front says (printed fields) against what the back says (the MRZ of an ID card,
    the barcode of a driver's license): document number, birth and expiry dates, surname.

    Only fields read on both sides are compared. ``failed`` ``sides_mismatch`` (review: the
    sides of two documents, or a misread) when any differs; ``passed`` when at least one
    agrees and none differs; ``skipped`` when a side is missing or nothing is comparable."""
    if front is None or back is None:
        return _check(CheckName.sides_consistency, CheckStatus.skipped, Reason.not_applicable)
    compared: dict[str, dict[str, Any]] = {}
    if front.document_number and back.document_number:
        a, b = names.compact(front.document_number), names.compact(back.document_number)
        compared["document_number"] = {"front": a, "back": b, "agrees": a == b}
    for key in ("birth_date", "expiry_date"):
        fa, ba = getattr(front, key), getattr(back, key)
        if fa is not None and ba is not None:
            compared[key] = {"front": fa, "back": ba, "agrees": fa == ba}
    if front.surname and back.surname:
        result = names.match(front.surname, back.surname, None)
        compared["surname"] = {
            "front": front.surname,
            "back": back.surname,
            "score": result.score,
            "agrees": result.score >= 85.0,
        }
    if not compared:
        return _check(CheckName.sides_consistency, CheckStatus.skipped, Reason.not_applicable)
    differing = sorted(k for k, v in compared.items() if not v["agrees"])
    if differing:
        return _check(
            CheckName.sides_consistency,
            CheckStatus.failed,
            Reason.sides_mismatch,
            compared=compared,
            differing=differing,
        )
    return _check(CheckName.sides_consistency, CheckStatus.passed, compared=compared)


# --- against the profile -----------------------------------------------------------------------


def profile_name(
    fields: DocumentFields,
    legal_name: str | None,
    *,
    match_min: float,
    review_min: float,
    truncated: bool = False,
) -> Check:
    """The document's name against the account's legal name (ICAO transliteration, name
    order, missing middle names, MRZ truncation: ``names.match``).

    ``passed`` at or above ``match_min``; ``warning`` ``name_partial_match`` at or above
    ``review_min``; ``failed`` ``name_mismatch`` below. ``warning`` ``profile_incomplete`` when
    the account has no legal name, ``name_unknown`` when the document's name was not read.
    ``truncated``: the document says its name was cut (AAMVA's truncation flags)."""
    if not (legal_name or "").strip():
        return _check(CheckName.profile_name, CheckStatus.warning, Reason.profile_incomplete)
    if not (fields.surname or fields.given_names):
        return _check(
            CheckName.profile_name, CheckStatus.warning, Reason.name_unknown, profile=legal_name
        )
    result = names.match(legal_name or "", fields.surname, fields.given_names, truncated=truncated)
    evidence: dict[str, Any] = {
        "profile": legal_name,
        "document": fields.full_name,
        "score": float(result.score),
        "exact": result.exact,
        "order_swapped": result.order_swapped,
        "method": result.method,
        "compared": [result.profile, result.document],
        "match_min": match_min,
        "review_min": review_min,
    }
    if result.score >= match_min:
        return _check(CheckName.profile_name, CheckStatus.passed, **evidence)
    if result.score >= review_min:
        return _check(
            CheckName.profile_name, CheckStatus.warning, Reason.name_partial_match, **evidence
        )
    return _check(CheckName.profile_name, CheckStatus.failed, Reason.name_mismatch, **evidence)


def profile_birth_date(fields: DocumentFields, dob: date | None) -> Check:
    """The document's birth date against the account's date of birth: they must be equal.

    ``failed`` ``birth_date_mismatch`` when they differ (evidence says when day and month are
    swapped, a common typing slip); ``warning`` ``profile_incomplete`` when the account has
    none, ``birth_date_unknown`` when the document's was not read."""
    if dob is None:
        return _check(CheckName.profile_birth_date, CheckStatus.warning, Reason.profile_incomplete)
    if fields.birth_date is None:
        return _check(
            CheckName.profile_birth_date,
            CheckStatus.warning,
            Reason.birth_date_unknown,
            profile=dob,
        )
    evidence: dict[str, Any] = {"profile": dob, "document": fields.birth_date}
    if fields.birth_date == dob:
        return _check(CheckName.profile_birth_date, CheckStatus.passed, **evidence)
    doc = fields.birth_date
    evidence["day_month_swapped"] = (doc.year, doc.month, doc.day) == (dob.year, dob.day, dob.month)
    return _check(
        CheckName.profile_birth_date, CheckStatus.failed, Reason.birth_date_mismatch, **evidence
    )


def profile_country(fields: DocumentFields, country: str | None) -> Check:
    """The account's country (ISO alpha-2) against the document's issuing country and the
    holder's nationality (ICAO alpha-3, ``D`` for Germany, mapped with
    ``mrz.country_alpha2``).

    ``passed`` when either maps to the account's country; ``warning`` ``country_mismatch``
    when neither does (people live abroad: a person looks, never a rejection); ``warning``
    ``profile_incomplete`` when the account has no country; ``skipped`` when the document
    names no country (or only an organisation such as the UN)."""
    if not (country or "").strip():
        return _check(CheckName.profile_country, CheckStatus.warning, Reason.profile_incomplete)
    from vigil.identity import mrz

    profile = (country or "").strip().upper()
    document: dict[str, Any] = {}
    for key in ("issuing_country", "nationality"):
        code = getattr(fields, key)
        if code:
            code = code.strip().upper()
            # A barcode's jurisdiction-derived country may already be alpha-2.
            document[key] = {
                "code": code,
                "alpha2": code if len(code) == 2 else mrz.country_alpha2(code),
            }
    mapped = {v["alpha2"] for v in document.values() if v["alpha2"]}
    if not mapped:
        return _check(
            CheckName.profile_country,
            CheckStatus.skipped,
            Reason.not_applicable,
            profile=profile,
            document=document,
        )
    evidence: dict[str, Any] = {"profile": profile, "document": document}
    if profile in mapped:
        return _check(CheckName.profile_country, CheckStatus.passed, **evidence)
    return _check(
        CheckName.profile_country, CheckStatus.warning, Reason.country_mismatch, **evidence
    )


# --- against other accounts and lists ----------------------------------------------------------


def document_reuse(
    other_accounts: Sequence[str],
    *,
    fingerprint: str | None = None,
    not_used: str | None = None,
) -> Check:
    """The same document (keyed fingerprint of normalized number + issuer + birth date) on
    other accounts (``other_accounts``: their ids, the pipeline's query).

    ``failed`` ``document_reused`` when any other account used it (review: the same person
    with two accounts, or a stolen document); ``passed`` when none; ``skipped`` when no
    fingerprint was made: no verified read of the number (``not_used`` says why, e.g.
    ``mrz_invalid``, ``mrz_repairs_unconfirmed``, ``image_quality``, ``printed_text_only``:
    a fingerprint of a misread number would match strangers and miss the true reuse)."""
    if fingerprint is None:
        evidence: dict[str, Any] = {"fingerprint_not_used": not_used} if not_used else {}
        return _check(
            CheckName.document_reuse, CheckStatus.skipped, Reason.not_applicable, **evidence
        )
    accounts = sorted({str(a) for a in other_accounts})
    if accounts:
        return _check(
            CheckName.document_reuse,
            CheckStatus.failed,
            Reason.document_reused,
            accounts=accounts,
            count=len(accounts),
        )
    return _check(CheckName.document_reuse, CheckStatus.passed, accounts=[], count=0)


def image_reuse(matches: Sequence[Mapping[str, Any]], *, max_distance: int | None = None) -> Check:
    """The same image (perceptual hash within ``max_distance`` bits) submitted by other
    accounts. Each match is a mapping the pipeline builds, e.g. ``{"account": ..., "side":
    "front", "distance": 3, "verification": ...}``; it is kept as evidence.

    ``failed`` ``image_reused`` when there is any match (review), else ``passed``."""
    kept = [dict(m) for m in matches]
    accounts = sorted({str(m["account"]) for m in kept if m.get("account") is not None})
    evidence: dict[str, Any] = {"matches": kept, "accounts": accounts, "max_distance": max_distance}
    if kept:
        return _check(CheckName.image_reuse, CheckStatus.failed, Reason.image_reused, **evidence)
    return _check(CheckName.image_reuse, CheckStatus.passed, **evidence)


def editing_signs(reports: Mapping[str, Editing]) -> Check:
    """Signs of editing on each image: editor software in the metadata, error-level analysis.
    A review signal only (``review_only``): screenshots and re-saved photos are common and
    innocent.

    ``warning`` ``editing_suspected`` when any side looks edited; ``passed`` otherwise;
    ``skipped`` when no image was analysed."""
    if not reports:
        return _check(
            CheckName.editing_signs, CheckStatus.skipped, Reason.not_applicable, review_only=True
        )
    sides = {
        str(side): {
            "software": r.software,
            "ela": r.ela,
            "suspicious": r.suspicious,
            "evidence": r.evidence,
        }
        for side, r in reports.items()
    }
    suspicious = sorted(s for s, v in sides.items() if v["suspicious"])
    if suspicious:
        return _check(
            CheckName.editing_signs,
            CheckStatus.warning,
            Reason.editing_suspected,
            review_only=True,
            sides=sides,
            suspicious=suspicious,
        )
    return _check(CheckName.editing_signs, CheckStatus.passed, review_only=True, sides=sides)


def screening(
    hits: Sequence[Hit],
    *,
    hit_score: float,
    possible_score: float,
    screened: bool = True,
    lists_loaded: int | None = None,
) -> Check:
    """The holder's name and birth date against the loaded sanctions / PEP lists.

    - a name scoring at or above ``hit_score`` with the birth date agreeing: ``failed``
      ``screening_hit``;
    - at or above ``hit_score`` with no birth date to compare, or with a birth date that
      disagrees (lists carry wrong and partial dates, and people lie about theirs), or at or
      above ``possible_score`` with the birth date agreeing or unknown: ``warning``
      ``screening_possible_hit``, the disagreement kept in the evidence;
    - below ``hit_score`` a birth date that disagrees dismisses the hit (kept in the evidence
      as dismissed), and so does a score below ``possible_score``;
    - otherwise ``passed``; ``skipped`` when nothing was screened (no name read), or when no
      list is loaded (``lists_loaded`` 0: the pipeline's ``screening.service.lists_loaded``):
      an empty screening is no evidence that the holder is on no list.

    Either finding goes to a person, never to an automated rejection, and is never shown to the
    user."""
    if not screened:
        return _check(CheckName.screening, CheckStatus.skipped, Reason.not_applicable)
    if lists_loaded is not None and lists_loaded <= 0:
        return _check(
            CheckName.screening,
            CheckStatus.skipped,
            Reason.not_applicable,
            lists_loaded=0,
            note="no screening list is loaded (vigil screening load)",
        )
    kept: list[dict[str, Any]] = []
    dismissed: list[dict[str, Any]] = []
    status, reason = CheckStatus.passed, Reason.ok
    for hit in sorted(hits, key=lambda h: -h.score):
        row = {
            "list": hit.list_name,
            "entry_id": hit.entry_id,
            "name": hit.name,
            "matched_name": hit.matched_name,
            "score": float(hit.score),
            "birth_date_agrees": hit.birth_date_agrees,
            "topics": list(hit.topics),
        }
        strong = hit.score >= hit_score
        if hit.score < possible_score or (hit.birth_date_agrees is False and not strong):
            dismissed.append(row)
            continue
        kept.append(row)
        if strong and hit.birth_date_agrees:
            status, reason = CheckStatus.failed, Reason.screening_hit
        elif status == CheckStatus.passed:
            status, reason = CheckStatus.warning, Reason.screening_possible_hit
    evidence: dict[str, Any] = {
        "hits": kept,
        "dismissed": dismissed,
        "hit_score": hit_score,
        "possible_score": possible_score,
    }
    if lists_loaded is not None:
        evidence["lists_loaded"] = lists_loaded
    return _check(CheckName.screening, status, reason, **evidence)
