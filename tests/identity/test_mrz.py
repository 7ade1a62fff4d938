"""ICAO 9303 MRZ: check digits, every format, strict parsing, reading OCR text with
correction and repair, building lines (no OCR, no database).

Property tests draw documents from a seeded random generator, build their MRZ with
``mrz.build``, damage the lines the way OCR does and check what ``mrz.read`` makes of them.
"""

from __future__ import annotations

import random
import string
from datetime import date

import pytest

from vigil.accounts.countries import ISO_3166_ALPHA2
from vigil.identity import mrz
from vigil.identity.mrz import MrzFormat
from vigil.identity.types import DocumentFields, DocumentKind

TODAY = date(2026, 5, 1)

# ICAO 9303 Part 4 and 5 worked examples (the specimen of the imaginary state Utopia).
TD3 = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)
TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")
TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)
MRVA = (
    "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
)
MRVB = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<")


# --- check digits -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "digit"),
    [
        ("L898902C3", 6),
        ("740812", 2),
        ("120415", 9),
        ("ZE184226B<<<<<", 1),
        ("D23145890", 7),
        ("<<<<<<", 0),
        ("AB2134<<<", 5),
    ],
)
def test_check_digit_of_icao_examples(value: str, digit: int) -> None:
    assert mrz.check_digit(value) == digit


def test_check_digit_values_and_weights() -> None:
    assert [mrz.char_value(c) for c in "09<AZ"] == [0, 9, 0, 10, 35]
    # weights 7, 3, 1 repeating: "1" in each position
    assert mrz.check_digit("1") == 7
    assert mrz.check_digit("01") == 3
    assert mrz.check_digit("001") == 1
    assert mrz.check_digit("0001") == 7
    with pytest.raises(ValueError):
        mrz.check_digit("a")


def test_check_digits_miss_confusions_ten_apart() -> None:
    """What the docs say check digits cannot see: values that differ by a multiple of 10."""
    rng = random.Random(7)
    for group in ("0AKU", "2CMW", "4EOY", "8IS", "5FPZ", "6GQ"):
        for _ in range(20):
            body = "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(8))
            digits = {mrz.check_digit(body + ch) for ch in group}
            assert len(digits) == 1
    # ...while the usual OCR confusions with another value are caught in every position
    for a, b in (("0", "O"), ("1", "I"), ("5", "S"), ("8", "B"), ("2", "Z"), ("0", "D")):
        for pos in range(9):
            base = "X" * 9
            one = base[:pos] + a + base[pos + 1 :]
            two = base[:pos] + b + base[pos + 1 :]
            assert mrz.check_digit(one) != mrz.check_digit(two)


# --- parsing ------------------------------------------------------------------------------


def test_parse_td3_icao_example() -> None:
    result = mrz.parse(TD3, today=TODAY)
    assert result.format is MrzFormat.TD3
    assert result.valid
    assert result.check_digits == {
        "document_number": True,
        "birth_date": True,
        "expiry_date": True,
        "personal_number": True,
        "composite": True,
    }
    f = result.fields
    assert f.source == "mrz"
    assert f.document_kind is DocumentKind.passport
    assert (f.issuing_country, f.nationality) == ("UTO", "UTO")
    assert f.document_number == "L898902C3"
    assert (f.surname, f.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert f.birth_date == date(1974, 8, 12)
    assert f.expiry_date == date(2012, 4, 15)
    assert f.sex == "F"
    assert result.optional_data == "ZE184226B"
    assert result.errors == []
    assert result.repairs == []


@pytest.mark.parametrize(
    ("lines", "fmt", "kind", "number", "checks"),
    [
        (TD2, MrzFormat.TD2, DocumentKind.id_card, "D23145890", 4),
        (TD1, MrzFormat.TD1, DocumentKind.id_card, "D23145890", 4),
        (MRVA, MrzFormat.MRVA, DocumentKind.visa, "L8988901C", 3),
        (MRVB, MrzFormat.MRVB, DocumentKind.visa, "L8988901C", 3),
    ],
)
def test_parse_every_format(
    lines: tuple[str, ...], fmt: MrzFormat, kind: DocumentKind, number: str, checks: int
) -> None:
    result = mrz.parse(lines, today=TODAY)
    assert result.format is fmt
    assert result.valid, result.check_digits
    assert len(result.check_digits) == checks
    assert result.fields.document_kind is kind
    assert result.fields.document_number == number
    assert result.fields.surname == "ERIKSSON"
    assert result.fields.given_names == "ANNA MARIA"


def test_visa_dates_resolve_to_the_right_century() -> None:
    result = mrz.parse(MRVA, today=TODAY)
    assert result.fields.birth_date == date(1940, 9, 7)
    assert result.fields.expiry_date == date(1996, 12, 10)  # 2096 is too far ahead


def test_birth_date_is_in_the_past_and_expiry_up_to_twenty_years_ahead() -> None:
    fields = _fields(birth=date(2010, 3, 4), expiry=date(2045, 1, 2))
    result = mrz.parse(mrz.build(fields, MrzFormat.TD3), today=TODAY)
    assert result.fields.birth_date == date(2010, 3, 4)
    assert result.fields.expiry_date == date(2045, 1, 2)
    # a birth year "27" in 2026 is 1927, never in the future
    fields = _fields(birth=date(1927, 6, 1))
    assert mrz.parse(mrz.build(fields, MrzFormat.TD3), today=TODAY).fields.birth_date == date(
        1927, 6, 1
    )


def test_residence_permit_and_long_document_number_td1() -> None:
    lines = (
        "IRFRA123456789<0123<<<<<<<<<<<",
        "7906123F1401073SEN<<<<<<<<<<<0",
        "MARTIN<<CHRISTELLE<<<<<<<<<<<<",
    )
    # fix the check digits so the example is a valid long-number card
    fields = DocumentFields(
        source="test",
        document_kind=DocumentKind.residence_permit,
        issuing_country="FRA",
        document_number="1234567890123",
        surname="MARTIN",
        given_names="CHRISTELLE",
        birth_date=date(1979, 6, 12),
        expiry_date=date(2014, 1, 7),
        sex="F",
        nationality="SEN",
    )
    built = mrz.build(fields, MrzFormat.TD1)
    assert built[0].startswith("IRFRA123456789<0123")
    assert built[0][14] == "<"
    result = mrz.parse(built, today=TODAY)
    assert result.valid
    assert result.fields.document_number == "1234567890123"
    assert result.fields.document_kind is DocumentKind.residence_permit
    assert len(lines) == 3


def test_failing_check_digits_are_reported_not_raised() -> None:
    bad = (TD3[0], TD3[1][:9] + "7" + TD3[1][10:])  # document number check digit 6 -> 7
    result = mrz.parse(bad, today=TODAY)
    assert not result.valid
    assert result.check_digits["document_number"] is False
    assert result.check_digits["composite"] is False
    assert result.check_digits["birth_date"] is True


def test_field_errors() -> None:
    lines = mrz.build(_fields(issuing="QQQ", nationality="ZZX"), MrzFormat.TD3)
    result = mrz.parse(lines, today=TODAY)
    assert result.valid  # check digits pass and the fields are well formed
    assert "unknown issuing country: QQQ" in result.errors
    assert "unknown nationality: ZZX" in result.errors
    # an impossible date with a correct check digit is not valid
    line2 = lines[1][:13] + "741312" + str(mrz.check_digit("741312")) + lines[1][20:]
    line2 = line2[:43] + str(mrz.check_digit(line2[0:10] + line2[13:20] + line2[21:43]))
    result = mrz.parse((lines[0], line2), today=TODAY)
    assert all(result.check_digits.values())
    assert not result.valid
    assert "impossible birth date: 741312" in result.errors


@pytest.mark.parametrize(
    "lines",
    [
        (TD3[0],),
        (TD3[0], TD3[1][:-1]),
        (TD3[0].lower(), TD3[1]),
        ("P<UTO" + "É" * 39, TD3[1]),
    ],
)
def test_parse_refuses_what_is_no_mrz(lines: tuple[str, ...]) -> None:
    with pytest.raises(mrz.MrzError):
        mrz.parse(lines)


# --- countries ----------------------------------------------------------------------------


def test_country_codes() -> None:
    assert mrz.country_alpha2("BRA") == "BR"
    assert mrz.country_alpha2("D") == "DE"
    assert mrz.country_alpha2("D<<") == "DE"
    assert mrz.country_alpha2("DEU") == "DE"
    assert mrz.country_alpha2("GBD") == "GB"
    assert mrz.country_alpha2("GBR") == "GB"
    assert mrz.country_alpha2("UNO") is None
    assert mrz.country_alpha2("XXA") is None  # stateless
    assert mrz.country_alpha2("UTO") is None
    assert mrz.country_alpha2("QQQ") is None
    assert mrz.known_country("UTO")
    assert mrz.known_country("RKS")
    assert not mrz.known_country("QQQ")


def test_alpha3_table_covers_exactly_the_iso_alpha2_codes() -> None:
    iso = {c for c in mrz.ICAO_COUNTRY_CODES if len(c) == 3 and mrz.country_alpha2(c)}
    assert {mrz.country_alpha2(c) for c in iso} == ISO_3166_ALPHA2


# --- building and reading: properties on generated documents -------------------------------

_SURNAMES = ["SOUZA", "OLIVEIRA", "NGUYEN", "AL KAABI", "MULLER", "O'BRIEN", "DE LA CRUZ"]
_GIVEN = ["ANA", "JOAO PEDRO", "MARIA", "WEI", "FATIMA ZAHRA", "JEAN-LUC"]
_COUNTRIES = ["BRA", "PRT", "ESP", "D", "FRA", "USA", "GBR", "MEX", "ARG", "UTO"]


def _fields(
    *,
    number: str = "AB1234567",
    birth: date = date(1985, 1, 1),
    expiry: date = date(2031, 1, 1),
    issuing: str = "BRA",
    nationality: str = "BRA",
    surname: str = "SOUZA",
    given: str = "ANA MARIA",
    sex: str | None = "F",
    kind: DocumentKind = DocumentKind.passport,
) -> DocumentFields:
    return DocumentFields(
        source="test",
        document_kind=kind,
        issuing_country=issuing,
        document_number=number,
        surname=surname,
        given_names=given,
        birth_date=birth,
        expiry_date=expiry,
        sex=sex,
        nationality=nationality,
    )


def _random_fields(rng: random.Random, fmt: MrzFormat) -> tuple[DocumentFields, str]:
    alnum = string.ascii_uppercase + string.digits
    number = "".join(rng.choice(alnum) for _ in range(rng.randint(6, 9)))
    if fmt in (MrzFormat.TD1, MrzFormat.TD2) and rng.random() < 0.2:
        number += "".join(rng.choice(string.digits) for _ in range(3))  # long number
    birth = date(rng.randint(1940, 2007), rng.randint(1, 12), rng.randint(1, 28))
    expiry = date(rng.randint(2015, 2040), rng.randint(1, 12), rng.randint(1, 28))
    optional = ""
    if fmt is not MrzFormat.TD2 and rng.random() < 0.5:
        optional = "".join(rng.choice(string.digits) for _ in range(rng.randint(3, 6)))
    kind = {
        MrzFormat.TD3: DocumentKind.passport,
        MrzFormat.MRVA: DocumentKind.visa,
        MrzFormat.MRVB: DocumentKind.visa,
    }.get(fmt, DocumentKind.id_card)
    fields = _fields(
        number=number,
        birth=birth,
        expiry=expiry,
        issuing=rng.choice(_COUNTRIES),
        nationality=rng.choice(_COUNTRIES),
        surname=rng.choice(_SURNAMES),
        given=rng.choice(_GIVEN),
        sex=rng.choice(["M", "F", None]),
        kind=kind,
    )
    return fields, optional


@pytest.mark.parametrize("fmt", list(MrzFormat))
def test_build_then_parse_round_trips(fmt: MrzFormat) -> None:
    rng = random.Random(f"round-trip-{fmt}")
    for _ in range(60):
        fields, optional = _random_fields(rng, fmt)
        lines = mrz.build(fields, fmt, optional_data=optional)
        layout = mrz.LAYOUTS[fmt]
        assert len(lines) == layout.count
        assert all(len(line) == layout.length for line in lines)
        result = mrz.parse(lines, today=TODAY)
        assert result.valid, (lines, result.check_digits, result.errors)
        assert result.format is fmt
        got = result.fields
        assert got.document_number == fields.document_number
        assert got.birth_date == fields.birth_date
        assert got.expiry_date == fields.expiry_date
        assert got.sex == fields.sex
        assert got.issuing_country == fields.issuing_country
        assert got.nationality == fields.nationality
        assert got.document_kind is fields.document_kind
        assert (got.surname or "").replace(" ", "") == (fields.surname or "").replace(
            " ", ""
        ).replace("'", "")
        if optional:
            assert optional in result.optional_data
        # a clean read of clean lines changes nothing
        again = mrz.read(list(lines), today=TODAY)
        assert again is not None
        assert again.lines == tuple(lines)
        assert again.repairs == []


def test_build_names_are_reduced_to_the_mrz_alphabet_and_truncated() -> None:
    fields = _fields(surname="Müller-Lüdenscheidt", given="Anna Maria Theresia Josefine")
    lines = mrz.build(fields, MrzFormat.TD1)
    assert lines[2] == "MULLER<LUDENSCHEIDT<<ANNA<MARI"
    lines = mrz.build(_fields(surname="O'Brien"), MrzFormat.TD3)
    assert lines[0].startswith("P<BRAOBRIEN<<ANA<MARIA<")


def test_build_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        mrz.build(_fields(number="ABCDEFGHIJK"), MrzFormat.TD3)
    with pytest.raises(ValueError):
        mrz.build(_fields(number=""), MrzFormat.TD3)
    with pytest.raises(ValueError):
        mrz.build(_fields(), MrzFormat.TD2, optional_data="12345678")


def _ocr_noise(rng: random.Random, lines: list[str]) -> list[str]:
    """What OCR does to an MRZ that position-aware correction must undo: letters for digits
    in dates and check digits, digits for letters in names and country codes, a filler
    dropped or doubled inside a run, chevrons printed as look-alikes."""
    out = []
    for line in lines:
        chars = list(line)
        for i, ch in enumerate(chars):
            roll = rng.random()
            if roll < 0.04 and ch in "0158":
                chars[i] = {"0": "O", "1": "I", "5": "S", "8": "B"}[ch]
            elif roll < 0.08 and ch == "<":
                chars[i] = "«"
        text = "".join(chars)
        if rng.random() < 0.3 and "<<<<" in text:
            at = text.rindex("<<<<")
            text = text[:at] + text[at + 1 :] if rng.random() < 0.5 else text[:at] + "<" + text[at:]
        out.append(" ".join([text[:10], text[10:]]) if rng.random() < 0.2 else text)
    return out


@pytest.mark.parametrize("fmt", list(MrzFormat))
def test_read_undoes_position_aware_confusions(fmt: MrzFormat) -> None:
    """Letters read in digit-only positions (dates, check digits) and digits read in
    letter-only positions (names, countries) are corrected with certainty; a filler lost
    or added inside a run is restored."""
    rng = random.Random(f"noise-{fmt}")
    layout = mrz.LAYOUTS[fmt]
    tried = 0
    for _ in range(80):
        fields, optional = _random_fields(rng, fmt)
        lines = mrz.build(fields, fmt, optional_data=optional)
        noisy = _ocr_noise(rng, lines)
        # noise only where the position decides (never inside numbers and optional data)
        noisy_clean = [mrz.normalize_line(n) for n in noisy]
        ok = True
        for li, (line, n) in enumerate(zip(lines, noisy_clean, strict=True)):
            if len(n) != len(line):
                continue
            for p, (a, b) in enumerate(zip(line, n, strict=True)):
                if a != b and layout.classes[li][p] == "X":
                    ok = False
        if not ok:
            continue
        tried += 1
        result = mrz.read(["PASSPORT PASSEPORT", *noisy, "signature"], today=TODAY)
        assert result is not None
        assert result.lines == tuple(lines), (noisy, result.lines)
        assert result.valid
    assert tried > 20


def _confuse(ch: str) -> str | None:
    return {"0": "O", "O": "0", "1": "I", "I": "1", "5": "S", "S": "5", "8": "B", "B": "8"}.get(ch)


@pytest.mark.parametrize("fmt", list(MrzFormat))
def test_check_digit_guided_repair_of_the_document_number(fmt: MrzFormat) -> None:
    """One digit/letter confusion inside the document number (where the position cannot
    decide) is repaired when exactly one repair makes every check digit pass, and said so."""
    rng = random.Random(f"repair-{fmt}")
    repaired = ambiguous = 0
    for _ in range(150):
        fields, optional = _random_fields(rng, fmt)
        lines = mrz.build(fields, fmt, optional_data=optional)
        li = 0 if fmt is MrzFormat.TD1 else 1
        start = 5 if fmt is MrzFormat.TD1 else 0
        positions = [p for p in range(start, start + 9) if _confuse(lines[li][p])]
        if not positions:
            continue
        p = rng.choice(positions)
        wrong = lines[li][:p] + (_confuse(lines[li][p]) or "") + lines[li][p + 1 :]
        damaged = list(lines)
        damaged[li] = wrong
        result = mrz.read(damaged, today=TODAY)
        assert result is not None
        if result.repairs:
            repaired += 1
            assert result.valid
            assert result.lines == tuple(lines)
            index = p - start if fmt is MrzFormat.TD1 else p
            assert result.repairs == [
                {
                    "line": li,
                    "position": p,
                    "from": wrong[p],
                    "to": lines[li][p],
                    "field": "document_number",
                    "index": index,
                }
            ]
            assert mrz.number_repairs(result) == {index}
            assert result.raw == tuple(damaged)
        else:
            # more than one repair fits: the read is left as it is, failing
            ambiguous += 1
            assert not result.valid
            assert result.lines[li] == wrong
    assert repaired > 40
    assert repaired > ambiguous


def _fitting_repairs(lines: list[str], fmt: MrzFormat) -> list[list[str]]:
    """Every single confusion inside the document number's characters that makes the whole
    document pass its check digits (what the reader's repair may choose among)."""
    li = 0 if fmt is MrzFormat.TD1 else 1
    start = 5 if fmt is MrzFormat.TD1 else 0
    out = []
    for p in range(start, start + 9):
        for alt in mrz._ALTERNATIVES.get(lines[li][p], ""):
            trial = list(lines)
            trial[li] = trial[li][:p] + alt + trial[li][p + 1 :]
            if all(mrz.parse(trial, today=TODAY).check_digits.values()):
                out.append(trial)
    return out


def test_repair_is_refused_when_more_than_one_fits() -> None:
    """A number read with one confusion that two different repairs would each make valid:
    the reader cannot know which, so it repairs nothing and the read stays invalid."""
    rng = random.Random("two-fit")
    found = 0
    for _ in range(400):
        fields = _fields(number="".join(rng.choice("0158OISB23ZD") for _ in range(9)))
        lines = mrz.build(fields, MrzFormat.TD3)
        for p in range(9):
            ch = _confuse(lines[1][p])
            if ch is None:
                continue
            damaged = [lines[0], lines[1][:p] + ch + lines[1][p + 1 :]]
            if len(_fitting_repairs(damaged, MrzFormat.TD3)) < 2:
                continue
            found += 1
            result = mrz.read(damaged, today=TODAY)
            assert result is not None
            assert not result.valid
            assert result.repairs == []
            assert result.lines == tuple(damaged)
            assert result.check_digits["document_number"] is False
    assert found >= 20  # the case is common: the test really exercises it


def test_m_and_w_cannot_be_told_apart_by_check_digits() -> None:
    """M and W differ by 10: a number read with W for M passes every check digit. The
    reader keeps what it read (it cannot know), valid, and without a repair: this is why a
    valid read still needs confirmation."""
    fields = _fields(number="MX1234567")
    lines = mrz.build(fields, MrzFormat.TD3)
    misread = [lines[0], "W" + lines[1][1:]]
    result = mrz.read(misread, today=TODAY)
    assert result is not None
    assert result.valid
    assert result.fields.document_number == "WX1234567"
    assert result.repairs == []


def test_a_document_that_fails_as_printed_stays_invalid() -> None:
    """A date's check digit wrong as printed is never repaired: dates hold digits only, and
    a digit is never exchanged for another digit."""
    rng = random.Random("printed-wrong")
    for fmt in MrzFormat:
        for _ in range(40):
            fields, optional = _random_fields(rng, fmt)
            lines = list(mrz.build(fields, fmt, optional_data=optional))
            li, p = mrz.LAYOUTS[fmt].checks[1][2]  # the birth date's check digit
            wrong = str((int(lines[li][p]) + rng.randint(1, 9)) % 10)
            lines[li] = lines[li][:p] + wrong + lines[li][p + 1 :]
            result = mrz.read(lines, today=TODAY)
            assert result is not None
            assert not result.valid
            assert result.check_digits["birth_date"] is False
            assert result.lines[li][p] == wrong
            assert result.repairs == []


def test_a_wrong_document_number_check_digit_is_not_repaired_into_a_valid_one() -> None:
    """Printed wrong: the number's check digit is off. A confusion inside the number that
    makes the number's check pass changes the composite by the same amount (both sums give
    the number the same weights), while the composite also holds the wrong check digit with
    weight 7: together the composite moves by 8 x the error, which is 0 modulo 10 only for
    an error of 5. Any other misprint can never be repaired into a valid document."""
    rng = random.Random("number-wrong")
    for _ in range(200):
        fields, optional = _random_fields(rng, MrzFormat.TD3)
        lines = mrz.build(fields, MrzFormat.TD3, optional_data=optional)
        offset = rng.choice([1, 2, 3, 4, 6, 7, 8, 9])
        wrong = str((int(lines[1][9]) + offset) % 10)
        printed = [lines[0], lines[1][:9] + wrong + lines[1][10:]]
        result = mrz.read(printed, today=TODAY)
        assert result is not None
        assert not result.valid
        assert result.repairs == []
        assert result.lines == tuple(printed)


@pytest.mark.parametrize("fmt", list(MrzFormat))
def test_a_number_digit_wrong_as_printed_is_valid_only_as_a_flagged_repair(fmt: MrzFormat) -> None:
    """A number digit altered as printed, check digits as they were. The composite weighs
    the number exactly like the number's own check digit, so a confusion elsewhere in the
    number fixes both: the reader may then return a valid read of a third number. It must
    say so (``repairs``, ``number_repairs``) so that nothing takes it as confirmed (the
    checks' tests follow it to ``mrz_integrity``)."""
    rng = random.Random(f"number-printed-wrong-{fmt}")
    valid = 0
    for _ in range(150):
        fields, optional = _random_fields(rng, fmt)
        lines = mrz.build(fields, fmt, optional_data=optional)
        number = mrz._fields_of(mrz.LAYOUTS[fmt], lines)[0]
        digits = [(li, p) for li, p in number.positions if lines[li][p].isdigit()]
        if not digits:
            continue
        li, p = rng.choice(digits)
        wrong = str((int(lines[li][p]) + rng.randint(1, 9)) % 10)
        printed = list(lines)
        printed[li] = printed[li][:p] + wrong + printed[li][p + 1 :]
        result = mrz.read(printed, today=TODAY)
        assert result is not None
        if not result.valid:
            assert result.repairs == [] and result.lines == tuple(printed)
            continue
        valid += 1
        assert result.repairs, "a failing print never comes out valid without a repair"
        assert result.lines != tuple(printed) and result.lines != tuple(lines)
        assert mrz.number_repairs(result) == {r["index"] for r in result.repairs}
    assert valid > 5  # the case the confirmation rule exists for


def test_a_filler_check_digit_stands_only_for_an_empty_personal_number() -> None:
    """ICAO 9303 lets ``<`` be the check digit of an empty TD3 personal number, nowhere else:
    an unknown birth date printed ``<<<<<<`` with a ``<`` check digit fails."""
    lines = mrz.build(_fields(), MrzFormat.TD3)
    assert lines[1][28:43] == "<" * 15  # empty personal number, filler check digit
    assert mrz.parse(lines, today=TODAY).valid
    line2 = lines[1][:13] + "<<<<<<<" + lines[1][20:43]
    line2 += str(mrz.check_digit(line2[0:10] + line2[13:20] + line2[21:43]))
    result = mrz.parse((lines[0], line2), today=TODAY)
    assert result.check_digits["birth_date"] is False
    assert not result.valid
    # With the check digit of six fillers (0) the unknown birth date is well-formed.
    line2 = lines[1][:13] + "<<<<<<0" + lines[1][20:43]
    line2 += str(mrz.check_digit(line2[0:10] + line2[13:20] + line2[21:43]))
    result = mrz.parse((lines[0], line2), today=TODAY)
    assert result.valid and result.fields.birth_date is None


def test_dates_resolve_against_the_project_clock() -> None:
    """Without ``today``, the century of a date comes from ``vigil.kit.clock``."""
    from datetime import UTC, datetime

    from vigil.kit import clock

    lines = mrz.build(_fields(birth=date(2020, 6, 1)), MrzFormat.TD3)
    with clock.frozen(datetime(2030, 1, 1, tzinfo=UTC)):
        assert mrz.parse(lines).fields.birth_date == date(2020, 6, 1)
        read = mrz.read(lines)
        assert read is not None and read.fields.birth_date == date(2020, 6, 1)
    with clock.frozen(datetime(2019, 1, 1, tzinfo=UTC)):
        # a birth year "20" before 2020 can only be 1920
        assert mrz.parse(lines).fields.birth_date == date(1920, 6, 1)
        read = mrz.read(lines)
        assert read is not None and read.fields.birth_date == date(1920, 6, 1)


def test_read_finds_the_mrz_among_other_text_and_ignores_no_mrz() -> None:
    assert mrz.read(["PASSPORT", "Surname ERIKSSON", "Given names ANNA MARIA"]) is None
    assert mrz.read([]) is None
    result = mrz.read(["REPUBLIC OF UTOPIA", "some 12 text", *TD1, "end"], today=TODAY)
    assert result is not None
    assert result.format is MrzFormat.TD1
    assert result.lines == TD1


def test_lone_letters_after_the_name_are_fillers() -> None:
    noisy = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<K<<<<<<<<<<<", TD3[1]]
    result = mrz.read(noisy, today=TODAY)
    assert result is not None
    assert result.lines == TD3
    # but an initial after the double filler is a name
    fields = _fields(surname="SOUZA", given="B")
    lines = mrz.build(fields, MrzFormat.TD3)
    result = mrz.read(lines, today=TODAY)
    assert result is not None
    assert result.fields.given_names == "B"


# --- characters of other scripts ------------------------------------------------------------

# As RapidOCR read the back of a clean simulated Spanish ID card: a Greek capital Rho
# (U+03A1) for the P of the nationality "ESP".
ESP_CARD_READ = (
    "I<ESPXXK2879215<<<<<<<<<<<<<<<",
    "9003141F3109258ES\u03a1<<<<<<<<<<<4",
    "MUNOZ<GARCIA<<LUCIA<<<<<<<<<<<",
)
ESP_CARD = (
    "I<ESPXXK2879215<<<<<<<<<<<<<<<",
    "9003141F3109258ESP<<<<<<<<<<<4",
    "MUNOZ<GARCIA<<LUCIA<<<<<<<<<<<",
)


def test_a_greek_rho_read_for_a_p_is_the_p() -> None:
    """Dropped, the look-alike left "ES<" (an unknown nationality) on a valid read."""
    assert mrz.normalize_line(ESP_CARD_READ[1]) == ESP_CARD[1]
    result = mrz.read(list(ESP_CARD_READ), today=TODAY)
    assert result is not None
    assert result.lines == ESP_CARD
    assert result.raw == ESP_CARD
    assert result.valid
    assert result.errors == []
    assert result.fields.nationality == "ESP"
    assert result.repairs == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Greek capitals Alpha Beta Epsilon Zeta Eta Iota Kappa Mu Nu Omicron Rho Tau Upsilon Chi
        ("\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7",
         "ABEZHIKMNOPTYX"),
        # Cyrillic capitals A Ve Ie Ka Em En O Er Es Te U Ha, and Dze, Ukrainian I, Je
        ("\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0423\u0425",
         "ABEKMHOPCTYX"),
        ("\u0405\u0406\u0408", "SIJ"),
        # lower case of both scripts, upper-cased first
        ("\u03c1\u0440\u03bf\u043e", "PPOO"),
        # full-width letters, digits and filler
        ("\uff30\uff32\uff34\uff11\uff12\uff13\uff1c", "PRT123<"),
        # fillers as guillemets, angle brackets, hiragana ku
        ("P\u00abUTO\u2039\u304f\u3008\u27e8", "P<UTO<<<<"),
        # diacritics are noise on the letter; other scripts' digits are digits
        ("\u00c9\u00d1\u00d6\u00c7", "ENOC"),
        ("\u0661\u0669\u0968\u0663", "1923"),
        # blanks and stray punctuation dropped
        (" P<UTO 'ERIKSSON, ", "P<UTOERIKSSON"),
    ],
)  # fmt: skip
def test_look_alikes_of_other_scripts_become_mrz_characters(text: str, expected: str) -> None:
    assert mrz.normalize_line(text) == expected
    assert set(mrz.normalize_line(text)) <= mrz.CHARSET


@pytest.mark.parametrize("lookalike", ["\u03a1", "\u0420", "\uff30", "\u0440"])
def test_a_look_alike_in_a_country_code_keeps_the_country(lookalike: str) -> None:
    """ "RT<" for "PRT": a Greek or Cyrillic P, or a full-width one, in the issuer and the
    nationality of a Portuguese passport."""
    fields = _fields(issuing="PRT", nationality="PRT", surname="PEREIRA", given="JOAO")
    lines = mrz.build(fields, MrzFormat.TD3)
    assert lines[0][2:5] == lines[1][10:13] == "PRT"
    read = [
        lines[0][:2] + lookalike + lines[0][3:],
        lines[1][:10] + lookalike + lines[1][11:],
    ]
    result = mrz.read(read, today=TODAY)
    assert result is not None
    assert result.lines == tuple(lines)
    assert result.valid and result.errors == []
    assert result.fields.issuing_country == result.fields.nationality == "PRT"
    # Without the mapping the character was dropped and the code read "RT<".
    assert mrz.known_country(result.fields.nationality or "")


def test_a_look_alike_digit_in_a_date_is_a_digit() -> None:
    """A Cyrillic Ze drawn like a 3 in the birth date, a Greek Omicron for a 0 in the
    expiry: both land in digit positions and are read as the digits they show."""
    read = [ESP_CARD[0], "900\u0417141F31\u039f9258ESP<<<<<<<<<<<4", ESP_CARD[2]]
    result = mrz.read(read, today=TODAY)
    assert result is not None
    assert result.lines == ESP_CARD
    assert result.valid
