"""The ``identity.process`` job: one verification read, checked and decided.

The job takes ``{"verification_id"}``. It moves the verification to ``processing`` and
commits, reads and decrypts its images, then ends the transaction (``JobContext
.end_transaction``) before the CPU work (OCR, faces: seconds), so no lock is held meanwhile
(on SQLite, every other writer would wait). It then reloads and locks the row, re-checks that
it is still ``processing`` and finishes in one transaction (checks, outcome, case, webhook).

The pipeline (OCR models, dlib, OpenCV) is imported when the first job runs, not when the
app imports this module: API processes that never process a document never load them.

Safe to run twice: a verification that is no longer ``pending``/``processing`` is left alone.
When the analysis or the finishing fails on the last attempt, the verification becomes
``failed`` (and the marketplace is told) instead of staying ``processing`` forever: a failed
``finish`` is rolled back whole first (nothing of the outcome, case, identifier or event is
kept), then the failure is recorded in a transaction of its own.
"""

from __future__ import annotations

import logging
from typing import Any

from vigil.audit import service as audit
from vigil.identity import service
from vigil.identity.models import IdentityVerification
from vigil.identity.types import VerificationStatus
from vigil.jobs.models import Job
from vigil.jobs.registry import JobContext, PermanentFailure, handler
from vigil.kit import clock
from vigil.kit.blobs import BlobError
from vigil.kit.errors import NotFound

log = logging.getLogger("vigil.identity")


def _locked(ctx: JobContext, verification_id: int) -> IdentityVerification | None:
    """The verification, reloaded and locked; None when it was deleted (with its account)."""
    try:
        return service._load(ctx.session, verification_id, lock=True)
    except NotFound:
        return None


def _last_attempt(ctx: JobContext) -> bool:
    job = ctx.session.get(Job, ctx.job_id)
    return job is None or ctx.attempt >= job.max_attempts


def _fail(ctx: JobContext, verification_id: int, error: str) -> None:
    verification = _locked(ctx, verification_id)
    if verification is None or verification.status is not VerificationStatus.processing:
        return
    verification.status = VerificationStatus.failed
    verification.error = error[:2000]
    verification.processed_at = clock.now()
    ctx.session.flush()
    audit.record(
        ctx.session, service.SYSTEM, "identity.verification.fail", service.TARGET,
        verification.id, data={"error": error[:300]},
    )  # fmt: skip
    service.notify(ctx.session, verification)


@handler(service.PROCESS_JOB)
def process(ctx: JobContext, payload: dict[str, Any]) -> None:
    verification_id = payload.get("verification_id")
    if not isinstance(verification_id, int):
        raise PermanentFailure("payload needs an integer verification_id")
    from vigil.identity import pipeline

    verification = _locked(ctx, verification_id)
    if verification is None or not pipeline.start(ctx.session, verification):
        return  # deleted, or already processed by an earlier run
    kind, country = verification.kind, verification.issuing_country
    try:
        raw = pipeline.load_images(ctx.session, ctx.settings, verification_id)
    except BlobError as exc:
        # The images cannot be opened (a key that is not configured): retrying cannot help.
        _fail(ctx, verification_id, f"images unavailable: {exc}")
        return
    ctx.end_transaction()  # ``processing`` is committed; the CPU work holds no lock

    try:
        analysis = pipeline.analyze(ctx.settings, kind, country, raw)
    except Exception as exc:
        if not _last_attempt(ctx):
            raise
        log.exception("identity verification %s could not be analysed", verification_id)
        _fail(ctx, verification_id, f"{exc.__class__.__name__}: {exc}")
        return

    try:
        verification = _locked(ctx, verification_id)
        if verification is None:
            return
        pipeline.finish(ctx.session, ctx.settings, verification, analysis)
        ctx.session.flush()
    except Exception as exc:
        # Nothing of a failed finish is kept (a database error also leaves the transaction
        # unusable until it is rolled back).
        ctx.session.rollback()
        if not _last_attempt(ctx):
            raise
        log.exception("identity verification %s could not be finished", verification_id)
        _fail(ctx, verification_id, f"{exc.__class__.__name__}: {exc}")
