"""The demo's identity documents go through the real intake, on SQLite and PostgreSQL: stored
encrypted, queued for the worker, once only, and with duplicates reusing their original's
document; the sample screening list is loaded and a namesake of a listed person is a real
screening hit."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts.models import Account
from vigil.audit.models import AuditRecord
from vigil.cases.routing import ensure_default_queues
from vigil.config import Settings
from vigil.db import transaction
from vigil.identity import pipeline
from vigil.identity.models import IdentityImage, IdentityVerification
from vigil.identity.types import DocumentKind, ImageSide, Outcome, VerificationStatus
from vigil.jobs.models import Job
from vigil.kit import clock
from vigil.screening import loaders
from vigil.screening import service as screening
from vigil.simulate import identity
from vigil.simulate.documents import Defect
from vigil.simulate.generator import make_plan
from vigil.simulate.plan import Label
from vigil.simulate.runner import run


def test_the_plan_mixes_kinds_and_defects_and_pairs_duplicates(frozen: clock.FrozenClock) -> None:
    plan = make_plan(7, 1000, 30, clock.now(), with_cases=False)
    subs = identity.plan_submissions(plan)
    assert len(subs) == identity.DEMO_DOCUMENTS
    assert identity.plan_submissions(plan) == subs  # deterministic
    # One seller is the namesake of a person on the sample list, with a clean document.
    namesakes = [s for s in subs if s.namesake is not None]
    assert len(namesakes) == 1 and namesakes[0].defect is Defect.none
    listed = namesakes[0].namesake
    assert listed is not None and namesakes[0].account.country in listed.countries
    defects = Counter(s.defect for s in subs)
    assert defects[Defect.none] >= 5 and len(defects) >= 5
    for s in subs:
        assert s.account.registered_at <= s.at < plan.now
        if s.account.country == "US" and s.kind is not DocumentKind.passport:
            assert s.kind is DocumentKind.driver_license
        if s.kind is DocumentKind.driver_license:
            assert s.account.country == "US" and s.defect is not Defect.bad_check_digit
    reused = [s for s in subs if s.reuse_of is not None]
    assert reused and all(s.defect is Defect.reused_document for s in reused)
    for s in reused:
        assert s.reuse_of is not None
        original = subs[s.reuse_of]
        assert original.account.label is s.account.label is Label.duplicate_identity
        assert original.account.group_key == s.account.group_key
        assert original.at < s.at and original.kind is s.kind


def test_documents_are_submitted_encrypted_and_queued_once(
    db: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    frozen: clock.FrozenClock,
) -> None:
    plan = make_plan(21, 300, 20, clock.now(), with_cases=False)
    run(session_factory, plan)
    subs = identity.plan_submissions(plan, count=4)
    # A duplicate pair and two first-time sellers.
    assert [s.reuse_of for s in subs].count(0) == 1
    done = identity.submit_documents(session_factory, plan, count=4, settings=settings)
    assert [s for s, _ in done] == subs

    for sub, verification_id in done:
        row = db.get(IdentityVerification, verification_id)
        assert row is not None and row.status is VerificationStatus.pending
        account = db.get(Account, row.account_id)
        assert account is not None and account.external_id == sub.account.external_id
        assert row.kind is sub.kind and row.created_at is not None
        assert clock.as_utc(row.created_at) == sub.at
        sides = {
            img.side
            for img in db.scalars(
                select(IdentityImage).where(IdentityImage.verification_id == verification_id)
            )
        }
        assert ImageSide.front in sides and ImageSide.selfie in sides
        assert (ImageSide.back in sides) == (sub.kind is not DocumentKind.passport)
    # Images are encrypted at rest: no stored file starts like a JPEG.
    blobs = [p for p in settings.blob_path.rglob("*") if p.is_file()]
    assert len(blobs) == db.scalar(select(func.count()).select_from(IdentityImage))
    assert all(not p.read_bytes().startswith(b"\xff\xd8") for p in blobs)
    jobs = db.scalars(select(Job).where(Job.kind == "identity.process")).all()
    assert sorted(j.payload["verification_id"] for j in jobs) == sorted(v for _, v in done)

    # Loading again (the same plan) replays the same submissions: nothing new is stored.
    db.rollback()  # end this session's read (SQLite: one writer at a time)
    again = identity.submit_documents(session_factory, plan, count=4, settings=settings)
    assert [v for _, v in again] == [v for _, v in done]
    assert db.scalar(select(func.count()).select_from(IdentityVerification)) == 4


def test_the_sample_list_is_loaded_and_the_namesake_is_a_real_screening_hit(
    db: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    frozen: clock.FrozenClock,
) -> None:
    listed = identity.sample_namesake()
    # Read from the shipped list: a fictional person with a full birth date.
    assert listed.entry_id == identity.NAMESAKE_ENTRY
    assert listed.legal_name == "Marisol Peñalver Quintanar"
    assert str(listed.birth_date) == "1972-02-09" and "ES" in listed.countries

    plan = make_plan(21, 300, 20, clock.now(), with_cases=False)
    with transaction(session_factory) as session:
        ensure_default_queues(session, identity.SIMULATOR)  # as the demo data does
    run(session_factory, plan)
    subs = identity.plan_submissions(plan, count=3)
    # The duplicate pair, then the namesake (a seller living in a country of the listed person).
    sub = subs[2]
    assert sub.namesake == listed and sub.reuse_of is None and sub.defect is Defect.none
    assert sub.account.country in listed.countries
    assert sub.account.legal_name != listed.legal_name  # the plan's own name until now

    done = identity.submit_documents(session_factory, plan, count=3, settings=settings)
    (verification_id,) = [v for s, v in done if s.namesake is not None]
    loaded = screening.get_list(db, loaders.SAMPLE_LIST)
    assert loaded.entries >= 12
    account = db.scalar(select(Account).where(Account.external_id == sub.account.external_id))
    assert account is not None
    assert (account.legal_name, account.date_of_birth) == (listed.legal_name, listed.birth_date)
    db.rollback()

    # The worker reads the document and screens its holder: the listed person, birth date
    # agreeing. A person reviews it in the identity queue.
    with transaction(session_factory) as session:
        verification = session.get(IdentityVerification, verification_id)
        assert verification is not None
        pipeline.process(session, settings, verification)
    row = db.get(IdentityVerification, verification_id)
    assert row is not None and row.outcome is Outcome.review
    assert "screening_hit" in row.reasons, row.reasons
    check = next(c for c in row.checks if c["name"] == "screening")
    assert check["status"] == "failed"
    assert listed.entry_id in str(check["evidence"])
    assert row.case_id is not None

    # Loading the demo's documents again loads the list once only.
    db.rollback()
    identity.submit_documents(session_factory, plan, count=3, settings=settings)
    loads = db.scalar(
        select(func.count()).select_from(AuditRecord).where(AuditRecord.action.like("screening.%"))
    )
    assert loads == 1
