"""The outcome from the checks, and the texts the user reads.

Approve needs every applicable check passed and a confirmed read; reject needs certain,
user-fixable or disqualifying grounds; everything else goes to a person."""

from __future__ import annotations

from datetime import date

import pytest

from vigil.identity import checks, decide, messages, mrz
from vigil.identity.decide import Decision
from vigil.identity.types import (
    Check,
    CheckName,
    CheckStatus,
    DocumentFields,
    DocumentKind,
    Outcome,
    Reason,
)

TODAY = date(2026, 11, 21)


def _passed(name: CheckName) -> Check:
    return Check(name, CheckStatus.passed)


CLEAN_PASSPORT: tuple[CheckName, ...] = (
    CheckName.image_quality,
    CheckName.face_present,
    CheckName.document_expired,
    CheckName.minimum_age,
    CheckName.mrz_integrity,
    CheckName.visual_zone,
    CheckName.profile_name,
    CheckName.profile_birth_date,
    CheckName.profile_country,
    CheckName.document_reuse,
    CheckName.image_reuse,
    CheckName.face_match,
    CheckName.editing_signs,
    CheckName.screening,
)


def _clean(*replacements: Check, drop: tuple[CheckName, ...] = ()) -> list[Check]:
    """A clean passport's checks, with some replaced (same name) or dropped."""
    by_name = {c.name: c for c in replacements}
    out = [by_name.pop(n, _passed(n)) for n in CLEAN_PASSPORT if n not in drop]
    out.extend(by_name.values())
    return out


def _decide(checks_: list[Check], **flags: bool) -> Decision:
    return decide.decide(
        checks_,
        auto_approve=flags.get("auto_approve", True),
        auto_reject=flags.get("auto_reject", True),
    )


def test_clean_confirmed_document_is_approved() -> None:
    result = _decide(_clean())
    assert result == Decision(Outcome.approve, [], [])


def test_auto_approve_off_sends_clean_documents_to_a_person() -> None:
    result = _decide(_clean(), auto_approve=False)
    assert (result.outcome, result.reasons) == (Outcome.review, [])


def test_valid_but_unconfirmed_mrz_is_reviewed_not_approved() -> None:
    result = _decide(
        _clean(Check(CheckName.mrz_integrity, CheckStatus.warning, Reason.mrz_unconfirmed))
    )
    assert (result.outcome, result.reasons) == (Outcome.review, [Reason.mrz_unconfirmed])


def test_barcode_needs_the_visual_zone_to_approve() -> None:
    barcode = [
        _passed(CheckName.barcode_integrity),
        Check(CheckName.mrz_integrity, CheckStatus.skipped, Reason.not_applicable),
    ]
    assert _decide(_clean(*barcode)).outcome == Outcome.approve
    unreadable = Check(CheckName.visual_zone, CheckStatus.skipped, Reason.not_applicable)
    result = _decide(_clean(*barcode, unreadable))
    assert (result.outcome, result.reasons) == (Outcome.review, [Reason.viz_unreadable])


def test_nothing_read_at_all_is_never_approved() -> None:
    result = _decide(_clean(drop=(CheckName.mrz_integrity,)))
    assert (result.outcome, result.reasons) == (Outcome.review, [Reason.mrz_not_found])


def test_no_selfie_blocks_approval_with_its_reason() -> None:
    skipped = Check(CheckName.face_match, CheckStatus.skipped, Reason.image_missing)
    result = _decide(_clean(skipped))
    assert (result.outcome, result.reasons) == (Outcome.review, [Reason.image_missing])
    no_check = _decide(_clean(drop=(CheckName.face_match,)))
    assert no_check.reasons == [Reason.face_uncertain]


def test_blurry_photo_is_rejected_with_only_the_image_reason_for_the_user() -> None:
    result = _decide(
        _clean(
            Check(CheckName.image_quality, CheckStatus.failed, Reason.image_blurry),
            Check(CheckName.mrz_integrity, CheckStatus.failed, Reason.mrz_check_digits_failed),
            Check(CheckName.visual_zone, CheckStatus.warning, Reason.viz_unreadable),
        )
    )
    assert result.outcome == Outcome.reject
    assert result.reasons == [
        Reason.image_blurry,
        Reason.mrz_check_digits_failed,
        Reason.viz_unreadable,
    ]
    assert result.user_reasons == [Reason.image_blurry]


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        (CheckName.document_expired, Reason.document_expired),
        (CheckName.minimum_age, Reason.holder_under_age),
        (CheckName.face_present, Reason.selfie_face_not_found),
    ],
)
def test_certain_grounds_reject(check: CheckName, reason: Reason) -> None:
    result = _decide(_clean(Check(check, CheckStatus.failed, reason)))
    assert (result.outcome, result.user_reasons) == (Outcome.reject, [reason])
    off = _decide(_clean(Check(check, CheckStatus.failed, reason)), auto_reject=False)
    assert (off.outcome, off.reasons, off.user_reasons) == (Outcome.review, [reason], [])


@pytest.mark.parametrize(
    ("check", "status", "reason"),
    [
        (CheckName.profile_name, CheckStatus.failed, Reason.name_mismatch),
        (CheckName.profile_name, CheckStatus.warning, Reason.name_partial_match),
        (CheckName.profile_birth_date, CheckStatus.failed, Reason.birth_date_mismatch),
        (CheckName.profile_country, CheckStatus.warning, Reason.country_mismatch),
        (CheckName.visual_zone, CheckStatus.failed, Reason.viz_mismatch),
        (CheckName.document_reuse, CheckStatus.failed, Reason.document_reused),
        (CheckName.image_reuse, CheckStatus.failed, Reason.image_reused),
        (CheckName.face_match, CheckStatus.failed, Reason.face_mismatch),
        (CheckName.face_match, CheckStatus.warning, Reason.face_uncertain),
        (CheckName.screening, CheckStatus.failed, Reason.screening_hit),
        (CheckName.screening, CheckStatus.warning, Reason.screening_possible_hit),
        (CheckName.document_expired, CheckStatus.warning, Reason.document_expired),
        (CheckName.mrz_integrity, CheckStatus.failed, Reason.mrz_not_found),
        (CheckName.mrz_integrity, CheckStatus.failed, Reason.mrz_check_digits_failed),
    ],
)
def test_uncertain_or_suspicious_findings_go_to_a_person(
    check: CheckName, status: CheckStatus, reason: Reason
) -> None:
    result = _decide(_clean(Check(check, status, reason)))
    assert (result.outcome, result.reasons, result.user_reasons) == (Outcome.review, [reason], [])


def test_editing_signs_never_reject_even_as_a_failure() -> None:
    signal = Check(
        CheckName.editing_signs, CheckStatus.failed, Reason.image_blurry, review_only=True
    )
    result = _decide(_clean(signal))
    assert result.outcome == Outcome.review


def test_a_screening_hit_is_seen_by_a_person_even_when_the_document_expired() -> None:
    result = _decide(
        _clean(
            Check(CheckName.document_expired, CheckStatus.failed, Reason.document_expired),
            Check(CheckName.screening, CheckStatus.failed, Reason.screening_hit),
        )
    )
    assert result.outcome == Outcome.review
    assert result.reasons == [Reason.document_expired, Reason.screening_hit]
    assert result.user_reasons == []


def test_a_selfie_copied_from_the_document_is_seen_by_a_person() -> None:
    copy = checks.face_match(
        None,
        match=0.5,
        mismatch=0.6,
        selfie_hash="aadb61a5c16a9de0",
        document_hashes={"front": "aadb61a5c16a9de0"},
        hash_distance=6,
    )
    result = _decide(_clean(copy))
    assert (result.outcome, result.reasons) == (Outcome.review, [Reason.selfie_is_document_copy])
    # A blurry back would be the user's to fix, but a person sees the copy first.
    blurry = Check(CheckName.image_quality, CheckStatus.failed, Reason.image_blurry)
    result = _decide(_clean(copy, blurry))
    assert result.outcome is Outcome.review and result.user_reasons == []
    assert Reason.selfie_is_document_copy not in messages.USER_REASONS


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        (CheckName.document_expired, Reason.document_expired),
        (CheckName.minimum_age, Reason.holder_under_age),
    ],
)
def test_dates_from_an_mrz_failing_its_check_digits_go_to_a_person(
    check: CheckName, reason: Reason
) -> None:
    result = _decide(
        _clean(
            Check(CheckName.mrz_integrity, CheckStatus.failed, Reason.mrz_check_digits_failed),
            Check(check, CheckStatus.failed, reason),
        )
    )
    assert result.outcome == Outcome.review
    assert set(result.reasons) == {reason, Reason.mrz_check_digits_failed}
    assert result.user_reasons == []


def _broken_mrz_checks(*, blurry: bool) -> list[Check]:
    """The real checks of a passport whose MRZ fails its document number check digit."""
    fields = DocumentFields(
        source="mrz",
        document_kind=DocumentKind.passport,
        issuing_country="PRT",
        document_number="CB1234567",
        surname="SILVA",
        given_names="ANA",
        birth_date=date(1980, 1, 2),
        expiry_date=date(2031, 1, 2),
        sex="F",
        nationality="PRT",
    )
    lines = mrz.build(fields, mrz.MrzFormat.TD3)
    broken = lines[1][:9] + str((int(lines[1][9]) + 5) % 10) + lines[1][10:]
    read = mrz.read([lines[0], broken], today=TODAY)
    assert read is not None and not read.valid  # never repaired into a valid one
    quality = (
        Check(CheckName.image_quality, CheckStatus.failed, Reason.image_blurry)
        if blurry
        else _passed(CheckName.image_quality)
    )
    return _clean(
        quality,
        checks.mrz_integrity(read, False, True),
        checks.document_expired(read.fields, TODAY),
        checks.minimum_age(read.fields, TODAY, 18),
        Check(CheckName.visual_zone, CheckStatus.warning, Reason.viz_unreadable),
    )


def test_an_mrz_failing_its_check_digits_goes_to_a_person_with_the_failing_fields() -> None:
    found = _broken_mrz_checks(blurry=False)
    mrz_check = next(c for c in found if c.name == CheckName.mrz_integrity)
    assert (mrz_check.status, mrz_check.reason) == (
        CheckStatus.failed,
        Reason.mrz_check_digits_failed,
    )
    assert "document_number" in mrz_check.evidence["failed_check_digits"]
    result = _decide(found)
    assert result.outcome == Outcome.review
    assert Reason.mrz_check_digits_failed in result.reasons and result.user_reasons == []


def test_a_bad_photo_still_rejects_when_the_mrz_fails_its_check_digits() -> None:
    result = _decide(_broken_mrz_checks(blurry=True))
    assert result.outcome == Outcome.reject
    assert result.reasons[:2] == [Reason.image_blurry, Reason.mrz_check_digits_failed]
    assert result.user_reasons == [Reason.image_blurry]


def test_real_checks_of_an_expired_passport_reject() -> None:
    fields = DocumentFields(
        source="mrz",
        document_kind=DocumentKind.passport,
        issuing_country="PRT",
        document_number="CB1234567",
        surname="SILVA",
        given_names="ANA",
        birth_date=date(1980, 1, 2),
        expiry_date=date(2025, 1, 2),
        sex="F",
        nationality="PRT",
    )
    read = mrz.parse(mrz.build(fields, mrz.MrzFormat.TD3), today=TODAY)
    found = [
        checks.mrz_integrity(read, True, True),
        checks.document_expired(read.fields, TODAY),
        checks.minimum_age(read.fields, TODAY, 18),
        checks.profile_birth_date(read.fields, date(1980, 1, 2)),
        checks.profile_country(read.fields, "PT"),
        checks.document_reuse([], fingerprint="x"),
    ]
    result = _decide(found)
    assert (result.outcome, result.user_reasons) == (Outcome.reject, [Reason.document_expired])


# --- messages ----------------------------------------------------------------------------------


def test_every_rejection_reason_has_a_text_in_every_language() -> None:
    for reason in decide.REJECT_REASONS:
        assert reason in messages.USER_REASONS
        texts = {locale: messages.user_text(reason, locale) for locale in messages.LOCALES}
        assert len(set(texts.values())) == 3, reason
        assert all(t != messages.GENERIC[loc] for loc, t in texts.items())


def test_locales_are_the_communications_domains() -> None:
    from vigil.communications import service as communications
    from vigil.communications import templating

    # The same objects, not copies: a language added there is a language here.
    assert messages.LOCALES is templating.LOCALES
    assert messages.DEFAULT_LOCALE is templating.DEFAULT_LOCALE
    for locale in ("pt-BR", "es_MX", "fr", None, "EN"):
        assert messages.normalize_locale(locale) == communications.normalize_locale(locale)[0]


def test_locales_fall_back_like_the_communications() -> None:
    blurry = messages.user_text(Reason.image_blurry, "pt-BR")
    assert blurry.startswith("A foto está desfocada")
    assert messages.user_text(Reason.image_blurry, "es_MX").startswith("La foto está")
    assert messages.user_text(Reason.image_blurry, "fr") == messages.user_text(
        Reason.image_blurry, "en"
    )
    assert "retake" in messages.user_text(Reason.image_blurry, "en")


@pytest.mark.parametrize(
    "reason",
    [
        Reason.screening_hit,
        Reason.screening_possible_hit,
        Reason.document_reused,
        Reason.image_reused,
        Reason.editing_suspected,
    ],
)
def test_screening_and_fraud_signals_are_never_disclosed(reason: Reason) -> None:
    assert reason not in messages.USER_REASONS
    assert messages.user_text(reason, "es") == messages.GENERIC["es"]
    assert messages.user_texts([Reason.document_expired, reason, Reason.image_reused], "en") == [
        {"code": "document_expired", "text": messages.user_text(Reason.document_expired, "en")},
        {"code": "not_verified", "text": messages.GENERIC["en"]},
    ]


def test_every_reason_has_a_reviewer_label() -> None:
    labels = {messages.reviewer_label(r) for r in Reason}
    assert len(labels) == len(Reason)
    assert messages.reviewer_label(Reason.mrz_unconfirmed).startswith("MRZ read not confirmed")
