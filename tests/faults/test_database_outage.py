"""PostgreSQL stopped for a few seconds under a steady stream of events: ``vigil serve``
answers 503 ``database_unavailable`` meanwhile (never a 500), recovers by itself when the
database is back, and every event it accepted (2xx) is in the database afterwards.

The test runs its own PostgreSQL server (see ``pgserver.py``): the machine's shared one is
used by other tests and must not be stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.conftest import IN_CI
from tests.factories import make_api_key
from tests.faults.pgserver import PrivateServer, unavailable_reason
from tests.faults.procs import Processes, wait_until
from tests.servers import free_port
from vigil.app import create_app
from vigil.auth.service import new_api_key_secret
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker
from vigil.detection.models import Event
from vigil.enforcement.tasks import EXPIRE_DUE
from vigil.jobs.models import Job
from vigil.jobs.service import enqueue
from vigil.migrate import upgrade

pytestmark = [pytest.mark.xdist_group("processes"), pytest.mark.usefixtures("one_at_a_time")]

SECRET_KEY = "test-secret-key-not-for-production"
DOWN_SECONDS = 4.0


@pytest.fixture
def private_pg() -> Iterator[PrivateServer]:
    reason = unavailable_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    server = PrivateServer().init()
    try:
        engine = make_engine(Settings(database_url=server.url))
        upgrade(engine)
        engine.dispose()
        yield server
    finally:
        server.destroy()


@dataclass
class Sent:
    event_id: str
    status: int  # 0: no answer at all
    code: str | None


class Sender(threading.Thread):
    """Sends one event every ~20 ms until stopped, recording each answer."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.sent: list[Sent] = []
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        with httpx.Client(base_url=self.base, timeout=15) as client:
            while not self.halt.is_set():
                n += 1
                event_id = f"outage-{n}"
                self.post(client, event_id)
                time.sleep(0.02)

    def post(self, client: httpx.Client, event_id: str) -> Sent:
        body = {"event_id": event_id, "type": "message_sent", "account_id": "acct-1",
                "data": {"text": "hello"}}  # fmt: skip
        try:
            response = client.post("/v1/events", json=body, headers=self.headers)
            code = response.json().get("code") if response.status_code >= 400 else None
            sent = Sent(event_id, response.status_code, code)
        except httpx.HTTPError:
            sent = Sent(event_id, 0, None)
        with self.lock:
            self.sent.append(sent)
        return sent

    def answers(self) -> list[Sent]:
        with self.lock:
            return list(self.sent)


def _status(base: str, path: str) -> int:
    try:
        return httpx.get(base + path, timeout=10).status_code
    except httpx.HTTPError:
        return 0


def _job_status(engine: Engine, job_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(select(Job.status).where(Job.id == job_id)))


def _readiness(base: str) -> tuple[int, list[str]]:
    """``/readyz``'s status and the checks it lists as failed."""
    try:
        response = httpx.get(base + "/readyz", timeout=10)
    except httpx.HTTPError:
        return 0, []
    return response.status_code, list(response.json().get("failed", []))


def test_the_service_rides_out_a_database_outage_and_loses_no_accepted_event(
    private_pg: PrivateServer, tmp_path: Path
) -> None:
    settings = Settings(database_url=private_pg.url)
    engine = make_engine(settings)
    with make_sessionmaker(engine).begin() as session:
        _key, token = make_api_key(session, scopes=["events:write", "events:read"])

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = Processes(
        {
            "VIGIL_DATABASE_URL": private_pg.url,
            "VIGIL_SECRET_KEY": SECRET_KEY,
            "VIGIL_DATA_DIR": str(tmp_path / "data"),
            "VIGIL_SERVE_WORKER": "false",
            "VIGIL_WORKER_POLL_SECONDS": "0.5",
        },
        tmp_path,
    )
    sender = Sender(base, token)
    try:
        procs.start("serve", "--host", "127.0.0.1", "--port", str(port), name="serve")
        worker = procs.start("worker", "--no-scheduler", name="worker")
        wait_until(lambda: _status(base, "/v1/health") == 200, 180, "vigil serve to start")
        wait_until(lambda: " started" in (tmp_path / "worker.log").read_text(), 180, "the worker")
        sender.start()
        wait_until(lambda: sum(s.status == 200 for s in sender.answers()) >= 10, 30, "events")

        down_at = len(sender.answers())
        private_pg.stop("immediate")
        time.sleep(1.0)
        health_down = _status(base, "/v1/health")
        ready_down = _readiness(base)
        time.sleep(DOWN_SECONDS - 1.0)
        private_pg.start()
        up_at = len(sender.answers())

        wait_until(
            lambda: any(s.status == 200 for s in sender.answers()[up_at:]),
            30,
            "the service to accept events again",
        )
        time.sleep(1.0)
        sender.halt.set()
        sender.join(30)
        health_up = _status(base, "/v1/health")
        ready_up = _readiness(base)
        answers = sender.answers()

        # While the database was down: 503 database_unavailable, never a 500 or no answer.
        assert {s.status for s in answers} <= {200, 503}, sorted({s.status for s in answers})
        refused = [s for s in answers if s.status == 503]
        assert refused, "no request was sent while the database was down"
        assert {s.code for s in refused} == {"database_unavailable"}
        # Refused only from the stop on, and not for long once it was back.
        assert all(down_at <= answers.index(s) <= up_at + 200 for s in refused)
        assert (health_down, health_up) == (503, 200)
        assert ready_down[0] == 503 and "database" in ready_down[1]
        assert ready_up == (200, [])

        # The worker rode it out too: still running, said so without tracebacks, and runs
        # jobs again.
        with make_sessionmaker(engine).begin() as session:
            job_id = enqueue(session, EXPIRE_DUE).id
        wait_until(lambda: _job_status(engine, job_id) == "done", 120, "the worker to run a job")
        assert worker.poll() is None
        worker_log = (tmp_path / "worker.log").read_text()
        assert "database unavailable (OperationalError)" in worker_log
        assert "Traceback" not in worker_log

        # Every accepted event is stored; a refused one can simply be sent again.
        with httpx.Client(base_url=base, timeout=15) as client:
            for s in refused:
                assert sender.post(client, s.event_id).status == 200
        with engine.connect() as conn:
            stored = set(conn.scalars(select(Event.event_id)))
        accepted = {s.event_id for s in sender.answers() if s.status == 200}
        assert accepted == {s.event_id for s in answers}
        assert accepted <= stored
        assert "unhandled error" not in procs.logs()
    except AssertionError:
        print(procs.logs())
        print(private_pg.log.read_text(errors="replace")[-3000:])
        raise
    finally:
        sender.halt.set()
        procs.stop_all()
        engine.dispose()


def test_an_unreachable_database_is_a_503_with_a_stable_code_not_a_500(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone",
        data_dir=tmp_path / "data",
        serve_worker=False,
    )
    with TestClient(create_app(settings, run_worker=False), raise_server_exceptions=False) as c:
        health = c.get("/v1/health")
        event = c.post(
            "/v1/events",
            json={"event_id": "e-1", "type": "message_sent", "account_id": "acct-1"},
            headers={"Authorization": f"Bearer {new_api_key_secret()}"},
        )
    for response in (health, event):
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "database_unavailable"
        assert response.headers["retry-after"] == "1"
        assert response.json()["request_id"] == response.headers["x-request-id"]
