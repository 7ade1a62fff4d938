"""The visual zone: labelled printed fields read from OCR lines, and compared with the read
of the MRZ or the barcode (agrees / differs / not found)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from vigil.identity import checks, mrz, ocr, viz
from vigil.identity.ocr import OcrLine
from vigil.identity.types import CheckStatus, DocumentFields, DocumentKind
from vigil.simulate import document_layouts

TODAY = date(2026, 11, 21)


DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def Line(text: str, box: tuple[float, float, float, float]) -> OcrLine:
    return OcrLine(text, box, 0.95)


def _field(x: float, y: float, label: str, value: str) -> list[OcrLine]:
    """A label above its value, as passports and ID cards print them."""
    return [
        Line(label, (x, y, x + 12 * len(label), y + 18)),
        Line(value, (x, y + 24, x + 20 * len(value), y + 56)),
    ]


def _spanish_passport(
    *, birth: str = "12 ENE/JAN 1980", surname: str = "GARCÍA LÓPEZ"
) -> list[OcrLine]:
    lines = [
        Line("REINO DE ESPAÑA", (60, 30, 400, 70)),
        Line("PASAPORTE / PASSPORT", (800, 30, 1200, 70)),
    ]
    lines += _field(420, 140, "Pasaporte N.º / Passport No.", "PAA123456")
    lines += _field(420, 220, "Apellidos / Surname", surname)
    lines += _field(420, 300, "Nombre / Given names", "MARÍA JOSÉ")
    lines += _field(420, 380, "Nacionalidad / Nationality", "ESP")
    lines += _field(420, 460, "Fecha de nacimiento / Date of birth", birth)
    lines += _field(900, 460, "Sexo / Sex", "F")
    lines += _field(420, 540, "Fecha de expedición / Date of issue", "03 MAR/MAR 2021")
    lines += _field(420, 620, "Fecha de caducidad / Date of expiry", "03 MAR/MAR 2031")
    lines += [
        Line("P<ESPGARCIA<LOPEZ<<MARIA<JOSE<<<<<<<<<<<<<<", (40, 760, 1300, 800)),
        Line("PAA1234566ESP8001127F3103033<<<<<<<<<<<<<<08", (40, 810, 1300, 850)),
    ]
    return lines


REFERENCE = DocumentFields(
    source="mrz",
    document_kind=DocumentKind.passport,
    issuing_country="ESP",
    document_number="PAA123456",
    surname="GARCIA LOPEZ",
    given_names="MARIA JOSE",
    birth_date=date(1980, 1, 12),
    expiry_date=date(2031, 3, 3),
    sex="F",
    nationality="ESP",
)


def test_extract_labelled_fields_below_bilingual_labels() -> None:
    fields = viz.extract(_spanish_passport(), kind=DocumentKind.passport)
    assert fields.source == "viz"
    assert fields.document_number == "PAA123456"
    assert fields.surname == "GARCÍA LÓPEZ"
    assert fields.given_names == "MARÍA JOSÉ"
    assert fields.birth_date == date(1980, 1, 12)
    assert fields.issue_date == date(2021, 3, 3)
    assert fields.expiry_date == date(2031, 3, 3)
    assert fields.sex == "F"
    assert fields.nationality == "ESP"


def test_compare_agrees_everywhere_on_a_genuine_document() -> None:
    result = viz.compare(_spanish_passport(), REFERENCE, today=TODAY)
    assert result.differs == 0
    assert result.fields == {
        "document_number": "agrees",
        "surname": "agrees",
        "given_names": "agrees",
        "birth_date": "agrees",
        "expiry_date": "agrees",
    }
    assert result.agrees == 5
    assert result.evidence["birth_date"]["printed"] == "12 ENE/JAN 1980"


def test_tampered_birth_date_differs() -> None:
    result = viz.compare(_spanish_passport(birth="12 ENE/JAN 1998"), REFERENCE, today=TODAY)
    assert result.fields["birth_date"] == "differs"
    assert result.differs == 1
    assert result.evidence["birth_date"] == {
        "reference": "1980-01-12",
        "printed": "12 ENE/JAN 1998",
        "how": "labelled",
    }


def test_tampered_surname_differs_even_though_the_mrz_line_carries_it() -> None:
    result = viz.compare(_spanish_passport(surname="FERNÁNDEZ RUIZ"), REFERENCE, today=TODAY)
    assert result.fields["surname"] == "differs"


def test_misread_letter_in_a_long_name_still_agrees() -> None:
    result = viz.compare(_spanish_passport(surname="GARCIA L0PEZ"), REFERENCE, today=TODAY)
    assert result.fields["surname"] == "agrees"


def test_unreadable_fields_are_not_found_not_contradictions() -> None:
    lines = [Line("REINO DE ESPAÑA", (60, 30, 400, 70))]
    result = viz.compare(lines, REFERENCE, today=TODAY)
    assert set(result.fields.values()) == {"not_found"}
    assert (result.agrees, result.differs) == (0, 0)


def test_mrz_lines_never_confirm_the_mrz() -> None:
    lines = _spanish_passport()[-2:]
    result = viz.compare(lines, REFERENCE, today=TODAY)
    assert result.agrees == 0


def _mrz_as_read(filler: str, *, collapse: bool = False) -> list[OcrLine]:
    """The passport's MRZ lines as an OCR may give them: fillers read as another glyph or as
    blanks (trailing blanks dropped, runs of blanks kept or collapsed)."""
    out = []
    for index, line in enumerate(_spanish_passport()[-2:]):
        text = line.text.replace("<", filler).strip()
        if collapse:
            text = " ".join(text.split())
        out.append(Line(text, (40, 760 + 50 * index, 1300, 800 + 50 * index)))
    return out


@pytest.mark.parametrize(
    ("filler", "collapse"),
    [("«", False), ("‹", False), ("く", False), ("＜", False), (" ", False), (" ", True)],  # noqa: RUF001
)
def test_mrz_lines_with_fillers_misread_never_confirm_the_mrz(filler: str, collapse: bool) -> None:
    lines = _mrz_as_read(filler, collapse=collapse)
    assert all(viz.is_mrz_line(line.text) for line in lines)
    result = viz.compare(lines, REFERENCE, today=TODAY)
    assert result.agrees == 0, result.fields
    assert not checks.visual_zone_confirms(result)
    # The printed zone above them still confirms the read.
    printed = viz.compare([*_spanish_passport()[:-2], *lines], REFERENCE, today=TODAY)
    assert printed.agrees == 5


def test_td1_lines_read_with_blank_fillers_never_confirm_the_mrz() -> None:
    # A Moroccan card (MAR: also a month's name), fillers read as blanks: "I MARAB12345671",
    # "8003122F3103038MAR           2", "ALAOUI  AMINA".
    fields = DocumentFields(
        source="mrz",
        document_kind=DocumentKind.id_card,
        issuing_country="MAR",
        nationality="MAR",
        document_number="AB1234567",
        surname="ALAOUI",
        given_names="AMINA",
        birth_date=date(1980, 3, 12),
        expiry_date=date(2031, 3, 3),
        sex="F",
    )
    lines = [
        Line(text.replace("<", " ").strip(), (40, 700 + 40 * i, 900, 730 + 40 * i))
        for i, text in enumerate(mrz.build(fields, mrz.MrzFormat.TD1))
    ]
    assert all(viz.is_mrz_line(line.text) for line in lines)
    result = viz.compare(lines, fields, today=TODAY)
    assert result.agrees == 0, result.fields


@pytest.mark.parametrize(
    "text",
    [
        "ANTONIO GARCIA",  # starts like a document code (A, N) + a country (TON): not one
        "PASSPORT NO 123456789 DATE OF ISSUE 12 01 2015",
        "Pasaporte N.º / Passport No.",
        "4d DLN T64235789",
        "REINO DE ESPAÑA",
        "MUÑOZ GARCÍA",  # accents dropped on the way to the MRZ alphabet: still a name
        "ANTÓNIO GONÇALVES",
    ],
)
def test_printed_lines_are_not_taken_for_mrz_lines(text: str) -> None:
    assert not viz.is_mrz_line(text)


def test_transliterated_reference_finds_the_printed_diacritics() -> None:
    lines = _field(40, 40, "Name / Nachname", "MÜLLER") + _field(40, 120, "Vornamen", "JÜRGEN")
    reference = DocumentFields(source="mrz", surname="MUELLER", given_names="JUERGEN")
    result = viz.compare(lines, reference, today=TODAY)
    assert result.fields == {"surname": "agrees", "given_names": "agrees"}


def test_mrz_truncated_given_names_agree_with_the_full_printed_name() -> None:
    lines = _field(40, 40, "Surname", "MONTGOMERIE WHITTAKER")
    lines += _field(40, 120, "Given names", "BARTHOLOMEW ALEXANDER")
    # 39 characters in the MRZ's form (MONTGOMERIE<WHITTAKER<<BARTHOLOMEW<ALEX): a TD3 cut it.
    reference = DocumentFields(
        source="mrz", surname="MONTGOMERIE WHITTAKER", given_names="BARTHOLOMEW ALEX"
    )
    assert viz.names.mrz_truncated(reference.surname, reference.given_names)
    assert viz.compare(lines, reference, today=TODAY).fields["given_names"] == "agrees"
    # A barcode says so with its truncation flags.
    cut = DocumentFields(source="barcode", given_names="BARTHOLOMEW ALEX")
    given = _field(40, 40, "Given names", "BARTHOLOMEW ALEXANDER")
    assert viz.compare(given, cut, today=TODAY, truncated=True).fields["given_names"] == "agrees"


def test_short_names_agree_only_as_whole_words() -> None:
    lines = [Line("ANDORRA LIBERTY BANK", (40, 40, 600, 80))]
    reference = DocumentFields(source="mrz", surname="LI", given_names="AN")
    result = viz.compare(lines, reference, today=TODAY)
    assert result.fields == {"surname": "not_found", "given_names": "not_found"}
    # Even a name known to be cut needs 4 letters to be matched as the start of a word.
    assert viz.compare(lines, reference, today=TODAY, truncated=True).agrees == 0
    printed = [*lines, Line("LI AN", (40, 100, 300, 140))]
    assert viz.compare(printed, reference, today=TODAY).agrees == 2


def test_a_name_not_cut_is_not_matched_as_a_prefix() -> None:
    lines = _field(40, 40, "Given names", "JOHANNES")
    reference = DocumentFields(source="mrz", surname="SMITH", given_names="JOHAN")
    assert viz.compare(lines, reference, today=TODAY).fields["given_names"] != "agrees"


@pytest.mark.parametrize(
    ("printed", "read"),
    [
        ("BEATRI", "BEATRIZ"),  # the printed name is the shorter: the printed zone is never cut
        ("BEATRIZ", "BEATRI"),  # the read is the shorter, but its name field is not full
    ],
)
def test_a_name_that_starts_the_other_is_no_fuzzy_agreement(printed: str, read: str) -> None:
    """One letter more or less scores 92 with rapidfuzz, above the misread threshold: a
    prefix may agree only when the read's name is known to be cut."""
    lines = _field(40, 40, "Surname", "SOUZA") + _field(40, 120, "Given names", printed)
    reference = DocumentFields(source="mrz", surname="SOUZA", given_names=read)
    assert not viz.names.mrz_truncated(reference.surname, reference.given_names)
    result = viz.compare(lines, reference, today=TODAY)
    assert result.fields == {"surname": "agrees", "given_names": "differs"}
    assert result.evidence["given_names"]["how"] == "labelled"
    # ...and a barcode that says it cut nothing (AAMVA truncation flags N) either.
    barcode = DocumentFields(source="barcode", surname="SOUZA", given_names=read)
    assert viz.compare(lines, barcode, today=TODAY, truncated=False).fields["given_names"] == (
        "differs"
    )


def test_a_name_known_to_be_cut_agrees_with_the_printed_name_it_starts() -> None:
    lines = _field(40, 40, "Surname", "SOUZA") + _field(40, 120, "Given names", "BEATRIZ MARIA")
    # An AAMVA barcode that flags its given names as cut: "BEATRIZ MA".
    cut = DocumentFields(source="barcode", surname="SOUZA", given_names="BEATRIZ MA")
    result = viz.compare(lines, cut, today=TODAY, truncated=True)
    assert result.fields["given_names"] == "agrees"
    assert result.evidence["given_names"]["how"] == "labelled_truncated"
    # The same read not flagged as cut contradicts the printed name.
    assert viz.compare(lines, cut, today=TODAY, truncated=False).fields["given_names"] == (
        "differs"
    )
    # The printed zone is never the cut side, whatever the flag says.
    short = _field(40, 40, "Surname", "SOUZA") + _field(40, 120, "Given names", "BEATRIZ MA")
    full = DocumentFields(source="barcode", surname="SOUZA", given_names="BEATRIZ MARIA")
    assert viz.compare(short, full, today=TODAY, truncated=True).fields["given_names"] == (
        "differs"
    )


def test_misread_letter_inside_a_name_still_agrees() -> None:
    lines = _field(40, 40, "Given names", "BEATRLZ")
    reference = DocumentFields(source="mrz", surname="SOUZA", given_names="BEATRIZ")
    result = viz.compare(lines, reference, today=TODAY)
    assert result.fields["given_names"] == "agrees"
    assert result.evidence["given_names"]["how"] == "labelled_fuzzy"


def test_us_license_numbered_fields_and_us_dates() -> None:
    lines = [
        Line("VIRGINIA", (50, 28, 300, 70)),
        Line("DRIVER LICENSE", (900, 40, 1250, 80)),
        Line("4d DLN T64235789", (420, 140, 800, 170)),
        Line("1 LN SAMPLE", (420, 210, 700, 240)),
        Line("2 FN MICHAEL JOHN", (420, 280, 800, 310)),
        Line("3 DOB 06/07/1986", (420, 420, 760, 450)),
        Line("15 SEX M", (860, 420, 1000, 450)),
        Line("4a ISS 06/06/2019", (420, 490, 760, 520)),
        Line("4b EXP 12/10/2024", (860, 490, 1200, 520)),
    ]
    fields = viz.extract(lines, kind=DocumentKind.driver_license)
    assert fields.document_number == "T64235789"
    assert (fields.surname, fields.given_names) == ("SAMPLE", "MICHAEL JOHN")
    assert fields.birth_date == date(1986, 6, 7)  # month first on a US card
    assert fields.expiry_date == date(2024, 12, 10)
    assert fields.sex == "M"
    reference = DocumentFields(
        source="barcode",
        document_kind=DocumentKind.driver_license,
        document_number="T64235789",
        surname="SAMPLE",
        given_names="MICHAEL JOHN",
        birth_date=date(1986, 6, 7),
        expiry_date=date(2024, 12, 10),
        issue_date=date(2019, 6, 6),
    )
    result = viz.compare(lines, reference, today=TODAY)
    assert result.differs == 0 and result.agrees == 6


def test_document_number_with_ocr_confusions_agrees_and_another_number_differs() -> None:
    reference = DocumentFields(source="mrz", document_number="AB1234567")
    confused = _field(40, 40, "Document No.", "A81234S67")
    assert viz.compare(confused, reference, today=TODAY).fields["document_number"] == "agrees"
    other = _field(40, 40, "Document No.", "ZX9876543")
    assert viz.compare(other, reference, today=TODAY).fields["document_number"] == "differs"


def test_repaired_characters_of_the_number_are_compared_exactly() -> None:
    """The MRZ reader repaired index 1 of the number (``B`` -> ``8`` or back): a printed
    number agrees only with that very character there; folding it (B/8) would let the
    printed zone "confirm" a repair it contradicts. Elsewhere the usual confusions fold."""
    reference = DocumentFields(source="mrz", document_number="LB2345678")
    printed = _field(40, 40, "Document No.", "L82345678")
    folded = viz.compare(printed, reference, today=TODAY)
    assert folded.fields["document_number"] == "agrees"
    exact = viz.compare(printed, reference, today=TODAY, exact_number={1})
    assert exact.fields["document_number"] == "differs"
    assert exact.evidence["document_number"]["how"] == "repaired_character_differs"
    assert exact.evidence["document_number"]["exact_indexes"] == [1]
    # The repaired character printed as the repair made it agrees, with confusions elsewhere
    # (5 read as S at index 4) still folded; unlabelled inside a longer line too.
    same = _field(40, 40, "Document No.", "LB234S678")
    assert (
        viz.compare(same, reference, today=TODAY, exact_number={1}).fields["document_number"]
        == "agrees"
    )
    inline = [Line("No LB2345678 UTOPIA", (40, 40, 600, 70))]
    assert (
        viz.compare(inline, reference, today=TODAY, exact_number={1}).fields["document_number"]
        == "agrees"
    )
    # Not printed at all: still not found, never a contradiction.
    nothing = [Line("REPUBLIC OF UTOPIA", (40, 40, 600, 70))]
    assert (
        viz.compare(nothing, reference, today=TODAY, exact_number={1}).fields["document_number"]
        == "not_found"
    )


def test_french_and_german_labels() -> None:
    lines = _field(40, 40, "Nom", "DUPONT") + _field(40, 120, "Prénoms", "JEAN PIERRE")
    lines += _field(40, 200, "Date de naissance", "01 janv. 1970")
    lines += _field(500, 200, "Geburtsdatum", "1970-01-01")
    fields = viz.extract(lines)
    assert (fields.surname, fields.given_names) == ("DUPONT", "JEAN PIERRE")
    assert fields.birth_date == date(1970, 1, 1)


# Cards as the OCR reads them: each label above its value, bilingual (or trilingual) labels
# with the misreadings seen on real photos ("rn" read as "m", "i" as "l", "o" as "0"),
# plural marks, and abbreviations.
NOISY_CARDS: dict[str, list[tuple[str, str]]] = {
    "pt": [
        ("Apelido(s) / Sumame", "FERREIRA DA SILVA"),
        ("Nome(s) / Glven name(s)", "INÊS MARIA"),
        ("Data de nascimento / Date of blrth", "01 12 1987"),
        ("Válido até / Date of explry", "03 05 2031"),
        ("N.º documento / Document N0.", "T604876"),
    ],
    "es": [
        ("Apellidos / Surnarne", "FERREIRA DA SILVA"),
        ("Nombre / Narne", "INÉS MARÍA"),
        ("Fecha de nacimiento / Date 0f birth", "01 DIC/DEC 1987"),
        ("Fecha de caducidad / Date of expiry", "03 MAY/MAY 2031"),
        ("Núm. soporte / Document No.", "T604876"),
    ],
    "fr": [
        ("Nom / Sumame", "FERREIRA DA SILVA"),
        ("Prénoms / Given narnes", "INÈS MARIE"),
        ("Date de naiss. / Date of birth", "01 12 1987"),
        ("Date d'expir. / Expiry date", "03 05 2031"),
        ("N° du document / Document No", "T604876"),
    ],
    "de": [
        ("Name / Sumame / Nom", "FERREIRA DA SILVA"),
        ("Vornamen / Given names / Prénoms", "INES MARIA"),
        ("Geburtstag / Date of birth / Date de naissance", "01.12.1987"),
        ("Gültig bis / Date of expiry / Date d'expiration", "03.05.2031"),
        ("Ausweisnummer / Document No.", "T604876"),
    ],
    "it": [
        ("Cognome / Sumame", "FERREIRA DA SILVA"),
        ("Nome / Narne", "INES MARIA"),
        ("Luogo e data di nascita / Place and date of birth", "01.12.1987"),
        ("Scadenza / Explry", "03.05.2031"),
        ("Numero documento / Document N0.", "T604876"),
    ],
    "nl": [
        ("Naam / Surnarne", "FERREIRA DA SILVA"),
        ("Voornamen / Given narnes", "INES MARIA"),
        ("Geboortedatum / Date of blrth", "01 12 1987"),
        ("Geldig tot / Date of explry", "03 05 2031"),
        ("Documentnummer / Document No.", "T604876"),
    ],
}


def _card(printed: list[tuple[str, str]]) -> list[OcrLine]:
    lines: list[OcrLine] = []
    for row, (label, value) in enumerate(printed):
        lines += _field(420, 150 + 72 * row, label, value)
    return lines


@pytest.mark.parametrize("language", sorted(NOISY_CARDS))
def test_bilingual_labels_misread_by_the_ocr_are_never_taken_for_values(language: str) -> None:
    fields = viz.extract(_card(NOISY_CARDS[language]), kind=DocumentKind.id_card)
    assert fields.surname == "FERREIRA DA SILVA"
    assert viz.names.transliterate(fields.given_names or "").split()[0] == "INES"
    assert fields.birth_date == date(1987, 12, 1)
    assert fields.expiry_date == date(2031, 5, 3)
    assert fields.document_number == "T604876"
    # The printed zone then agrees with the MRZ: no sides mismatch on a clean card.
    reference = DocumentFields(
        source="mrz",
        document_kind=DocumentKind.id_card,
        surname="FERREIRA DA SILVA",
        birth_date=date(1987, 12, 1),
        expiry_date=date(2031, 5, 3),
        document_number="T604876",
    )
    assert checks.sides_consistency(fields, reference).status is CheckStatus.passed


@pytest.mark.parametrize(
    "label", [label for card in NOISY_CARDS.values() for label, _ in card] + ["Sexo / 5ex"]
)
def test_a_label_alone_is_no_value(label: str) -> None:
    fields = viz.extract([Line(label, (40, 40, 40 + 12 * len(label), 58))])
    found = {k: v for k, v in fields.to_json().items() if v and k not in ("source",)}
    assert found == {}, found


@pytest.mark.parametrize("language", ["en", "es", "pt"])
def test_every_label_the_simulator_prints_is_a_label(language: str) -> None:
    for name in document_layouts.LABELS[language]:
        label = document_layouts.label(name, language)
        line = [Line(label, (40, 40, 40 + 12 * len(label), 58))]
        found = {k: v for k, v in viz.extract(line).to_json().items() if v and k != "source"}
        assert found == {}, (label, found)


def test_a_noisy_label_before_its_value_on_the_same_line() -> None:
    fields = viz.extract([Line("Sumame: SILVA", (40, 40, 300, 70))])
    assert fields.surname == "SILVA"


def test_values_that_look_a_little_like_labels_stay_values() -> None:
    lines = _field(40, 40, "Surname", "NOMEZ") + _field(40, 120, "Given names", "SEXTON")
    lines += _field(40, 200, "Nationality", "PRT") + _field(40, 280, "Sex", "F")
    fields = viz.extract(lines)
    assert (fields.surname, fields.given_names) == ("NOMEZ", "SEXTON")
    assert (fields.nationality, fields.sex) == ("PRT", "F")


def test_comparison_is_json_ready() -> None:
    result = viz.compare(_spanish_passport(), REFERENCE, today=TODAY)
    out = result.to_json()
    assert out["agrees"] == 5 and isinstance(out["evidence"], dict)


def test_read_from_a_rendered_card_through_the_ocr() -> None:
    card = Image.new("RGB", (1100, 520), (236, 240, 228))
    draw = ImageDraw.Draw(card)
    label = ImageFont.truetype(str(DEJAVU / "DejaVuSans.ttf"), 18)
    value = ImageFont.truetype(str(DEJAVU / "DejaVuSans-Bold.ttf"), 30)
    printed = [
        ((60, 40), "Apellidos / Surname", "MUÑOZ GARCÍA"),
        ((60, 130), "Nombre / Given names", "JOSÉ LUIS"),
        ((60, 220), "Fecha de nacimiento / Date of birth", "07 MAR/MAR 1985"),
        ((600, 220), "Sexo / Sex", "M"),
        ((60, 310), "Núm. soporte / Document No.", "BAB123456"),
        ((60, 400), "Fecha de caducidad / Date of expiry", "14.05.2031"),
    ]
    for (x, y), text, content in printed:
        draw.text((x, y), text, font=label, fill=(70, 78, 96))
        draw.text((x, y + 26), content, font=value, fill=(18, 18, 24))
    lines = ocr.run(card)
    fields = viz.extract(lines, kind=DocumentKind.id_card)
    assert viz.names.transliterate(fields.surname or "") == "MUNOZ GARCIA"
    assert fields.birth_date == date(1985, 3, 7)
    assert fields.expiry_date == date(2031, 5, 14)
    assert fields.document_number == "BAB123456"
    reference = DocumentFields(
        source="mrz",
        document_kind=DocumentKind.id_card,
        document_number="BAB123456",
        surname="MUNOZ GARCIA",
        given_names="JOSE LUIS",
        birth_date=date(1985, 3, 7),
        expiry_date=date(2031, 5, 14),
    )
    result = viz.compare(lines, reference, today=TODAY)
    assert result.differs == 0 and result.agrees == 5
