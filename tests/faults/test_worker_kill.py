"""``vigil worker`` processes killed with SIGKILL in the middle of jobs, again and again, and
replaced: every job is done once in effect, none is lost, none stays stuck. On PostgreSQL two
``vigil worker`` processes share the queue; on SQLite (the embedded mode) one ``vigil serve``
runs the worker in-process and is killed and restarted.

The jobs are real ones with effects outside the job table: enforcement webhooks to a real
receiver (slow, so kills land mid-request) and emails to a real SMTP server. A killed job's
lease expires and another worker takes it again; what the killed attempt wrote was never
committed. An action the receiver got but Vigil never recorded is sent again under the same
idempotency key, and the receiver's dedup keeps it applied once.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.communications.conftest import SYSTEM, make_account
from tests.faults.procs import Processes, wait_until
from tests.integrations.conftest import add_integration
from tests.servers import SmtpServer, WebhookReceiver, free_port, slow
from vigil.communications import service as communications
from vigil.communications.channels import SEND_EMAIL
from vigil.communications.models import Message, MessageStatus
from vigil.config import Settings
from vigil.integrations import service as integrations
from vigil.integrations import tasks
from vigil.integrations.models import DeliveryAttempt, DeliveryStatus, WebhookDelivery
from vigil.jobs.models import Job, JobStatus
from vigil.jobs.worker import LEASE_LOST

pytestmark = [pytest.mark.xdist_group("processes"), pytest.mark.usefixtures("one_at_a_time")]

ACTIONS = 30
EMAILS = 15
KILLS = {"postgresql": 5, "sqlite": 2}
LEASE_SECONDS = 2


@pytest.fixture
def procs(settings: Settings, smtp_server: SmtpServer, tmp_path: Path) -> Iterator[Processes]:
    env = {
        "VIGIL_DATABASE_URL": settings.database_url,
        "VIGIL_SECRET_KEY": settings.secret_key.get_secret_value(),
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "VIGIL_WORKER_POLL_SECONDS": "0.1",
        "VIGIL_JOB_BACKOFF_BASE_SECONDS": "0.2",
        "VIGIL_SCHEDULER_ENABLED": "false",
        "VIGIL_SMTP_HOST": smtp_server.host,
        "VIGIL_SMTP_PORT": str(smtp_server.port),
        # Shorter than the lease: an attempt in hand never outlives its lease.
        "VIGIL_WEBHOOK_TIMEOUT_SECONDS": "1",
        "VIGIL_WEBHOOK_BACKOFF_BASE_SECONDS": "0.05",
        "VIGIL_WEBHOOK_BACKOFF_MAX_SECONDS": "0.2",
    }
    processes = Processes(env, tmp_path)
    yield processes
    processes.stop_all()


def _seed(db: Session, factory: sessionmaker[Session], receiver: WebhookReceiver) -> None:
    add_integration(factory, receiver.url)
    for i in range(1, ACTIONS + 1):
        integrations.emit(
            db,
            "action.applied",
            {"action_id": i, "action": "suspend"},
            idempotency_key=f"action:{i}:applied",
            subject_type="decision_action",
            subject_id=i,
        )
    for i in range(EMAILS):
        account = make_account(db, email=f"user{i}@example.com")
        communications.send(
            db,
            SYSTEM,
            account_id=account.id,
            case_id=None,
            decision_id=None,
            locale="en",
            subject=f"About your account ({i})",
            body="We had a look at your account.",
            channels=["email"],
        )
    db.commit()


def _running_on(factory: sessionmaker[Session], pid: int) -> bool:
    with factory() as session:
        held = session.scalar(
            select(func.count()).where(
                Job.status == JobStatus.running, Job.locked_by.like(f"%:{pid}:%")
            )
        )
    return bool(held)


def _unfinished(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(
            session.scalar(
                select(func.count()).where(Job.status.in_([JobStatus.queued, JobStatus.running]))
            )
            or 0
        )


def test_workers_killed_mid_job_again_and_again_leave_every_job_done_once_in_effect(
    db: Session,
    session_factory: sessionmaker[Session],
    webhook_receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    procs: Processes,
    backend: str,
) -> None:
    if backend == "postgresql":
        count, kills_wanted = 2, KILLS[backend]

        def start(name: str) -> subprocess.Popen[bytes]:
            return procs.start("worker", "--no-scheduler", name=name)
    else:
        count, kills_wanted = 1, KILLS[backend]

        def start(name: str) -> subprocess.Popen[bytes]:
            port = str(free_port())
            return procs.start(
                "serve", "--host", "127.0.0.1", "--port", port, "--worker", name=name
            )

    # Every request takes 0.5 s, answered after the receiver applied it: a kill in that
    # window is the worst case (applied by the marketplace, unknown to Vigil).
    webhook_receiver.script(*[slow(0.5)] * (ACTIONS * 3))
    _seed(db, session_factory, webhook_receiver)
    rng = random.Random(9)

    workers = [start(f"worker-{n}") for n in range(count)]
    holding: list[subprocess.Popen[bytes]] = []
    names = {w.pid: f"worker-{n}" for n, w in enumerate(workers)}

    def ready(worker: subprocess.Popen[bytes]) -> bool:
        log = procs.log_dir / f"{names[worker.pid]}.log"
        return log.exists() and " started" in log.read_text(errors="replace")

    def someone_holds_a_job() -> bool:
        holding.clear()  # never a worker seen holding a job on an earlier round (maybe killed)
        if not _unfinished(session_factory):
            return True
        # With two workers, kill one only while the other is up, so work goes on while
        # the replacement starts (which takes seconds on a loaded machine).
        if count > 1 and sum(ready(w) for w in workers) < count:
            return False
        holding[:] = [w for w in workers if _running_on(session_factory, w.pid)]
        return bool(holding)

    kills = 0
    try:
        while kills < kills_wanted and _unfinished(session_factory):
            # Kill a worker that holds a job right now: mid-job, by construction.
            wait_until(someone_holds_a_job, 180, "a worker to take a job")
            if not holding:
                break
            victim = holding[rng.randrange(len(holding))]
            assert victim.poll() is None, f"a worker died by itself ({victim.returncode})"
            time.sleep(rng.uniform(0.0, 0.3))
            procs.kill(victim)
            kills += 1
            workers.remove(victim)
            replacement = start(f"worker-{kills + count}")
            names[replacement.pid] = f"worker-{kills + count}"
            workers.append(replacement)
            time.sleep(1.0)
        wait_until(lambda: _unfinished(session_factory) == 0, 180, "every job to finish")
    except AssertionError:
        print(procs.logs())
        raise

    with session_factory() as session:
        jobs = list(session.scalars(select(Job)))
        deliveries = list(session.scalars(select(WebhookDelivery)))
        messages = list(session.scalars(select(Message)))
        attempt_rows = int(session.scalar(select(func.count()).select_from(DeliveryAttempt)) or 0)

    # None lost, none stuck, none dead.
    assert {j.status for j in jobs} == {JobStatus.done}, [(j.id, j.last_error) for j in jobs]
    reclaimed = [j for j in jobs if j.attempts > 1]
    # Up to ``kills_wanted`` kills while work is left (a fast machine may finish the work
    # first); never fewer than two.
    assert kills >= 2, f"the jobs ran out after {kills} kill(s)"
    assert reclaimed, "no kill landed mid-job"
    assert all(j.last_error == LEASE_LOST for j in reclaimed)

    # Webhooks: each action delivered, and applied by the receiver exactly once.
    assert len(deliveries) == ACTIONS
    assert {d.status for d in deliveries} == {DeliveryStatus.delivered}
    assert attempt_rows == sum(d.attempts for d in deliveries)  # the log matches the counters
    keys = {f"action:{i}:applied" for i in range(1, ACTIONS + 1)}
    assert webhook_receiver.effects == dict.fromkeys(keys, 1)
    # A request was repeated only when the job making it was run again after a kill, and
    # then under the same key and attempt number.
    rerun = {(j.kind, tuple(sorted(j.payload.items()))) for j in reclaimed}
    repeats = Counter(
        (r.headers["idempotency-key"], r.headers["vigil-delivery"], r.headers["vigil-attempt"])
        for r in webhook_receiver.requests
    )
    for (_key, delivery_id, attempt), n in repeats.items():
        if n > 1:
            payload = (("attempt", int(attempt)), ("delivery_id", int(delivery_id)))
            assert (tasks.DELIVER, payload) in rerun, (delivery_id, attempt, n)

    # Emails: each message sent; a second copy only when its job was killed between the
    # SMTP conversation and the commit, with the same Message-ID (SMTP has no idempotency
    # key; the stable Message-ID lets mail clients drop the copy).
    assert len(messages) == EMAILS
    assert {m.status for m in messages} == {MessageStatus.sent}
    copies = smtp_server.by_message_id()
    assert len(copies) == EMAILS
    for message_id, n in copies.items():
        if n > 1:
            number = int(message_id.split(".")[2])
            assert (SEND_EMAIL, (("message_id", number),)) in rerun, (message_id, n)
