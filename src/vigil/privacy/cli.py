"""``vigil retention``, ``vigil legal-holds``, ``vigil erasure`` and ``vigil export-person``."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path

import typer

from vigil.auth.cli import unit_of_work
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.privacy import export, service
from vigil.privacy.models import ErasureStatus
from vigil.privacy.retention import run_retention
from vigil.privacy.schemas import ErasureRequestOut, LegalHoldOut

ACTOR = Principal.system("cli")

retention_app = typer.Typer(
    help="Retention of personal data (docs/privacy.md).", no_args_is_help=True
)
holds_app = typer.Typer(
    help="Legal holds: keep data out of retention and erasure.", no_args_is_help=True
)
erasure_app = typer.Typer(help="Erasure requests for a person's data.", no_args_is_help=True)


def _print(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


@retention_app.command("run")
def retention_run(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run every retention class once (what the periodic job does), holds respected."""
    settings = Settings()
    with unit_of_work() as session:
        report = run_retention(session, settings, dry_run=dry_run, actor=ACTOR)
    if as_json:
        _print(report.to_json())
        return
    verb = "would remove or anonymize" if dry_run else "removed or anonymized"
    typer.echo(f"{'class':<20} {'action':<10} {'after':>10} {'count':>8}")
    for c in report.classes:
        after = (
            "off" if c.days <= 0 else (f"{c.days}h" if c.name == "orphan_blobs" else f"{c.days}d")
        )
        more = " (more next run)" if c.capped else ""
        typer.echo(f"{c.name:<20} {c.action:<10} {after:>10} {c.count:>8}{more}")
    typer.echo(f"{verb}: {sum(report.counts().values())}")


@holds_app.command("list")
def holds_list(all_: bool = typer.Option(False, "--all", help="Lifted holds too.")) -> None:
    """Holds in force (or all), newest first, as JSON."""
    with unit_of_work() as session:
        rows, _ = service.list_holds(session, active=None if all_ else True, limit=1000)
        _print([LegalHoldOut.of(h).model_dump(mode="json") for h in rows])


@holds_app.command("place")
def holds_place(
    reason: str = typer.Option(..., help="Why (the matter, the request)."),
    account: str | None = typer.Option(None, help="The account's external id."),
    case: int | None = typer.Option(None, help="The case id."),
    review_at: datetime | None = typer.Option(None, help="When to review it (UTC)."),
) -> None:
    """Place a hold on an account or a case."""
    from datetime import UTC

    when = review_at.replace(tzinfo=UTC) if review_at and review_at.tzinfo is None else review_at
    with unit_of_work() as session:
        hold = service.place_hold(
            session, ACTOR, account_external_id=account, case_id=case, reason=reason, review_at=when
        )
        _print(LegalHoldOut.of(hold).model_dump(mode="json"))


@holds_app.command("lift")
def holds_lift(hold_id: int, reason: str = typer.Option(..., help="Why it may go.")) -> None:
    """Lift a hold."""
    with unit_of_work() as session:
        hold = service.lift_hold(session, ACTOR, hold_id, reason=reason)
        _print(LegalHoldOut.of(hold).model_dump(mode="json"))


@erasure_app.command("list")
def erasure_list(
    status: ErasureStatus | None = typer.Option(None, help="received, completed or refused."),
) -> None:
    with unit_of_work() as session:
        rows, _ = service.list_erasure_requests(session, status=status, limit=1000)
        _print([ErasureRequestOut.of(r).model_dump(mode="json") for r in rows])


@erasure_app.command("receive")
def erasure_receive(
    account: str = typer.Argument(..., help="The account's external id."),
    reference: str | None = typer.Option(None, help="Your reference (a ticket)."),
) -> None:
    """Record an erasure request (the open one is returned if there is one)."""
    with unit_of_work() as session:
        request, _ = service.receive_erasure_request(
            session, ACTOR, account_external_id=account, reference=reference
        )
        _print(ErasureRequestOut.of(request).model_dump(mode="json"))


@erasure_app.command("complete")
def erasure_complete(request_id: int) -> None:
    """Carry out a received request; prints what was erased and what was kept, and why."""
    settings = Settings()
    with unit_of_work() as session:
        done = service.complete_erasure_request(session, ACTOR, request_id, settings=settings)
        _print(ErasureRequestOut.of(done).model_dump(mode="json"))


@erasure_app.command("refuse")
def erasure_refuse(request_id: int, reason: str = typer.Option(..., help="Why.")) -> None:
    with unit_of_work() as session:
        refused = service.refuse_erasure_request(session, ACTOR, request_id, reason=reason)
        _print(ErasureRequestOut.of(refused).model_dump(mode="json"))


def export_person(
    external_id: str = typer.Argument(..., help="The account's external id."),
    images: bool = typer.Option(
        False, "--images", help="A zip with the JSON and the decrypted document images."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write here (default: standard output; a zip needs a file)."
    ),
    include_legal_matters: bool = typer.Option(
        False,
        "--include-legal-matters",
        help="Also export legal-tier cases and authority orders (legal's decision to release "
        "them; audited). Left out by default and always through the API.",
    ),
) -> None:
    """Everything Vigil holds about a person, for an access request (docs/privacy.md)."""
    if images and output is None:
        typer.echo("error (--output): a zip with images needs --output FILE", err=True)
        raise typer.Exit(2)
    # The file is created 0600 from the start (the zip holds decrypted documents), before
    # anything is exported; an existing file is refused rather than overwritten.
    fd: int | None = None
    if output is not None:
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            typer.echo(f"error (--output): {output} exists; choose a new file", err=True)
            raise typer.Exit(2) from None
    settings = Settings()
    try:
        with unit_of_work() as session:
            document = export.export_person(
                session,
                ACTOR,
                external_id,
                with_images=images,
                include_legal_matters=include_legal_matters,
            )
            data = (
                export.to_zip(session, document, settings)
                if images
                else (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
            )
    except BaseException:
        if fd is not None and output is not None:
            os.close(fd)
            output.unlink(missing_ok=True)
        raise
    if fd is None:
        sys.stdout.write(data.decode())
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    typer.echo(f"wrote {output} ({len(data)} bytes)", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
    app.add_typer(holds_app, name="legal-holds")
    app.add_typer(erasure_app, name="erasure")
    app.command("export-person")(export_person)
