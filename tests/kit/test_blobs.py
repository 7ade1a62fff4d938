"""The encrypted blob store: what is on disk is sealed, only the right key opens it, a file
moved onto another key fails, old keys still open after a rotation, keyed hashes do not move
when the blob keys rotate, and key files are created whole, once, owner-only."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from vigil.config import Settings
from vigil.kit.blobs import (
    HASH_KEY_FILE,
    HEADER_BYTES,
    MAGIC,
    BlobError,
    BlobNotFound,
    BlobStore,
    hkdf,
    key_from_file,
    key_id,
    new_key,
    parse_keys,
)

SECRET = b"passport of Maria Example, P<UTOERIKSSON<<ANNA<MARIA" * 20


def _store(tmp_path: Path, *keys: str) -> BlobStore:
    return BlobStore(tmp_path / "blobs", parse_keys(",".join(keys)))


def test_round_trip_and_nothing_readable_on_disk(tmp_path: Path) -> None:
    store = _store(tmp_path, new_key())
    key = store.put(SECRET)
    assert store.get(key) == SECRET
    raw = store.path_of(key).read_bytes()
    assert raw.startswith(MAGIC)
    assert b"ERIKSSON" not in raw and b"Maria" not in raw
    # AES-GCM: plaintext length + header + 16-byte tag, nothing else stored.
    assert len(raw) == len(SECRET) + HEADER_BYTES + 16


def test_files_and_folders_are_owner_only(tmp_path: Path) -> None:
    store = _store(tmp_path, new_key())
    path = store.path_of(store.put(b"x"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_fresh_nonce_per_blob(tmp_path: Path) -> None:
    store = _store(tmp_path, new_key())
    a, b = store.put(SECRET), store.put(SECRET)
    assert a != b
    raw_a, raw_b = store.path_of(a).read_bytes(), store.path_of(b).read_bytes()
    assert raw_a[12:HEADER_BYTES] != raw_b[12:HEADER_BYTES]
    assert raw_a[HEADER_BYTES:] != raw_b[HEADER_BYTES:]


def test_wrong_key_cannot_decrypt(tmp_path: Path) -> None:
    right = _store(tmp_path, new_key())
    key = right.put(SECRET)
    wrong = _store(tmp_path, new_key())
    with pytest.raises(BlobError, match="not configured"):
        wrong.get(key)
    # Even a forged header naming the right key id does not help without the key itself.
    forged = BlobStore(tmp_path / "blobs", parse_keys(new_key()))
    forged._by_id = {right._current_id: forged._keys[0]}
    with pytest.raises(BlobError, match="authentication"):
        forged.get(key)


def test_blob_moved_onto_another_key_fails(tmp_path: Path) -> None:
    """The storage key is the associated data: swapping two people's files is detected."""
    store = _store(tmp_path, new_key())
    a, b = store.put(b"document of A"), store.put(b"document of B")
    store.path_of(b).write_bytes(store.path_of(a).read_bytes())
    with pytest.raises(BlobError, match="authentication"):
        store.get(b)
    assert store.get(a) == b"document of A"


def test_tampered_ciphertext_fails(tmp_path: Path) -> None:
    store = _store(tmp_path, new_key())
    key = store.put(SECRET)
    raw = bytearray(store.path_of(key).read_bytes())
    raw[-20] ^= 0x01
    store.path_of(key).write_bytes(bytes(raw))
    with pytest.raises(BlobError):
        store.get(key)


def test_rotation_old_keys_still_open_and_reseal(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    before = _store(tmp_path, old)
    key = before.put(SECRET)
    rotated = _store(tmp_path, new, old)
    assert rotated.get(key) == SECRET
    assert rotated.key_id_of(key) == key_id(parse_keys(old)[0]).hex()
    assert rotated.reseal(key) is True
    assert rotated.reseal(key) is False
    assert rotated.key_id_of(key) == key_id(parse_keys(new)[0]).hex()
    # After re-sealing, the old key can be dropped.
    assert _store(tmp_path, new).get(key) == SECRET
    # New blobs are sealed with the first key listed.
    fresh = rotated.put(b"new")
    with pytest.raises(BlobError):
        _store(tmp_path, old).get(fresh)


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url="sqlite:///:memory:", **kw)  # type: ignore[arg-type]


def test_derived_keys_survive_rotation_and_dropping_the_old_key(tmp_path: Path) -> None:
    """Keyed hashes come from the hash key (``fingerprint.key``), not from a blob key: rotating
    the blob keys and then dropping the old one changes no derived key."""
    old, new = new_key(), new_key()
    first = BlobStore.from_settings(_settings(tmp_path, blob_key=old))
    hash_file = tmp_path / "data" / HASH_KEY_FILE
    assert stat.S_IMODE(hash_file.stat().st_mode) == 0o600
    rotated = BlobStore.from_settings(_settings(tmp_path, blob_key=f"{new},{old}"))
    dropped = BlobStore.from_settings(_settings(tmp_path, blob_key=new))
    assert first.derive("x") == rotated.derive("x") == dropped.derive("x")
    assert first.hash_key_id == dropped.hash_key_id
    assert first.derive("x") != first.derive("y")
    # The hash key is neither blob key: knowing a retired blob key does not give it.
    assert first.derive("x") not in (hkdf(parse_keys(old)[0], "x"), hkdf(parse_keys(new)[0], "x"))


def test_configured_hash_key_wins_and_a_store_without_one_refuses(tmp_path: Path) -> None:
    fixed = new_key()
    a = BlobStore.from_settings(
        _settings(tmp_path, blob_key=new_key(), identity_fingerprint_key=fixed)
    )
    b = BlobStore.from_settings(
        _settings(tmp_path, blob_key=new_key(), identity_fingerprint_key=fixed)
    )
    assert a.derive("x") == b.derive("x")
    assert a.hash_key_id == key_id(parse_keys(fixed)[0]).hex()
    assert not (tmp_path / "data" / HASH_KEY_FILE).exists()
    with pytest.raises(ValueError, match="one key"):
        BlobStore.from_settings(
            _settings(tmp_path, identity_fingerprint_key=f"{new_key()},{new_key()}")
        )
    with pytest.raises(BlobError, match="hash key"):
        _store(tmp_path, new_key()).derive("x")


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "blob.key"
    path.write_text(new_key() + "\n")
    path.chmod(0o644)
    with pytest.raises(ValueError, match="readable by others"):
        key_from_file(path)
    path.chmod(0o600)
    assert key_from_file(path) == parse_keys(path.read_text())[0]


_CREATE = """
import sys
from pathlib import Path
from vigil.kit.blobs import key_from_file
sys.stdout.write(key_from_file(Path(sys.argv[1])).hex())
"""


def test_key_file_made_by_racing_processes_is_one_key(tmp_path: Path) -> None:
    """Processes creating the key file at once (no shared lock between them) all end up with
    the one that was linked into place first, whole, and leave no temporary file behind."""
    path = tmp_path / "keys" / "blob.key"
    procs = [
        subprocess.Popen([sys.executable, "-c", _CREATE, str(path)], stdout=subprocess.PIPE)
        for _ in range(4)
    ]
    outputs = {p.communicate()[0] for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert outputs == {parse_keys(path.read_text())[0].hex().encode()}
    assert [p.name for p in path.parent.iterdir()] == ["blob.key"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_storage_keys_cannot_escape_the_folder(tmp_path: Path) -> None:
    store = _store(tmp_path, new_key())
    for bad in ("../../etc/passwd", "ab/../../x", "", "A" * 32, "0" * 31):
        with pytest.raises(BlobNotFound):
            store.get(bad)
        assert store.delete(bad) is False


def test_delete(tmp_path: Path) -> None:
    store = _store(tmp_path, new_key())
    key = store.put(b"x")
    assert store.delete(key) is True
    assert store.delete(key) is False
    with pytest.raises(BlobNotFound):
        store.get(key)


def test_bad_keys_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="#1"):
        parse_keys("not base64!")
    with pytest.raises(ValueError, match="#2"):
        parse_keys(new_key() + "," + base64.b64encode(b"short").decode())


def test_key_file_created_once_owner_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url="sqlite:///:memory:")
    stores: list[BlobStore] = []
    threads = [
        threading.Thread(target=lambda: stores.append(BlobStore.from_settings(settings)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    key_file = tmp_path / "data" / "blob.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    blob = stores[0].put(SECRET)
    assert all(s.get(blob) == SECRET for s in stores)
    assert stores[0].root == settings.blob_path


def test_configured_key_wins_over_file(tmp_path: Path) -> None:
    key = new_key()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url="sqlite:///:memory:",
        blob_key=key,  # type: ignore[arg-type]
        blob_dir=tmp_path / "elsewhere",
    )
    store = BlobStore.from_settings(settings)
    blob = store.put(SECRET)
    assert not (tmp_path / "data" / "blob.key").exists()
    assert store.path_of(blob).is_relative_to(tmp_path / "elsewhere")
    assert _store(tmp_path / "x", key).open(blob, store.path_of(blob).read_bytes()) == SECRET
    assert os.access(store.path_of(blob), os.R_OK)
