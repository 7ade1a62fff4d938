"""``vigil audit verify|head|tail`` against the test database."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _point_cli_at_test_db(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("VIGIL_DATABASE_URL", database_url)


def _append(db: Session, n: int) -> None:
    for i in range(n):
        audit.record(db, Principal.system("tests"), "accounts.account.view", "account", i)
    db.commit()


def test_verify_ok_prints_the_count(db: Session) -> None:
    _append(db, 4)
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ok: 4 records"


def test_verify_fails_and_lists_each_break(db: Session) -> None:
    _append(db, 5)
    db.execute(text("UPDATE audit_records SET target_id = '999' WHERE id = 2"))
    db.execute(text("DELETE FROM audit_records WHERE id = 4"))
    db.commit()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == "BROKEN: 3 problem(s) in 4 records; first bad record: 2"
    assert lines[1:] == [
        "record 2: record content does not match its hash",
        "record 5: records 4..4 are missing",
        "record 5: link to the previous record does not match",
    ]


def test_head_then_expect_head_catches_deleted_newest_records(db: Session) -> None:
    _append(db, 3)
    head = runner.invoke(app, ["audit", "head"])
    assert head.exit_code == 0
    saved = head.output.strip()
    assert saved.startswith("3:") and len(saved) == 2 + 64
    assert runner.invoke(app, ["audit", "verify", "--expect-head", saved]).exit_code == 0
    db.execute(text("DELETE FROM audit_records WHERE id = 3"))
    db.commit()
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    result = runner.invoke(app, ["audit", "verify", "--expect-head", saved])
    assert result.exit_code == 1
    assert "records 3..3 are missing" in result.output


def test_verify_refuses_a_malformed_head(db: Session) -> None:
    result = runner.invoke(app, ["audit", "verify", "--expect-head", "nonsense"])
    assert result.exit_code == 2


def test_tail_prints_the_newest_records_oldest_first(db: Session) -> None:
    _append(db, 5)
    result = runner.invoke(app, ["audit", "tail", "-n", "2"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["4", "5"]
    assert "accounts.account.view" in lines[0] and "account:4" in lines[1]
