"""``Vigil-Signature`` as a marketplace receiver checks it with ``signing.verify``."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from vigil.integrations import signing
from vigil.integrations.signing import SignatureError

SECRET = "whsec_test_secret"
BODY = b'{"id":"evt_1","type":"action.applied","data":{"action":"suspend"}}'
T = 1_795_000_000


def test_a_signature_verifies_with_its_secret_and_is_the_documented_hmac() -> None:
    header = signing.sign([SECRET], BODY, T)
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"
    signing.verify(SECRET, header, BODY, now=T + 10)
    signing.verify(SECRET, header, BODY, now=datetime.fromtimestamp(T, UTC))


def test_a_tampered_body_is_rejected() -> None:
    header = signing.sign([SECRET], BODY, T)
    with pytest.raises(SignatureError) as caught:
        signing.verify(SECRET, header, BODY.replace(b"suspend", b"warn"), now=T)
    assert caught.value.reason == "no_matching_signature"


def test_a_wrong_secret_is_rejected() -> None:
    header = signing.sign([SECRET], BODY, T)
    with pytest.raises(SignatureError) as caught:
        signing.verify("whsec_someone_else", header, BODY, now=T)
    assert caught.value.reason == "no_matching_signature"


@pytest.mark.parametrize("skew", [-301, 301, 86_400])
def test_a_timestamp_outside_the_tolerance_is_rejected(skew: int) -> None:
    header = signing.sign([SECRET], BODY, T)
    with pytest.raises(SignatureError) as caught:
        signing.verify(SECRET, header, BODY, now=T + skew)
    assert caught.value.reason == "timestamp_out_of_tolerance"
    signing.verify(SECRET, header, BODY, now=T + skew, tolerance_seconds=abs(skew))


def test_a_replayed_header_with_a_new_timestamp_does_not_verify() -> None:
    old = signing.sign([SECRET], BODY, T)
    _t, signature = old.split(",")
    with pytest.raises(SignatureError) as caught:
        signing.verify(SECRET, f"t={T + 3600},{signature}", BODY, now=T + 3600)
    assert caught.value.reason == "no_matching_signature"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_header"),
        ("", "missing_header"),
        ("v1=abc", "malformed_header"),
        (f"t={T}", "malformed_header"),
        ("t=yesterday,v1=abc", "malformed_header"),
        (f"t={T},garbage", "malformed_header"),
        (f"t={T},v1=é", "no_matching_signature"),
    ],
)
def test_missing_or_malformed_headers_are_rejected(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError) as caught:
        signing.verify(SECRET, header, BODY, now=T)
    assert caught.value.reason == reason


def test_during_a_rotation_either_secret_verifies() -> None:
    header = signing.sign(["whsec_new", "whsec_old"], BODY, T)
    assert header.count("v1=") == 2
    signing.verify("whsec_new", header, BODY, now=T)
    signing.verify("whsec_old", header, BODY, now=T)
    with pytest.raises(SignatureError):
        signing.verify("whsec_other", header, BODY, now=T)


def test_unknown_schemes_are_ignored_so_new_versions_do_not_break_receivers() -> None:
    header = signing.sign([SECRET], BODY, T) + ",v2=future"
    signing.verify(SECRET, header, BODY, now=T)
