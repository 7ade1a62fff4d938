"""Two ``vigil serve`` and two ``vigil worker`` processes on loopback, sharing one fresh
PostgreSQL database and the real Redis (docs/deployment.md): what one process does, the
others see.

(a) velocity: one account's events sent alternately to both APIs are counted together, and a
    rule on the count fires on the event that reaches it, whichever process decides it;
(b) rate limits: one API key gets exactly ``VIGIL_API_RATE_LIMIT`` requests through, in
    total, across both APIs (the limiter lives in Redis);
(c) case assignment: agents pulling "next case" through both APIs at once never get the same
    case, and every case goes to someone;
(d) jobs: webhook deliveries queued once are run once, by one of the two workers, and both
    workers take part.

One test (one fleet start, ~30-60 s on a busy machine), so xdist never starts two fleets on
the same Redis database. Under ``CI=true`` it must run: a missing PostgreSQL or Redis fails.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from tests.conftest import IN_CI, PG_ADMIN_URL
from tests.factories import DEFAULT_PASSWORD, make_staff
from tests.fleet.cluster import Fleet, fleet
from tests.servers import WebhookReceiver, slow
from vigil.auth import service as auth_service
from vigil.auth.models import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import Case, CaseStatus, CaseType
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.detection.models import Event
from vigil.detection.rules import service as rules
from vigil.integrations import service as integrations
from vigil.integrations.models import DeliveryAttempt, WebhookDelivery
from vigil.jobs.models import Job, JobStatus
from vigil.migrate import upgrade

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fleet")]

# A Redis database of this test's own (bench/events_http.py uses 15, bench/load.py 13):
# velocity keys are named by Vigil's account ids, which a fresh database starts again at 1.
REDIS_URL = os.environ.get("VIGIL_TEST_FLEET_REDIS_URL", "redis://127.0.0.1:6379/14")
SYSTEM = Principal.system("fleet-test")
RATE_LIMIT = 120
EVENTS = 24  # logins of one account, alternating between the APIs
BURST_AT = 15  # the rule fires from the 15th login in 24 hours on
CASES = 60
AGENTS = 6
DELIVERIES = 30


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _pg_reason() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "no server here"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}"
    return None


def _redis_reason() -> str | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}"
    finally:
        client.close()
    return None


def _flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


@pytest.fixture
def fleet_database() -> Iterator[str]:
    _require(_pg_reason())
    _require(_redis_reason())
    name = f"vigil_fleet_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    _flush_redis()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        _flush_redis()


def _seed(session: Session, receiver: WebhookReceiver) -> dict[str, Any]:
    """Queues, a velocity rule, two API keys, agents with console sessions, open cases and an
    integration; all committed before any process starts."""
    ensure_default_queues(session, SYSTEM)
    rules.create_rule(
        session,
        SYSTEM,
        {
            "name": "fleet_login_burst",
            "description": "Many logins of one account in a day",
            "expression": f"features.logins_24h >= {BURST_AT}",
            "score": 10,
            "outcome": "allow",
            "policy_code": None,
            "queue": None,
            "event_types": ["login"],
            "tags": [],
        },
        state="active",
    )
    events_key = auth_service.create_api_key(
        session, SYSTEM, name="fleet events", scopes=["events:write", "events:read"]
    )
    limited_key = auth_service.create_api_key(
        session, SYSTEM, name="fleet limited", scopes=["events:read"]
    )
    types = [t for t in CaseType if t is not CaseType.appeal]  # appeals go to specialists
    for i in range(CASES):
        cases.create_case(
            session,
            SYSTEM,
            cases.NewCase(types[i % len(types)], f"fleet case {i}", priority=1 + i % 4),
        )
    agents = []
    for _ in range(AGENTS):
        user = make_staff(session, role=Role.agent)
        issued = auth_service.login(session, user.email, DEFAULT_PASSWORD, ttl=timedelta(hours=1))
        agents.append((user.id, issued.token, issued.csrf_token))
    integrations.create_integration(
        session, SYSTEM, name="fleet receiver", url=receiver.url, event_types=["action.applied"]
    )
    return {"events": events_key.secret, "limited": limited_key.secret, "agents": agents}


def test_two_apis_and_two_workers_agree(fleet_database: str, tmp_path: Path) -> None:
    settings = Settings(database_url=fleet_database, data_dir=tmp_path / "data")
    engine = make_engine(settings)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    receiver = WebhookReceiver().start()
    try:
        with transaction(factory) as session:
            seeded = _seed(session, receiver)
        extra = {
            "VIGIL_API_RATE_LIMIT": str(RATE_LIMIT),
            "VIGIL_RATE_LIMIT_PREFIX": f"vigil-fleet-{uuid.uuid4().hex[:8]}:rl:",
            "VIGIL_WEBHOOK_TIMEOUT_SECONDS": "5",
        }
        with fleet(fleet_database, REDIS_URL, tmp_path, extra_env=extra) as running:
            try:
                _check_health(running)
                _check_velocity(running, factory, seeded["events"])
                _check_rate_limit(running, seeded["limited"])
                _check_case_assignment(running, factory, seeded["agents"])
                _check_jobs_run_once(running, factory, receiver)
            except BaseException:
                print(running.logs())
                raise
    finally:
        receiver.stop()
        engine.dispose()


def _check_health(running: Fleet) -> None:
    for url in running.api_urls:
        assert httpx.get(url + "/livez").json() == {"status": "ok"}
        ready = httpx.get(url + "/readyz").json()
        assert ready["status"] == "ready"
        assert set(ready["checks"]) == {"database", "schema", "redis", "blobs"}


# --- (a) velocity ------------------------------------------------------------------------------


def _check_velocity(running: Fleet, factory: Any, key: str) -> None:
    account = f"fleet-{uuid.uuid4().hex[:10]}"
    headers = {"Authorization": f"Bearer {key}"}
    apis = running.api_urls
    signup = {
        "event_id": f"{account}-signup",
        "type": "signup",
        "account_id": account,
        "data": {"side": "freelancer"},
    }
    assert httpx.post(apis[0] + "/v1/events", json=signup, headers=headers).status_code == 200
    for n in range(1, EVENTS + 1):
        body = {"event_id": f"{account}-login-{n}", "type": "login", "account_id": account}
        answer = httpx.post(apis[n % 2] + "/v1/events", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        fired = [h["name"] for h in answer.json()["hits"]]
        # The process deciding event n saw the n-1 logins sent to either process before it.
        assert ("fleet_login_burst" in fired) == (n >= BURST_AT), (n, fired)
    with factory() as session:
        rows = session.execute(
            select(Event.event_id, Event.features)
            .where(Event.account_external_id == account, Event.type == "login")
            .order_by(Event.id)
        ).all()
    assert [r.features["logins_24h"] for r in rows] == list(range(1, EVENTS + 1))
    assert [r.features["account_events_24h"] for r in rows] == list(range(2, EVENTS + 2))


# --- (b) rate limits ---------------------------------------------------------------------------


def _check_rate_limit(running: Fleet, key: str) -> None:
    # A sliding minute: starting just before a minute ends would let a few requests of the
    # next one through; start at the top of the next minute instead.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    headers = {"Authorization": f"Bearer {key}"}
    apis = running.api_urls
    total = RATE_LIMIT + 60
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    jobs = iter(range(total))

    def send() -> None:
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    i = next(jobs, None)
                if i is None:
                    return
                answer = client.get(apis[i % 2] + "/v1/events?limit=1", headers=headers)
                if answer.status_code == 429:
                    assert answer.json()["code"] == "rate_limited"
                    assert int(answer.headers["retry-after"]) >= 1
                with lock:
                    statuses[answer.status_code] += 1

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert statuses == {200: RATE_LIMIT, 429: total - RATE_LIMIT}
    # Both processes refused some: the count is shared, not per process.
    refused = _sum_samples(running.api_urls, "vigil_rate_limited_requests_total", per_url=True)
    assert all(n > 0 for n in refused), refused


# --- (c) case assignment -----------------------------------------------------------------------


def _check_case_assignment(running: Fleet, factory: Any, agents: list[Any]) -> None:
    apis = running.api_urls
    got: list[tuple[int, int]] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(agents))

    def work(index: int, staff_id: int, token: str, csrf: str) -> None:
        headers = {"X-CSRF-Token": csrf, "Cookie": f"vigil_session={token}"}
        with httpx.Client(timeout=30) as client:
            start.wait()
            for n in range(CASES + 1):
                answer = client.post(apis[(index + n) % 2] + "/v1/cases/next", headers=headers)
                if answer.status_code == 204:
                    return
                if answer.status_code != 200:
                    with lock:
                        errors.append(f"{answer.status_code} {answer.text[:200]}")
                    return
                case = answer.json()
                with lock:
                    got.append((case["id"], case["assignee_id"]))
                    if case["assignee_id"] != staff_id:
                        errors.append(f"case {case['id']} went to {case['assignee_id']}")

    threads = [threading.Thread(target=work, args=(i, *a)) for i, a in enumerate(agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    per_case = Counter(case_id for case_id, _ in got)
    assert len(per_case) == CASES and set(per_case.values()) == {1}  # none twice, none lost
    with factory() as session:
        rows = session.execute(select(Case.id, Case.status, Case.assignee_id)).all()
    assert len(rows) == CASES
    by_case = dict(got)
    for case_id, status, assignee_id in rows:
        assert status == CaseStatus.assigned
        assert assignee_id == by_case[case_id]


# --- (d) jobs ------------------------------------------------------------------------------------


def _check_jobs_run_once(running: Fleet, factory: Any, receiver: WebhookReceiver) -> None:
    # Each delivery takes a moment at the receiver, so both workers have work in hand at once.
    receiver.script(*[slow(0.1)] * DELIVERIES)
    with transaction(factory) as session:
        for i in range(DELIVERIES):
            integrations.emit(
                session,
                "action.applied",
                {"n": i},
                idempotency_key=f"fleet-{i}",
                subject_type="fleet",
                subject_id=i,
            )
    receiver.wait_for(DELIVERIES, timeout=60)
    deadline = time.monotonic() + 30
    while True:
        with factory() as session:
            jobs = session.execute(
                select(Job.status, Job.attempts, Job.locked_by).where(
                    Job.kind == integrations.DELIVER_JOB
                )
            ).all()
            attempts = session.scalar(select(func.count()).select_from(DeliveryAttempt))
            delivered = session.scalars(select(WebhookDelivery.attempts)).all()
        if all(j.status == JobStatus.done for j in jobs) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(jobs) == DELIVERIES
    assert {(j.status, j.attempts) for j in jobs} == {(JobStatus.done, 1)}
    assert attempts == DELIVERIES and set(delivered) == {1}
    keys = Counter(r.headers["idempotency-key"] for r in receiver.requests)
    assert len(keys) == DELIVERIES and set(keys.values()) == {1}
    assert len({j.locked_by for j in jobs}) == 2  # both workers took part
    done = _sum_samples(
        running.worker_metrics_urls,
        "vigil_jobs_total",
        labels={"kind": integrations.DELIVER_JOB, "result": "done"},
        per_url=True,
    )
    assert sum(done) == DELIVERIES and all(n > 0 for n in done)


def _sum_samples(
    urls: list[str],
    name: str,
    *,
    labels: dict[str, str] | None = None,
    per_url: bool = False,
) -> list[float]:
    """The sum of ``name``'s samples matching ``labels``, scraped from each process (an API,
    or a worker's metrics port, which answers /ops/metrics too; loopback: no token needed)."""
    out = []
    for url in urls:
        answer = httpx.get(url + "/ops/metrics", timeout=10)
        assert answer.status_code == 200, answer.text
        total = 0.0
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in (labels or {}).items()
                ):
                    total += sample.value
        out.append(total)
    return out if per_url else [sum(out)]
