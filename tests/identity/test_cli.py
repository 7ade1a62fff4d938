"""``vigil identity submit --now`` and ``vigil identity process`` as an operator runs them:
processing done in this process, as the job does it (``processing`` committed first, the
images read outside any transaction, then the row locked and finished)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.identity.conftest import make_account
from vigil.cases import routing
from vigil.cli import app
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.identity import service
from vigil.identity.models import IdentityVerification
from vigil.identity.types import DocumentKind, ImageSide, VerificationStatus
from vigil.kit.blobs import new_key
from vigil.simulate import documents
from vigil.simulate.documents import SyntheticDocument


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(settings.data_dir))
    return CliRunner()


def test_submit_now_processes_it_here_and_process_again_changes_nothing(
    cli: CliRunner, db: Session, tmp_path: Path, holder_passport: SyntheticDocument
) -> None:
    doc = holder_passport
    routing.ensure_default_queues(db)
    make_account(db, "acct-1", **documents.profile_for(doc))
    db.commit()
    front = tmp_path / "front.jpg"
    front.write_bytes(doc.front)
    args = ["identity", "submit", "acct-1", str(front), "--kind", "passport", "--now"]
    if doc.selfie is not None:
        selfie = tmp_path / "selfie.jpg"
        selfie.write_bytes(doc.selfie)
        args += ["--selfie", str(selfie)]
    r = cli.invoke(app, args)
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    assert shown["status"] == "approved", shown
    assert shown["processed_at"] is not None and shown["fields"]["mrz"]["valid"] is True
    vid = shown["id"]
    db.expire_all()
    before = db.get(IdentityVerification, vid)
    assert before is not None
    version = before.version
    db.rollback()

    again = cli.invoke(app, ["identity", "process", str(vid)])
    assert again.exit_code == 0, again.output
    assert again.output.strip() == f"verification {vid}: approved"
    db.expire_all()
    after = db.get(IdentityVerification, vid)
    assert after is not None and after.version == version
    assert len(db.scalars(select(Event).where(Event.type == "identity_verified")).all()) == 1


def test_process_with_images_it_cannot_open_leaves_the_verification_pending(
    cli: CliRunner,
    db: Session,
    settings: Settings,
    front_jpeg: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_account(db, "acct-1")
    v = service.submit(
        db,
        service.SYSTEM,
        account_external_id="acct-1",
        kind=DocumentKind.passport,
        issuing_country=None,
        images={ImageSide.front: front_jpeg},
        settings=settings,
    )
    db.commit()
    monkeypatch.setenv("VIGIL_BLOB_KEY", new_key())  # not the key the images were sealed with
    r = cli.invoke(app, ["identity", "process", str(v.id)])
    assert r.exit_code == 1
    assert "the images cannot be opened" in r.output
    db.expire_all()
    current = db.get(IdentityVerification, v.id)
    assert current is not None and current.status is VerificationStatus.pending
    db.rollback()  # release SQLite's write lock before the command runs
    r = cli.invoke(app, ["identity", "process", "999999"])
    assert r.exit_code == 1 and "no identity verification 999999" in r.output
