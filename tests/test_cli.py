"""The ``vigil`` command outside a set-up folder says what to do instead of failing later."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli import app


def test_a_missing_sqlite_database_is_reported_and_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "nowhere" / "vigil.db"
    monkeypatch.setenv("VIGIL_DATABASE_URL", f"sqlite:///{path}")
    result = CliRunner().invoke(app, ["staff", "list"])
    assert result.exit_code == 1
    assert "vigil db upgrade" in result.output
    assert not path.exists()


def test_a_database_without_schema_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    monkeypatch.setenv("VIGIL_DATABASE_URL", f"sqlite:///{path}")
    result = CliRunner().invoke(app, ["queues", "list"])
    assert result.exit_code == 1
    assert "no schema" in result.output
    upgraded = CliRunner().invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert CliRunner().invoke(app, ["queues", "list"]).exit_code == 0
