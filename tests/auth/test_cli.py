"""``vigil staff`` and ``vigil api-keys`` against the test database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import make_api_key, make_staff
from vigil.audit.models import AuditRecord
from vigil.auth import service
from vigil.auth.models import ApiKey, StaffUser
from vigil.auth.permissions import Role
from vigil.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _point_cli_at_test_db(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("VIGIL_DATABASE_URL", database_url)


def test_first_admin_from_stdin_can_log_in(db: Session) -> None:
    result = runner.invoke(
        app,
        [
            "staff",
            "create",
            "--email",
            "Boss@Trust.example",
            "--name",
            "Boss",
            "--role",
            "admin",
            "--password-stdin",
            "--languages",
            "en,es",
        ],
        input="the first admin password\n",
    )
    assert result.exit_code == 0, result.output
    assert "created staff" in result.output
    issued = service.login(
        db, "boss@trust.example", "the first admin password", ttl=timedelta(hours=1)
    )
    assert issued.user.role is Role.admin and issued.user.languages == ["en", "es"]
    record = db.scalars(select(AuditRecord).where(AuditRecord.action == "auth.staff.create")).one()
    assert (record.actor_type, record.data["email"]) == ("system", "boss@trust.example")


def test_create_prompts_for_the_password_twice(db: Session) -> None:
    result = runner.invoke(
        app,
        ["staff", "create", "--email", "a@trust.example", "--name", "A", "--role", "qa"],
        input="prompted password\nprompted password\n",
    )
    assert result.exit_code == 0, result.output
    assert db.scalar(select(StaffUser.role)) is Role.qa


def test_create_reports_bad_input_and_writes_nothing(db: Session) -> None:
    result = runner.invoke(
        app,
        [
            "staff",
            "create",
            "--email",
            "a@trust.example",
            "--name",
            "A",
            "--role",
            "qa",
            "--password",
            "short",
        ],
    )
    assert result.exit_code == 1
    assert "error (password): password must be at least 12 characters" in result.output
    assert db.scalars(select(StaffUser)).all() == []
    assert db.scalars(select(AuditRecord)).all() == []


def test_list_set_password_and_deactivate(db: Session) -> None:
    user = make_staff(db, role=Role.specialist, email="sam@trust.example")
    db.commit()
    listed = runner.invoke(app, ["staff", "list"])
    assert listed.exit_code == 0 and "sam@trust.example\tspecialist" in listed.output

    changed = runner.invoke(
        app,
        ["staff", "set-password", "sam@trust.example", "--password-stdin"],
        input="another long password\n",
    )
    assert changed.exit_code == 0, changed.output
    db.expire_all()
    service.login(db, user.email, "another long password", ttl=timedelta(hours=1))
    db.rollback()

    gone = runner.invoke(app, ["staff", "deactivate", "sam@trust.example", "--reason", "left"])
    assert gone.exit_code == 0, gone.output
    assert "sam@trust.example" not in runner.invoke(app, ["staff", "list"]).output
    assert "inactive" in runner.invoke(app, ["staff", "list", "--all"]).output

    missing = runner.invoke(app, ["staff", "deactivate", "who@trust.example", "--reason", "x"])
    assert missing.exit_code == 1


def test_api_key_commands(db: Session) -> None:
    created = runner.invoke(
        app, ["api-keys", "create", "--name", "prod", "--scopes", "cases:create,accounts:write"]
    )
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    assert service.authenticate_api_key(db, secret) is not None
    db.rollback()
    key_id = db.scalar(select(ApiKey.id))
    # On SQLite every transaction holds the write lock: end ours before the CLI writes.
    db.rollback()
    listed = runner.invoke(app, ["api-keys", "list"])
    assert "prod" in listed.output and secret not in listed.output

    rotated = runner.invoke(app, ["api-keys", "rotate", str(key_id), "--grace-seconds", "60"])
    assert rotated.exit_code == 0, rotated.output
    new_secret = rotated.output.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    assert new_secret != secret and service.authenticate_api_key(db, new_secret) is not None
    db.rollback()

    revoked = runner.invoke(app, ["api-keys", "revoke", str(key_id), "--reason", "rotated"])
    assert revoked.exit_code == 0, revoked.output
    assert service.authenticate_api_key(db, secret) is None
    db.rollback()


def test_api_key_create_refuses_staff_scopes(db: Session) -> None:
    result = runner.invoke(app, ["api-keys", "create", "--name", "x", "--scopes", "staff:write"])
    assert result.exit_code == 1
    assert "cannot be given to an API key" in result.output
    assert "secret" not in result.output


def test_revoke_unknown_key(db: Session) -> None:
    key, _ = make_api_key(db)
    db.commit()
    assert (
        runner.invoke(app, ["api-keys", "revoke", str(key.id + 1), "--reason", "x"]).exit_code == 1
    )
