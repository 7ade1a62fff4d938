"""Printed dates, as identity documents print them, in the languages they print them in.

"12 JAN 1980", "12 ENE/JAN 80", "12.01.1980", "01/12/1980" (a US card), "1980-01-12",
"12 de enero de 1980", "12 janv. 1980", "12. Januar 1980", "January 12, 1980", "12JAN80".
Month names: English, Spanish, Portuguese, French, German, Italian and Dutch, full and
abbreviated; a bilingual "ENE/JAN" must name one month in both languages.

Invariants:

- Nothing here guesses silently past what the text says. A numeric day and month are told
  apart by their values (13-31 can only be a day); when both are 12 or less the ``order``
  argument decides ("DMY", the world's default, or "MDY" for US cards, or "YMD").
- Two-digit years: with ``past=True`` (a birth date) the latest such year not after today;
  otherwise the year within 20 years ahead of today and 80 behind it. ``FoundDate`` keeps
  ``two_digit_year`` so that a comparison can ignore the century the printer left out.
- Impossible dates (31 February) are not dates; ``parse_date`` returns None, never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from vigil.identity import names
from vigil.kit import clock

_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("JANUARY", "JAN", "ENERO", "ENE", "JANEIRO", "JANVIER", "JANV", "JANUAR", "JANNER",
        "JAN", "GENNAIO", "GEN", "JANUARI"),
    2: ("FEBRUARY", "FEB", "FEBRERO", "FEVEREIRO", "FEV", "FEVRIER", "FEVR", "FEBRUAR",
        "FEBBRAIO", "FEBRUARI"),
    3: ("MARCH", "MAR", "MARZO", "MARCO", "MARS", "MARZ", "MAERZ", "MRZ", "MAART", "MRT"),
    4: ("APRIL", "APR", "ABRIL", "ABR", "AVRIL", "AVR", "APRILE"),
    5: ("MAY", "MAYO", "MAIO", "MAI", "MAGGIO", "MAG", "MEI"),
    6: ("JUNE", "JUN", "JUNIO", "JUNHO", "JUIN", "JUNI", "GIUGNO", "GIU"),
    7: ("JULY", "JUL", "JULIO", "JULHO", "JUILLET", "JUIL", "JULI", "LUGLIO", "LUG"),
    8: ("AUGUST", "AUG", "AGOSTO", "AGO", "AOUT", "AUGUSTUS"),
    9: ("SEPTEMBER", "SEP", "SEPT", "SEPTIEMBRE", "SETIEMBRE", "SET", "SETEMBRO", "SEPTEMBRE",
        "SETTEMBRE"),
    10: ("OCTOBER", "OCT", "OCTUBRE", "OUTUBRO", "OUT", "OCTOBRE", "OKTOBER", "OKT", "OTTOBRE",
         "OTT"),
    11: ("NOVEMBER", "NOV", "NOVIEMBRE", "NOVEMBRO", "NOVEMBRE"),
    12: ("DECEMBER", "DEC", "DICIEMBRE", "DIC", "DEZEMBRO", "DEZ", "DECEMBRE", "DEZEMBER",
         "DICEMBRE"),
}  # fmt: skip
MONTHS: dict[str, int] = {name: month for month, names in _MONTHS.items() for name in names}
ORDERS = ("DMY", "MDY", "YMD")

_MONTH_WORD = r"[A-Z]{3,10}\.?(?:\s*/\s*[A-Z]{3,10}\.?)?"
_YEAR = r"(\d{4}|\d{2})(?![\d])"
_TEXT_DMY = re.compile(
    r"(?<![\d])(\d{1,2})(?:ER|ST|ND|RD|TH|O)?\.?[\s\-/.]*(?:DE\s+)?"
    rf"({_MONTH_WORD})[\s\-/.,]*(?:DE\s+|DEL\s+)?{_YEAR}"
)
_TEXT_MDY = re.compile(rf"\b({_MONTH_WORD})\s*(\d{{1,2}})(?:ST|ND|RD|TH)?,?\s+{_YEAR}")
_NUMERIC = re.compile(r"(?<![\d])(\d{1,4})([./\-\s])(\d{1,2})\2(\d{4}|\d{2})(?![\d])")
_COMPACT = re.compile(r"(?<![\d])(\d{8})(?![\d])")


@dataclass(frozen=True)
class FoundDate:
    value: date
    text: str  # as printed (after upper-casing)
    start: int
    two_digit_year: bool


def _month(word: str) -> int | None:
    months = {MONTHS.get(part.strip().rstrip(".")) for part in word.split("/")}
    if len(months) != 1:
        return None  # an unknown word, or a bilingual pair naming two months
    return months.pop()


def _year(text: str, *, past: bool, today: date) -> int:
    if len(text) == 4:
        return int(text)
    short = int(text)
    if past:
        year = today.year - today.year % 100 + short
        return year - 100 if year > today.year else year
    year = today.year - today.year % 100 + short
    if year > today.year + 20:
        year -= 100
    elif year < today.year - 80:
        year += 100
    return year


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _numeric(a: int, b: int, order: str | None) -> tuple[int, int] | None:
    """(day, month) from two numbers of a D/M or M/D date."""
    if a > 12 and b <= 12:
        return a, b
    if b > 12 and a <= 12:
        return b, a
    if a > 12 and b > 12:
        return None
    return (b, a) if order == "MDY" else (a, b)


def scan(
    text: str, *, order: str | None = None, past: bool = False, today: date | None = None
) -> list[FoundDate]:
    """Every date in ``text``, in the order printed (one per position)."""
    if order is not None and order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    today = today or clock.now().date()
    upper = names.fold(text)
    found: dict[int, FoundDate] = {}
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, value: date | None, two_digit: bool) -> None:
        if value is None or any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        found[start] = FoundDate(value, upper[start:end].strip(), start, two_digit)

    for m in _TEXT_DMY.finditer(upper):
        month = _month(m.group(2))
        if month is not None:
            year = _year(m.group(3), past=past, today=today)
            add(m.start(), m.end(), _make(year, month, int(m.group(1))), len(m.group(3)) == 2)
    for m in _TEXT_MDY.finditer(upper):
        month = _month(m.group(1))
        if month is not None:
            year = _year(m.group(3), past=past, today=today)
            add(m.start(), m.end(), _make(year, month, int(m.group(2))), len(m.group(3)) == 2)
    for m in _NUMERIC.finditer(upper):
        first, second, last = m.group(1), int(m.group(3)), m.group(4)
        if len(first) == 4:  # Y-M-D
            add(m.start(), m.end(), _make(int(first), second, int(last)), False)
            continue
        if len(first) == 3:
            continue
        if order == "YMD" and len(last) == 2:
            value = _make(_year(first, past=past, today=today), second, int(last))
            add(m.start(), m.end(), value, True)
            continue
        pair = _numeric(int(first), second, order)
        if pair is not None:
            year = _year(last, past=past, today=today)
            add(m.start(), m.end(), _make(year, pair[1], pair[0]), len(last) == 2)
    for m in _COMPACT.finditer(upper):
        digits = m.group(1)
        value = _make(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        if value is None or not 1900 <= value.year <= today.year + 30:
            pair = _numeric(int(digits[:2]), int(digits[2:4]), order)
            value = _make(int(digits[4:]), pair[1], pair[0]) if pair else None
        add(m.start(), m.end(), value, False)
    return [found[start] for start in sorted(found)]


def find_dates(
    text: str, *, order: str | None = None, past: bool = False, today: date | None = None
) -> list[date]:
    return list(dict.fromkeys(f.value for f in scan(text, order=order, past=past, today=today)))


def parse_date(
    text: str, *, order: str | None = None, past: bool = False, today: date | None = None
) -> date | None:
    """The date ``text`` prints (the first, if it prints several); None when it prints none."""
    found = scan(text, order=order, past=past, today=today)
    return found[0].value if found else None
