"""``vigil integrations``: register webhook endpoints, read the delivery log, redeliver."""

from __future__ import annotations

import typer

from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.integrations import service
from vigil.integrations.models import DeliveryStatus
from vigil.kit.errors import VigilError

cli = typer.Typer(help="Webhook integrations and their delivery log.", no_args_is_help=True)

ACTOR = Principal.system("cli")


def _factory():  # type: ignore[no-untyped-def]
    engine = make_engine(Settings())
    return engine, make_sessionmaker(engine)


def _fail(exc: VigilError) -> typer.Exit:
    typer.echo(f"error: {exc.message}" + (f" ({exc.field})" if exc.field else ""), err=True)
    return typer.Exit(1)


@cli.command("add")
def add(
    name: str = typer.Option(..., help="Unique name, e.g. 'marketplace'."),
    url: str = typer.Option(..., help="Where webhooks are POSTed (http or https)."),
    events: str = typer.Option(
        "", help="Comma-separated event types to receive; empty means all of them."
    ),
) -> None:
    """Register an endpoint and print its signing secret (shown this once)."""
    types = [e.strip() for e in events.split(",") if e.strip()]
    engine, factory = _factory()
    try:
        with transaction(factory) as session:
            issued = service.create_integration(
                session, ACTOR, name=name, url=url, event_types=types
            )
            integration = issued.integration
            typer.echo(
                f"integration {integration.id} '{integration.name}' -> {integration.url} "
                f"({', '.join(integration.event_types) or 'all events'})"
            )
            typer.echo(f"signing secret (shown once, store it now): {issued.secret}")
    except VigilError as exc:
        raise _fail(exc) from None
    finally:
        engine.dispose()


@cli.command("list")
def list_command() -> None:
    """Every integration, one a line."""
    engine, factory = _factory()
    try:
        with transaction(factory) as session:
            rows, _cursor = service.list_integrations(session, limit=10_000)
            if not rows:
                typer.echo("no integrations (add one with `vigil integrations add`)")
            for i in rows:
                state = "active" if i.active else "inactive"
                events = ",".join(i.event_types) or "all"
                typer.echo(f"{i.id:>4}  {i.name:<24} {state:<9} {events:<40} {i.url}")
    finally:
        engine.dispose()


@cli.command("deliveries")
def deliveries(
    status: DeliveryStatus | None = typer.Option(None, "--status", help="Only this status."),
    integration: int | None = typer.Option(None, "--integration", help="Integration id."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
) -> None:
    """The newest deliveries, one a line, with their last result."""
    engine, factory = _factory()
    try:
        with transaction(factory) as session:
            rows, _cursor = service.list_deliveries(
                session, ACTOR, status=status, integration_id=integration, limit=limit
            )
            if not rows:
                typer.echo("no deliveries")
            for d in rows:
                last = d.last_error or (str(d.last_status_code) if d.last_status_code else "-")
                typer.echo(
                    f"{d.id:>8}  {d.status.value:<9} {d.event_type:<16} "
                    f"{d.subject_type}:{d.subject_id:<8} attempts {d.attempts:<3} "
                    f"key {d.idempotency_key}  last: {last[:120]}"
                )
    finally:
        engine.dispose()


@cli.command("redeliver")
def redeliver(
    delivery_id: int = typer.Argument(..., help="The failed delivery's id."),
    reason: str | None = typer.Option(None, "--reason", help="Kept in the audit log."),
) -> None:
    """Send a failed delivery again (same body and idempotency key, fresh attempts)."""
    engine, factory = _factory()
    try:
        with transaction(factory) as session:
            delivery = service.redeliver(session, ACTOR, delivery_id, reason=reason)
            typer.echo(f"delivery {delivery.id} ({delivery.event_type}) queued again")
    except VigilError as exc:
        raise _fail(exc) from None
    finally:
        engine.dispose()
