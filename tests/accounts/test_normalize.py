"""Normalization and masking of personal data (no database)."""

from __future__ import annotations

import pytest

from vigil.accounts import masking, normalize
from vigil.accounts.countries import ISO_3166_ALPHA2
from vigil.accounts.models import IdentifierKind


def test_country_list_holds_the_249_assigned_codes() -> None:
    assert len(ISO_3166_ALPHA2) == 249
    assert {"BR", "US", "GB", "PT", "ES", "SS", "AX", "CW"} <= ISO_3166_ALPHA2
    # Reserved or user-assigned, not countries in ISO 3166-1.
    assert not {"UK", "EU", "XK", "ZZ", "AA"} & ISO_3166_ALPHA2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("br", "BR"), (" us ", "US"), ("Pt", "PT")],
)
def test_country_is_upper_cased(raw: str, expected: str) -> None:
    assert normalize.normalize_country(raw) == expected


@pytest.mark.parametrize("raw", ["UK", "XX", "BRA", "", "B"])
def test_unknown_country_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize.normalize_country(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Maria.Souza+mkt@Example.COM ", "maria.souza+mkt@example.com"),
        ("joao@exämple.com", "joao@xn--exmple-cua.com"),
        ("a@b.co", "a@b.co"),
    ],
)
def test_email_is_lower_cased_and_checked(raw: str, expected: str) -> None:
    assert normalize.normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "maria",
        "maria@",
        "@example.com",
        "maria@example",
        "ma ria@example.com",
        "maria@@example.com",
        "maria..souza@example.com",
        ".maria@example.com",
        "maria@-example.com",
        "maria@example.c",
        "maria@example.123",
        "x" * 65 + "@example.com",
    ],
)
def test_bad_email_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize.normalize_email(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+55 11 98765-4321", "+5511987654321"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("+351.912.345.678", "+351912345678"),
    ],
)
def test_phone_becomes_e164(raw: str, expected: str) -> None:
    assert normalize.normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["11987654321", "+0 11 98765-4321", "+1234567", "+1234567890123456", "+55 11 CALL-ME"]
)
def test_bad_phone_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize.normalize_phone(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("en", "en"), ("pt_br", "pt-BR"), ("PT-br", "pt-BR"), ("es-419", "es-419"),
     ("zh-hant-tw", "zh-Hant-TW")],
)  # fmt: skip
def test_locale_is_a_language_tag(raw: str, expected: str) -> None:
    assert normalize.normalize_locale(raw) == expected


@pytest.mark.parametrize("raw", ["english", "e", "en-", "en-USA-x", "12", "en US"])
def test_bad_locale_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize.normalize_locale(raw)


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (IdentifierKind.ip, " 2001:DB8:0:0::1 ", "2001:db8::1"),
        (IdentifierKind.ip, "::ffff:203.0.113.7", "203.0.113.7"),
        (IdentifierKind.ip, "fe80::1%eth0", "fe80::1"),
        (IdentifierKind.device, "  dev-ABC  ", "dev-ABC"),
        (IdentifierKind.payment, "fp_9f8e7d", "fp_9f8e7d"),
        (IdentifierKind.email, "Maria@Ex.com", "maria@ex.com"),
        (IdentifierKind.phone, "+55 11 98765 4321", "+5511987654321"),
    ],
)
def test_identifiers_are_normalized_per_kind(kind: IdentifierKind, raw: str, expected: str) -> None:
    assert normalize.normalize_identifier(kind, raw) == expected


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (IdentifierKind.ip, "300.1.1.1"),
        (IdentifierKind.ip, "example.com"),
        (IdentifierKind.device, "   "),
        (IdentifierKind.payment, "fp\x00x"),
        (IdentifierKind.email, "not-an-email"),
    ],
)
def test_bad_identifiers_are_refused(kind: IdentifierKind, raw: str) -> None:
    with pytest.raises(ValueError):
        normalize.normalize_identifier(kind, raw)


def test_masks_keep_only_a_hint() -> None:
    assert masking.mask_email("maria@ex.com") == "m***a@ex.com"
    assert masking.mask_email("m@ex.com") == "m***@ex.com"
    assert masking.mask_phone("+5511987654321") == "+55*********21"
    assert masking.mask_name("Maria da Silva") == "M*** d*** S***"
    assert masking.mask_name(None) is None
    assert masking.mask_identifier(IdentifierKind.ip, "203.0.113.7") == "203.0.113.*"
    assert masking.mask_identifier(IdentifierKind.ip, "2001:db8:aa:1::1") == "2001:db8:aa:*"
    assert masking.mask_identifier(IdentifierKind.device, "device-123456789") == "devi***6789"
    assert masking.mask_identifier(IdentifierKind.payment, "fp_1") == "fp***"
