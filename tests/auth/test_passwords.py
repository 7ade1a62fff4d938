from argon2 import PasswordHasher

from vigil.auth import passwords


def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    hashed = passwords.hash_password("a long enough password")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password(hashed, "a long enough password")
    assert not passwords.verify_password(hashed, "a long enough passworD")


def test_same_password_hashes_differently_each_time() -> None:
    assert passwords.hash_password("same password here") != passwords.hash_password(
        "same password here"
    )


def test_missing_or_garbage_hash_never_verifies() -> None:
    assert not passwords.verify_password(None, "anything at all")
    assert not passwords.verify_password("", "anything at all")
    assert not passwords.verify_password("not-a-hash", "anything at all")


def test_weaker_parameters_need_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("old password 12")
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(passwords.hash_password("new password 12"))
