"""Normalization and checks for the personal data an account carries.

Each function returns the canonical form or raises ``ValueError`` with a message fit for the
caller; the schemas turn that into a 422 on the field, the service into ``InvalidInput``.
Canonical forms matter beyond tidiness: identifiers are matched across accounts by exact
value, so ``Maria@Ex.com`` and ``maria@ex.com`` must be stored the same way.
"""

from __future__ import annotations

import ipaddress
import re

from vigil.accounts.countries import ISO_3166_ALPHA2
from vigil.accounts.models import IdentifierKind

MAX_IDENTIFIER_LENGTH = 300

# Simple but real: a dot-atom local part (RFC 5322 without quoted strings, which no
# marketplace sign-up form accepts) and a domain of LDH labels with a TLD.
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")

# language[-Script][-REGION]: "en", "pt-BR", "zh-Hant-TW", "es-419". Private-use and
# extension subtags are not needed for message templates and are refused.
_LOCALE = re.compile(r"^([a-z]{2,3})(?:-([a-z]{4}))?(?:-([a-z]{2}|[0-9]{3}))?$")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_DOCUMENT_SEPARATORS = re.compile(r"[\s\-./]")
_DOCUMENT_NUMBER = re.compile(r"^[A-Z0-9]{3,40}$")


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 254 or email.count("@") != 1:
        raise ValueError("not an email address")
    local, domain = email.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        raise ValueError("not an email address")
    try:
        # Internationalised domains are stored in their ASCII (punycode) form.
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not an email address") from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("not an email address")
    if not _TLD.match(labels[-1]):
        raise ValueError("not an email address")
    return f"{local}@{domain}"


def normalize_phone(value: str) -> str:
    """E.164: ``+`` and 8 to 15 digits, after dropping spaces, dashes, dots and brackets."""
    phone = _PHONE_SEPARATORS.sub("", value)
    if not _E164.match(phone):
        raise ValueError("not a phone number in E.164 form (+ and 8 to 15 digits)")
    return phone


def normalize_country(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_3166_ALPHA2:
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return code


def normalize_locale(value: str) -> str:
    """``pt_br`` and ``PT-br`` become ``pt-BR``; script subtags become title case."""
    match = _LOCALE.match(value.strip().replace("_", "-").lower())
    if match is None:
        raise ValueError("not a language tag such as 'en', 'es' or 'pt-BR'")
    language, script, region = match.groups()
    parts = [language]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def normalize_ip(value: str) -> str:
    try:
        address = ipaddress.ip_address(value.strip().split("%", 1)[0])
    except ValueError:
        raise ValueError("not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack server reports IPv4 clients as ::ffff:a.b.c.d; they are the same client.
        address = address.ipv4_mapped
    return str(address)


def normalize_token(value: str) -> str:
    """Device ids and payment fingerprints are opaque: only surrounding space is dropped."""
    token = value.strip()
    if not token:
        raise ValueError("must not be empty")
    if _CONTROL.search(token):
        raise ValueError("must not contain control characters")
    return token


def normalize_document(value: str) -> str:
    """``es:x-1234567.l`` -> ``ES:X1234567L``. The issuing country (ISO 3166-1 alpha-2) is
    part of the value: the same number is issued in several countries, and two accounts are
    linked only by the same document. Separators are dropped, as printed numbers vary."""
    issuer, sep, number = value.strip().partition(":")
    if not sep:
        raise ValueError("a document is 'CC:NUMBER', its issuing country and its number")
    issuer = normalize_country(issuer)
    number = _DOCUMENT_SEPARATORS.sub("", number).upper()
    if not _DOCUMENT_NUMBER.match(number):
        raise ValueError("a document number is 3 to 40 letters and digits")
    return f"{issuer}:{number}"


def normalize_identifier(kind: IdentifierKind, value: str) -> str:
    if kind is IdentifierKind.email:
        result = normalize_email(value)
    elif kind is IdentifierKind.document:
        result = normalize_document(value)
    elif kind is IdentifierKind.phone:
        result = normalize_phone(value)
    elif kind is IdentifierKind.ip:
        result = normalize_ip(value)
    else:
        result = normalize_token(value)
    if len(result) > MAX_IDENTIFIER_LENGTH:
        raise ValueError(f"must be at most {MAX_IDENTIFIER_LENGTH} characters")
    return result
