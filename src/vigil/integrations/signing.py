"""Webhook signatures: ``Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The signed message is ``f"{t}."`` followed by the raw body bytes, keyed with the integration's
secret (the whole ``whsec_...`` string, UTF-8). The timestamp inside the signature lets a
receiver refuse replays of old requests. While a rotated-out secret is in its grace period,
the header carries one ``v1=`` per secret still valid; a receiver accepts the request if any
of them matches the secret it holds.

This module uses only the standard library on purpose: marketplace engineers may copy it into
their receiver as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from datetime import datetime

HEADER = "Vigil-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The request does not carry a valid signature; ``reason`` is a stable code:
    ``missing_header``, ``malformed_header``, ``timestamp_out_of_tolerance`` or
    ``no_matching_signature``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def compute(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}."`` + ``body`` under ``secret``."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secrets: Iterable[str], body: bytes, timestamp: int) -> str:
    """The ``Vigil-Signature`` header value: one ``v1=`` per secret, in the order given."""
    parts = [f"t={int(timestamp)}"]
    parts.extend(f"{SCHEME}={compute(s, timestamp, body)}" for s in secrets)
    if len(parts) == 1:
        raise ValueError("at least one secret is needed to sign")
    return ",".join(parts)


def parse(header: str) -> tuple[int, list[str]]:
    """The timestamp and the ``v1`` signatures of a header; other schemes are ignored (so a
    future ``v2`` does not break old receivers)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError("malformed_header", f"'{item.strip()}' is not key=value")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(
                    "malformed_header", "the timestamp t= is not a whole number"
                ) from None
        elif key == SCHEME:
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureError("malformed_header", "the header has no timestamp (t=)")
    if not signatures:
        raise SignatureError("malformed_header", f"the header has no {SCHEME}= signature")
    return timestamp, signatures


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | datetime | None = None,
) -> None:
    """Return if ``header`` signs ``body`` with ``secret`` and its timestamp is within
    ``tolerance_seconds`` of ``now`` (default: the system clock); raise
    :class:`SignatureError` otherwise.

    Pass the raw request body, before any JSON parsing: re-serialising changes the bytes.
    """
    if not header:
        raise SignatureError("missing_header", f"the request has no {HEADER} header")
    timestamp, signatures = parse(header)
    if now is None:
        current = time.time()
    elif isinstance(now, datetime):
        current = now.timestamp()
    else:
        current = float(now)
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError(
            "timestamp_out_of_tolerance",
            f"the signature's timestamp is {abs(current - timestamp):.0f}s away from now "
            f"(tolerance {tolerance_seconds:.0f}s): an old or replayed request, or a wrong clock",
        )
    expected = compute(secret, timestamp, body).encode()
    # compare_digest on every candidate, so timing does not tell which one nearly matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        raise SignatureError(
            "no_matching_signature",
            "no signature matches this secret and body (wrong secret, or the body was changed)",
        )
