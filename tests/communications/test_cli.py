"""``vigil messages``: list the shipped templates, check them all, send a test email."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.servers import SmtpServer, free_port
from vigil.cli import app
from vigil.config import Settings


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    return CliRunner()


def test_templates_lists_every_template_with_its_locales(runner: CliRunner) -> None:
    result = runner.invoke(app, ["messages", "templates"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[:-1]}
    for action in ("warn", "restrict", "suspend", "remove", "ban", "reinstate", "no_violation",
                   "statement"):  # fmt: skip
        assert lines[action] == ["en", "es", "pt"]
    assert "files:" in result.output.splitlines()[-1]


def test_check_renders_every_shipped_template(runner: CliRunner) -> None:
    result = runner.invoke(app, ["messages", "check"])
    assert result.exit_code == 0, result.output
    assert "render in every scope" in result.output


def test_send_test_reaches_the_smtp_server_in_the_chosen_language(
    runner: CliRunner, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("VIGIL_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("VIGIL_MARKETPLACE_NAME", "Feira")
    result = runner.invoke(
        app, ["messages", "send-test", "--to", "ops@example.com", "--locale", "es"]
    )
    assert result.exit_code == 0, result.output
    (mail,) = smtp_server.wait_for(1)
    assert mail.recipients == ["ops@example.com"]
    assert mail.subject.startswith("[test] Tu cuenta de Feira está suspendida")
    assert "DECLARACIÓN DE MOTIVOS" in mail.text


def test_send_test_reports_smtp_trouble(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_SMTP_HOST", "")
    unconfigured = runner.invoke(app, ["messages", "send-test", "--to", "ops@example.com"])
    assert unconfigured.exit_code == 1
    assert "SMTP is not configured" in unconfigured.output
    monkeypatch.setenv("VIGIL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("VIGIL_SMTP_PORT", str(free_port()))
    down = runner.invoke(app, ["messages", "send-test", "--to", "ops@example.com"])
    assert down.exit_code == 1
    assert "could not deliver" in down.output
