"""``vigil links cluster`` and ``vigil links stats`` against a migrated database."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.detection.links.conftest import make_account
from vigil.cli import app
from vigil.config import Settings


@pytest.mark.only_backend("sqlite")
def test_cluster_and_stats_commands(
    db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_account(db, "a", ("device", "ios-1234567890"))
    make_account(db, "b", ("device", "ios-1234567890"), ("phone", "+447700900123"))
    make_account(db, "c", ("phone", "+447700900123"))
    make_account(db, "d")
    db.commit()
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    runner = CliRunner()

    shown = runner.invoke(app, ["links", "cluster", "a"])
    assert shown.exit_code == 0, shown.output
    assert "3 accounts, 0 banned" in shown.output
    assert "ios-***7890" in shown.output and "+44********23" in shown.output
    assert "ios-1234567890" not in shown.output
    revealed = runner.invoke(app, ["links", "cluster", "a", "--reveal"])
    assert "ios-1234567890" in revealed.output

    missing = runner.invoke(app, ["links", "cluster", "nobody"])
    assert missing.exit_code == 1 and "no account" in missing.output

    stats = runner.invoke(app, ["links", "stats"])
    assert stats.exit_code == 0, stats.output
    assert "4 accounts, 3 in a cluster of two or more (75.0%)" in stats.output
    assert "3 accounts,   0 banned, e.g. a" in stats.output
