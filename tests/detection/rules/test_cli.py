"""``vigil rules``: load, list, show, state, test and backtest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.detection.rules.conftest import written
from tests.detection.rules.test_backtest import stored_event
from vigil.cli import app
from vigil.config import Settings
from vigil.detection.rules import service
from vigil.kit import clock

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch, db: Session) -> CliRunner:
    db.commit()  # the catalog, for the CLI's own connection
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    return CliRunner()


def test_load_list_show_and_state(runner: CliRunner, db: Session) -> None:
    empty = runner.invoke(app, ["rules", "list"])
    assert empty.exit_code == 0 and "vigil rules load" in empty.output
    loaded = runner.invoke(app, ["rules", "load"])
    assert loaded.exit_code == 0, loaded.output
    assert "rule pack marketplace:" in loaded.output and "0 updated" in loaded.output
    again = runner.invoke(app, ["rules", "load"])
    assert "0 created, 0 updated" in again.output

    listed = runner.invoke(app, ["rules", "list", "--state", "shadow"])
    assert listed.exit_code == 0
    assert "signup_burst_from_ip" in listed.output and "scam_text_high " not in listed.output
    assert "ruleset revision" in listed.output

    shown = runner.invoke(app, ["rules", "show", "new_account_mass_messaging"])
    assert shown.exit_code == 0, shown.output
    assert "new_account_mass_messaging v1 (active" in shown.output
    assert "features.messages_1h >= 20" in shown.output
    assert "rule pack marketplace loaded" in shown.output

    moved = runner.invoke(
        app, ["rules", "state", "signup_burst_from_ip", "active", "--reason", "backtested"]
    )
    assert moved.exit_code == 0 and "is active" in moved.output
    illegal = runner.invoke(app, ["rules", "state", "signup_burst_from_ip", "draft"])
    assert illegal.exit_code == 1 and "cannot go from active to draft" in illegal.output


def test_test_evaluates_an_expression_on_a_sample_event(
    runner: CliRunner, db: Session, tmp_path: Path
) -> None:
    sample = tmp_path / "event.json"
    sample.write_text(
        json.dumps(
            {
                "event": {"type": "message_sent", "data": {"text": "pay me on paypal"}},
                "account": {"age_days": 1},
                "features": {"messages_1h": 25},
            }
        )
    )
    before = written(db)
    fired = runner.invoke(
        app,
        [
            "rules",
            "test",
            "features.messages_1h > 20 && account.age_days < 2",
            "--event",
            str(sample),
        ],
    )
    assert fired.exit_code == 0, fired.output
    assert "features.messages_1h = 25" in fired.output and fired.output.strip().endswith("true")

    typo = runner.invoke(app, ["rules", "test", "features.mesages_1h > 1", "--event", str(sample)])
    assert typo.exit_code == 1
    assert "line 1, column 9: no feature 'mesages_1h'" in typo.output
    assert "        ^" in typo.output

    broken = runner.invoke(
        app, ["rules", "test", "event.data.amount > 1.0", "--event", str(sample)]
    )
    assert broken.exit_code == 2 and "error at run time" in broken.output
    assert written(db) == before


def test_backtest_prints_the_table(runner: CliRunner, db: Session) -> None:
    runner.invoke(app, ["rules", "load"])
    db.rollback()
    for n in (30, 5):  # events of an account Vigil does not know: a new account
        stored_event(db, None, clock.now().replace(hour=8), {"messages_1h": n})
    db.commit()
    result = runner.invoke(
        app, ["rules", "backtest", "--since", "2026-11-20", "--until", "2026-11-21T10:00:00Z"]
    )
    assert result.exit_code == 0, result.output
    assert "live rules over 2026-11-20 00:00 .. 2026-11-21 10:00 UTC" in result.output
    assert "new_account_mass_messaging" in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("new_account_mass_"))
    assert line.split()[1] == "1"  # one hit

    draft = runner.invoke(
        app,
        [
            "rules",
            "backtest",
            "--since",
            "2026-11-20",
            "--draft",
            "new_account_mass_messaging@1",
            "--compare",
            "active",
        ],
    )
    assert draft.exit_code == 0, draft.output
    assert (
        "new_account_mass_messaging v1" in draft.output
        and "compared with live rules" in draft.output
    )
    bad = runner.invoke(app, ["rules", "backtest", "--draft", "nope"])
    assert bad.exit_code == 1 and "no rule 'nope'" in bad.output
    assert service.get_rule(db, "new_account_mass_messaging") is not None
