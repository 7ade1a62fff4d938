"""``vigil policies``: load the pack, list the catalog, show a policy and its history."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.policies.helpers import counts
from vigil.cli import app
from vigil.config import Settings
from vigil.policies import service
from vigil.policies.pack import DEFAULT_PACK


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    return CliRunner()


def test_load_list_show_and_history(runner: CliRunner, db: Session, tmp_path: Path) -> None:
    empty = runner.invoke(app, ["policies", "list"])
    assert empty.exit_code == 0 and "vigil policies load" in empty.output

    loaded = runner.invoke(app, ["policies", "load"])
    assert loaded.exit_code == 0, loaded.output
    assert "policy pack marketplace: 16 created, 0 updated, 0 unchanged" in loaded.output
    again = runner.invoke(app, ["policies", "load"])
    assert "0 created, 0 updated, 16 unchanged" in again.output

    listed = runner.invoke(app, ["policies", "list"])
    assert listed.exit_code == 0
    assert "fee_circumvention" in listed.output and "sanctioned_persons" in listed.output

    data = yaml.safe_load(DEFAULT_PACK.read_text(encoding="utf-8"))
    data["policies"][0]["strike_ttl_days"] = 180
    edited = tmp_path / "pack.yaml"
    edited.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    updated = runner.invoke(app, ["policies", "load", "--file", str(edited)])
    assert "0 created, 1 updated, 15 unchanged" in updated.output
    assert "updated: fee_circumvention" in updated.output
    assert service.resolve(db, "fee_circumvention").strike_ttl_days == 180
    db.rollback()

    shown = runner.invoke(app, ["policies", "show", "fee_circumvention"])
    assert shown.exit_code == 0, shown.output
    assert "fee_circumvention v2" in shown.output
    assert "2 strikes: restrict message for 14 days" in shown.output
    assert "[es] Pagos fuera de la plataforma" in shown.output
    old = runner.invoke(app, ["policies", "show", "fee_circumvention", "--version", "1"])
    assert "fee_circumvention v1" in old.output and "counted for 365 days" in old.output

    history = runner.invoke(app, ["policies", "history", "fee_circumvention"])
    assert history.exit_code == 0
    assert history.output.count("policy pack marketplace loaded") == 2


def test_errors_exit_non_zero_and_write_nothing(
    runner: CliRunner, db: Session, tmp_path: Path
) -> None:
    data = yaml.safe_load(DEFAULT_PACK.read_text(encoding="utf-8"))
    data["policies"][3]["severity"] = "catastrophic"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    refused = runner.invoke(app, ["policies", "load", "--file", str(bad)])
    assert refused.exit_code == 1
    assert "policies[3].severity" in refused.output and "duplicate_accounts" in refused.output
    assert counts(db) == (0, 0, 0)

    missing = runner.invoke(app, ["policies", "show", "nope"])
    assert missing.exit_code == 1 and "no policy 'nope'" in missing.output
