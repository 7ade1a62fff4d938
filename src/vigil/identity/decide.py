"""The outcome of a verification from its checks: approve, reject or send to a person.

Invariants:

- **Approve** only when every check that applies passed (no failure, no warning, no review
  signal), the checks that approval cannot do without passed (validity, age, name, birth date,
  face match: a skipped one blocks approval), and the read is independently confirmed: the MRZ
  check passed (it passes only when a second read or the visual zone confirms it), or the
  barcode check passed *and* the visual zone agrees with it. Check digits alone never approve.
- **Reject** only on certain grounds the user can act on or that disqualify: image quality,
  no face where one must be, an expired document or a holder under age read from a
  machine-readable zone (the checks return ``failed`` only when the read is certain). A signal
  that needs a person (a screening hit, a document or image used by another account, a
  selfie that is a copy of the document) turns a would-be rejection into a review: a person
  must see it.
- **MRZ check digits that fail are a review**, never a rejection on their own: the commonest
  cause is the OCR misreading a valid MRZ (a dropped letter), and a genuinely bad MRZ is a
  forgery sign; neither is something the user can fix when told "check digits failed". The
  check's evidence names the failing fields for the reviewer. The read is never repaired
  into a valid one (``mrz.read``), and the dates read from it are not certain either: an
  expiry or an age from a failing MRZ goes to the reviewer, not to a rejection. When the
  photo itself failed the quality check, the quality reason rejects as usual ("retake the
  photo"), which is also what explains the failed read.
- **Review** for everything else: uncertain reads, failing check digits, mismatches with the
  profile, reuse, face uncertainty or mismatch, screening, any ``review_only`` signal.
- ``auto_approve`` / ``auto_reject`` off turn that outcome into a review, with the same
  reasons.
- ``reasons`` lists every finding for the reviewer, in check order; ``user_reasons`` is what
  the user is told, only on a rejection, only reasons with user-facing text that is safe to
  show (never screening, reuse or editing), image problems first and alone when there are any
  (a blurry photo explains the failed reads that follow from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vigil.identity.types import Check, CheckName, CheckStatus, Outcome, Reason

# Certain, user-fixable or disqualifying: a ``failed`` check with one of these may reject.
REJECT_REASONS: frozenset[Reason] = frozenset(
    {
        Reason.image_missing,
        Reason.image_unreadable,
        Reason.image_low_resolution,
        Reason.image_blurry,
        Reason.image_glare,
        Reason.face_not_found,
        Reason.selfie_face_not_found,
        Reason.multiple_faces,
        Reason.document_expired,
        Reason.holder_under_age,
    }
)

_DATE_REASONS = frozenset({Reason.document_expired, Reason.holder_under_age})

# Problems with the photos themselves: when present, the only reasons the user is given.
IMAGE_REASONS: frozenset[Reason] = frozenset(
    {
        Reason.image_missing,
        Reason.image_unreadable,
        Reason.image_low_resolution,
        Reason.image_blurry,
        Reason.image_glare,
        Reason.face_not_found,
        Reason.selfie_face_not_found,
        Reason.multiple_faces,
    }
)

# Findings a person must see even when the document would be rejected anyway.
PERSON_REASONS: frozenset[Reason] = frozenset(
    {
        Reason.screening_hit,
        Reason.screening_possible_hit,
        Reason.document_reused,
        Reason.image_reused,
        Reason.selfie_is_document_copy,
    }
)

# Checks approval cannot do without: skipped (nothing read, no selfie) means no approval.
REQUIRED_FOR_APPROVAL: tuple[CheckName, ...] = (
    CheckName.document_expired,
    CheckName.minimum_age,
    CheckName.profile_name,
    CheckName.profile_birth_date,
    CheckName.face_match,
)

# What a required check that was skipped tells the reviewer when its own reason says nothing.
_SKIPPED_REASON: dict[CheckName, Reason] = {
    CheckName.document_expired: Reason.expiry_unknown,
    CheckName.minimum_age: Reason.birth_date_unknown,
    CheckName.profile_name: Reason.name_unknown,
    CheckName.profile_birth_date: Reason.birth_date_unknown,
    CheckName.face_match: Reason.face_uncertain,
}


@dataclass
class Decision:
    outcome: Outcome
    reasons: list[Reason] = field(default_factory=list)
    user_reasons: list[Reason] = field(default_factory=list)


def _status(checks: Sequence[Check], name: CheckName) -> CheckStatus | None:
    for check in checks:
        if check.name == name:
            return check.status
    return None


def read_confirmed(checks: Sequence[Check]) -> bool:
    """Whether the document's data was read and independently confirmed: the MRZ check passed
    (confirmed by a second read or the visual zone), or the barcode check passed and the visual
    zone agrees with it."""
    if _status(checks, CheckName.mrz_integrity) == CheckStatus.passed:
        return True
    return (
        _status(checks, CheckName.barcode_integrity) == CheckStatus.passed
        and _status(checks, CheckName.visual_zone) == CheckStatus.passed
    )


def _add(out: list[Reason], reason: Reason) -> None:
    if reason not in (Reason.ok, Reason.not_applicable) and reason not in out:
        out.append(reason)


def decide(checks: Sequence[Check], *, auto_approve: bool, auto_reject: bool) -> Decision:
    """The outcome and its reasons (see the module's invariants)."""
    from vigil.identity import messages

    findings: list[Reason] = []
    rejectable: list[Reason] = []
    needs_person = False
    for check in checks:
        if check.status == CheckStatus.passed:
            continue
        if check.status == CheckStatus.skipped:
            continue
        _add(findings, check.reason)
        if check.reason in PERSON_REASONS:
            needs_person = True
        if (
            check.status == CheckStatus.failed
            and not check.review_only
            and check.reason in REJECT_REASONS
        ):
            _add(rejectable, check.reason)

    if Reason.mrz_check_digits_failed in findings:
        # Dates read from an MRZ that fails its check digits may be misread: not certain
        # enough to reject on (a person looks; a bad photo still rejects for itself).
        rejectable = [r for r in rejectable if r not in _DATE_REASONS]
    if rejectable and not needs_person:
        images = [r for r in rejectable if r in IMAGE_REASONS]
        told = images or rejectable
        user = [r for r in told if r in messages.USER_REASONS]
        if auto_reject:
            return Decision(Outcome.reject, findings, user)
        return Decision(Outcome.review, findings)

    if not findings:
        # Approval also needs the checks it cannot do without and a confirmed read; when they
        # are missing, the reviewer is told why from the skipped checks' reasons.
        blocked: list[Reason] = []
        for name in REQUIRED_FOR_APPROVAL:
            required = next((c for c in checks if c.name == name), None)
            if required is None or required.status != CheckStatus.passed:
                reason = required.reason if required is not None else Reason.not_applicable
                if reason in (Reason.ok, Reason.not_applicable):
                    reason = _SKIPPED_REASON[name]
                _add(blocked, reason)
        if not read_confirmed(checks):
            mrz = _status(checks, CheckName.mrz_integrity)
            barcode = _status(checks, CheckName.barcode_integrity)
            if barcode == CheckStatus.passed:
                _add(blocked, Reason.viz_unreadable)
            elif mrz is None or mrz == CheckStatus.skipped:
                _add(blocked, Reason.mrz_not_found if barcode is None else Reason.barcode_not_found)
            else:
                _add(blocked, Reason.mrz_unconfirmed)
        if not blocked:
            if auto_approve:
                return Decision(Outcome.approve)
            return Decision(Outcome.review)
        return Decision(Outcome.review, blocked)

    return Decision(Outcome.review, findings)
