"""Printed dates in the forms and languages identity documents use."""

from __future__ import annotations

from datetime import date

import pytest

from vigil.identity import dates

TODAY = date(2026, 11, 21)
JAN_12_1980 = date(1980, 1, 12)


@pytest.mark.parametrize(
    "text",
    [
        "12 JAN 1980",
        "12 ENE/JAN 80",
        "12.01.1980",
        "12/01/1980",
        "12-01-1980",
        "1980-01-12",
        "1980/01/12",
        "19800112",
        "12 de enero de 1980",
        "12 janv. 1980",
        "12 janvier 1980",
        "12. Januar 1980",
        "12 Jänner 1980",
        "12 gennaio 1980",
        "12 januari 1980",
        "12 de janeiro de 1980",
        "January 12, 1980",
        "Jan 12th 1980",
        "12JAN80",
        "12-JAN-1980",
        "Date of birth / Fecha de nacimiento: 12 ENE/JAN 1980",
    ],
)
def test_the_same_day_in_many_forms(text: str) -> None:
    assert dates.parse_date(text, today=TODAY) == JAN_12_1980


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03 MRT 1975", date(1975, 3, 3)),  # Dutch
        ("15 MÄRZ 1975", date(1975, 3, 15)),  # German
        ("1er août 2001", date(2001, 8, 1)),  # French ordinal, accent
        ("07 OUT/OCT 2030", date(2030, 10, 7)),  # Portuguese/English
        ("24 DIC 1999", date(1999, 12, 24)),  # Spanish / Italian
        ("5 MEI 2010", date(2010, 5, 5)),  # Dutch May
        ("30 SET 2028", date(2028, 9, 30)),  # Portuguese / Italian
        ("13/01/1980", date(1980, 1, 13)),  # only a day can be 13
        ("01/13/1980", date(1980, 1, 13)),
    ],
)
def test_languages_and_unambiguous_numbers(text: str, expected: date) -> None:
    assert dates.parse_date(text, today=TODAY) == expected


def test_order_decides_ambiguous_numeric_dates() -> None:
    assert dates.parse_date("01/12/1980", today=TODAY) == date(1980, 12, 1)
    assert dates.parse_date("01/12/1980", order="MDY", today=TODAY) == JAN_12_1980
    assert dates.parse_date("80.01.12", order="YMD", past=True, today=TODAY) == JAN_12_1980
    with pytest.raises(ValueError):
        dates.parse_date("01/12/1980", order="XYZ")


def test_two_digit_years() -> None:
    assert dates.parse_date("12 JAN 30", today=TODAY) == date(2030, 1, 12)  # an expiry
    assert dates.parse_date("12 JAN 30", past=True, today=TODAY) == date(1930, 1, 12)
    assert dates.parse_date("12 JAN 05", past=True, today=TODAY) == date(2005, 1, 12)
    assert dates.parse_date("12 JAN 60", today=TODAY) == date(1960, 1, 12)
    (found,) = dates.scan("12 JAN 80", today=TODAY)
    assert found.two_digit_year and found.text == "12 JAN 80"


@pytest.mark.parametrize(
    "text", ["31.02.1980", "12 FEB/MAR 80", "12 FOO 1980", "no date here", "", "4d DLN 1234"]
)
def test_not_a_date(text: str) -> None:
    assert dates.parse_date(text, today=TODAY) is None


def test_find_dates_in_order() -> None:
    text = "DOB 06/06/1986  ISS 06/06/2019  EXP 12/10/2024  DOB 06/06/1986"
    found = dates.find_dates(text, order="MDY", today=TODAY)
    assert found == [date(1986, 6, 6), date(2019, 6, 6), date(2024, 12, 10)]
