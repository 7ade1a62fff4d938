"""The jobs API: list, inspect and retry dead jobs; only for those allowed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.jobs.conftest import reload
from vigil.audit.models import AuditRecord
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.jobs.models import JobStatus
from vigil.jobs.service import enqueue
from vigil.kit import clock
from vigil.kit.clock import FrozenClock

PASSWORD = "a long enough password"


def _login_as(
    client: TestClient, factory: sessionmaker[Session], settings: Settings, role: Role
) -> int:
    email = f"{role.value}@example.test"
    with factory.begin() as session:
        user = auth_service.create_staff(
            session, Principal.system(), email=email, name=role.value, role=role, password=PASSWORD
        )
        issued = auth_service.login(session, email, PASSWORD, ttl=timedelta(hours=1))
        staff_id = user.id
    client.cookies.set(settings.session_cookie, issued.token)
    client.headers["X-CSRF-Token"] = issued.csrf_token
    return staff_id


@pytest.fixture
def admin(
    client: TestClient, session_factory: sessionmaker[Session], settings: Settings
) -> Iterator[int]:
    yield _login_as(client, session_factory, settings, Role.admin)


@pytest.fixture
def jobs(session_factory: sessionmaker[Session], frozen: FrozenClock) -> dict[str, int]:
    """One job in each state that matters, oldest first."""
    with session_factory.begin() as session:
        done = enqueue(session, "cases.sla_sweep")
        done.status = JobStatus.done
        dead = enqueue(session, "enforcement.webhook", {"action_id": 7}, max_attempts=3)
        dead.status = JobStatus.dead
        dead.attempts = 3
        dead.last_error = "ConnectionError: marketplace did not answer"
        queued = enqueue(session, "cases.sla_sweep")
        return {"done": done.id, "dead": dead.id, "queued": queued.id}


def test_list_is_newest_first_filtered_and_paginated(
    client: TestClient, admin: int, jobs: dict[str, int]
) -> None:
    body = client.get("/v1/jobs").json()
    assert [j["id"] for j in body["items"]] == [jobs["queued"], jobs["dead"], jobs["done"]]
    assert body["next_cursor"] is None

    dead = client.get("/v1/jobs", params={"status": "dead"}).json()["items"]
    assert [j["id"] for j in dead] == [jobs["dead"]]
    assert dead[0]["last_error"] == "ConnectionError: marketplace did not answer"
    assert dead[0]["payload"] == {"action_id": 7}

    sweeps = client.get("/v1/jobs", params={"kind": "cases.sla_sweep"}).json()["items"]
    assert [j["id"] for j in sweeps] == [jobs["queued"], jobs["done"]]

    first = client.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in first["items"]] == [jobs["queued"], jobs["dead"]]
    rest = client.get("/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [j["id"] for j in rest["items"]] == [jobs["done"]]
    assert rest["next_cursor"] is None


def test_list_refuses_bad_filters(client: TestClient, admin: int, jobs: dict[str, int]) -> None:
    bad_status = client.get("/v1/jobs", params={"status": "exploded"})
    assert bad_status.status_code == 422
    assert bad_status.json()["field"] == "status"
    bad_cursor = client.get("/v1/jobs", params={"cursor": "not-a-cursor"})
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["code"] == "invalid_cursor"
    assert bad_cursor.json()["field"] == "cursor"


def test_get_one_job(client: TestClient, admin: int, jobs: dict[str, int]) -> None:
    response = client.get(f"/v1/jobs/{jobs['dead']}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "dead"
    assert body["attempts"] == 3
    assert body["max_attempts"] == 3
    missing = client.get("/v1/jobs/999999")
    assert missing.status_code == 404
    assert missing.json()["code"] == "job_not_found"


def test_retrying_a_dead_job_queues_it_again_and_is_audited(
    client: TestClient,
    admin: int,
    jobs: dict[str, int],
    session_factory: sessionmaker[Session],
    frozen: FrozenClock,
) -> None:
    response = client.post(
        f"/v1/jobs/{jobs['dead']}/retry", json={"reason": "marketplace is back up"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "queued"
    assert body["attempts"] == 0

    job = reload(session_factory, jobs["dead"])
    assert job.status == JobStatus.queued
    assert job.run_at == clock.now()
    with session_factory() as session:
        record = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "jobs.job.retry")
        ).one()
    assert record.actor_type == "staff"
    assert record.actor_id == str(admin)
    assert record.target_type == "job"
    assert record.target_id == str(jobs["dead"])
    assert record.reason == "marketplace is back up"
    assert record.data["previous_attempts"] == 3

    again = client.post(f"/v1/jobs/{jobs['dead']}/retry")
    assert again.status_code == 409
    assert again.json()["code"] == "job_not_dead"


@pytest.mark.parametrize("state", ["queued", "done"])
def test_only_dead_jobs_can_be_retried(
    client: TestClient, admin: int, jobs: dict[str, int], state: str
) -> None:
    response = client.post(f"/v1/jobs/{jobs[state]}/retry")
    assert response.status_code == 409
    assert response.json()["code"] == "job_not_dead"


def test_retry_refuses_unknown_fields_and_jobs(
    client: TestClient, admin: int, jobs: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    response = client.post(f"/v1/jobs/{jobs['dead']}/retry", json={"force": True})
    assert response.status_code == 422
    assert response.json()["field"] == "force"
    assert reload(session_factory, jobs["dead"]).status == JobStatus.dead
    assert client.post("/v1/jobs/999999/retry").status_code == 404


def test_staff_without_the_jobs_permissions_are_refused(
    client: TestClient,
    session_factory: sessionmaker[Session],
    settings: Settings,
    jobs: dict[str, int],
) -> None:
    assert client.get("/v1/jobs").status_code == 401
    _login_as(client, session_factory, settings, Role.agent)
    for response in (
        client.get("/v1/jobs"),
        client.get(f"/v1/jobs/{jobs['dead']}"),
        client.get("/v1/jobs/stats"),
        client.post(f"/v1/jobs/{jobs['dead']}/retry"),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert reload(session_factory, jobs["dead"]).status == JobStatus.dead


def test_stats_count_jobs_by_state_and_kind(
    client: TestClient, admin: int, jobs: dict[str, int]
) -> None:
    body = client.get("/v1/jobs/stats").json()
    assert body["by_status"] == {"queued": 1, "running": 0, "done": 1, "dead": 1}
    assert {(k["kind"], k["status"], k["count"]) for k in body["by_kind"]} == {
        ("cases.sla_sweep", "done", 1),
        ("cases.sla_sweep", "queued", 1),
        ("enforcement.webhook", "dead", 1),
    }
    assert body["oldest_due_at"] is not None
    assert body["expired_leases"] == 0
