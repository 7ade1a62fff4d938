"""Fixtures for identity tests: the marketplace's principal, accounts with a profile, images
made in the test (``tests.identity.imaging``) and ways to look at what was stored (rows, blob
files) so tests can prove a refused request left nothing behind."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.identity import imaging
from vigil.accounts import service as accounts_service
from vigil.accounts.models import Account
from vigil.accounts.schemas import AccountUpsert
from vigil.auth.permissions import API_KEY_SCOPES, Role
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.identity.models import IdentityHashBand, IdentityImage, IdentityVerification
from vigil.identity.types import DocumentKind
from vigil.jobs.models import Job
from vigil.simulate import documents
from vigil.simulate.documents import Person, SyntheticDocument


@pytest.fixture
def marketplace() -> Principal:
    return Principal.api_key(1, "marketplace", API_KEY_SCOPES)


@pytest.fixture
def system() -> Principal:
    return Principal.system("test")


def staff(role: Role = Role.agent, staff_id: int = 0) -> Principal:
    return Principal.staff(staff_id, f"{role.value} tester", role)


def make_account(db: Session, external_id: str = "acct-1", **fields: Any) -> Account:
    fields.setdefault("side", "freelancer")
    fields.setdefault("legal_name", "Anna Maria Eriksson")
    fields.setdefault("date_of_birth", date(1974, 8, 12))
    fields.setdefault("country", "SE")
    account, _ = accounts_service.upsert_account(
        db, Principal.system("test"), external_id, AccountUpsert(**fields)
    )
    return account


@pytest.fixture
def account(db: Session) -> Account:
    return make_account(db)


# The holder of the simulator's clean passport that several modules read (pipeline, job, CLI,
# faces): drawn once per test session (per xdist worker), not once per module or test.
HOLDER = Person("Eriksson", "Anna Maria", date(1985, 3, 4), "F", "USA", "US", face=0)


@pytest.fixture(scope="session")
def holder_passport() -> SyntheticDocument:
    """``documents.render(passport, HOLDER, rng=Random(1))``: front and selfie as JPEG."""
    return documents.render(DocumentKind.passport, HOLDER, rng=random.Random(1))


@pytest.fixture(scope="session")
def front_jpeg() -> bytes:
    return imaging.jpeg(imaging.document_like(seed=1))


@pytest.fixture(scope="session")
def back_png() -> bytes:
    return imaging.png(imaging.document_like(seed=2))


@pytest.fixture(scope="session")
def selfie_jpeg() -> bytes:
    return imaging.jpeg(imaging.document_like(600, 800, seed=3))


def blob_files(settings: Settings) -> list[Path]:
    root = settings.blob_path
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file())


def stored_counts(db: Session) -> dict[str, int]:
    return {
        "verifications": db.scalar(select(func.count()).select_from(IdentityVerification)) or 0,
        "images": db.scalar(select(func.count()).select_from(IdentityImage)) or 0,
        "bands": db.scalar(select(func.count()).select_from(IdentityHashBand)) or 0,
        "jobs": db.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "identity.process")
        )
        or 0,
    }


NOTHING = {"verifications": 0, "images": 0, "bands": 0, "jobs": 0}


# --- a processed verification's results, with personal data in every place it can be --------

PERSONAL = {
    "surname": "ERIKSSON",
    "given_names": "ANNA MARIA",
    "document_number": "D23145890",
    "birth_date": "1974-08-12",
}
MRZ_LINES = [
    "I<SWED231458907<<<<<<<<<<<<<<<",
    "7408122F3001018SWE<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]
# What must not appear anywhere in what a role without pii:reveal is shown.
SECRETS = ("ERIKSSON", "Eriksson", "D23145890", "1974-08-12", "740812", "I<SWE", "ANNA MARIA")


def results_fields() -> dict[str, Any]:
    document = {
        "source": "mrz", "document_kind": "id_card", "issuing_country": "SWE",
        **PERSONAL, "expiry_date": "2030-01-01", "issue_date": None, "sex": "F",
        "nationality": "SWE",
    }  # fmt: skip
    return {
        "document": document,
        "mrz": {
            **document,
            "format": "TD1",
            "lines": list(MRZ_LINES),
            "valid": True,
            "check_digits": {"document_number": True, "birth_date": True},
            "repairs": [],
            "errors": ["impossible birth date: 740812"],
            "confirmed_by_second_read": True,
        },
        "faces": {"distance": 0.31, "selfie_faces": 1, "document_faces": 1},
    }


def results_checks() -> list[dict[str, Any]]:
    return [
        {
            "name": "profile_name", "status": "passed", "reason": "ok", "review_only": False,
            "evidence": {"profile": "Anna Maria Eriksson", "document": "ANNA MARIA ERIKSSON",
                         "score": 100.0},
        },
        {
            "name": "screening", "status": "warning", "reason": "screening_possible_hit",
            "review_only": False,
            "evidence": {"hits": [{"name": "Anna Eriksson", "matched_name": "ANNA ERIKSSON",
                                   "score": 88.0, "birth_date": "1974-08-12"}]},
        },
    ]  # fmt: skip


def give_results(v: IdentityVerification, *, case_id: int | None = None) -> None:
    """What the pipeline stores for a document sent to review (fields, checks, reasons)."""
    v.fields = results_fields()
    v.checks = results_checks()
    v.reasons = ["screening_possible_hit", "image_blurry"]
    v.user_reasons = ["image_blurry"]
    v.face_distance = 0.31
    v.case_id = case_id
