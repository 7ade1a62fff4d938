"""``vigil retention``, ``vigil legal-holds``, ``vigil erasure`` and ``vigil export-person``."""

from __future__ import annotations

import json
import stat
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.privacy.conftest import IMAGE_BYTES, SECRET_EMAIL, Person
from vigil.cases.models import Case, Tier
from vigil.cli import app
from vigil.config import Settings
from vigil.kit import clock
from vigil.kit.clock import FrozenClock


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(settings.data_dir))
    return CliRunner()


def test_retention_dry_run_then_run(
    cli: CliRunner, db: Session, frozen: FrozenClock, person_factory: Any
) -> None:
    person: Person = person_factory(at=clock.now() - timedelta(days=100))
    db.commit()
    r = cli.invoke(app, ["retention", "run", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "identity_images" in r.output and "would remove" in r.output
    assert db.execute(text("SELECT count(*) FROM identity_images")).scalar() == 2
    db.rollback()
    r = cli.invoke(app, ["retention", "run", "--json"])
    assert r.exit_code == 0, r.output
    counts = {c["name"]: c["count"] for c in json.loads(r.output)["classes"]}
    assert counts["identity_images"] == 2
    db.rollback()
    assert (
        db.execute(
            text("SELECT count(*) FROM identity_images WHERE account_id = :a"),
            {"a": person.account_id},
        ).scalar()
        == 0
    )


def test_holds_erasure_and_export_round_trip(
    cli: CliRunner, db: Session, tmp_path: Path, person_factory: Any
) -> None:
    person: Person = person_factory()
    db.commit()
    r = cli.invoke(
        app, ["legal-holds", "place", "--account", person.external_id, "--reason", "claim"]
    )
    assert r.exit_code == 0, r.output
    hold_id = json.loads(r.output)["id"]
    r = cli.invoke(app, ["legal-holds", "place", "--reason", "claim"])
    assert r.exit_code == 1 and "account_external_id" in r.output
    out = tmp_path / "export.zip"
    r = cli.invoke(app, ["export-person", person.external_id, "--images", "--output", str(out)])
    assert r.exit_code == 0, r.output
    with zipfile.ZipFile(out) as archive:
        document = json.loads(archive.read("export.json"))
        images = [n for n in archive.namelist() if n.startswith("images/")]
        assert len(images) == 2
        assert archive.read(images[0]).startswith(IMAGE_BYTES)
    assert document["sections"]["account"]["email"] == SECRET_EMAIL
    r = cli.invoke(app, ["export-person", person.external_id])
    assert r.exit_code == 0 and json.loads(r.output)["account_external_id"] == person.external_id
    r = cli.invoke(app, ["export-person", "nobody"])
    assert r.exit_code == 1 and "no account" in r.output

    r = cli.invoke(app, ["erasure", "receive", person.external_id])
    assert r.exit_code == 0, r.output
    request_id = json.loads(r.output)["id"]
    r = cli.invoke(app, ["erasure", "complete", str(request_id)])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)["result"]
    assert result["legal_holds"] == [hold_id]  # held: nothing erased, everything listed
    r = cli.invoke(app, ["legal-holds", "lift", str(hold_id), "--reason", "settled"])
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["erasure", "receive", person.external_id])
    r = cli.invoke(app, ["erasure", "complete", str(json.loads(r.output)["id"])])
    assert r.exit_code == 0, r.output
    erased = {e["data"]: e["count"] for e in json.loads(r.output)["result"]["erased"]}
    assert erased["profile"] == 1 and erased["identity_images"] == 2
    r = cli.invoke(app, ["erasure", "list", "--status", "completed"])
    assert r.exit_code == 0 and len(json.loads(r.output)) == 2


def test_export_file_is_private_from_the_start_and_legal_matters_need_the_flag(
    cli: CliRunner, db: Session, tmp_path: Path, person_factory: Any
) -> None:
    person: Person = person_factory()
    case = db.get(Case, person.case_id)
    assert case is not None
    case.tier = Tier.legal
    db.commit()
    out = tmp_path / "export.json"
    r = cli.invoke(app, ["export-person", person.external_id, "--output", str(out)])
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text())
    assert [c["id"] for c in document["sections"]["cases"]] == [person.other_case_id]
    assert "authority_orders" not in document["sections"]
    # An existing file is refused (not overwritten), before anything is exported.
    audits = "SELECT count(*) FROM audit_records WHERE action = 'privacy.access_request.export'"
    before = db.execute(text(audits)).scalar()
    db.rollback()
    r = cli.invoke(app, ["export-person", person.external_id, "--output", str(out)])
    assert r.exit_code == 2 and "exists" in r.output
    assert db.execute(text(audits)).scalar() == before
    db.rollback()
    # A failed export leaves no file behind.
    missing = tmp_path / "nobody.json"
    r = cli.invoke(app, ["export-person", "nobody", "--output", str(missing)])
    assert r.exit_code == 1 and not missing.exists()
    # Legal releases the legal-tier matters explicitly (audited as such).
    released = tmp_path / "released.json"
    r = cli.invoke(
        app,
        ["export-person", person.external_id, "--include-legal-matters", "-o", str(released)],
    )
    assert r.exit_code == 0, r.output
    sections = json.loads(released.read_text())["sections"]
    assert len(sections["cases"]) == 2 and sections["authority_orders"] == []
