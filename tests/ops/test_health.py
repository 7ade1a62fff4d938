"""Liveness and readiness as a load balancer sees them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.redis_server import REDIS_URL, redis_client
from vigil.app import create_app
from vigil.config import Settings
from vigil.ops import health as checks


def _client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_worker=False)) as client:
        yield client


def test_a_healthy_process_is_live_and_ready(client: TestClient, settings: Settings) -> None:
    live = client.get("/livez")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["failed"] == []
    # Redis is checked only when configured.
    assert set(body["checks"]) == {"database", "schema", "blobs"}
    assert all(c["ok"] for c in body["checks"].values())
    dialect = "sqlite" if settings.is_sqlite else "postgresql"
    assert body["checks"]["database"]["detail"] == dialect
    assert ready.headers["cache-control"] == "no-store"
    # The old endpoint stays for existing monitors.
    assert client.get("/v1/health").json()["status"] == "ok"


def test_a_schema_behind_the_code_is_not_ready(client: TestClient, db: Session) -> None:
    heads, known = checks.migrations()
    older = sorted(known - heads)
    current = db.scalar(text("SELECT version_num FROM alembic_version"))
    if older:
        db.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": older[0]})
    else:  # a single squashed migration: only an empty database is behind it
        db.execute(text("DELETE FROM alembic_version"))
    db.commit()
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not_ready" and body["failed"] == ["schema"]
        assert "code expects" in body["checks"]["schema"]["detail"]
        assert client.get("/livez").status_code == 200
    finally:
        # The PostgreSQL test database outlives this test (only its rows are emptied): put
        # the revision back for the tests that follow on this worker.
        db.rollback()
        db.execute(text("DELETE FROM alembic_version"))
        db.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": current})
        db.commit()


def test_a_schema_migrated_by_a_newer_release_stays_ready() -> None:
    # Rolling update: the new release migrates first; the old processes keep serving.
    assert checks.schema_check("a_revision_from_the_future").ok
    heads, _known = checks.migrations()
    assert all(checks.schema_check(h).ok for h in heads)
    assert not checks.schema_check(None).ok


def test_an_unwritable_blob_folder_is_not_ready(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the blob folder should be")
    for client in _client(settings.model_copy(update={"blob_dir": blocker / "blobs"})):
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["blobs"]


def test_an_unreachable_database_fails_readiness_not_liveness(tmp_path: Path) -> None:
    # A port nothing listens on: connecting is refused at once.
    settings = Settings(
        database_url="postgresql+psycopg://vigil@127.0.0.1:9/vigil",
        data_dir=tmp_path / "data",
        serve_worker=False,
    )
    for client in _client(settings):
        assert client.get("/livez").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["failed"] == ["database", "schema"]
        assert body["checks"]["database"]["detail"].startswith("unreachable")
        # The URL (it may hold a password) is never echoed.
        assert "127.0.0.1:9" not in ready.text


@pytest.mark.only_backend("sqlite")  # the Redis check does not depend on the database
@pytest.mark.parametrize("reachable", [True, False], ids=["redis-up", "redis-down"])
def test_redis_is_checked_when_configured(settings: Settings, reachable: bool) -> None:
    if reachable:
        redis_client().close()  # skips (or fails under CI) without a server
    url = REDIS_URL if reachable else "redis://127.0.0.1:9/0"
    for client in _client(settings.model_copy(update={"redis_url": url})):
        ready = client.get("/readyz")
        body = ready.json()
        assert body["checks"]["redis"]["ok"] is reachable
        assert ready.status_code == (200 if reachable else 503)
