"""``vigil events send FILE.jsonl`` and ``vigil events show``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.detection.conftest import counts, event, make_account, make_rule
from vigil.cli import app
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.policies.models import PolicyVersion


@pytest.fixture
def env(
    db: Session, settings: Settings, fees: PolicyVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_account(db, "acct-1")
    make_rule(db, "contact_in_message", 'event.text.contains("@")', score=60, outcome="review",
              policy_code="fee_circumvention")  # fmt: skip
    db.commit()
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)


def test_send_decides_a_file_and_reports_bad_lines(db: Session, env: None, tmp_path: Path) -> None:
    good = event(account_id="acct-1", event_id="evt-cli-1", data={"text": "a@b.example"})
    lines = [
        json.dumps(good),
        "",
        json.dumps(event(account_id="acct-1", type="teleport")),
        "{not json",
        json.dumps(event(account_id="acct-1", type="login")),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(app, ["events", "send", str(path)])
    assert result.exit_code == 1, result.output
    assert "line 1: evt-cli-1: review (score 60), case " in result.output
    assert "line 3: refused (invalid_field, type)" in result.output
    assert "line 4: refused (invalid_json)" in result.output
    assert "2 decided (1 allow, 1 review, 0 block; 0 duplicates), 2 refused" in result.output
    assert counts(db, [Event])["Event"] == 2

    again = CliRunner().invoke(app, ["events", "send", "--quiet", str(path)])
    assert "2 decided (1 allow, 1 review, 0 block; 2 duplicates), 2 refused" in again.output
    assert counts(db, [Event])["Event"] == 2

    shown = CliRunner().invoke(app, ["events", "show", "evt-cli-1"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["outcome"] == "review" and body["hits"][0]["name"] == "contact_in_message"

    missing = CliRunner().invoke(app, ["events", "show", "nope"])
    assert missing.exit_code == 1 and "no event" in missing.output
