"""Masking of personal data shown to staff.

Staff see enough to work (the first and last letter of an email's local part, a phone's
country prefix, a name's initials) and must ask for the rest with a reason, which is audited.
A masked value keeps no more than a few characters, so it can be shown in lists and screens.
"""

from __future__ import annotations

import ipaddress

from vigil.accounts.models import IdentifierKind

STARS = "***"


def mask_email(email: str | None) -> str | None:
    """``maria@ex.com`` -> ``m***a@ex.com``; the domain stays (it says gmail vs a company)."""
    if not email:
        return email
    local, sep, domain = email.rpartition("@")
    if not sep:
        local, domain = email, ""
    masked = local + STARS if len(local) <= 1 else local[0] + STARS + local[-1]
    return f"{masked}@{domain}" if sep else masked


def mask_phone(phone: str | None) -> str | None:
    """``+5511987654321`` -> ``+55*********21``: the country prefix and the last two digits."""
    if not phone:
        return phone
    digits = phone.removeprefix("+")
    plus = "+" if phone.startswith("+") else ""
    if len(digits) <= 4:
        return plus + "*" * len(digits)
    return plus + digits[:2] + "*" * (len(digits) - 4) + digits[-2:]


def mask_name(name: str | None) -> str | None:
    """``Maria da Silva`` -> ``M*** d*** S***``."""
    if not name:
        return name
    return " ".join(word[0] + STARS for word in name.split())


def mask_ip(value: str) -> str:
    """Keeps the network (/24 for IPv4, /48 for IPv6): enough to see "same office"."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return mask_token(value)
    if isinstance(address, ipaddress.IPv4Address):
        return ".".join([*value.split(".")[:3], "*"])
    groups = address.exploded.split(":")[:3]
    return ":".join(g.lstrip("0") or "0" for g in groups) + ":*"


def mask_token(value: str) -> str:
    """Opaque ids (device, payment fingerprint): the ends stay so two values can be told apart."""
    if len(value) <= 8:
        return value[:2] + STARS
    return value[:4] + STARS + value[-4:]


def mask_document(value: str) -> str:
    """``ES:X1234567L`` -> ``ES:*******7L``: the issuer and the last two characters, as on a
    receipt; the opaque-token mask would show most of a short number."""
    issuer, sep, number = value.rpartition(":")
    shown = number[-2:] if len(number) > 4 else ""
    return f"{issuer}{sep}" + "*" * (len(number) - len(shown)) + shown


def mask_identifier(kind: IdentifierKind, value: str) -> str:
    if kind is IdentifierKind.email:
        return mask_email(value) or ""
    if kind is IdentifierKind.phone:
        return mask_phone(value) or ""
    if kind is IdentifierKind.ip:
        return mask_ip(value)
    if kind is IdentifierKind.document:
        return mask_document(value)
    return mask_token(value)
