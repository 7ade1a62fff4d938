"""ICAO 9303 transliteration and matching a profile's name against a document's."""

from __future__ import annotations

import pytest

from vigil.identity import names


@pytest.mark.parametrize(
    ("written", "icao", "alternative"),
    [
        ("Jürgen Müller", "JUERGEN MUELLER", "JURGEN MULLER"),
        ("Ærøskøbing", "AEROESKOEBING", "AEROSKOBING"),
        ("Åsa Öberg", "AASA OEBERG", "ASA OBERG"),
        ("Straße", "STRASSE", "STRASSE"),
        ("Þórunn", "THORUNN", "THORUNN"),
        ("Ñúñez", "NUNEZ", "NUNEZ"),
        ("Dvořák", "DVORAK", "DVORAK"),
        ("Łukasz Żółć", "LUKASZ ZOLC", "LUKASZ ZOLC"),
        ("Œuvray", "OEUVRAY", "OEUVRAY"),
        ("Ĳsselmeer", "IJSSELMEER", "IJSSELMEER"),
        ("Іван Петрович Сидоров", "IVAN PETROVICH SIDOROV", "IVAN PETROVICH SIDOROV"),
        ("Щербаков Юрий", "SHCHERBAKOV IURII", "SHCHERBAKOV IURII"),
        ("Ольга Ильина", "OLGA ILINA", "OLGA ILINA"),
    ],
)
def test_transliteration_table(written: str, icao: str, alternative: str) -> None:
    assert names.transliterate(written) == icao
    assert names.transliterate(written, alternative=True) == alternative


def test_transliteration_separators_and_apostrophes() -> None:
    assert names.transliterate("  mary-jane  o'neil ") == "MARY JANE ONEIL"
    assert names.transliterate("D\u2019ANGELO") == "DANGELO"
    assert names.transliterate("SMITH<<JOHN<PAUL") == "SMITH JOHN PAUL"
    assert names.transliterate("李小龙") == ""
    assert names.variants("Müller") == ["MUELLER", "MULLER"]
    assert names.variants("Smith") == ["SMITH"]


def test_output_alphabet_is_a_to_z_and_single_spaces() -> None:
    text = "Ŀeña—Ødegård  (ß) 12 ÿ ǅ ǈ"
    for form in names.variants(text):
        assert set(form) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ ")
        assert "  " not in form and form == form.strip()


def test_exact_match() -> None:
    result = names.match("Sophie Dubois", "DUBOIS", "SOPHIE")
    assert (result.score, result.exact, result.order_swapped) == (100.0, True, False)
    assert result.method == "exact"


def test_surname_first_profile_is_order_swapped() -> None:
    result = names.match("Zhang Wei", "ZHANG", "WEI")
    assert result.exact and result.order_swapped and result.score == 100.0


def test_comma_profile_is_surname_first() -> None:
    result = names.match("Smith, John", "SMITH", "JOHN")
    assert result.exact and not result.order_swapped


def test_profile_with_diacritics_matches_the_mrz_both_ways() -> None:
    mrz = names.match("Jürgen Müller", "MUELLER", "JUERGEN")
    assert mrz.exact and mrz.variant == "icao"
    # A barcode or visual zone that chose the short form.
    short = names.match("Jürgen Müller", "MULLER", "JURGEN")
    assert short.exact and short.variant == "alternative"


def test_profile_typed_without_diacritics_matches_the_mrz_digraphs() -> None:
    result = names.match("Jurgen Muller", "MUELLER", "JUERGEN")
    assert result.exact and result.variant == "alternative"


def test_missing_middle_names_pass() -> None:
    result = names.match("Anna Svensson", "SVENSSON", "ANNA MARIA")
    assert result.method == "middle_names_missing"
    assert 90 <= result.score < 100 and not result.exact


def test_profile_with_a_middle_name_the_document_lacks_passes() -> None:
    result = names.match("John Paul Smith", "SMITH", "JOHN")
    assert result.method == "profile_extra_names" and result.score >= 90


def test_one_of_two_surnames_is_a_partial_match() -> None:
    result = names.match("María García", "GARCIA LOPEZ", "MARIA")
    assert result.method == "surname_partial" and result.score == names.SCORE_SURNAME_PARTIAL


def test_hyphens_and_apostrophes() -> None:
    assert names.match("Mary-Jane O'Brien", "OBRIEN", "MARY JANE").exact
    assert names.match("Jean Pierre Dupont", "DUPONT", "JEAN-PIERRE").exact
    assert names.match("Ana de la Cruz", "DELACRUZ", "ANA").exact


def test_mrz_truncated_name() -> None:
    # A TD1 name field holds 30 characters: SURNAME<<GIVEN cut at the 30th.
    surname, given = "WOLFESCHLEGELSTEINHAUSEN", "BART"
    assert len(surname) + 2 + len(given) == 30
    result = names.match("Bartholomew Wolfeschlegelsteinhausen", surname, given)
    assert result.method == "truncated" and result.score >= 90
    # The same short name on a document that was not cut is not forgiven as truncation.
    short = names.match("Bartholomew Smith", "SMITH", "BART")
    assert short.method != "truncated" and short.score < 90


def test_truncation_flag_from_the_barcode() -> None:
    result = names.match("Christopher Jones", "JONES", "CHRIS", truncated=True)
    assert result.method == "truncated"
    assert names.match("Christopher Jones", "JONES", "CHRIS").method != "truncated"


def test_one_typo_scores_between_review_and_pass() -> None:
    result = names.match("Jon Smyth", "SMITH", "JOHN")
    assert 70 <= result.score < 90 and result.method == "fuzzy"


def test_a_different_person_scores_low() -> None:
    result = names.match("Peter Jones", "SMITH", "JOHN")
    assert result.score < 70 and not result.exact


def test_no_document_name_scores_zero() -> None:
    result = names.match("Peter Jones", None, None)
    assert result.score == 0 and result.method == "no_name"


def test_result_is_json_ready() -> None:
    out = names.match("Zhang Wei", "ZHANG", "WEI").to_json()
    assert out["order_swapped"] is True and out["score"] == 100.0


@pytest.mark.parametrize(
    ("profile", "surname", "given"),
    [
        ("John Smith", "SMITH", "JOAN"),
        ("Mark Jones", "JONES", "MARY"),
        ("Maria Garcia Lopez", "GARCIA LOPEZ", "MARIO"),
    ],
)
def test_one_letter_apart_is_never_a_match(profile: str, surname: str, given: str) -> None:
    # Another person as often as a typo: a person decides.
    result = names.match(profile, surname, given)
    assert result.method == "fuzzy" and result.score == names.SCORE_FUZZY_MAX
    assert 70 <= result.score < 90 and not result.exact


def test_fold_and_compact_are_the_readers_one_normalisation() -> None:
    assert names.fold("Nº pasaporte: Müller") == "NO PASAPORTE: MULLER"
    assert names.compact(" x-123 456/Ü ") == "X123456U"
    assert names.compact(None) == ""
