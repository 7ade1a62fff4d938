"""The checks: each turns a reader's result into a status, a reason and evidence. Reads come
from the project's own readers (MRZ lines built and parsed, AAMVA payloads encoded and parsed),
so the checks are tested on the shapes the pipeline really hands them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from tests.identity import imaging
from vigil.identity import aamva, checks, faces, forensics, mrz, ocr, quality, viz
from vigil.identity.types import Check, CheckStatus, DocumentFields, DocumentKind, Reason
from vigil.screening.service import ScreeningHit

TODAY = date(2026, 11, 21)


def _fields(**overrides: object) -> DocumentFields:
    base = DocumentFields(
        source="mrz",
        document_kind=DocumentKind.passport,
        issuing_country="ESP",
        document_number="PAB123456",
        surname="GARCIA LOPEZ",
        given_names="MARIA JOSE",
        birth_date=date(1990, 3, 14),
        expiry_date=date(2030, 5, 1),
        sex="F",
        nationality="ESP",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def _passport(**overrides: object) -> mrz.MrzResult:
    return mrz.parse(mrz.build(_fields(**overrides), mrz.MrzFormat.TD3), today=TODAY)


def _json(check: Check) -> dict[str, object]:
    """Evidence is stored as JSON: it must survive a round trip."""
    out: dict[str, object] = json.loads(json.dumps(check.to_json()))
    return out


# --- validity ----------------------------------------------------------------------------------


def test_document_expired_yesterday_from_the_mrz_fails() -> None:
    check = checks.document_expired(_fields(expiry_date=date(2026, 11, 20)), TODAY)
    assert (check.status, check.reason) == (CheckStatus.failed, Reason.document_expired)
    assert _json(check)["evidence"] == {
        "expiry_date": "2026-11-20",
        "today": "2026-11-21",
        "source": "mrz",
    }


def test_document_is_valid_through_its_expiry_day() -> None:
    check = checks.document_expired(_fields(expiry_date=TODAY), TODAY)
    assert check.status == CheckStatus.passed


def test_expiry_read_from_printed_text_only_is_a_warning() -> None:
    fields = _fields(source="viz", expiry_date=date(2020, 1, 1))
    check = checks.document_expired(fields, TODAY)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.document_expired)
    # The pipeline may say the date is certain (e.g. the MRZ confirmed it).
    assert checks.document_expired(fields, TODAY, certain=True).status == CheckStatus.failed


def test_unknown_expiry_is_a_warning() -> None:
    check = checks.document_expired(_fields(expiry_date=None), TODAY)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.expiry_unknown)


@pytest.mark.parametrize(
    ("birth", "status"),
    [
        (date(2008, 11, 21), CheckStatus.passed),  # 18 today
        (date(2008, 11, 22), CheckStatus.failed),  # 18 tomorrow
        (date(1950, 1, 1), CheckStatus.passed),
    ],
)
def test_minimum_age_on_the_day(birth: date, status: CheckStatus) -> None:
    check = checks.minimum_age(_fields(birth_date=birth), TODAY, 18)
    assert check.status == status
    if status == CheckStatus.failed:
        assert check.reason == Reason.holder_under_age
        assert check.evidence["age"] == 17


def test_leap_day_birth_turns_of_age_on_the_first_of_march() -> None:
    fields = _fields(birth_date=date(2008, 2, 29))
    assert checks.minimum_age(fields, date(2026, 2, 28), 18).status == CheckStatus.failed
    assert checks.minimum_age(fields, date(2026, 3, 1), 18).status == CheckStatus.passed


def test_minimum_age_unknown_or_future_birth_date_is_a_warning() -> None:
    for birth in (None, date(2030, 1, 1)):
        check = checks.minimum_age(_fields(birth_date=birth), TODAY, 18)
        assert (check.status, check.reason) == (CheckStatus.warning, Reason.birth_date_unknown)
    printed = checks.minimum_age(_fields(source="viz", birth_date=date(2015, 1, 1)), TODAY, 18)
    assert (printed.status, printed.reason) == (CheckStatus.warning, Reason.holder_under_age)


# --- MRZ ---------------------------------------------------------------------------------------


def test_mrz_valid_and_confirmed_passes() -> None:
    read = _passport()
    assert read.valid
    check = checks.mrz_integrity(read, True, True, confirmed_by=["second_read"])
    assert check.status == CheckStatus.passed
    evidence = _json(check)["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["format"] == "TD3"
    assert evidence["confirmed_by"] == ["second_read"]


def test_mrz_check_digits_alone_do_not_pass() -> None:
    """M and W have values 22 and 32: a misread in the number that swaps them keeps the
    check digit (7-3-1 weights, mod 10) passing. Only confirmation makes the read pass."""
    good = mrz.build(_fields(document_number="PM1234567"), mrz.MrzFormat.TD3)
    misread = [good[0], good[1].replace("PM1234567", "PW1234567", 1)]
    read = mrz.parse(misread, today=TODAY)
    assert read.valid  # the check digit cannot see it
    check = checks.mrz_integrity(read, False, True)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.mrz_unconfirmed)


def test_mrz_failing_check_digits_fails_and_names_the_fields() -> None:
    lines = mrz.build(_fields(), mrz.MrzFormat.TD3)
    # Change one digit of the birth date (positions 13-18 of line 2) without its check digit.
    line2 = lines[1]
    birth = line2[13:19]
    wrong = str((int(birth[-1]) + 1) % 10)
    lines[1] = line2[:18] + wrong + line2[19:]
    read = mrz.parse(lines, today=TODAY)
    assert not read.valid
    check = checks.mrz_integrity(read, True, True)
    assert (check.status, check.reason) == (CheckStatus.failed, Reason.mrz_check_digits_failed)
    assert "birth_date" in check.evidence["failed_check_digits"]


def test_mrz_unknown_country_is_a_warning_for_a_person() -> None:
    """A code outside ICAO's list (specimens print ``COU``, ``BOS``): a new code, a misread or
    a made-up state; a person looks (review), it is no ground to fail the document."""
    read = _passport(issuing_country="XQZ", nationality="XQZ")
    assert all(read.check_digits.values()) and read.valid
    check = checks.mrz_integrity(read, True, True, confirmed_by=["second_read"])
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.mrz_invalid_field)
    assert check.evidence["errors"] == ["unknown issuing country: XQZ", "unknown nationality: XQZ"]


def test_mrz_impossible_date_is_an_invalid_field_that_fails() -> None:
    lines = mrz.build(_fields(), mrz.MrzFormat.TD3)
    # 14 March -> 32 March, with every check digit recomputed: well-checked, malformed.
    line2 = lines[1][:13] + "900332" + str(mrz.check_digit("900332")) + lines[1][20:43]
    line2 += str(mrz.check_digit(line2[0:10] + line2[13:20] + line2[21:43]))
    read = mrz.parse([lines[0], line2], today=TODAY)
    assert all(read.check_digits.values()) and not read.valid
    check = checks.mrz_integrity(read, True, True, confirmed_by=["second_read"])
    assert (check.status, check.reason) == (CheckStatus.failed, Reason.mrz_invalid_field)
    assert check.evidence["errors"] == ["impossible birth date: 900332"]


def _misread(lines: list[str], fmt: mrz.MrzFormat, at: int, char: str) -> list[str]:
    """``lines`` with the document number's character ``at`` replaced by ``char``."""
    layout = mrz.LAYOUTS[fmt]
    li, p = mrz._fields_of(layout, lines)[0].positions[at]
    out = list(lines)
    out[li] = out[li][:p] + char + out[li][p + 1 :]
    return out


def _printed_zone(fields: DocumentFields, number: str) -> list[ocr.OcrLine]:
    """The visual zone as an OCR reads it: labels, the printed number, name, birth date."""
    assert fields.birth_date is not None
    texts = [
        "Document No. / Numero",
        number,
        "Surname / Apellidos",
        fields.surname or "",
        "Given names / Nombre",
        fields.given_names or "",
        "Date of birth / Fecha de nacimiento",
        fields.birth_date.strftime("%d.%m.%Y"),
    ]
    return [
        ocr.OcrLine(text, (10.0, 10.0 + 30 * i, 400.0, 30.0 + 30 * i), 0.99)
        for i, text in enumerate(texts)
    ]


def _as_the_pipeline_checks(
    read: mrz.MrzResult, again: mrz.MrzResult, printed: list[ocr.OcrLine]
) -> Check:
    """``mrz_integrity`` with the confirmations the pipeline gathers: a second OCR read of
    the same lines (``ocr.confirmed``) and the visual zone compared with the repaired
    characters exact (``pipeline.read_visual_zone``)."""
    second = ocr.confirmed(read, [read, again])
    comparison = viz.compare(
        printed, read.fields, today=TODAY, exact_number=mrz.number_repairs(read)
    )
    confirmed_by = ["second_read"] if second else []
    if checks.visual_zone_confirms(comparison):
        confirmed_by.append("visual_zone")
    return checks.mrz_integrity(
        read,
        bool(confirmed_by),
        True,
        confirmed_by=confirmed_by,
        repairs_confirmed=checks.repairs_confirmed(read, second_read=second, comparison=comparison),
    )


_RNG_ALNUM = "ABCDEFGHJKLMNPRTUVWXY0123456789"


@pytest.mark.parametrize("fmt", list(mrz.MrzFormat))
def test_a_forged_number_digit_is_never_valid_and_confirmed(fmt: mrz.MrzFormat) -> None:
    """A number digit altered as printed (MRZ and visual zone alike; check digits left as
    they were). The composite weighs the number like its own check digit, so one confusion
    elsewhere in the number (8 -> B, 0 -> O...) fixes both checks and the reader returns a
    valid, repaired read of a third number. Two OCR reads of the same print agree on that
    repair, and the printed number agrees with it once O/0, B/8... are folded: neither may
    confirm it. Never valid-and-confirmed, over many documents of every format."""
    import random

    rng = random.Random(f"forged-{fmt}")
    forged = repaired_valid = folded_would_agree = 0
    for _ in range(300):
        number = "".join(rng.choice(_RNG_ALNUM + "0O1I5S8B2Z") for _ in range(9))
        fields = _fields(
            document_number=number,
            document_kind=DocumentKind.passport
            if fmt is mrz.MrzFormat.TD3
            else DocumentKind.visa
            if fmt in (mrz.MrzFormat.MRVA, mrz.MrzFormat.MRVB)
            else DocumentKind.id_card,
        )
        lines = mrz.build(fields, fmt)
        digits = [i for i, ch in enumerate(number) if ch.isdigit()]
        if not digits:
            continue
        at = rng.choice(digits)
        altered = str((int(number[at]) + rng.randint(1, 9)) % 10)
        printed = _misread(lines, fmt, at, altered)
        printed_number = number[:at] + altered + number[at + 1 :]
        forged += 1
        read = mrz.read(printed, today=TODAY)
        again = mrz.read(printed, today=TODAY)
        assert read is not None and again is not None
        if read.valid:
            # Valid only by a repair, which the read says it made.
            assert read.repairs and read.fields.document_number != printed_number
            repaired_valid += 1
            loose = viz.compare(_printed_zone(fields, printed_number), read.fields, today=TODAY)
            folded_would_agree += loose.fields.get("document_number") == "agrees"
        check = _as_the_pipeline_checks(read, again, _printed_zone(fields, printed_number))
        assert not (read.valid and check.status == CheckStatus.passed), (
            printed,
            read.lines,
            check.evidence,
        )
        if read.valid:
            assert (check.status, check.reason) == (CheckStatus.warning, Reason.mrz_unconfirmed)
            assert check.evidence["repairs_confirmed"] is False
            assert check.evidence["confirmed"] is False
    assert forged > 250
    # The danger is real (the forgery reads valid after a repair, and a folded comparison
    # of the printed number would have "confirmed" it), and the checks refuse it.
    assert repaired_valid > 20 and folded_would_agree > 10


@pytest.mark.parametrize("fmt", list(mrz.MrzFormat))
def test_a_repaired_misread_is_confirmed_by_the_printed_number_exactly(
    fmt: mrz.MrzFormat,
) -> None:
    """A genuine document whose MRZ the OCR misread (8 read as B in the number): the repair
    restores it, and the visual zone printing the restored character confirms the repair."""
    fields = _fields(document_number="PA8123456")
    lines = mrz.build(fields, fmt)
    misread = _misread(lines, fmt, 2, "B")
    read = mrz.read(misread, today=TODAY)
    assert read is not None and read.valid and read.lines == tuple(lines)
    assert mrz.number_repairs(read) == {2}
    check = _as_the_pipeline_checks(read, read, _printed_zone(fields, "PA8123456"))
    assert check.status == CheckStatus.passed, check.evidence
    assert check.evidence["repairs_confirmed"] is True
    # Printed as the OCR misread it (or forged so): the repaired character is contradicted.
    check = _as_the_pipeline_checks(read, read, _printed_zone(fields, "PAB123456"))
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.mrz_unconfirmed)


def test_a_repaired_read_needs_its_own_confirmation() -> None:
    """``confirmed`` alone (e.g. the visual zone agreeing on the birth date and name) does not
    confirm what a repair changed."""
    lines = mrz.build(_fields(document_number="PA8123456"), mrz.MrzFormat.TD3)
    read = mrz.read(_misread(lines, mrz.MrzFormat.TD3, 2, "B"), today=TODAY)
    assert read is not None and read.valid and read.repairs
    check = checks.mrz_integrity(read, True, True, confirmed_by=["visual_zone"])
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.mrz_unconfirmed)
    assert check.evidence["repairs_confirmed"] is False
    # A second read that needed no repair and gave the same lines confirms it.
    clean = mrz.read(lines, today=TODAY)
    assert clean is not None and not clean.repairs
    assert ocr.confirmed(read, [read, clean])
    assert checks.repairs_confirmed(read, second_read=True, comparison=None)
    assert not checks.repairs_confirmed(read, second_read=False, comparison=None)
    assert checks.repairs_confirmed(clean, second_read=False, comparison=None)


def test_mrz_missing_fails_only_when_the_kind_has_one() -> None:
    missing = checks.mrz_integrity(None, False, True)
    assert (missing.status, missing.reason) == (CheckStatus.failed, Reason.mrz_not_found)
    assert checks.mrz_integrity(None, False, False).status == CheckStatus.skipped


def test_mrz_of_an_id_card_claimed_as_a_passport_is_a_warning() -> None:
    card = _fields(document_kind=DocumentKind.id_card, document_number="AB1234567")
    read = mrz.parse(mrz.build(card, mrz.MrzFormat.TD1), today=TODAY)
    assert read.valid
    check = checks.mrz_integrity(read, True, True, claimed_kind=DocumentKind.passport)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.document_kind_mismatch)
    # A residence permit is the same card format as an ID card.
    ok = checks.mrz_integrity(read, True, True, claimed_kind=DocumentKind.residence_permit)
    assert ok.status == CheckStatus.passed


# --- barcode -----------------------------------------------------------------------------------


def _license(**overrides: str) -> aamva.AamvaResult:
    elements = {
        "DCA": "D",
        "DCB": "NONE",
        "DCD": "NONE",
        "DBA": aamva.format_date(date(2031, 6, 1)),
        "DCS": "SMITH",
        "DAC": "JOHN",
        "DAD": "NONE",
        "DBD": aamva.format_date(date(2023, 6, 1)),
        "DBB": aamva.format_date(date(1985, 6, 1)),
        "DBC": "1",
        "DAY": "BRO",
        "DAU": "070 IN",
        "DAG": "1 MAIN ST",
        "DAI": "RICHMOND",
        "DAJ": "VA",
        "DAK": "232190000",
        "DAQ": "T12345678",
        "DCF": "0123456789",
        "DCG": "USA",
        "DDE": "N",
        "DDF": "N",
        "DDG": "N",
    }
    elements.update(overrides)
    return aamva.parse(aamva.encode(elements, iin="636000"))


def test_barcode_parsed_and_matching_its_iin_passes() -> None:
    read = _license()
    check = checks.barcode_integrity(read, True)
    assert check.status == CheckStatus.passed, check.evidence
    assert check.evidence["jurisdiction"] == "VA"


def test_barcode_whose_address_is_in_another_state_passes_with_the_warning() -> None:
    read = _license(DAJ="MD")
    check = checks.barcode_integrity(read, True)
    assert check.status == CheckStatus.passed, check.evidence
    assert check.evidence["jurisdiction_matches_iin"] is False
    assert check.evidence["warnings"] == ["address jurisdiction MD is not the IIN's (VA)"]


def test_barcode_of_the_department_of_state_passes() -> None:
    elements = dict(_license().elements, DAJ="NY")
    read = aamva.parse(aamva.encode(elements, iin="636027"))
    check = checks.barcode_integrity(read, True)
    assert check.status == CheckStatus.passed, check.evidence
    assert check.evidence["jurisdiction"] == "DS"


def test_barcode_with_an_unknown_iin_is_invalid() -> None:
    read = aamva.parse(aamva.encode(dict(_license().elements), iin="999999"))
    check = checks.barcode_integrity(read, True)
    assert (check.status, check.reason) == (CheckStatus.failed, Reason.barcode_invalid)
    assert check.evidence["errors"] == ["unknown IIN 999999"]


def test_barcode_missing_or_not_aamva() -> None:
    missing = checks.barcode_integrity(None, True)
    assert (missing.status, missing.reason) == (CheckStatus.failed, Reason.barcode_not_found)
    assert checks.barcode_integrity(None, False).status == CheckStatus.skipped
    with pytest.raises(aamva.AamvaError) as caught:
        aamva.parse("hello, not a license")
    bad = checks.barcode_integrity(None, True, error=str(caught.value))
    assert (bad.status, bad.reason) == (CheckStatus.failed, Reason.barcode_invalid)


def test_barcode_claimed_as_a_passport_is_a_kind_mismatch() -> None:
    check = checks.barcode_integrity(_license(), True, claimed_kind=DocumentKind.passport)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.document_kind_mismatch)


# --- sides and profile -------------------------------------------------------------------------


def test_sides_agree_and_disagree() -> None:
    back = _fields()
    front = _fields(source="viz", document_number="PAB-123456", surname=None)
    check = checks.sides_consistency(front, back)
    assert check.status == CheckStatus.passed
    assert set(check.evidence["compared"]) == {"document_number", "birth_date", "expiry_date"}

    other = _fields(source="viz", document_number="PXY999999", birth_date=date(1991, 3, 14))
    check = checks.sides_consistency(other, back)
    assert (check.status, check.reason) == (CheckStatus.failed, Reason.sides_mismatch)
    assert check.evidence["differing"] == ["birth_date", "document_number"]


def test_sides_with_nothing_to_compare_are_skipped() -> None:
    assert checks.sides_consistency(None, _fields()).status == CheckStatus.skipped
    blank = DocumentFields(source="viz")
    assert checks.sides_consistency(blank, _fields()).status == CheckStatus.skipped


def test_birth_date_against_the_profile() -> None:
    fields = _fields(birth_date=date(1990, 3, 4))
    assert checks.profile_birth_date(fields, date(1990, 3, 4)).status == CheckStatus.passed
    swapped = checks.profile_birth_date(fields, date(1990, 4, 3))
    assert (swapped.status, swapped.reason) == (CheckStatus.failed, Reason.birth_date_mismatch)
    assert swapped.evidence["day_month_swapped"] is True
    none = checks.profile_birth_date(fields, None)
    assert (none.status, none.reason) == (CheckStatus.warning, Reason.profile_incomplete)
    unread = checks.profile_birth_date(_fields(birth_date=None), date(1990, 3, 4))
    assert (unread.status, unread.reason) == (CheckStatus.warning, Reason.birth_date_unknown)


@pytest.mark.parametrize(
    ("issuer", "nationality", "profile", "status"),
    [
        ("ESP", "ESP", "es", CheckStatus.passed),
        ("D", "D", "DE", CheckStatus.passed),  # ICAO's one-letter Germany
        ("GBR", "GBR", "GB", CheckStatus.passed),
        ("ESP", "BRA", "BR", CheckStatus.passed),  # a Brazilian's residence card in Spain
        ("FRA", "FRA", "ES", CheckStatus.warning),
        ("UNO", None, "ES", CheckStatus.skipped),  # the UN issues laissez-passer
    ],
)
def test_country_against_the_profile(
    issuer: str, nationality: str | None, profile: str, status: CheckStatus
) -> None:
    check = checks.profile_country(
        _fields(issuing_country=issuer, nationality=nationality), profile
    )
    assert check.status == status
    if status == CheckStatus.warning:
        assert check.reason == Reason.country_mismatch


def test_country_missing_on_the_profile() -> None:
    check = checks.profile_country(_fields(), None)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.profile_incomplete)


# --- other accounts ----------------------------------------------------------------------------


def test_document_reuse() -> None:
    reused = checks.document_reuse(["acc_2", "acc_1", "acc_2"], fingerprint="f")
    assert (reused.status, reused.reason) == (CheckStatus.failed, Reason.document_reused)
    assert reused.evidence == {"accounts": ["acc_1", "acc_2"], "count": 2}
    assert checks.document_reuse([], fingerprint="f").status == CheckStatus.passed
    assert checks.document_reuse([], fingerprint=None).status == CheckStatus.skipped
    unverified = checks.document_reuse([], fingerprint=None, not_used="mrz_invalid")
    assert unverified.status == CheckStatus.skipped
    assert unverified.evidence == {"fingerprint_not_used": "mrz_invalid"}


def test_image_reuse() -> None:
    match = {"account": "acc_9", "side": "front", "distance": 2}
    check = checks.image_reuse([match], max_distance=6)
    assert (check.status, check.reason) == (CheckStatus.failed, Reason.image_reused)
    assert _json(check)["evidence"] == {
        "matches": [match],
        "accounts": ["acc_9"],
        "max_distance": 6,
    }
    assert checks.image_reuse([], max_distance=6).status == CheckStatus.passed


# --- images, faces, editing (the reports of ``quality``, ``faces``, ``forensics``) ------------


def _quality(*reasons: Reason, blur: float = 150.0) -> quality.QualityReport:
    return quality.QualityReport(
        blur=blur, glare=0.0, width=1400, height=900, reasons=list(reasons), ok=not reasons
    )


def test_image_quality_reports_the_most_basic_problem_first() -> None:
    clean = checks.image_quality({"front": _quality(), "selfie": _quality()})
    assert clean.status == CheckStatus.passed
    check = checks.image_quality(
        {"front": _quality(Reason.image_glare), "back": _quality(Reason.image_blurry, blur=12.0)}
    )
    assert (check.status, check.reason) == (CheckStatus.failed, Reason.image_blurry)
    assert check.evidence["reasons"] == ["image_blurry", "image_glare"]
    assert check.evidence["sides"]["back"]["blur"] == 12.0
    missing = checks.image_quality({"front": _quality()}, missing=["back"], unreadable=["selfie"])
    assert (missing.status, missing.reason) == (CheckStatus.failed, Reason.image_missing)
    assert checks.image_quality({}).status == CheckStatus.skipped


def test_image_quality_on_a_real_blurry_image() -> None:
    from PIL import Image, ImageDraw, ImageFilter

    image = Image.new("RGB", (1200, 800), "white")
    draw = ImageDraw.Draw(image)
    for y in range(40, 780, 24):
        draw.text((40, y), "P<ESPGARCIA<LOPEZ<<MARIA<JOSE<<<<<<<<<<<<<<<<<<<<" * 2, fill="black")
    sharp = quality.assess(image, blur_min=60.0, glare_max=0.04, min_short_side=300)
    blurry = quality.assess(
        image.filter(ImageFilter.GaussianBlur(6)), blur_min=60.0, glare_max=0.04, min_short_side=300
    )
    assert checks.image_quality({"front": sharp}).status == CheckStatus.passed
    check = checks.image_quality({"front": blurry})
    assert (check.status, check.reason) == (CheckStatus.failed, Reason.image_blurry)


def _faces(distance: float | None, selfie: int = 1, document: int = 1) -> faces.FaceComparison:
    box = faces.FaceBox(10, 10, 110, 130, 1.0)
    return faces.FaceComparison(
        distance=distance,
        selfie_faces=selfie,
        document_faces=document,
        document_box=box if document else None,
        selfie_box=box if selfie else None,
    )


@pytest.mark.parametrize(
    ("distance", "status", "reason"),
    [
        (0.42, CheckStatus.passed, Reason.ok),
        (0.50, CheckStatus.passed, Reason.ok),  # at the threshold: a match
        (0.58, CheckStatus.warning, Reason.face_uncertain),
        (0.65, CheckStatus.warning, Reason.face_uncertain),
        (0.71, CheckStatus.failed, Reason.face_mismatch),
    ],
)
def test_face_match_bands(distance: float, status: CheckStatus, reason: Reason) -> None:
    check = checks.face_match(_faces(distance), match=0.5, mismatch=0.65)
    assert (check.status, check.reason) == (status, reason)
    assert check.evidence["distance"] == distance


@pytest.mark.parametrize("distance", [0.0, 0.03])
def test_a_selfie_that_is_the_document_photo_goes_to_review(distance: float) -> None:
    check = checks.face_match(_faces(distance), match=0.5, mismatch=0.65, same_image=0.04)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.selfie_is_document_copy)
    assert check.evidence["copy_of"] == ["portrait_face"]
    assert check.evidence["same_image"] == 0.04
    # Two photos of one person, even close ones (the simulator's selfies measure 0.07-0.13).
    close = checks.face_match(_faces(0.07), match=0.5, mismatch=0.65, same_image=0.04)
    assert close.status == CheckStatus.passed


def test_a_selfie_whose_hash_is_a_document_image_goes_to_review() -> None:
    document = {"front": "aadb61a5c16a9de0", "portrait": "8cb35ff3d083ac44"}
    copy = checks.face_match(
        _faces(0.42),
        match=0.5,
        mismatch=0.65,
        selfie_hash="aadb61a5c16a9de3",  # 2 bits from the front
        document_hashes=document,
        hash_distance=6,
    )
    assert (copy.status, copy.reason) == (CheckStatus.warning, Reason.selfie_is_document_copy)
    assert copy.evidence["copy_of"] == ["front"]
    assert copy.evidence["hash_distances"]["front"] == 2
    # Also when no face could be compared on the copy.
    faceless = checks.face_match(
        _faces(None),
        match=0.5,
        mismatch=0.65,
        selfie_hash="aadb61a5c16a9de0",
        document_hashes=document,
        hash_distance=6,
    )
    assert faceless.reason == Reason.selfie_is_document_copy
    other = checks.face_match(
        _faces(0.42),
        match=0.5,
        mismatch=0.65,
        selfie_hash="ad8563b492c32d9e",
        document_hashes={**document, "back": None, "chip": "ab"},  # absent / other kind: ignored
        hash_distance=6,
    )
    assert other.status == CheckStatus.passed, other.evidence
    assert set(other.evidence["hash_distances"]) == {"front", "portrait"}


def test_the_document_photo_as_the_selfie_is_caught_on_real_images() -> None:
    card = imaging.on_card(imaging.face_image(1))
    same = faces.compare(card, card)
    check = checks.face_match(same, match=0.5, mismatch=0.6, same_image=0.04)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.selfie_is_document_copy)
    resaved = imaging.on_card(imaging.face_image(1)).resize((720, 456))
    by_hash = checks.face_match(
        faces.compare(resaved, card),
        match=0.5,
        mismatch=0.6,
        same_image=0.04,
        selfie_hash=forensics.phash(resaved),
        document_hashes={"front": forensics.phash(card)},
        hash_distance=6,
    )
    assert by_hash.reason == Reason.selfie_is_document_copy, by_hash.evidence


def test_face_match_without_a_selfie_or_a_face() -> None:
    no_selfie = checks.face_match(None, match=0.5, mismatch=0.65, selfie_submitted=False)
    assert (no_selfie.status, no_selfie.reason) == (CheckStatus.skipped, Reason.image_missing)
    no_face = checks.face_match(_faces(None, selfie=0), match=0.5, mismatch=0.65)
    assert (no_face.status, no_face.reason) == (CheckStatus.skipped, Reason.not_applicable)


@pytest.mark.parametrize(
    ("selfie", "document", "reason"),
    [
        (1, 0, Reason.face_not_found),
        (0, 1, Reason.selfie_face_not_found),
        (2, 1, Reason.multiple_faces),
    ],
)
def test_face_present_failures(selfie: int, document: int, reason: Reason) -> None:
    check = checks.face_present(_faces(None, selfie, document), selfie_submitted=True)
    assert (check.status, check.reason) == (CheckStatus.failed, reason)


def test_face_present_passes_with_a_ghost_portrait_and_no_selfie() -> None:
    # Many ID cards print a second, small portrait: the document may show two faces.
    assert checks.face_present(_faces(0.3, 1, 2), selfie_submitted=True).status == (
        CheckStatus.passed
    )
    without = checks.face_present(_faces(None, 0, 1), selfie_submitted=False)
    assert without.status == CheckStatus.passed
    assert without.evidence["selfie_faces"] is None


def test_editing_signs_are_a_review_signal_only() -> None:
    edited = forensics.EditingReport(
        software="Adobe Photoshop 25.0", ela=0.31, suspicious=True, evidence={"editor": "xmp"}
    )
    clean = forensics.EditingReport(software=None, ela=0.01, suspicious=False)
    check = checks.editing_signs({"front": edited, "back": clean})
    assert (check.status, check.reason, check.review_only) == (
        CheckStatus.warning,
        Reason.editing_suspected,
        True,
    )
    assert check.evidence["suspicious"] == ["front"]
    assert _json(check)["evidence"]["sides"]["front"]["software"] == "Adobe Photoshop 25.0"  # type: ignore[index]
    assert checks.editing_signs({"front": clean}).status == CheckStatus.passed
    assert checks.editing_signs({}).status == CheckStatus.skipped


# --- visual zone and profile name --------------------------------------------------------------


def _viz(**fields: str) -> viz.VizComparison:
    return viz.VizComparison(
        fields=dict(fields),
        agrees=sum(v == "agrees" for v in fields.values()),
        differs=sum(v == "differs" for v in fields.values()),
        evidence={k: {"reference": "x", "printed": "y", "how": "labelled"} for k in fields},
    )


def test_visual_zone_confirms_only_with_an_identifying_field() -> None:
    agreed = _viz(document_number="agrees", surname="agrees", birth_date="not_found")
    assert checks.visual_zone(agreed, reference="mrz").status == CheckStatus.passed
    assert checks.visual_zone_confirms(agreed)
    names_only = _viz(surname="agrees", given_names="agrees", document_number="not_found")
    check = checks.visual_zone(names_only)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.viz_unreadable)
    assert not checks.visual_zone_confirms(names_only)
    assert checks.visual_zone(None).status == CheckStatus.skipped


def test_visual_zone_contradicting_the_read_fails() -> None:
    tampered = _viz(document_number="agrees", birth_date="differs", surname="agrees")
    check = checks.visual_zone(tampered, reference="mrz")
    assert (check.status, check.reason) == (CheckStatus.failed, Reason.viz_mismatch)
    assert check.evidence["differing"] == ["birth_date"]


def test_visual_zone_on_printed_lines_read_by_the_viz_reader() -> None:
    read = _passport()
    lines = [
        ocr.OcrLine("Surname / Apellidos", (10, 10, 300, 30), 0.99),
        ocr.OcrLine("GARCIA LOPEZ", (10, 35, 300, 60), 0.99),
        ocr.OcrLine("Given names / Nombre", (10, 70, 300, 90), 0.99),
        ocr.OcrLine("MARIA JOSE", (10, 95, 300, 120), 0.99),
        ocr.OcrLine("Date of birth / Fecha de nacimiento", (10, 130, 400, 150), 0.99),
        ocr.OcrLine("14 MAR 1990", (10, 155, 300, 180), 0.99),
        ocr.OcrLine("Passport No. / N.º de pasaporte", (400, 10, 700, 30), 0.99),
        ocr.OcrLine("PAB123456", (400, 35, 700, 60), 0.99),
    ]
    good = checks.visual_zone(viz.compare(lines, read.fields, today=TODAY), reference="mrz")
    assert good.status == CheckStatus.passed, good.evidence
    lines[5] = ocr.OcrLine("14 MAR 1991", (10, 155, 300, 180), 0.99)
    bad = checks.visual_zone(viz.compare(lines, read.fields, today=TODAY), reference="mrz")
    assert (bad.status, bad.reason) == (CheckStatus.failed, Reason.viz_mismatch)


@pytest.mark.parametrize(
    ("profile", "status", "reason"),
    [
        ("María José García López", CheckStatus.passed, Reason.ok),
        ("Garcia Lopez, Maria Jose", CheckStatus.passed, Reason.ok),  # order swapped
        ("Maria Garcia Lopez", CheckStatus.passed, Reason.ok),  # a middle name left out
        ("Pedro Sanchez Ruiz", CheckStatus.failed, Reason.name_mismatch),
    ],
)
def test_profile_name(profile: str, status: CheckStatus, reason: Reason) -> None:
    check = checks.profile_name(_fields(), profile, match_min=90.0, review_min=70.0)
    assert (check.status, check.reason) == (status, reason), check.evidence
    assert 0 <= check.evidence["score"] <= 100


@pytest.mark.parametrize(
    ("profile", "surname", "given"),
    [
        ("John Smith", "SMITH", "JOAN"),
        ("Mark Jones", "JONES", "MARY"),
        ("Maria Garcia Lopez", "GARCIA LOPEZ", "MARIO"),
    ],
)
def test_profile_name_one_letter_apart_goes_to_review(
    profile: str, surname: str, given: str
) -> None:
    fields = _fields(surname=surname, given_names=given)
    check = checks.profile_name(fields, profile, match_min=90.0, review_min=70.0)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.name_partial_match)
    assert check.evidence["method"] == "fuzzy"


def test_profile_name_between_the_thresholds_is_a_partial_match() -> None:
    check = checks.profile_name(_fields(), "Maria Garcia Lopes", match_min=99.0, review_min=70.0)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.name_partial_match)


def test_profile_name_missing_on_either_side() -> None:
    none = checks.profile_name(_fields(), "  ", match_min=90.0, review_min=70.0)
    assert (none.status, none.reason) == (CheckStatus.warning, Reason.profile_incomplete)
    unread = checks.profile_name(
        _fields(surname=None, given_names=None), "Ana", match_min=90.0, review_min=70.0
    )
    assert (unread.status, unread.reason) == (CheckStatus.warning, Reason.name_unknown)


# --- screening ---------------------------------------------------------------------------------


def _hit(score: float, agrees: bool | None, entry: str = "e1") -> ScreeningHit:
    return ScreeningHit(
        list_name="sample",
        entry_id=entry,
        name="Viktor Almanzor Dresk",
        matched_name="Viktor Dresk",
        score=score,
        birth_date_agrees=agrees,
        topics=["sanction"],
    )


@pytest.mark.parametrize(
    ("hits", "status", "reason"),
    [
        ([], CheckStatus.passed, Reason.ok),
        ([_hit(96.0, True)], CheckStatus.failed, Reason.screening_hit),
        ([_hit(96.0, None)], CheckStatus.warning, Reason.screening_possible_hit),
        ([_hit(88.0, True)], CheckStatus.warning, Reason.screening_possible_hit),
        # A full-name hit whose birth date disagrees: lists carry wrong dates, a person looks.
        ([_hit(100.0, False)], CheckStatus.warning, Reason.screening_possible_hit),
        ([_hit(92.0, False)], CheckStatus.warning, Reason.screening_possible_hit),
        ([_hit(88.0, False)], CheckStatus.passed, Reason.ok),  # a namesake born another day
        ([_hit(80.0, True)], CheckStatus.passed, Reason.ok),  # below the possible score
        ([_hit(88.0, None, "a"), _hit(97.0, True, "b")], CheckStatus.failed, Reason.screening_hit),
    ],
)
def test_screening_bands(hits: list[ScreeningHit], status: CheckStatus, reason: Reason) -> None:
    check = checks.screening(hits, hit_score=92.0, possible_score=85.0)
    assert (check.status, check.reason) == (status, reason)
    kept = len(check.evidence["hits"]) + len(check.evidence["dismissed"])
    assert kept == len(hits)


def test_screening_skipped_when_nothing_was_screened() -> None:
    check = checks.screening([], hit_score=92.0, possible_score=85.0, screened=False)
    assert check.status == CheckStatus.skipped


def test_a_hit_whose_birth_date_disagrees_keeps_its_evidence() -> None:
    check = checks.screening([_hit(97.0, False)], hit_score=92.0, possible_score=85.0)
    assert (check.status, check.reason) == (CheckStatus.warning, Reason.screening_possible_hit)
    assert check.evidence["dismissed"] == []
    [kept] = check.evidence["hits"]
    assert (kept["entry_id"], kept["score"], kept["birth_date_agrees"]) == ("e1", 97.0, False)
    assert kept["topics"] == ["sanction"]


def test_screening_against_no_loaded_list_is_skipped_not_passed() -> None:
    check = checks.screening([], hit_score=92.0, possible_score=85.0, lists_loaded=0)
    assert (check.status, check.reason) == (CheckStatus.skipped, Reason.not_applicable)
    assert check.evidence["lists_loaded"] == 0
    assert "no screening list is loaded" in check.evidence["note"]
    loaded = checks.screening([], hit_score=92.0, possible_score=85.0, lists_loaded=2)
    assert loaded.status == CheckStatus.passed and loaded.evidence["lists_loaded"] == 2
