"""``vigil audit verify`` against tampering done straight in the database (what someone with
SQL access, not the application, could do): it exits non-zero and names the first bad record.

tests/audit covers the chain service in detail (an edited reason, a rewritten hash, a deleted
middle or newest record); these add the other ways to tamper, through the real command.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.faults.procs import ROOT, VIGIL
from vigil.audit import service as audit
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cli import app
from vigil.kit import clock

runner = CliRunner()
STAFF = Principal.staff(3, "Ana", Role.agent)


@pytest.fixture(autouse=True)
def _point_cli_at_test_db(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("VIGIL_DATABASE_URL", database_url)


def _append(db: Session, n: int = 6) -> None:
    for i in range(1, n + 1):
        audit.record(
            db, STAFF, "accounts.account.reveal", "account", 100 + i,
            reason=f"case C-{i}", data={"fields": ["date_of_birth"], "n": i},
        )  # fmt: skip
    db.commit()


def _forge(db: Session, record_id: int, prev_hash: str, **fields: object) -> str:
    """Insert a record whose own hash is computed correctly, as a careful forger would."""
    row = {
        "id": record_id, "at": clock.now(), "actor_type": "staff", "actor_id": "3",
        "action": "accounts.account.reveal", "target_type": "account", "target_id": "999",
        "reason": "forged", "data": {}, "request_id": None, "prev_hash": prev_hash,
    } | fields  # fmt: skip

    class Shape:
        pass

    shape = Shape()
    shape.__dict__.update(row)
    digest = audit._digest(prev_hash, shape)
    db.execute(
        text(
            "INSERT INTO audit_records (id, at, actor_type, actor_id, action, target_type, "
            "target_id, reason, data, request_id, prev_hash, hash) VALUES (:id, :at, "
            ":actor_type, :actor_id, :action, :target_type, :target_id, :reason, :data, "
            ":request_id, :prev_hash, :hash)"
        ),
        {**row, "data": "{}", "hash": digest},
    )
    return digest


def _hash_of(db: Session, record_id: int) -> str:
    return str(db.scalar(text("SELECT hash FROM audit_records WHERE id = :i"), {"i": record_id}))


def _edit_action(db: Session) -> None:
    db.execute(text("UPDATE audit_records SET action = 'accounts.account.view' WHERE id = 3"))


def _edit_actor(db: Session) -> None:
    db.execute(text("UPDATE audit_records SET actor_id = '4' WHERE id = 3"))


def _edit_time(db: Session) -> None:
    db.execute(text("UPDATE audit_records SET at = :at WHERE id = 3"), {"at": "2020-01-01"})


def _edit_data(db: Session) -> None:
    db.execute(text("UPDATE audit_records SET data = :d WHERE id = 3"), {"d": '{"n": 3}'})


def _delete_two(db: Session) -> None:
    db.execute(text("DELETE FROM audit_records WHERE id IN (3, 4)"))


def _swap_two(db: Session) -> None:
    # Reorder: records 3 and 4 trade places (their ids, so their position in the chain).
    db.execute(text("UPDATE audit_records SET id = -4 WHERE id = 4"))
    db.execute(text("UPDATE audit_records SET id = 4 WHERE id = 3"))
    db.execute(text("UPDATE audit_records SET id = 3 WHERE id = -4"))


def _insert_forged_in_the_middle(db: Session) -> None:
    # Make room after record 2 by moving the later records up, then slip a record in that
    # links correctly to record 2 and hashes correctly: the moved records give it away.
    for record_id in (6, 5, 4, 3):
        db.execute(
            text("UPDATE audit_records SET id = :new WHERE id = :old"),
            {"new": record_id + 1, "old": record_id},
        )
    _forge(db, 3, _hash_of(db, 2))


def _insert_with_a_wrong_link(db: Session) -> None:
    _forge(db, 7, "0" * 64)


TAMPERING: dict[str, tuple[Callable[[Session], None], int, str]] = {
    "edit the action": (_edit_action, 3, "record 3: record content does not match its hash"),
    "edit the actor": (_edit_actor, 3, "record 3: record content does not match its hash"),
    "edit the time": (_edit_time, 3, "record 3: record content does not match its hash"),
    "edit the data": (_edit_data, 3, "record 3: record content does not match its hash"),
    "delete two": (_delete_two, 5, "record 5: records 3..4 are missing"),
    "swap two": (_swap_two, 3, "record 3: link to the previous record does not match"),
    "insert in the middle": (
        _insert_forged_in_the_middle, 4, "record 4: record content does not match its hash",
    ),
    "append with a wrong link": (
        _insert_with_a_wrong_link, 7, "record 7: link to the previous record does not match",
    ),
}  # fmt: skip


@pytest.mark.parametrize("how", list(TAMPERING))
def test_verify_fails_naming_the_first_bad_record(db: Session, how: str) -> None:
    tamper, first, problem = TAMPERING[how]
    _append(db)
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    tamper(db)
    db.commit()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].endswith(f"; first bad record: {first}"), lines[0]
    assert problem in lines[1:], lines


def test_the_installed_command_exits_non_zero_on_a_tampered_log(
    db: Session, database_url: str, tmp_path: Path
) -> None:
    _append(db, 3)
    db.execute(text("UPDATE audit_records SET reason = 'nothing to see' WHERE id = 2"))
    db.commit()
    done = subprocess.run(
        [str(VIGIL), "audit", "verify"],
        cwd=ROOT,
        env={"VIGIL_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "first bad record: 2" in done.stdout
    assert "record 2: record content does not match its hash" in done.stdout
