"""The audit hash chain: appends link up, and edits or deletions are found."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from vigil.audit import service as audit
from vigil.audit.models import AuditRecord
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.db import transaction
from vigil.kit import clock
from vigil.kit.errors import InvalidInput

SYSTEM = Principal.system("tests")
STAFF = Principal.staff(7, "Ana", Role.agent)


def _append(db: Session, n: int) -> list[AuditRecord]:
    return [
        audit.record(
            db,
            STAFF if i % 2 else SYSTEM,
            "accounts.account.view",
            "account",
            100 + i,
            reason=f"case {i}" if i % 3 == 0 else None,
            data={"fields": ["email", "phone"], "n": i, "ratio": 0.1 * i},
        )
        for i in range(n)
    ]


def test_records_link_each_to_the_previous(db: Session, frozen: clock.FrozenClock) -> None:
    first, second, third = _append(db, 3)
    assert (first.id, second.id, third.id) == (1, 2, 3)
    assert first.prev_hash == audit.GENESIS
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert first.at == clock.now()
    assert (second.actor_type, second.actor_id) == ("staff", "7")


def test_verify_passes_on_an_untouched_chain(db: Session) -> None:
    _append(db, 12)
    db.commit()
    result = audit.verify(db, batch=5)  # several batches
    assert result.ok and result.checked == 12 and result.breaks == []
    assert result.last_id == 12
    head = audit.head(db)
    assert head is not None and (head.id, head.hash) == (12, result.last_hash)


def test_verify_of_an_empty_log_is_ok(db: Session) -> None:
    result = audit.verify(db)
    assert result.ok and result.checked == 0 and audit.head(db) is None


def test_an_edited_record_is_reported(db: Session) -> None:
    _append(db, 5)
    db.commit()
    db.execute(text("UPDATE audit_records SET reason = 'nothing to see' WHERE id = 3"))
    db.commit()
    result = audit.verify(db)
    assert not result.ok
    assert [(b.record_id, b.problem) for b in result.breaks] == [
        (3, "record content does not match its hash")
    ]


def test_an_edit_that_also_rewrites_the_hash_breaks_the_next_link(db: Session) -> None:
    _append(db, 5)
    db.commit()
    db.execute(text("UPDATE audit_records SET hash = :h WHERE id = 2"), {"h": "f" * 64})
    db.commit()
    problems = {(b.record_id, b.problem) for b in audit.verify(db).breaks}
    assert (2, "record content does not match its hash") in problems
    assert (3, "link to the previous record does not match") in problems


def test_a_deleted_middle_record_is_reported(db: Session) -> None:
    _append(db, 5)
    db.commit()
    db.execute(text("DELETE FROM audit_records WHERE id = 3"))
    db.commit()
    result = audit.verify(db)
    assert result.checked == 4
    assert [(b.record_id, b.problem) for b in result.breaks] == [
        (4, "records 3..3 are missing"),
        (4, "link to the previous record does not match"),
    ]


def test_deleting_the_newest_records_is_caught_only_against_a_saved_head(db: Session) -> None:
    _append(db, 5)
    db.commit()
    saved = audit.head(db)
    assert saved is not None
    assert audit.verify(db, expect_head=saved).ok
    db.execute(text("DELETE FROM audit_records WHERE id >= 4"))
    db.commit()
    assert audit.verify(db).ok  # the chain alone cannot tell
    result = audit.verify(db, expect_head=audit.Head.parse(str(saved)))
    assert [(b.record_id, b.problem) for b in result.breaks] == [
        (5, "records 4..5 are missing (the saved head is past the end of the chain)")
    ]


def test_a_saved_head_with_another_hash_is_reported(db: Session) -> None:
    _append(db, 3)
    db.commit()
    result = audit.verify(db, expect_head=audit.Head(2, "a" * 64))
    assert [(b.record_id, b.problem) for b in result.breaks] == [
        (2, "hash differs from the saved head")
    ]


@pytest.mark.parametrize("value", ["12", "x:" + "a" * 64, "3:abc"])
def test_a_malformed_head_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as err:
        audit.Head.parse(value)
    assert err.value.field == "expect_head"


def test_verify_leaves_the_callers_pending_work_alone(db: Session) -> None:
    _append(db, 2)
    pending = audit.record(db, SYSTEM, "x.y.z", "thing", 1)
    audit.verify(db)
    db.flush()
    assert pending in db
    assert db.scalar(select(func.count()).select_from(AuditRecord)) == 3


def test_rolled_back_records_leave_no_gap(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        _append(s, 2)
    with pytest.raises(RuntimeError), transaction(session_factory) as s:
        audit.record(s, SYSTEM, "x.y.z", "thing", 1)
        raise RuntimeError("the change failed")
    with transaction(session_factory) as s:
        audit.record(s, SYSTEM, "x.y.z", "thing", 2)
        result = audit.verify(s)
    assert result.ok and result.checked == 3


def test_concurrent_appends_keep_one_valid_chain(
    session_factory: sessionmaker[Session],
) -> None:
    threads, per_thread = 8, 10
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with transaction(session_factory) as s:
                    audit.record(s, SYSTEM, "tests.chain.append", "thread", n, data={"i": i})
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert errors == []
    with transaction(session_factory) as s:
        result = audit.verify(s)
    assert result.ok, result.breaks
    assert result.checked == threads * per_thread
