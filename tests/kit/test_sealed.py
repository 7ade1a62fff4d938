"""Sealed field values: round trips, binding to row and column, tampering, key rotation."""

from __future__ import annotations

import base64
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from vigil.config import Settings
from vigil.kit import sealed
from vigil.kit.blobs import new_key, parse_keys

K1, K2 = new_key(), new_key()
BIND = {"table": "identity_verifications", "column": "fields", "row": 7}


def ring(*keys: str) -> sealed.Keyring:
    return sealed.Keyring(parse_keys(",".join(keys)))


@given(st.text())
def test_any_text_round_trips(value: str) -> None:
    r = ring(K1)
    assert r.open(r.seal(value, **BIND), **BIND) == value


def test_the_token_names_its_key_and_hides_the_value() -> None:
    r = ring(K1)
    token = r.seal("D23145890", **BIND)
    assert sealed.is_sealed(token)
    assert sealed.key_id_of(token) == r.current_id == sealed.key_id(parse_keys(K1)[0])
    assert "D23145890" not in token
    assert base64.b64encode(b"D23145890").decode()[:8] not in token
    # A fresh nonce each time: equal values do not give equal tokens.
    assert r.seal("D23145890", **BIND) != token


def test_json_round_trips() -> None:
    r = ring(K1)
    value = {"document_number": "D23145890", "lines": ["I<SWE"], "n": 1, "ok": True}
    assert r.open_json(r.seal_json(value, **BIND), **BIND) == value


@pytest.mark.parametrize(
    "other",
    [
        {**BIND, "row": 8},  # copied onto another row
        {**BIND, "column": "checks"},  # copied into another column
        {**BIND, "table": "staff_users"},  # copied into another table
    ],
)
def test_a_token_moved_elsewhere_does_not_open(other: dict[str, object]) -> None:
    r = ring(K1)
    token = r.seal("1974-08-12", **BIND)
    with pytest.raises(sealed.SealedError, match="failed authentication"):
        r.open(token, **other)  # type: ignore[arg-type]


def test_a_tampered_token_does_not_open() -> None:
    r = ring(K1)
    token = r.seal("1974-08-12", **BIND)
    head, body = token[:-10], token[-10:]
    flipped = head + ("A" if body[0] != "A" else "B") + body[1:]
    with pytest.raises(sealed.SealedError):
        r.open(flipped, **BIND)
    with pytest.raises(sealed.SealedError, match="truncated"):
        r.open(token[:30], **BIND)
    with pytest.raises(sealed.SealedError, match="not a sealed value"):
        r.open("1974-08-12", **BIND)


def test_rotation_old_keys_open_new_key_seals() -> None:
    old = ring(K1).seal("D23145890", **BIND)
    rotated = ring(K2, K1)
    assert rotated.open(old, **BIND) == "D23145890"
    new = rotated.reseal(old, **BIND)
    assert new is not None and sealed.key_id_of(new) == rotated.current_id
    assert rotated.reseal(new, **BIND) is None  # already current: nothing to do
    # Once the old key is dropped, what it alone sealed is unreadable: say which key.
    with pytest.raises(sealed.SealedError, match="not configured"):
        ring(K2).open(old, **BIND)
    assert ring(K2).open(new, **BIND) == "D23145890"


def test_keyring_from_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    configured = Settings(data_dir=tmp_path, field_keys=SecretStr(f"{K2}, {K1}"))
    assert sealed.Keyring.from_settings(configured).key_ids == ring(K2, K1).key_ids
    # Unset: one key in data_dir/field.key, owner-only, the same on every read.
    default = Settings(data_dir=tmp_path)
    first = sealed.Keyring.from_settings(default)
    path = tmp_path / sealed.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sealed.Keyring.from_settings(Settings(data_dir=tmp_path)).key_ids == first.key_ids
    with pytest.raises(ValueError, match="32 bytes"):
        sealed.Keyring.from_settings(Settings(data_dir=tmp_path, field_keys=SecretStr("abc")))


def test_field_and_blob_key_ids_differ() -> None:
    # The same secret used for both must not show up as the same public id.
    from vigil.kit.blobs import key_id as blob_key_id

    raw = parse_keys(K1)[0]
    assert sealed.key_id(raw) != blob_key_id(raw).hex()
