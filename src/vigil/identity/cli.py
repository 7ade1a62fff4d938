"""``vigil identity``: verifications from the command line, and the blob key's upkeep.

- ``submit ACCOUNT FRONT [--back F] [--selfie F] --kind K``: the same intake as the API;
  ``--now`` also processes it in this process instead of waiting for a worker.
- ``show ID`` and ``list [--status S]``: what the API returns, as JSON.
- ``process ID``: read, check and decide a pending verification now (an operator's retry).
- ``new-key``: a fresh AES-256 key for ``VIGIL_BLOB_KEY``.
- ``reseal``: after putting a new key first in ``VIGIL_BLOB_KEY`` (old keys after it), re-seal
  every stored image with it, so the old keys can then be dropped.

Commands act as the system principal (``cli``); each runs in its own transaction, and
processing holds none while it reads the images (see ``_process``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.identity import service
from vigil.identity.models import IdentityImage
from vigil.identity.types import DocumentKind, ImageSide, VerificationStatus
from vigil.kit.blobs import BlobError, new_key
from vigil.kit.errors import VigilError

cli = typer.Typer(help="Identity verification.", no_args_is_help=True)

ACTOR = Principal.system("cli")


@contextmanager
def _unit_of_work(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    except VigilError as exc:
        where = f" ({exc.field})" if exc.field else ""
        typer.echo(f"error{where}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _json(session: Session, verification: object) -> str:
    out = service.describe(session, verification)  # type: ignore[arg-type]
    return json.dumps(out.model_dump(mode="json"), indent=2, ensure_ascii=False)


@cli.command()
def submit(
    account: str = typer.Argument(..., help="the marketplace's id for the account"),
    front: Path = typer.Argument(..., exists=True, dir_okay=False),
    kind: DocumentKind = typer.Option(..., help="what the document is"),
    back: Path | None = typer.Option(None, exists=True, dir_okay=False),
    selfie: Path | None = typer.Option(None, exists=True, dir_okay=False),
    country: str | None = typer.Option(None, help="issuing country, ISO alpha-2 or ICAO"),
    now: bool = typer.Option(False, "--now", help="process it here instead of by a worker"),
) -> None:
    """Submit a document for an account, as the API does."""
    settings = Settings()
    images = {ImageSide.front: front.read_bytes()}
    if back is not None:
        images[ImageSide.back] = back.read_bytes()
    if selfie is not None:
        images[ImageSide.selfie] = selfie.read_bytes()
    with _unit_of_work(settings) as session:
        verification = service.submit(
            session,
            ACTOR,
            account_external_id=account,
            kind=kind,
            issuing_country=country,
            images=images,
            settings=settings,
        )
        vid = verification.id
    if now:
        _process(settings, vid)
    with _unit_of_work(settings) as session:
        typer.echo(_json(session, service.get(session, ACTOR, vid)))


def _process(settings: Settings, verification_id: int) -> None:
    """As the job does it: ``processing`` committed, the images read with no transaction
    open (OCR and faces take seconds; on SQLite an open transaction would stall every other
    writer), then the row reloaded, locked and finished in a transaction of its own. A
    verification another process finished meanwhile is left as it is; one whose analysis
    raised stays ``processing``, and ``process`` (or the worker's job) can run it again."""
    from vigil.identity import pipeline  # loads OCR and face models: only when asked

    with _unit_of_work(settings) as session:
        verification = service._load(session, verification_id, lock=True)
        if not pipeline.start(session, verification):
            return  # already processed
        kind, country = verification.kind, verification.issuing_country
        try:
            raw = pipeline.load_images(session, settings, verification_id)
        except BlobError as exc:
            typer.echo(f"error: the images cannot be opened: {exc}", err=True)
            raise typer.Exit(1) from None
    analysis = pipeline.analyze(settings, kind, country, raw)
    with _unit_of_work(settings) as session:
        verification = service._load(session, verification_id, lock=True)
        pipeline.finish(session, settings, verification, analysis)


@cli.command()
def process(verification_id: int) -> None:
    """Read, check and decide a pending verification now, in this process."""
    settings = Settings()
    _process(settings, verification_id)
    with _unit_of_work(settings) as session:
        v = service.get(session, ACTOR, verification_id)
        typer.echo(f"verification {v.id}: {v.status.value} {' '.join(v.reasons)}".rstrip())


@cli.command()
def show(verification_id: int) -> None:
    """One verification, as JSON (checks, fields read, outcome)."""
    settings = Settings()
    with _unit_of_work(settings) as session:
        typer.echo(_json(session, service.get(session, ACTOR, verification_id)))


@cli.command(name="list")
def list_(
    status: VerificationStatus = typer.Option(VerificationStatus.review),
    limit: int = typer.Option(50, min=1, max=500),
) -> None:
    """Verifications in a status (default: waiting for a person), oldest first."""
    settings = Settings()
    with _unit_of_work(settings) as session:
        rows, _ = service.list_reviews(session, ACTOR, status=status, limit=limit)
        for v in rows:
            typer.echo(f"{v.id}\t{v.kind.value}\t{v.status.value}\t{','.join(v.reasons)}")


@cli.command(name="new-key")
def new_key_() -> None:
    """Print a fresh blob key (32 random bytes, base64) for VIGIL_BLOB_KEY."""
    typer.echo(new_key())


@cli.command()
def reseal(batch: int = typer.Option(500, min=1)) -> None:
    """Re-seal every stored image with the first key of VIGIL_BLOB_KEY."""
    settings = Settings()
    store = service.blob_store(settings)
    changed = failed = after = 0
    while True:
        with _unit_of_work(settings) as session:
            rows = session.execute(
                select(IdentityImage.id, IdentityImage.blob_key)
                .where(IdentityImage.id > after)
                .order_by(IdentityImage.id)
                .limit(batch)
            ).all()
        if not rows:
            break
        for image_id, key in rows:
            try:
                changed += store.reseal(key)
            except (BlobError, FileNotFoundError) as exc:
                failed += 1
                typer.echo(f"image {image_id}: {exc}", err=True)
        after = rows[-1][0]
    typer.echo(f"re-sealed {changed} image(s); {failed} could not be read")
    if failed:
        raise typer.Exit(1)
