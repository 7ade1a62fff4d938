"""Property checks of the MRZ and AAMVA parsers, shared by ``test_parser_fuzz.py`` (a modest
budget in CI) and ``bench/fuzz_parsers.py`` (a large one).

The properties: on any input a parser returns or raises its own error (``MrzError``,
``AamvaError``: both ``ValueError``) and nothing else; a document built by the project's own
encoder (``mrz.build``, ``aamva.encode``) parses back to the fields it was built from; an OCR
reading of a built MRZ with characters damaged never raises. Each property is a plain
function of the generated value; the callers wrap them in ``@given`` with their budget."""

from __future__ import annotations

import string
from datetime import date

from hypothesis import assume
from hypothesis import strategies as st

from vigil.identity import aamva, mrz
from vigil.identity.types import DocumentFields, DocumentKind

TODAY = date(2026, 11, 21)
MRZ_CHARS = string.ascii_uppercase + string.digits + "<"
LENGTHS = {mrz.MrzFormat.TD1: (3, 30), mrz.MrzFormat.TD2: (2, 36), mrz.MrzFormat.TD3: (2, 44)}

# --- strategies ---------------------------------------------------------------------------

any_text = st.text(max_size=120)
ocr_like = st.text(alphabet=MRZ_CHARS + " \u00ab\u2039<KkOo0\u0391\u0420.,'", max_size=60)
mrz_line = st.text(alphabet=MRZ_CHARS, min_size=28, max_size=46)


@st.composite
def shaped_lines(draw: st.DrawFn) -> list[str]:
    """Lines of a format's count and length, from the MRZ alphabet: past the shape check,
    into field interpretation (dates, check digits, names)."""
    fmt = draw(st.sampled_from(sorted(LENGTHS)))
    count, length = LENGTHS[fmt]
    return [
        draw(st.text(alphabet=MRZ_CHARS, min_size=length, max_size=length)) for _ in range(count)
    ]


names = st.text(alphabet=string.ascii_uppercase + " -'", min_size=1, max_size=30).filter(
    lambda s: any(c.isalpha() for c in s)
)
countries = st.sampled_from(["UTO", "D<<", "PRT", "BRA", "ESP", "USA", "FRA", "NLD"])
numbers = st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=9)
dates = st.dates(min_value=date(1931, 1, 1), max_value=date(2060, 12, 31))


@st.composite
def mrz_documents(draw: st.DrawFn) -> tuple[DocumentFields, mrz.MrzFormat]:
    fmt = draw(st.sampled_from([mrz.MrzFormat.TD1, mrz.MrzFormat.TD2, mrz.MrzFormat.TD3]))
    birth = draw(st.dates(min_value=date(TODAY.year - 99, 1, 1), max_value=TODAY))
    # Two-digit years: an expiry is read within 20 years ahead of today (ICAO leaves the
    # century to the reader; this is the parser's window).
    expiry = draw(
        st.dates(min_value=date(TODAY.year - 49, 1, 1), max_value=date(TODAY.year + 20, 12, 31))
    )
    fields = DocumentFields(
        source="mrz",
        document_kind=DocumentKind.passport if fmt is mrz.MrzFormat.TD3 else DocumentKind.id_card,
        issuing_country=draw(countries),
        document_number=draw(numbers),
        surname=draw(names),
        given_names=draw(names),
        birth_date=birth,
        expiry_date=expiry,
        sex=draw(st.sampled_from(["M", "F", "X", None])),
        nationality=draw(countries),
    )
    return fields, fmt


# AAMVA writes "no name" as NONE, NFN, NMN, UNAVL...: a name, here, is any other word.
aamva_names = st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=40).filter(
    lambda s: s not in aamva._EMPTY_NAMES
)
aamva_elements = st.fixed_dictionaries(
    {
        "DAQ": st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=25),
        "DCS": aamva_names,
        "DAC": aamva_names,
        "DBB": dates.map(lambda d: d.strftime("%m%d%Y")),
        "DBA": dates.map(lambda d: d.strftime("%m%d%Y")),
        "DBC": st.sampled_from(["1", "2", "9"]),
        "DAJ": st.sampled_from(["CA", "VA", "NY", "TX"]),
        "DCG": st.just("USA"),
        "DDE": st.sampled_from(["N", "T", "U"]),
        "DDF": st.sampled_from(["N", "T", "U"]),
        "DDG": st.sampled_from(["N", "T", "U"]),
    }
)
iins = st.sampled_from(["636014", "636000", "636001", "636015", "604428"])


@st.composite
def damaged(draw: st.DrawFn, payload: str) -> str:
    """``payload`` with a few characters replaced, deleted or inserted (offsets, lengths and
    separators are what a parser of this format trusts)."""
    chars = list(payload)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not chars:
            break
        at = draw(st.integers(min_value=0, max_value=len(chars) - 1))
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        glyph = draw(st.sampled_from([*"\n\r\x1e\x1c0129<@AZ ", "\u00e9", "\x00"]))
        if action == "replace":
            chars[at] = glyph
        elif action == "delete":
            del chars[at]
        else:
            chars.insert(at, glyph)
    return "".join(chars)


# --- properties ---------------------------------------------------------------------------


def mrz_parse_raises_only_its_error(lines: list[str]) -> None:
    try:
        result = mrz.parse(lines, today=TODAY)
    except mrz.MrzError:
        return
    result.to_json()  # the result serializes (the API returns it)


def mrz_read_never_raises(candidates: list[str]) -> None:
    result = mrz.read(candidates, today=TODAY)
    if result is not None:
        result.to_json()


def mrz_round_trip(document: tuple[DocumentFields, mrz.MrzFormat]) -> None:
    fields, fmt = document
    try:
        lines = mrz.build(fields, fmt)
    except ValueError:
        assume(False)  # a number that does not fit this format: not a document
        return
    result = mrz.parse(lines, today=TODAY)
    assert result.valid, (lines, result.check_digits, result.errors)
    got = result.fields
    assert got.document_number == fields.document_number
    assert got.birth_date == fields.birth_date and got.expiry_date == fields.expiry_date
    assert got.sex == fields.sex
    assert (got.issuing_country or "").replace("<", "") == (fields.issuing_country or "").replace(
        "<", ""
    )
    # What OCR might do to the same lines: the reader finds the same document number.
    read = mrz.read(
        [" ".join(line) if i == 0 else line for i, line in enumerate(lines)], today=TODAY
    )
    assert read is not None and read.fields.document_number == fields.document_number


def mrz_damaged_read_never_raises(lines: list[str]) -> None:
    mrz_read_never_raises(lines)


def aamva_parse_raises_only_its_error(payload: str | bytes) -> None:
    try:
        result = aamva.parse(payload)
    except aamva.AamvaError:
        return
    result.to_json()


def aamva_round_trip(elements: dict[str, str], iin: str) -> None:
    payload = aamva.encode(elements, iin=iin)
    result = aamva.parse(payload)
    for key, value in elements.items():
        assert result.elements[key] == value, (key, payload)
    assert result.fields.document_number == elements["DAQ"]
    assert result.fields.surname == elements["DCS"]
    assert result.fields.birth_date is not None
    assert result.fields.birth_date.strftime("%m%d%Y") == elements["DBB"]
