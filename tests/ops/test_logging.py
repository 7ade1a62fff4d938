"""Structured logs: one JSON object a line with the request id, job id and kind; one access
line per request naming the route template; nothing personal."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import auth_header, make_api_key
from tests.ops import handlers
from vigil.config import Settings
from vigil.jobs import service as jobs
from vigil.jobs.worker import Worker
from vigil.ops import logging as ops_logging


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Route the root logger through :func:`ops_logging.configure` (JSON) into a buffer, and
    put pytest's own handlers back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    handler = ops_logging.configure("json", "INFO")
    buffer = io.StringIO()
    handler.setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved_handlers:
        root.addHandler(h)
    root.setLevel(saved_level)


def _records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_every_request_gets_one_json_access_line_without_personal_data(
    client: TestClient, db: Session, log_lines: io.StringIO
) -> None:
    _key, secret = make_api_key(db)
    db.commit()
    email = "jane.doe.private@example.com"
    event = {
        "event_id": "log-e1",
        "type": "signup",
        "account_id": "log-a1",
        "data": {"side": "client", "email": email, "display_name": "Jane Private"},
    }
    answer = client.post(
        "/v1/events", json=event, headers={**auth_header(secret), "X-Request-ID": "req-abc-123"}
    )
    assert answer.status_code == 200
    client.get("/v1/cases/424242", headers=auth_header(secret))
    records = _records(log_lines)
    access = [r for r in records if r["logger"] == "vigil.access"]
    assert len(access) == 2
    first = access[0]
    assert {k: first[k] for k in ("level", "method", "route", "status", "request_id")} == {
        "level": "INFO",
        "method": "POST",
        "route": "/v1/events",
        "status": 200,
        "request_id": "req-abc-123",
    }
    assert isinstance(first["duration_ms"], float) and first["time"]
    assert first["message"].startswith("POST /v1/events 200 ")
    assert access[1]["route"] == "/v1/cases/{case_id}" and access[1]["status"] == 404
    # Every line Vigil wrote during the requests carries its request id, and nothing
    # personal. (The test client's own logger, httpx, logs the raw URL: not ours.)
    ours = [r for r in records if r["logger"].startswith("vigil")]
    raw = "\n".join(json.dumps(r) for r in ours)
    assert email not in raw and "Jane Private" not in raw and "424242" not in raw
    assert all(r["request_id"] for r in ours)


def test_probes_are_logged_at_debug_only(client: TestClient, log_lines: io.StringIO) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.get("/livez").status_code == 200
    assert [r for r in _records(log_lines) if r["logger"] == "vigil.access"] == []


def test_worker_lines_carry_the_job_id_and_kind(
    settings: Settings,
    db: Session,
    session_factory: sessionmaker[Session],
    log_lines: io.StringIO,
) -> None:
    job = jobs.enqueue(db, handlers.FAIL, max_attempts=1)
    db.commit()
    Worker(settings, session_factory).drain()
    mine = [r for r in _records(log_lines) if r.get("job_id") == job.id]
    assert mine, log_lines.getvalue()
    assert {r["job_kind"] for r in mine} == {handlers.FAIL}
    assert any(r["level"] == "ERROR" and "dead" in r["message"] for r in mine)


def test_text_format_tags_the_request_id() -> None:
    record = logging.LogRecord("vigil.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.request_id = "r-1"
    record.job_id = 7
    record.job_kind = "k.ind"
    line = ops_logging.TextFormatter().format(record)
    assert line.endswith("INFO vigil.x: hello you [request=r-1 job=#7 k.ind]")


@pytest.mark.only_backend("sqlite")  # nothing here touches the database
def test_configure_leaves_a_test_runners_logging_alone(settings: Settings) -> None:
    # pytest's capture handlers are on the root logger: the CLI must not remove them.
    assert ops_logging.is_configured_elsewhere()
    assert ops_logging.uvicorn_log_settings() == {"log_config": None, "access_log": False}
