"""The ``identity.process`` job run by a real worker: a verification never stays in
``processing`` when the job gives up, and nothing of a failed attempt is kept.

Finishing is made to fail for real: the verification goes to review (the profile does not
match the document) in a database where no queue takes Tier 1 cases, so opening its case
raises ``Conflict`` (``no_queue``), as it would on an installation whose queues were never
bootstrapped.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.identity.conftest import make_account
from tests.servers import WebhookReceiver
from vigil.accounts.models import Identifier, IdentifierKind
from vigil.app import load_task_modules
from vigil.cases.models import Case, Queue
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.identity import service
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind, ImageSide, VerificationStatus
from vigil.integrations import service as integrations
from vigil.jobs.models import Job, JobStatus
from vigil.jobs.worker import Worker
from vigil.kit import clock
from vigil.simulate.documents import SyntheticDocument


@pytest.fixture(scope="module", autouse=True)
def _handlers() -> None:
    load_task_modules()  # the job handlers, as the app registers them


@pytest.fixture
def passport(holder_passport: SyntheticDocument) -> SyntheticDocument:
    return holder_passport  # the clean passport, drawn once per session (conftest)


def _count(db: Session, model: type) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_finish_that_fails_is_retried_then_fails_the_verification_on_the_last_attempt(
    db: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    passport: SyntheticDocument,
    webhook_receiver: WebhookReceiver,
) -> None:
    assert _count(db, Queue) == 0  # nothing takes the review case finishing must open
    make_account(db, "acct-1", legal_name="Joana Pereira", date_of_birth=date(1990, 1, 2))
    integrations.create_integration(db, service.SYSTEM, name="market", url=webhook_receiver.url)
    images = {ImageSide.front: passport.front}
    if passport.selfie is not None:
        images[ImageSide.selfie] = passport.selfie
    v = service.submit(
        db,
        service.SYSTEM,
        account_external_id="acct-1",
        kind=DocumentKind.passport,
        issuing_country=None,
        images=images,
        settings=settings,
    )
    job = db.scalars(select(Job).where(Job.kind == service.PROCESS_JOB)).one()
    job.max_attempts = 2
    db.commit()
    fast = settings.model_copy(update={"webhook_backoff_base_seconds": 0.05})

    # Attempt 1 of 2: finishing raises; the job is retried later, and nothing of the failed
    # finish was kept (no outcome, case, identifier, event or webhook).
    Worker(fast, session_factory, name="identity-tasks-1").drain()
    db.expire_all()
    job = db.get(Job, job.id)
    current = db.get(IdentityVerification, v.id)
    assert job is not None and current is not None
    assert job.status == JobStatus.queued and job.attempts == 1
    assert "no active queue" in (job.last_error or "")
    assert current.status is VerificationStatus.processing
    assert (current.checks, current.outcome, current.case_id) == ([], None, None)
    assert _count(db, Case) == 0 and _count(db, Event) == 0
    assert (
        db.scalars(select(Identifier).where(Identifier.kind == IdentifierKind.document)).all() == []
    )
    assert webhook_receiver.requests == []

    # Attempt 2 of 2, the last: the verification fails and the marketplace is told.
    job.run_at = clock.now()
    db.commit()
    Worker(fast, session_factory, name="identity-tasks-2").drain()
    db.expire_all()
    job = db.get(Job, job.id)
    current = db.get(IdentityVerification, v.id)
    assert job is not None and current is not None
    assert job.status == JobStatus.done and job.attempts == 2
    assert current.status is VerificationStatus.failed
    assert "Conflict" in (current.error or "") and "no active queue" in (current.error or "")
    assert current.processed_at is not None
    assert (current.checks, current.outcome, current.case_id) == ([], None, None)
    assert _count(db, Case) == 0 and _count(db, Event) == 0
    (request,) = webhook_receiver.wait_for(1)
    body = json.loads(request.body)
    assert body["data"]["verification_id"] == v.id and body["data"]["status"] == "failed"
