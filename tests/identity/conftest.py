"""Fixtures for identity tests: the marketplace's principal, accounts with a profile, images
made in the test (``tests.identity.imaging``) and ways to look at what was stored (rows, blob
files) so tests can prove a refused request left nothing behind."""

from __future__ import annotations

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
from vigil.jobs.models import Job


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
