"""``vigil integrations``: add (secret printed once), list, deliveries, redeliver."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.integrations.conftest import delivery, emit, settle
from tests.servers import WebhookReceiver
from vigil.cli import app
from vigil.config import Settings
from vigil.integrations import signing
from vigil.integrations.models import DeliveryStatus
from vigil.jobs.worker import Worker


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    return CliRunner()


def test_add_list_deliveries_and_redeliver(
    runner: CliRunner,
    session_factory: sessionmaker[Session],
    worker: Worker,
    webhook_receiver: WebhookReceiver,
) -> None:
    added = runner.invoke(
        app,
        [
            "integrations",
            "add",
            "--name",
            "marketplace",
            "--url",
            webhook_receiver.url,
            "--events",
            "action.applied, action.reversed",
        ],
    )
    assert added.exit_code == 0, added.output
    found = re.search(r"(whsec_\S+)", added.output)
    assert found is not None
    secret = found.group(1)

    listed = runner.invoke(app, ["integrations", "list"])
    assert listed.exit_code == 0
    assert "marketplace" in listed.output and "action.applied,action.reversed" in listed.output
    assert secret not in listed.output

    webhook_receiver.fail(100)
    (delivery_id,) = emit(session_factory, "action:1:applied")
    settle(worker, session_factory)
    failed = runner.invoke(app, ["integrations", "deliveries", "--status", "failed"])
    assert failed.exit_code == 0, failed.output
    assert str(delivery_id) in failed.output and "answered 503" in failed.output
    assert (
        "no deliveries"
        in runner.invoke(
            app, ["integrations", "deliveries", "--status", "delivered", "--limit", "5"]
        ).output
    )

    webhook_receiver.fail(0)
    again = runner.invoke(app, ["integrations", "redeliver", str(delivery_id)])
    assert again.exit_code == 0, again.output
    settle(worker, session_factory)
    assert delivery(session_factory, delivery_id).status == DeliveryStatus.delivered
    request = webhook_receiver.accepted[0]
    signing.verify(secret, request.headers["vigil-signature"], request.body)

    refused = runner.invoke(app, ["integrations", "redeliver", str(delivery_id)])
    assert refused.exit_code == 1 and "only failed deliveries" in refused.output


def test_add_refuses_a_bad_url_naming_the_field(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["integrations", "add", "--name", "m", "--url", "ftp://m.example/hooks"]
    )
    assert result.exit_code == 1
    assert "(url)" in result.output
    assert "no integrations" in runner.invoke(app, ["integrations", "list"]).output
