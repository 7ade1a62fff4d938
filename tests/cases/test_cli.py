"""``vigil queues``: bootstrap, create and list with figures."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from vigil.cases.models import Queue
from vigil.cli import app
from vigil.config import Settings


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    return CliRunner()


def test_bootstrap_create_and_list(runner: CliRunner, db: Session) -> None:
    empty = runner.invoke(app, ["queues", "list"])
    assert empty.exit_code == 0 and "vigil queues bootstrap" in empty.output

    boot = runner.invoke(app, ["queues", "bootstrap"])
    assert boot.exit_code == 0, boot.output
    assert "10 default queues" in boot.output
    assert runner.invoke(app, ["queues", "bootstrap"]).exit_code == 0  # again: no change

    made = runner.invoke(
        app,
        ["queues", "create", "--slug", "fraud", "--name", "Fraud rings", "--sla-minutes", "240"],
    )
    assert made.exit_code == 0, made.output
    dup = runner.invoke(app, ["queues", "create", "--slug", "fraud", "--name", "Again"])
    assert dup.exit_code == 1 and "slug" in dup.output

    listed = runner.invoke(app, ["queues", "list"])
    assert listed.exit_code == 0
    for slug in ("triage", "identity", "escalations", "legal", "fraud"):
        assert slug in listed.output
    assert db.scalar(select(Queue.sla_minutes).where(Queue.slug == "fraud")) == 240
