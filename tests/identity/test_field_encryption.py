"""A verification's fields and checks are sealed in the database: the raw columns hold tokens
bound to their row, the code reads plain values, and a tampered or moved token is refused."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from tests.identity.conftest import (
    MRZ_LINES,
    SECRETS,
    give_results,
    make_account,
    results_checks,
    results_fields,
    staff,
)
from vigil.accounts.models import Account
from vigil.auth.permissions import Role
from vigil.identity import service
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind
from vigil.kit import sealed


def _verification(db: Session, account_id: int, **kw: object) -> IdentityVerification:
    v = IdentityVerification(
        account_id=account_id, kind=DocumentKind.id_card, issuing_country="SE",
        request_sha256="0" * 64, submitted_by="test", **kw,
    )  # fmt: skip
    db.add(v)
    db.flush()
    return v


def _raw(db: Session, verification_id: int) -> tuple[str, str]:
    row = db.execute(
        text("SELECT fields, checks FROM identity_verifications WHERE id = :id"),
        {"id": verification_id},
    ).one()
    return row[0], row[1]


def test_fields_and_checks_are_ciphertext_in_the_database(
    db: Session, session_factory: sessionmaker[Session]
) -> None:
    account = make_account(db)
    updated = _verification(db, account.id)
    give_results(updated)  # set after the insert: sealed by the UPDATE
    inserted = _verification(db, account.id, fields=results_fields(), checks=results_checks())
    db.commit()
    ids = [updated.id, inserted.id]
    for vid in ids:
        fields, checks = _raw(db, vid)
        for raw in (fields, checks):
            assert sealed.is_sealed(raw)
            for secret in (*SECRETS, *MRZ_LINES, "D23145890"):
                assert secret not in raw
    db.rollback()  # SQLite: end the read transaction before another session writes
    # Another session (another process) reads the plain values back.
    with session_factory() as other:
        for vid in ids:
            fresh = other.get(IdentityVerification, vid)
            assert fresh is not None
            assert fresh.fields == results_fields()
            assert fresh.checks == results_checks()


def test_a_new_verification_without_results_reads_empty(db: Session) -> None:
    v = _verification(db, make_account(db).id)
    db.commit()
    assert _raw(db, v.id) == (None, None)
    db.expire_all()
    assert v.fields == {} and v.checks == []


def test_a_token_copied_onto_another_row_is_refused(
    db: Session, session_factory: sessionmaker[Session]
) -> None:
    victim = _verification(db, make_account(db).id, fields=results_fields())
    other = _verification(db, make_account(db, "acct-2").id, fields={"document": {}})
    db.commit()
    db.execute(
        text("UPDATE identity_verifications SET fields = :f WHERE id = :id"),
        {"f": _raw(db, victim.id)[0], "id": other.id},
    )
    db.commit()
    with session_factory() as s:
        moved = s.get(IdentityVerification, other.id)
        assert moved is not None
        with pytest.raises(sealed.SealedError, match="failed authentication"):
            _ = moved.fields
        # The row it came from still reads.
        original = s.get(IdentityVerification, victim.id)
        assert original is not None and original.fields == results_fields()


def test_a_tampered_token_is_refused(db: Session, session_factory: sessionmaker[Session]) -> None:
    v = _verification(db, make_account(db).id, checks=results_checks())
    db.commit()
    token = _raw(db, v.id)[1]
    i = len(token) - 20
    tampered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    db.execute(
        text("UPDATE identity_verifications SET checks = :c WHERE id = :id"),
        {"c": tampered, "id": v.id},
    )
    db.commit()
    with session_factory() as s:
        loaded = s.get(IdentityVerification, v.id)
        assert loaded is not None
        with pytest.raises(sealed.SealedError):
            _ = loaded.checks


def test_masking_and_reveal_work_on_sealed_values(db: Session) -> None:
    # The sealing is below the service: describe() masks for a role without pii:reveal and
    # shows everything to one with it, as before.
    v = _verification(db, make_account(db).id)
    give_results(v)
    db.commit()
    db.expire_all()
    masked = service.describe(db, v, actor=staff(Role.admin)).model_dump_json()
    for secret in SECRETS:
        assert secret not in masked
    full = service.describe(db, v, actor=staff(Role.admin), revealed=True).model_dump_json()
    assert "D23145890" in full and "1974-08-12" in full


def test_a_detached_verification_still_reads(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        v = _verification(s, make_account(s).id, fields=results_fields())
        s.commit()
        vid = v.id
    with session_factory() as s:
        loaded = s.get(IdentityVerification, vid)
    assert loaded is not None
    assert loaded.fields == results_fields()  # opened after the session closed


def test_an_accounts_date_of_birth_is_sealed(
    db: Session, session_factory: sessionmaker[Session]
) -> None:
    account = make_account(db, "acct-dob", date_of_birth=date(1974, 8, 12))
    without = make_account(db, "acct-none", date_of_birth=None)
    db.commit()
    ids = (account.id, without.id)
    raw = dict(db.execute(text("SELECT id, date_of_birth FROM accounts")).all())
    db.rollback()
    assert sealed.is_sealed(raw[ids[0]]) and "1974" not in raw[ids[0]]
    assert raw[ids[1]] is None
    with session_factory() as s:
        loaded = s.get(Account, ids[0])
        assert loaded is not None and loaded.date_of_birth == date(1974, 8, 12)
        loaded.date_of_birth = date(1975, 1, 2)  # an update re-seals
        s.commit()
        loaded.date_of_birth = None  # and None clears the column
        s.commit()
    assert (
        db.execute(
            text("SELECT date_of_birth FROM accounts WHERE id = :id"), {"id": ids[0]}
        ).scalar()
        is None
    )
