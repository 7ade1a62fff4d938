"""``vigil demo-data`` and ``vigil simulate`` as a person runs them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from vigil.accounts.models import Account
from vigil.auth import service as auth
from vigil.auth.passwords import verify_password
from vigil.cases.models import Case, Queue
from vigil.cli import app
from vigil.config import Settings
from vigil.simulate.demo import DEMO_STAFF


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(settings.data_dir))  # demo documents' blobs
    return CliRunner()


def count(db: Session, model: type) -> int:
    value = db.scalar(select(func.count()).select_from(model))
    db.rollback()  # release SQLite's write lock before the command runs
    return int(value or 0)


def test_demo_data_loads_once_and_tells_how_to_log_in(cli: CliRunner, db: Session) -> None:
    first = cli.invoke(app, ["demo-data", "--accounts", "80", "--days", "10"])
    assert first.exit_code == 0, first.output
    assert "log in as agent@vigil.example / vigil-demo-agent" in first.output
    assert "specialist@vigil.example" in first.output
    accounts, cases = count(db, Account), count(db, Case)
    # The 80 asked for, and the demo's injected scam wave's own few new accounts (three a
    # day at this size, over the part of its three days that has begun).
    assert 80 < accounts <= 89 and cases > 0 and count(db, Queue) >= 10

    for user in DEMO_STAFF:
        staff = auth.get_staff_by_email(db, user.email)
        assert staff.role is user.role and verify_password(staff.password_hash, user.password)
    agent_es = auth.get_staff_by_email(db, "agent.es@vigil.example")
    assert agent_es.languages == ["es", "en"]
    db.rollback()

    again = cli.invoke(app, ["demo-data", "--accounts", "80", "--days", "10"])
    assert again.exit_code == 0, again.output
    assert "already loaded" in again.output
    assert count(db, Account) == accounts and count(db, Case) == cases


def test_simulate_prints_a_summary_and_refuses_a_loaded_seed(cli: CliRunner, db: Session) -> None:
    args = ["simulate", "--accounts", "60", "--days", "7", "--seed", "3"]
    result = cli.invoke(app, [*args, "--marketplace", "courses"])
    assert result.exit_code == 0, result.output
    assert "accounts     60" in result.output and "courses marketplace" in result.output
    assert count(db, Account) == 60

    again = cli.invoke(app, args)
    assert again.exit_code == 1
    assert "seed 3 is already loaded" in again.output
    assert count(db, Account) == 60


def test_simulate_without_cases_writes_accounts_only(cli: CliRunner, db: Session) -> None:
    result = cli.invoke(app, ["simulate", "--accounts", "50", "--seed", "4", "--no-cases"])
    assert result.exit_code == 0, result.output
    assert count(db, Account) == 50 and count(db, Case) == 0
