"""Encrypted blob storage: sensitive files (identity document images, selfies) at rest.

Every blob is sealed with AES-256-GCM before it touches disk and written atomically (a
temporary file in the same folder, ``fsync``, then ``rename``), owner-only (files 0600, folders
0700), under ``settings.blob_path``. A blob on disk is::

    b"VGB1" | key id (8 bytes) | nonce (12 bytes) | ciphertext and GCM tag

Invariants:
- A fresh random 96-bit nonce per blob; a key never seals two blobs with one nonce (2**-32
  collision odds only after ~2**32 blobs per key, far beyond one deployment's documents).
- The blob's storage key is the associated data: a file copied or renamed onto another key
  fails authentication instead of serving the wrong person's document.
- Key rotation: ``blob_key`` holds one or more base64 keys separated by commas; the first
  seals new blobs, every listed key opens the blobs it sealed (found by the key id in the
  header). Dropping a key makes its blobs unreadable, so re-seal them first (:meth:`reseal`).
- Without ``blob_key`` a key is created in ``data_dir/blob.key`` (mode 0600) on first use:
  fine for one machine; several machines must share ``VIGIL_BLOB_KEY``. A key file is written
  whole to a temporary file first and linked into place, so a process reading it never sees a
  half-written key, and two processes creating it at once end up with the same one. A key
  file that others may read (any group/other mode bit) is refused.
- Storage keys are 32 lowercase hex characters made here; anything else is refused before a
  path is built, so a key can never point outside the blob folder.
- :meth:`derive` gives subkeys (HKDF-SHA256) for keyed hashes, e.g. the document fingerprint,
  from the store's *hash key*: a secret of its own, independent of the sealing keys, so
  rotating the blob keys (and dropping the old ones) never changes a keyed hash stored
  earlier. ``from_settings`` takes it from ``identity_fingerprint_key`` or
  ``data_dir/fingerprint.key``; that file is made once, on first use, derived (HKDF) from the
  oldest blob key configured at that moment, and read as is ever after (a later rotation of
  the blob keys does not touch it). Several machines set ``VIGIL_IDENTITY_FINGERPRINT_KEY``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from vigil.config import Settings

MAGIC = b"VGB1"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES
KEY_FILE = "blob.key"
HASH_KEY_FILE = "fingerprint.key"
_HKDF_SALT = b"vigil-blobs"
_STORAGE_KEY = re.compile(r"^[0-9a-f]{32}$")
_key_file_lock = threading.Lock()


class BlobError(Exception):
    """A blob is missing, was sealed with a key we do not hold, or failed authentication."""


class BlobNotFound(BlobError):
    pass


def key_id(key: bytes) -> bytes:
    """A short public name of a key: which key sealed a blob, without revealing the key."""
    return hashlib.sha256(b"vigil-blob-key-id\x00" + key).digest()[:KEY_ID_BYTES]


def parse_keys(value: str) -> list[bytes]:
    """``"base64[,base64...]"`` -> keys (32 bytes each); raises ``ValueError`` naming the bad
    one."""
    keys: list[bytes] = []
    for i, part in enumerate(p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            raw = base64.b64decode(part, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ValueError(f"blob key #{i + 1} is not 32 bytes of base64 (AES-256)")
        keys.append(raw)
    return keys


def new_key() -> str:
    """A fresh key, base64, for ``VIGIL_BLOB_KEY``."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def key_from_file(path: Path, make: Callable[[], str] = new_key) -> bytes:
    """The first key in ``path``, creating the file (0600) with ``make()`` when absent.

    The new key is written whole to a private temporary file in the same folder and then
    hard-linked to ``path``: the link fails if another process linked its own first, and then
    that one is read. Nobody ever reads a half-written key. A key file readable by others is
    refused (it is a secret)."""
    with _key_file_lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as out:
                    out.write(make() + "\n")
                    out.flush()
                    os.fsync(out.fileno())
                # Fails when another process linked its own first: then theirs is read.
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ValueError(f"{path} is readable by others (mode {mode:o}): chmod 600 it")
        keys = parse_keys(path.read_text().strip())
    if not keys:
        raise ValueError(f"{path} holds no key")
    return keys[0]


def hkdf(secret: bytes, label: str) -> bytes:
    """A 32-byte subkey of ``secret`` for ``label`` (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=label.encode()).derive(
        secret
    )


def hash_key_from_settings(settings: Settings, sealing_keys: Sequence[bytes]) -> bytes:
    """The secret behind keyed hashes: ``identity_fingerprint_key`` when set, else
    ``data_dir/fingerprint.key``, made on first use from the oldest of ``sealing_keys``."""
    configured = settings.identity_fingerprint_key.get_secret_value().strip()
    if configured:
        keys = parse_keys(configured)
        if len(keys) != 1:
            raise ValueError("identity_fingerprint_key is one key (32 bytes of base64)")
        return keys[0]
    oldest = sealing_keys[-1]
    return key_from_file(
        settings.data_dir / HASH_KEY_FILE,
        lambda: base64.b64encode(hkdf(oldest, "vigil-hash-key")).decode(),
    )


class BlobStore:
    """Seal, store, open and delete blobs in one folder. Thread-safe (no shared mutable
    state beyond the immutable keys)."""

    def __init__(self, root: Path, keys: Sequence[bytes], *, hash_key: bytes | None = None) -> None:
        if not keys:
            raise ValueError("a blob store needs at least one key")
        for key in keys:
            if len(key) != 32:
                raise ValueError("blob keys are 32 bytes (AES-256)")
        if hash_key is not None and len(hash_key) != 32:
            raise ValueError("the hash key is 32 bytes")
        self.root = Path(root)
        self._keys = list(keys)
        self._by_id = {key_id(k): k for k in self._keys}
        self._current_id = key_id(self._keys[0])
        self._hash_key = hash_key

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStore:
        configured = settings.blob_key.get_secret_value().strip()
        if configured:
            keys = parse_keys(configured)
        else:
            keys = [key_from_file(settings.data_dir / KEY_FILE)]
        return cls(settings.blob_path, keys, hash_key=hash_key_from_settings(settings, keys))

    # --- paths ---------------------------------------------------------------------------

    def path_of(self, key: str) -> Path:
        if not isinstance(key, str) or not _STORAGE_KEY.match(key):
            raise BlobNotFound("not a blob key")
        return self.root / key[:2] / key

    # --- sealing -------------------------------------------------------------------------

    def seal(self, key: str, data: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self._keys[0]).encrypt(nonce, data, key.encode())
        return MAGIC + self._current_id + nonce + sealed

    def open(self, key: str, raw: bytes) -> bytes:
        if len(raw) < HEADER_BYTES + 16 or not raw.startswith(MAGIC):
            raise BlobError("not a sealed blob")
        kid = raw[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES]
        nonce = raw[len(MAGIC) + KEY_ID_BYTES : HEADER_BYTES]
        secret = self._by_id.get(kid)
        if secret is None:
            raise BlobError(f"blob sealed with key {kid.hex()}, which is not configured")
        try:
            return AESGCM(secret).decrypt(nonce, raw[HEADER_BYTES:], key.encode())
        except InvalidTag:
            raise BlobError("blob failed authentication (tampered, or not this key's)") from None

    # --- storage -------------------------------------------------------------------------

    def put(self, data: bytes) -> str:
        """Seal and store ``data``; returns its new storage key."""
        key = secrets.token_hex(16)
        self._write(key, self.seal(key, data))
        return key

    def get(self, key: str) -> bytes:
        path = self.path_of(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {key}") from None
        return self.open(key, raw)

    def exists(self, key: str) -> bool:
        try:
            return self.path_of(key).exists()
        except BlobNotFound:
            return False

    def delete(self, key: str) -> bool:
        """Remove a blob; returns whether there was one (deleting twice is harmless)."""
        try:
            self.path_of(key).unlink()
        except (FileNotFoundError, BlobNotFound):
            return False
        return True

    @property
    def key_ids(self) -> list[str]:
        """Hex ids of the configured keys, the sealing one first."""
        return [key_id(k).hex() for k in self._keys]

    def key_id_of(self, key: str) -> str:
        """Hex id of the key that sealed a stored blob (for rotation reports)."""
        with self.path_of(key).open("rb") as f:
            head = f.read(HEADER_BYTES)
        return head[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES].hex()

    def reseal(self, key: str) -> bool:
        """Re-seal one blob with the current key (after a rotation). Returns whether it
        changed; a blob already sealed with the current key is left as is."""
        path = self.path_of(key)
        raw = path.read_bytes()
        if raw[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES] == self._current_id:
            return False
        self._write(key, self.seal(key, self.open(key, raw)))
        return True

    def _require_hash_key(self) -> bytes:
        if self._hash_key is None:
            raise BlobError("this blob store has no hash key (build it with from_settings)")
        return self._hash_key

    def derive(self, label: str) -> bytes:
        """A 32-byte subkey for ``label`` (HKDF-SHA256 of the hash key, not of a sealing key:
        blob-key rotation leaves it unchanged)."""
        return hkdf(self._require_hash_key(), label)

    @property
    def hash_key_id(self) -> str:
        """Hex id of the hash key, stored next to each keyed hash so a later change of the
        hash key shows which hashes were made with which key."""
        return key_id(self._require_hash_key()).hex()

    def _write(self, key: str, sealed: bytes) -> None:
        path = self.path_of(key)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.parent.mkdir(exist_ok=True, mode=0o700)
        tmp = path.parent / f".{key}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(sealed)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
