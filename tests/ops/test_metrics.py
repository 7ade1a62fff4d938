"""Prometheus metrics: who may scrape, what is counted, and labels that never carry ids."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import auth_header, make_api_key
from tests.ops import handlers
from tests.servers import WebhookReceiver
from vigil.app import create_app
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.integrations import service as integrations
from vigil.jobs import service as jobs
from vigil.jobs.worker import Worker
from vigil.kit import clock
from vigil.ops import metrics

TOKEN = "scrape-token-for-tests"
SYSTEM = Principal.system("ops-tests")


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def scraper(settings: Settings) -> Any:
    """A client of an app with a metrics token, and a function that scrapes it."""
    app = create_app(
        settings.model_copy(update={"metrics_token": SecretStr(TOKEN)}), run_worker=False
    )
    with TestClient(app) as client:

        def scrape() -> str:
            answer = client.get("/ops/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("text/plain")
            return answer.text

        yield client, scrape


def test_scraping_needs_the_token_when_one_is_set(scraper: Any) -> None:
    client, scrape = scraper
    missing = client.get("/ops/metrics")
    assert missing.status_code == 401
    assert missing.json()["code"] == "metrics_token_required"
    wrong = client.get("/ops/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert "vigil_http_request_duration_seconds" in scrape()


def test_without_a_token_only_loopback_may_scrape(client: TestClient) -> None:
    refused = client.get("/ops/metrics")  # the test client's host is "testclient"
    assert refused.status_code == 403
    assert refused.json()["code"] == "metrics_loopback_only"
    assert metrics.scrape_allowed("", None, "127.0.0.1")
    assert metrics.scrape_allowed("", None, "::1")
    assert not metrics.scrape_allowed("", None, "10.1.2.3")
    assert not metrics.scrape_allowed("", None, None)
    # With a token, being on loopback is not enough.
    assert not metrics.scrape_allowed(TOKEN, None, "127.0.0.1")
    assert metrics.scrape_allowed(TOKEN, f"Bearer {TOKEN}", "10.1.2.3")


def test_requests_are_labelled_by_route_template_never_by_raw_path(
    scraper: Any, db: Session
) -> None:
    client, scrape = scraper
    _key, secret = make_api_key(db)
    db.commit()
    assert client.get("/v1/cases/987654", headers=auth_header(secret)).status_code == 404
    assert client.get("/no/such/page/555111").status_code == 404
    assert client.get("/static/no-such-file-444222.css").status_code == 404
    text = scrape()
    assert "987654" not in text and "555111" not in text and "444222" not in text
    labels = [
        s.labels
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "vigil_http_request_duration_seconds_count"
    ]
    assert {"method": "GET", "route": "/v1/cases/{case_id}", "status": "4xx"} in labels
    assert {"method": "GET", "route": "<unmatched>", "status": "4xx"} in labels
    assert {"method": "GET", "route": "/static/{path}", "status": "4xx"} in labels


def test_events_accepted_and_decision_latency(client: TestClient, db: Session) -> None:
    _key, secret = make_api_key(db)
    db.commit()
    headers = auth_header(secret)
    accepted = value("vigil_events_accepted_total", outcome="allow")
    decided = value("vigil_decision_duration_seconds_count", outcome="allow")
    event = {"event_id": "ops-e1", "type": "signup", "account_id": "ops-a1",
             "data": {"side": "client"}}  # fmt: skip
    assert client.post("/v1/events", json=event, headers=headers).status_code == 200
    assert client.post("/v1/events", json=event, headers=headers).json()["duplicate"] is True
    batch = {
        "events": [
            {"event_id": "ops-e2", "type": "login", "account_id": "ops-a1"},
            {"event_id": "ops-e3", "type": "login", "account_id": "ops-a1"},
            {"event_id": "ops-e1", "type": "signup", "account_id": "ops-a1",
             "data": {"side": "client"}},  # a duplicate: not counted again
            {"event_id": "ops-e4", "type": "no_such_type", "account_id": "ops-a1"},
        ]
    }  # fmt: skip
    assert client.post("/v1/events/batch", json=batch, headers=headers).status_code == 200
    assert value("vigil_events_accepted_total", outcome="allow") == accepted + 3
    # Single events only: a batch's time is not one decision's.
    assert value("vigil_decision_duration_seconds_count", outcome="allow") == decided + 1


def test_rate_limited_requests_are_counted(settings: Settings, db: Session) -> None:
    _key, secret = make_api_key(db)
    db.commit()
    app = create_app(settings.model_copy(update={"api_rate_limit": 2}), run_worker=False)
    before = value("vigil_rate_limited_requests_total", route="/v1/events")
    with TestClient(app) as client:
        statuses = [client.get("/v1/events", headers=auth_header(secret)).status_code
                    for _ in range(3)]  # fmt: skip
    assert statuses == [200, 200, 429]
    assert value("vigil_rate_limited_requests_total", route="/v1/events") == before + 1


def test_queue_depth_and_job_lag_are_read_from_the_database(
    db: Session, session_factory: sessionmaker[Session], frozen: clock.FrozenClock
) -> None:
    now = clock.now()
    jobs.enqueue(db, "ops.a", run_at=now - timedelta(seconds=30))
    jobs.enqueue(db, "ops.a", run_at=now - timedelta(seconds=5))
    jobs.enqueue(db, "ops.b", run_at=now + timedelta(hours=1))  # waiting, not yet due
    db.commit()
    figures = metrics.read_figures(session_factory)
    assert figures["depth"] == {"ops.a": 2, "ops.b": 1}
    assert figures["lag"] == 30.0
    assert figures["expired"] == 0


def test_an_empty_queue_has_no_lag(session_factory: sessionmaker[Session]) -> None:
    figures = metrics.read_figures(session_factory)
    assert figures["depth"] == {} and figures["lag"] == 0.0


def test_jobs_are_counted_by_kind_and_result(
    settings: Settings, db: Session, session_factory: sessionmaker[Session]
) -> None:
    done = value("vigil_jobs_total", kind=handlers.OK, result="done")
    retry = value("vigil_jobs_total", kind=handlers.FAIL, result="retry")
    dead = value("vigil_jobs_total", kind=handlers.FAIL, result="dead")
    jobs.enqueue(db, handlers.OK)
    jobs.enqueue(db, handlers.OK)
    jobs.enqueue(db, handlers.FAIL, max_attempts=2)  # fails, queued again with backoff
    jobs.enqueue(db, handlers.FAIL, max_attempts=1)  # fails for good
    db.commit()
    Worker(settings, session_factory).drain()
    assert value("vigil_jobs_total", kind=handlers.OK, result="done") == done + 2
    assert value("vigil_jobs_total", kind=handlers.FAIL, result="retry") == retry + 1
    assert value("vigil_jobs_total", kind=handlers.FAIL, result="dead") == dead + 1
    assert value("vigil_job_duration_seconds_count", kind=handlers.OK) >= 2


def test_webhook_failures_are_counted_and_the_failing_ones_shown(
    mail_settings: Settings,
    db: Session,
    session_factory: sessionmaker[Session],
    webhook_receiver: WebhookReceiver,
) -> None:
    metrics.install_hooks()
    integrations.create_integration(db, SYSTEM, name="ops", url=webhook_receiver.url)
    for n in (1, 2):
        integrations.emit(
            db, "action.applied", {"n": n}, idempotency_key=f"ops-{n}",
            subject_type="test", subject_id=n,
        )  # fmt: skip
    db.commit()
    webhook_receiver.fail(1, status=503)
    before = value("vigil_webhook_delivery_failures_total")
    # Long backoff: the failed delivery waits, so the worker stops after one try of each.
    settings = mail_settings.model_copy(
        update={"webhook_backoff_base_seconds": 600.0, "webhook_backoff_max_seconds": 600.0}
    )
    Worker(settings, session_factory).drain()
    assert value("vigil_webhook_delivery_failures_total") == before + 1
    figures = metrics.read_figures(session_factory)
    assert figures["failing"] == 1 and figures["failed"] == 0


@pytest.mark.only_backend("sqlite")  # the port's rules do not depend on the database
def test_the_workers_metrics_port(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    engine = session_factory.kw["bind"]
    for token, allowed in (("", {None: 200}), (TOKEN, {None: 401, TOKEN: 200, "x": 401})):
        server = metrics.serve_metrics(
            settings.model_copy(update={"metrics_token": SecretStr(token)}),
            session_factory, engine, 0, host="127.0.0.1",
        )  # fmt: skip
        url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            for sent, status in allowed.items():
                headers = {"Authorization": f"Bearer {sent}"} if sent else {}
                answer = httpx.get(url + "/metrics", headers=headers)
                assert answer.status_code == status
                if status == 200:
                    assert "vigil_job_lag_seconds" in answer.text
                    assert "vigil_db_pool_connections_in_use" in answer.text
            assert httpx.get(url + "/elsewhere").status_code == 404
        finally:
            server.shutdown()
            server.server_close()
