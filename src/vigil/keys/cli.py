"""``vigil keys``: which key seals what, and re-sealing after a rotation.

Rotating a key (fields: ``VIGIL_FIELD_KEYS``; blobs: ``VIGIL_BLOB_KEY``): put a new key first,
keep the old ones after it, restart, then ``vigil keys rotate`` (or let the periodic job do
it) until ``vigil keys status`` shows nothing left under the old keys; only then drop them.
"""

from __future__ import annotations

import json

import typer

from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker
from vigil.jobs import service as jobs
from vigil.keys import service
from vigil.keys.tasks import ROTATE
from vigil.kit.blobs import new_key

cli = typer.Typer(help="Encryption keys: status and rotation.", no_args_is_help=True)
CLI_ACTOR = Principal.system("cli")


@cli.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """How many sealed values and blobs each key still seals."""
    settings = Settings()
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine)() as session:
            found = service.status(session, settings)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(found.to_json(), indent=2))
        return
    typer.echo("field keys (VIGIL_FIELD_KEYS)")
    for k in found.field_keys:
        typer.echo(f"  {k.key_id}  {k.state:<8} {k.fields} value(s)")
    typer.echo("blob keys (VIGIL_BLOB_KEY)")
    for k in found.blob_keys:
        typer.echo(f"  {k.key_id}  {k.state:<8} {k.blobs} blob(s)")
    if found.unreadable_blobs:
        typer.echo(f"  {found.unreadable_blobs} blob(s) missing or unreadable")
    if found.pending:
        typer.echo(
            f"{found.pending} still sealed with an old or missing key: run `vigil keys rotate`"
        )
    else:
        typer.echo("everything is sealed with the current keys: old keys can be dropped")


@cli.command()
def rotate(
    batch: int = typer.Option(0, min=0, help="Rows per transaction (default: the setting)."),
    job: bool = typer.Option(False, "--job", help="Enqueue the job for the workers instead."),
) -> None:
    """Re-seal every value and blob not sealed with the first (current) key."""
    settings = Settings()
    engine = make_engine(settings)
    try:
        session = make_sessionmaker(engine)()
        try:
            if job:
                queued = jobs.enqueue(session, ROTATE, {"batch": batch} if batch else {})
                audit.record(session, CLI_ACTOR, "keys.rotation.enqueue", service.TARGET, None,
                             data={"job_id": queued.id})  # fmt: skip
                session.commit()
                typer.echo(f"enqueued job {queued.id}")
                return
            result = service.rotate(
                session, settings, CLI_ACTOR, end_batch=session.commit, batch=batch or None
            )
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    finally:
        engine.dispose()
    typer.echo(
        f"re-sealed {result.resealed_fields} value(s) and {result.resealed_blobs} blob(s); "
        f"{result.failed} could not be opened"
    )
    for error in result.errors:
        typer.echo(f"  {error}", err=True)
    if result.failed:
        raise typer.Exit(1)


@cli.command(name="new-key")
def new_key_() -> None:
    """Print a fresh key (32 random bytes, base64) for VIGIL_FIELD_KEYS or VIGIL_BLOB_KEY."""
    typer.echo(new_key())
