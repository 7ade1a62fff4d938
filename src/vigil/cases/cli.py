"""``vigil queues``: list queues with their figures, add one, lay down the default set."""

from __future__ import annotations

import typer

from vigil.auth.permissions import Tier
from vigil.auth.principal import Principal
from vigil.cases import queues, routing
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.kit.errors import VigilError

cli = typer.Typer(help="Case queues, their SLAs and routing.", no_args_is_help=True)

ACTOR = Principal.system("cli")


def _factory():  # type: ignore[no-untyped-def]
    engine = make_engine(Settings())
    return engine, make_sessionmaker(engine)


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m"


@cli.command("list")
def list_queues() -> None:
    """Every queue with its open, assigned, on-hold and breached counts."""
    engine, factory = _factory()
    try:
        with transaction(factory) as session:
            rows, _cursor = queues.list_queues(session, ACTOR, limit=10_000)
            stats = queues.queue_stats(session, rows)
        if not stats:
            typer.echo("no queues yet (run `vigil queues bootstrap`)")
            return
        header = f"{'id':>4}  {'slug':<14}{'tier':<11}{'sla':>6}  {'open':>5}{'asgn':>6}"
        header += f"{'hold':>6}{'brch':>6}  {'oldest':>8}  state"
        typer.echo(header)
        for s in stats:
            q = s.queue
            flag = "" if q.active else " (inactive)"
            typer.echo(
                f"{q.id:>4}  {q.slug:<14}{q.tier:<11}{q.sla_minutes // 60:>5}h  {s.open:>5}"
                f"{s.assigned:>6}{s.on_hold:>6}{s.breached:>6}  "
                f"{_age(s.oldest_open_age_seconds):>8}  {s.sla_state}{flag}"
            )
    finally:
        engine.dispose()


@cli.command("create")
def create_queue(
    slug: str = typer.Option(..., help="Short lower-case name, e.g. 'fraud'."),
    name: str = typer.Option(..., help="Display name."),
    tier: Tier = typer.Option(Tier.tier1, help="Who works it."),
    sla_minutes: int = typer.Option(24 * 60, help="Time to close, in minutes."),
    description: str = typer.Option("", help="What goes here."),
) -> None:
    """Add a queue (routing rules are set with PUT /v1/queues/routing-rules)."""
    engine, factory = _factory()
    try:
        with transaction(factory) as session:
            queue = queues.create_queue(
                session,
                ACTOR,
                slug=slug,
                name=name,
                tier=tier,
                sla_minutes=sla_minutes,
                description=description,
            )
            typer.echo(f"queue {queue.id} '{queue.slug}' created ({queue.tier}, {sla_minutes} min)")
    except VigilError as exc:
        typer.echo(f"error: {exc.message}" + (f" ({exc.field})" if exc.field else ""), err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@cli.command("bootstrap")
def bootstrap() -> None:
    """Create the default queues and routing rules that are missing. Safe to run again."""
    engine, factory = _factory()
    try:
        with transaction(factory) as session:
            made = routing.ensure_default_queues(session)
            typer.echo(f"{len(made)} default queues in place: " + ", ".join(q.slug for q in made))
    finally:
        engine.dispose()
