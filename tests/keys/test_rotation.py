"""Key rotation end to end: values and blobs sealed with key 1, key 2 put first, the
``keys.rotate`` job run, key 1 dropped, and everything still reads; two rotations at once
re-seal each value once in effect; ``vigil keys status`` and ``rotate`` on the command line."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.identity.conftest import make_account, results_checks, results_fields
from vigil.audit.models import AuditRecord
from vigil.auth.principal import Principal
from vigil.cli import app as cli_app
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker
from vigil.identity import service as identity
from vigil.identity.models import IdentityImage, IdentityVerification
from vigil.identity.types import DocumentKind, ImageSide
from vigil.jobs import service as jobs
from vigil.jobs.worker import Worker
from vigil.keys import service
from vigil.keys.tasks import ROTATE
from vigil.kit import sealed
from vigil.kit.blobs import key_id, new_key, parse_keys

F1, F2, B1, B2 = new_key(), new_key(), new_key(), new_key()


def _fid(key: str) -> str:
    return sealed.key_id(parse_keys(key)[0])


def _bid(key: str) -> str:
    return key_id(parse_keys(key)[0]).hex()


@dataclass
class Install:
    settings: Settings
    sessions: sessionmaker[Session]


@pytest.fixture
def install(settings: Settings) -> Iterator[callable]:  # type: ignore[valid-type]
    """``install(field_keys, blob_key)``: the same database and data folder with other keys,
    as an operator restarting Vigil with a new configuration."""
    engines = []

    def make(field_keys: str, blob_key: str) -> Install:
        s = settings.model_copy(
            update={"field_keys": SecretStr(field_keys), "blob_key": SecretStr(blob_key)}
        )
        engine = make_engine(s)
        engines.append(engine)
        return Install(s, make_sessionmaker(engine))

    yield make
    for engine in engines:
        engine.dispose()


def _seed(inst: Install, n: int) -> dict[int, bytes]:
    """``n`` verifications with results and one image each; returns image id -> bytes."""
    images: dict[int, bytes] = {}
    store = identity.blob_store(inst.settings)
    with inst.sessions() as s:
        account = make_account(s)
        for i in range(n):
            v = IdentityVerification(
                account_id=account.id, kind=DocumentKind.id_card, issuing_country="SE",
                request_sha256=f"{i:064d}", submitted_by="test",
                fields={**results_fields(), "n": i}, checks=results_checks(),
            )  # fmt: skip
            s.add(v)
            s.flush()
            data = f"image {i}".encode() * 50
            image = IdentityImage(
                verification_id=v.id, account_id=account.id, side=ImageSide.front,
                blob_key=store.put(data), media_type="image/jpeg", size=len(data),
                width=1, height=1, sha256=hashlib.sha256(data).hexdigest(),
            )  # fmt: skip
            s.add(image)
            s.flush()
            images[image.id] = data
        s.commit()
    return images


def _assert_all_read(inst: Install, n: int, images: dict[int, bytes]) -> None:
    store = identity.blob_store(inst.settings)
    with inst.sessions() as s:
        rows = s.scalars(select(IdentityVerification).order_by(IdentityVerification.id)).all()
        assert [v.fields["n"] for v in rows] == list(range(n))
        assert all(v.checks == results_checks() for v in rows)
        for image in s.scalars(select(IdentityImage)):
            assert store.get(image.blob_key) == images[image.id]


def _field_key_ids(s: Session) -> set[str]:
    tokens = s.execute(text("SELECT fields, checks FROM identity_verifications")).all()
    births = s.execute(text("SELECT date_of_birth FROM accounts")).all()
    return {sealed.key_id_of(t) for row in (*tokens, *births) for t in row if t is not None}


def test_rotation_job_end_to_end(install) -> None:  # type: ignore[no-untyped-def]
    old = install(F1, B1)
    images = _seed(old, 5)

    rotated = install(f"{F2},{F1}", f"{B2},{B1}")
    with rotated.sessions() as s:
        before = service.status(s, rotated.settings)
        assert [(k.key_id, k.state, k.fields) for k in before.field_keys] == [
            (_fid(F2), "current", 0), (_fid(F1), "old", 11),
        ]  # fmt: skip
        assert [(k.key_id, k.state, k.blobs) for k in before.blob_keys] == [
            (_bid(B2), "current", 0), (_bid(B1), "old", 5),
        ]  # fmt: skip
        assert before.pending == 16  # 10 verification values, 1 birth date, 5 blobs
        jobs.enqueue(s, ROTATE, {"batch": 2})  # batches smaller than the data: resumes
        s.commit()
    assert Worker(rotated.settings, rotated.sessions, name="keys-1").drain() == 1

    with rotated.sessions() as s:
        after = service.status(s, rotated.settings)
        assert after.pending == 0
        assert _field_key_ids(s) == {_fid(F2)}
        run = s.scalars(select(AuditRecord).where(AuditRecord.action == "keys.rotation.run")).one()
        assert run.data["resealed_fields"] == 11 and run.data["resealed_blobs"] == 5
        assert run.data["failed"] == 0

    # Key 1 dropped: everything still reads.
    _assert_all_read(install(F2, B2), 5, images)

    # Running again finds nothing to do and writes nothing (not even an audit record).
    with rotated.sessions() as s:
        jobs.enqueue(s, ROTATE, {})
        s.commit()
    Worker(rotated.settings, rotated.sessions, name="keys-2").drain()
    with rotated.sessions() as s:
        runs = s.scalars(select(AuditRecord).where(AuditRecord.action == "keys.rotation.run"))
        assert len(runs.all()) == 1


def test_a_value_under_a_dropped_key_is_reported_not_lost(install) -> None:  # type: ignore[no-untyped-def]
    old = install(F1, B1)
    images = _seed(old, 2)
    dropped = install(F2, B1)  # F1 dropped before re-sealing: its values cannot be opened
    with dropped.sessions() as s:
        found = service.status(s, dropped.settings)
        assert [(k.key_id, k.state, k.fields) for k in found.field_keys] == [
            (_fid(F2), "current", 0), (_fid(F1), "missing", 5),
        ]  # fmt: skip
        result = service.rotate(s, dropped.settings, Principal.system("test"), end_batch=s.commit)
        s.commit()
        assert result.failed == 5 and result.resealed_fields == 0
        assert "not configured" in result.errors[0]
        # Nothing was overwritten or deleted: putting F1 back makes everything readable.
        assert _field_key_ids(s) == {_fid(F1)}
    _assert_all_read(install(f"{F2},{F1}", B1), 2, images)


def test_two_rotations_at_once_reseal_each_value_once(install) -> None:  # type: ignore[no-untyped-def]
    old = install(F1, B1)
    images = _seed(old, 40)
    rotated = install(f"{F2},{F1}", f"{B2},{B1}")
    results: list[service.RotationResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(name: str) -> None:
        try:
            with rotated.sessions() as s:
                start.wait()
                results.append(
                    service.rotate(
                        s, rotated.settings, Principal.system(name), end_batch=s.commit, batch=3
                    )
                )
                s.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"keys-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Every old value was replaced exactly once across both runs (compare-and-swap).
    assert sum(r.resealed_fields for r in results) == 81
    assert sum(r.failed for r in results) == 0
    with rotated.sessions() as s:
        assert _field_key_ids(s) == {_fid(F2)}
        assert service.status(s, rotated.settings).pending == 0
    _assert_all_read(install(F2, B2), 40, images)


def test_keys_cli_status_and_rotate(
    install,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    old = install(F1, B1)
    images = _seed(old, 2)
    monkeypatch.setenv("VIGIL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VIGIL_FIELD_KEYS", f"{F2},{F1}")
    monkeypatch.setenv("VIGIL_BLOB_KEY", f"{B2},{B1}")
    runner = CliRunner()

    shown = runner.invoke(cli_app, ["keys", "status", "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.output)
    assert status["columns"]["identity_verifications.fields"] == {_fid(F1): 2}
    assert status["columns"]["accounts.date_of_birth"] == {_fid(F1): 1}
    assert {k["key_id"]: k["blobs"] for k in status["blob_keys"]} == {_bid(B2): 0, _bid(B1): 2}

    done = runner.invoke(cli_app, ["keys", "rotate", "--batch", "1"])
    assert done.exit_code == 0, done.output
    assert "re-sealed 5 value(s) and 2 blob(s); 0 could not be opened" in done.output
    text_status = runner.invoke(cli_app, ["keys", "status"])
    assert "old keys can be dropped" in text_status.output
    _assert_all_read(install(F2, B2), 2, images)
    with old.sessions() as s:
        run = s.scalars(select(AuditRecord).where(AuditRecord.action == "keys.rotation.run")).one()
        assert run.actor_id is None or run.actor_type == "system"
