"""Fuzzing the MRZ and AAMVA parsers with hypothesis (a modest, derandomized budget here;
``bench/fuzz_parsers.py`` runs the same properties far longer). Text from an uploaded
document reaches these parsers through OCR and barcode reading, so any text must give a
result or the parser's own error, never a crash."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security import parser_props as props
from vigil.identity import aamva, mrz

CI = settings(
    max_examples=150, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip


@CI
@given(st.lists(props.any_text, max_size=4))
def test_mrz_parse_of_any_text_raises_only_mrz_error(lines: list[str]) -> None:
    props.mrz_parse_raises_only_its_error(lines)


@CI
@given(props.shaped_lines())
def test_mrz_parse_of_well_shaped_garbage_raises_only_mrz_error(lines: list[str]) -> None:
    props.mrz_parse_raises_only_its_error(lines)


@CI
@given(st.lists(st.one_of(props.ocr_like, props.mrz_line), max_size=5))
def test_mrz_read_of_any_ocr_text_never_raises(candidates: list[str]) -> None:
    props.mrz_read_never_raises(candidates)


@CI
@given(props.mrz_documents())
def test_a_built_mrz_parses_back_to_its_fields(document) -> None:  # type: ignore[no-untyped-def]
    props.mrz_round_trip(document)


@CI
@given(props.mrz_documents(), st.data())
def test_a_damaged_mrz_is_read_without_raising(document, data) -> None:  # type: ignore[no-untyped-def]
    fields, fmt = document
    try:
        lines = mrz.build(fields, fmt)
    except ValueError:
        return
    text = data.draw(props.damaged("\n".join(lines)))
    props.mrz_damaged_read_never_raises(text.split("\n"))


@CI
@given(st.one_of(props.any_text, st.binary(max_size=300)))
def test_aamva_parse_of_anything_raises_only_aamva_error(payload) -> None:  # type: ignore[no-untyped-def]
    props.aamva_parse_raises_only_its_error(payload)


@CI
@given(st.text(max_size=200))
def test_aamva_parse_of_text_after_a_header_raises_only_aamva_error(tail: str) -> None:
    props.aamva_parse_raises_only_its_error(f"@\n\x1e\rANSI 636014100102DL00410278{tail}")


@CI
@given(props.aamva_elements, props.iins)
def test_an_encoded_aamva_payload_parses_back(elements: dict[str, str], iin: str) -> None:
    props.aamva_round_trip(elements, iin)


@CI
@given(props.aamva_elements, props.iins, st.data())
def test_a_damaged_aamva_payload_raises_only_aamva_error(elements, iin, data) -> None:  # type: ignore[no-untyped-def]
    payload = data.draw(props.damaged(aamva.encode(elements, iin=iin)))
    props.aamva_parse_raises_only_its_error(payload)
    props.aamva_parse_raises_only_its_error(payload.encode("utf-8", "surrogatepass"))
