"""Sealed fields: personal values encrypted inside a database column (field-level encryption).

A value is sealed with AES-256-GCM into a text token::

    "vgs1." | key id (16 hex) | "." | base64url(nonce (12 bytes) | ciphertext and GCM tag)

Invariants:
- The associated data is ``table``, ``column`` and the row's primary key: a token copied onto
  another row, or into another column, fails authentication instead of showing one person's
  document number on another person's record.
- A fresh random 96-bit nonce per seal; a key seals at most a few billion values in one
  deployment's life, far below the 2**32 bound of random nonces.
- Keyring: ``field_keys`` (``VIGIL_FIELD_KEYS``) holds base64 keys of 32 bytes separated by
  commas; the first seals, every listed key opens what it sealed (found by the key id in the
  token). Unset: one key in ``data_dir/field.key`` (0600), made on first use (one machine
  only; several machines set ``VIGIL_FIELD_KEYS``). Dropping a key makes its tokens
  unreadable: re-seal first (``vigil keys rotate``) and check ``vigil keys status``.
- The key id is public (a hash of the key under its own label), so ``vigil keys status`` can
  count tokens per key with SQL, without opening anything.
- Every sealed column is declared with :func:`register_column`, so rotation finds it. A
  sealed column is ``Text``, nullable, and its table has an integer primary key ``id``
  (or the one named at registration).
- Nothing here touches the database; rotation lives in ``vigil.keys``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigil.kit.blobs import key_from_file, parse_keys
from vigil.kit.per_settings import PerSettings

if TYPE_CHECKING:
    from vigil.config import Settings

__all__ = [
    "KEY_FILE",
    "PREFIX",
    "Keyring",
    "SealedColumn",
    "SealedError",
    "is_sealed",
    "key_id",
    "key_id_of",
    "keyring",
    "register_column",
    "sealed_columns",
]

PREFIX = "vgs1."
KEY_ID_HEX = 16
NONCE_BYTES = 12
KEY_FILE = "field.key"


class SealedError(Exception):
    """A token is malformed, was sealed with a key we do not hold, or failed authentication
    (tampered with, or copied from another row or column)."""


def key_id(key: bytes) -> str:
    """A short public name of a field key (16 hex), distinct from the same key's blob id."""
    return hashlib.sha256(b"vigil-field-key-id\x00" + key).hexdigest()[:KEY_ID_HEX]


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(token: str) -> str:
    """Hex id of the key that sealed ``token``."""
    if (
        not is_sealed(token)
        or token[len(PREFIX) + KEY_ID_HEX : len(PREFIX) + KEY_ID_HEX + 1] != "."
    ):
        raise SealedError("not a sealed value")
    return token[len(PREFIX) : len(PREFIX) + KEY_ID_HEX]


def _aad(table: str, column: str, row: int | str) -> bytes:
    return f"vigil-sealed\x00{table}\x00{column}\x00{row}".encode()


class Keyring:
    """Seal and open field values. Immutable and thread-safe."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a field keyring needs at least one key")
        for key in keys:
            if len(key) != 32:
                raise ValueError("field keys are 32 bytes (AES-256)")
        self._keys = list(keys)
        self._by_id = {key_id(k): AESGCM(k) for k in self._keys}
        self.current_id = key_id(self._keys[0])

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        configured = settings.field_keys.get_secret_value().strip()
        if configured:
            try:
                return cls(parse_keys(configured))
            except ValueError as exc:
                raise ValueError(f"field_keys: {str(exc).replace('blob key', 'key')}") from None
        return cls([key_from_file(settings.data_dir / KEY_FILE)])

    @property
    def key_ids(self) -> list[str]:
        """Ids of the configured keys, the sealing one first."""
        return [key_id(k) for k in self._keys]

    # --- text ----------------------------------------------------------------------------

    def seal(self, value: str, *, table: str, column: str, row: int | str) -> str:
        """``value`` sealed for ``table.column`` of row ``row`` with the current key."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._by_id[self.current_id].encrypt(
            nonce, value.encode("utf-8"), _aad(table, column, row)
        )
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}{self.current_id}.{body}"

    def open(self, token: str, *, table: str, column: str, row: int | str) -> str:
        """The value sealed in ``token``; raises :class:`SealedError` when it cannot be
        opened here (unknown key, tampered, or bound to another row or column)."""
        kid = key_id_of(token)
        aes = self._by_id.get(kid)
        if aes is None:
            raise SealedError(f"value sealed with field key {kid}, which is not configured")
        body = token[len(PREFIX) + KEY_ID_HEX + 1 :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SealedError("sealed value is not base64") from None
        if len(raw) < NONCE_BYTES + 16:
            raise SealedError("sealed value is truncated")
        try:
            plain = aes.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(table, column, row))
        except InvalidTag:
            raise SealedError(
                f"sealed value of {table}.{column} #{row} failed authentication "
                "(tampered, or copied from another row)"
            ) from None
        return plain.decode("utf-8")

    def reseal(self, token: str, *, table: str, column: str, row: int | str) -> str | None:
        """``token`` sealed again with the current key, or None when it already is."""
        if key_id_of(token) == self.current_id:
            return None
        value = self.open(token, table=table, column=column, row=row)
        return self.seal(value, table=table, column=column, row=row)

    # --- JSON ----------------------------------------------------------------------------

    def seal_json(self, value: Any, *, table: str, column: str, row: int | str) -> str:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
        return self.seal(text, table=table, column=column, row=row)

    def open_json(self, token: str, *, table: str, column: str, row: int | str) -> Any:
        return json.loads(self.open(token, table=table, column=column, row=row))


# --- one keyring per Settings --------------------------------------------------------------

# The keyring for given settings, built once (the key file is read once).
keyring: PerSettings[Keyring] = PerSettings(lambda settings: Keyring.from_settings(settings))


# --- the registry of sealed columns (what rotation walks) ----------------------------------


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str
    pk: str = "id"


_columns: dict[tuple[str, str], SealedColumn] = {}


def register_column(table: str, column: str, *, pk: str = "id") -> SealedColumn:
    """Declare ``table.column`` as holding sealed tokens (bound to ``pk``), so ``vigil keys``
    re-seals and counts it. Call at import of the module that defines the table."""
    found = SealedColumn(table, column, pk)
    _columns[(table, column)] = found
    return found


def sealed_columns() -> list[SealedColumn]:
    return sorted(_columns.values(), key=lambda c: (c.table, c.column))
