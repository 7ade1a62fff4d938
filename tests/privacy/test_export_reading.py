"""What an access export says was read from a document: the reading itself, never the checks
made on it (check digits, repairs, face-match figures are internal signals, withheld)."""

from __future__ import annotations

from vigil.privacy.export import _document_reading

PIPELINE_FIELDS = {
    "document": {"surname": "GUPTA", "given_names": "SHREYA", "birth_date": "2001-04-09",
                 "document_number": "H6792139", "source": "mrz"},
    "mrz": {"surname": "GUPTA", "document_number": "H6792139", "format": "TD3",
            "lines": ["P<INDGUPTA<<SHREYA<<<<<<<<", "H6792139<5IND0104090F2806044"],
            "valid": False, "check_digits": {"document_number": False},
            "repairs": [{"at": 3}], "errors": [], "confirmed_by_second_read": False},
    "barcode": {"surname": "DOE", "document_number": "D123", "iin": "636000", "errors": []},
    "viz": {"surname": "GUPTA", "issue_date": "2018-06-05", "source": "viz"},
    "faces": {"distance": 0.104, "selfie_faces": 1, "document_faces": 1},
    "reader_errors": ["glare"],
}  # fmt: skip


def test_the_reading_is_given_and_the_checks_on_it_are_not() -> None:
    reading = _document_reading(PIPELINE_FIELDS)
    assert reading == {
        "document": PIPELINE_FIELDS["document"],
        "visual_zone": {"surname": "GUPTA", "issue_date": "2018-06-05", "source": "viz"},
        "barcode": {"surname": "DOE", "document_number": "D123"},
        "machine_readable_zone": PIPELINE_FIELDS["mrz"]["lines"],
    }
    text = repr(reading)
    for internal in ("distance", "check_digits", "repairs", "valid", "glare", "iin"):
        assert internal not in text


def test_flat_and_empty_readings() -> None:
    flat = {"document_number": "X1", "date_of_birth": "1990-05-17", "score": 3}
    assert _document_reading(flat) == {"document_number": "X1", "date_of_birth": "1990-05-17"}
    assert _document_reading(None) is None
    assert _document_reading({}) is None
