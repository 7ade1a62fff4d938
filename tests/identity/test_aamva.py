"""AAMVA DL/ID payloads: the header and its real-world variants, IIN <-> jurisdiction, the
versions' date formats, DL and ID subfiles, truncation flags and sex codes."""

from __future__ import annotations

from datetime import date

import pytest

from vigil.identity import aamva
from vigil.identity.types import DocumentKind

# The AAMVA DL/ID 2020 Annex D example (Virginia), as a scanner hands it over: the record
# separator and carriage return of the header are gone, so every offset is off by two.
VA_EXAMPLE = (
    "@\nANSI 636000100002DL00410278ZV03190008DLDAQT64235789\nDCSSAMPLE\nDDEN\nDACMICHAEL\n"
    "DDFN\nDADJOHN\nDDGN\nDCUJR\nDCAD\nDCBK\nDCDPH\nDBD06062019\nDBB06061986\nDBA12102024\n"
    "DBC1\nDAU068 in\nDAYBRO\nDAG2300 WEST BROAD STREET\nDAIRICHMOND\nDAJVA\nDAK232690000\n"
    "DCF2424244747474786102204\nDCGUSA\nDCK123456789\nDDAF\nDDB06062018\nDDC06062020\nDDD1\n"
    "ZVZVA0"
)


def _elements(**extra: str) -> dict[str, str]:
    base = {
        "DAQ": "D1234567",
        "DCS": "DOE",
        "DAC": "JANE",
        "DAD": "Q",
        "DBB": "01021990",
        "DBA": "01022030",
        "DBD": "01022022",
        "DBC": "2",
        "DAJ": "CA",
        "DCG": "USA",
        "DDE": "N",
        "DDF": "N",
        "DDG": "N",
    }
    base.update(extra)
    return base


def test_virginia_example_is_read_field_by_field() -> None:
    result = aamva.parse(VA_EXAMPLE)
    assert result.errors == []
    assert (result.version, result.jurisdiction_version, result.iin) == (10, 0, "636000")
    assert result.jurisdiction == "VA" and result.jurisdiction_matches_iin
    assert not result.header_standard
    assert [s["type"] for s in result.subfiles] == ["DL", "ZV"]
    assert result.elements["DAU"] == "068 in"
    assert result.elements["ZVA"] == "0"
    fields = result.fields
    assert fields.source == "barcode"
    assert fields.document_kind is DocumentKind.driver_license
    assert fields.document_number == "T64235789"
    assert (fields.surname, fields.given_names) == ("SAMPLE", "MICHAEL JOHN")
    assert fields.birth_date == date(1986, 6, 6)
    assert fields.expiry_date == date(2024, 12, 10)
    assert fields.issue_date == date(2019, 6, 6)
    assert fields.sex == "M"
    assert fields.issuing_country == "USA"
    assert result.truncation == {"family": "N", "first": "N", "middle": "N"}
    assert not result.truncated


def test_encode_round_trips_with_a_standard_header() -> None:
    payload = aamva.encode(_elements(ZCZ="X"), iin="636014", version=10, jurisdiction_version=3)
    assert payload.startswith("@\n\x1e\rANSI 636014100302DL")
    result = aamva.parse(payload)
    assert result.errors == [] and result.warnings == []
    assert result.header_standard
    assert [s["type"] for s in result.subfiles] == ["DL", "ZC"]
    for subfile in result.subfiles:
        start = int(subfile["offset"])  # type: ignore[call-overload]
        assert payload[start : start + 2] == subfile["type"]
        assert payload[start + int(subfile["length"]) - 1] == "\r"  # type: ignore[call-overload]
    assert result.fields.document_number == "D1234567"
    assert result.fields.given_names == "JANE Q"
    assert result.fields.sex == "F"
    assert result.jurisdiction == "CA" and result.elements["ZCZ"] == "X"


def test_id_subfile_is_an_id_card() -> None:
    result = aamva.parse(aamva.encode(_elements(), iin="636014", subfile="ID"))
    assert result.fields.document_kind is DocumentKind.id_card


@pytest.mark.parametrize(
    "header",
    [
        "@\n\x1e\rANSI ",  # standard
        "@\n\x1c\rANSI ",  # file separator instead of record separator
        "@\n\nANSI ",
        "@\nANSI ",  # control characters stripped by the scanner
        "@\r\n\x1e\rANSI ",
        "@\n\x1e\rANSI",  # no space after the file type
        "@\n\x1e\rAAMVA",  # file type of cards before the 2000 standard
    ],
)
def test_header_variants_read_the_same(header: str) -> None:
    payload = aamva.encode(_elements(), iin="636014").replace(aamva.STANDARD_HEADER, header, 1)
    result = aamva.parse(payload)
    assert result.errors == []
    assert result.fields.document_number == "D1234567"
    assert result.fields.birth_date == date(1990, 1, 2)
    assert result.header_standard is (header == aamva.STANDARD_HEADER)


def test_bytes_payload_is_accepted() -> None:
    result = aamva.parse(aamva.encode(_elements(), iin="636014").encode("ascii"))
    assert result.fields.surname == "DOE"


def test_canadian_dates_are_ccyymmdd() -> None:
    elements = _elements(DBB="19900102", DBA="20300102", DBD="20220102", DAJ="ON", DCG="CAN")
    result = aamva.parse(aamva.encode(elements, iin="636012"))
    assert result.errors == [] and result.warnings == []
    assert result.jurisdiction == "ON"
    assert result.fields.issuing_country == "CAN"
    assert result.fields.birth_date == date(1990, 1, 2)


def test_version_1_uses_ccyymmdd_and_has_no_jurisdiction_version() -> None:
    elements = {"DAQ": "123", "DAA": "DOE,JOHN,PAUL", "DBB": "19800315", "DAJ": "NY"}
    payload = aamva.encode(elements, iin="636001", version=1)
    assert payload.startswith("@\n\x1e\rANSI 6360010101DL")
    result = aamva.parse(payload)
    assert result.errors == [] and result.jurisdiction_version is None
    assert result.fields.birth_date == date(1980, 3, 15)
    assert (result.fields.surname, result.fields.given_names) == ("DOE", "JOHN PAUL")


def test_version_3_given_names_element() -> None:
    elements = _elements(DCT="JANE,QUINN")
    del elements["DAC"], elements["DAD"]
    result = aamva.parse(aamva.encode(elements, iin="636014", version=3))
    assert result.fields.given_names == "JANE QUINN"


def test_date_in_the_other_format_is_read_with_a_warning() -> None:
    result = aamva.parse(aamva.encode(_elements(DBB="19900102"), iin="636014"))
    assert result.errors == []
    assert result.fields.birth_date == date(1990, 1, 2)
    assert any("DBB is CCYYMMDD" in w for w in result.warnings)


def test_impossible_date_is_an_error() -> None:
    result = aamva.parse(aamva.encode(_elements(DBA="13452030"), iin="636014"))
    assert result.fields.expiry_date is None
    assert any("DBA is not a date" in e for e in result.errors)


def test_an_address_in_another_state_is_a_warning() -> None:
    # People move (and mailing addresses cross state lines): the read stays trustworthy.
    result = aamva.parse(aamva.encode(_elements(DAJ="TX"), iin="636014"))
    assert not result.jurisdiction_matches_iin
    assert result.errors == []
    assert any("address jurisdiction TX is not the IIN's (CA)" in w for w in result.warnings)


def test_a_department_of_state_card_matches_any_address_state() -> None:
    # IIN 636027 ("DS") is federal: its holders live in every state.
    result = aamva.parse(aamva.encode(_elements(DAJ="VA"), iin="636027", subfile="ID"))
    assert result.jurisdiction == "DS" and "636027" in aamva.FEDERAL_IINS
    assert result.jurisdiction_matches_iin
    assert result.errors == [] and result.warnings == []
    assert result.fields.document_kind is DocumentKind.id_card


def test_unknown_iin_is_an_error() -> None:
    result = aamva.parse(aamva.encode(_elements(), iin="999999"))
    assert result.jurisdiction is None and not result.jurisdiction_matches_iin
    assert "unknown IIN 999999" in result.errors


def test_iin_table_covers_states_and_provinces() -> None:
    codes = {code for code, _, _ in aamva.IIN_JURISDICTIONS.values()}
    states = {"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID"}
    states |= {"IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO"}
    states |= {"MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA"}
    states |= {"RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY"}
    provinces = {"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
    assert states | provinces <= codes
    assert aamva.JURISDICTION_IIN["QC"] == "604428"
    assert all(aamva.IIN_JURISDICTIONS[aamva.JURISDICTION_IIN[p]][2] == "CAN" for p in provinces)


@pytest.mark.parametrize(("code", "sex"), [("1", "M"), ("2", "F"), ("9", "X"), ("M", "M")])
def test_sex_codes(code: str, sex: str) -> None:
    assert aamva.parse(aamva.encode(_elements(DBC=code), iin="636014")).fields.sex == sex


def test_unknown_sex_code_is_an_error() -> None:
    result = aamva.parse(aamva.encode(_elements(DBC="7"), iin="636014"))
    assert result.fields.sex is None and "unknown sex code '7'" in result.errors


def test_truncation_flags() -> None:
    result = aamva.parse(aamva.encode(_elements(DDE="T", DDF="N", DDG="U"), iin="636014"))
    assert result.truncation == {"family": "T", "first": "N", "middle": "U"}
    assert result.truncated


def test_placeholder_middle_name_is_no_name() -> None:
    result = aamva.parse(aamva.encode(_elements(DAD="NONE"), iin="636014"))
    assert result.fields.given_names == "JANE"


def test_missing_mandatory_elements_are_errors() -> None:
    elements = _elements()
    del elements["DAQ"], elements["DBB"]
    result = aamva.parse(aamva.encode(elements, iin="636014"))
    assert "missing license number (DAQ)" in result.errors
    assert "missing date of birth (DBB)" in result.errors


def test_subfile_found_when_offsets_are_wrong() -> None:
    payload = aamva.encode(_elements(), iin="636014").replace("DL0031", "DL0099", 1)
    result = aamva.parse(payload)
    assert result.errors == []
    assert result.fields.document_number == "D1234567"
    assert any("not at offset 99" in w for w in result.warnings)


@pytest.mark.parametrize("payload", ["", "hello world", b"\x00\x01\x02", "@\n\x1e\rANSI 63"])
def test_not_aamva_raises(payload: str | bytes) -> None:
    with pytest.raises(aamva.AamvaError):
        aamva.parse(payload)


def test_encode_refuses_separators_and_bad_ids() -> None:
    with pytest.raises(ValueError):
        aamva.encode({"DCS": "DOE\nDAQ1"}, iin="636014")
    with pytest.raises(ValueError):
        aamva.encode({"dcs": "DOE"}, iin="636014")
    with pytest.raises(ValueError):
        aamva.encode({"DCS": "DOE"}, iin="63601")


def test_format_date_follows_version_and_country() -> None:
    day = date(1990, 1, 2)
    assert aamva.format_date(day) == "01021990"
    assert aamva.format_date(day, country="CAN") == "19900102"
    assert aamva.format_date(day, version=1) == "19900102"


def test_every_element_of_the_example_has_a_meaning() -> None:
    result = aamva.parse(VA_EXAMPLE)
    standard = [key for key in result.elements if not key.startswith("Z")]
    assert all(key in aamva.ELEMENTS for key in standard)
