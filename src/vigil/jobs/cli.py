"""``vigil worker`` and ``vigil jobs``: run the queue, look into it, retry dead letters."""

from __future__ import annotations

import json

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vigil.config import Settings
from vigil.jobs.models import JobStatus

jobs_app = typer.Typer(help="Inspect the job table and retry dead jobs.", no_args_is_help=True)


def worker(
    once: bool = typer.Option(False, "--once", help="Run the jobs that are due now, then exit."),
    no_scheduler: bool = typer.Option(
        False,
        "--no-scheduler",
        help="Do not take part in scheduling periodic tasks (run jobs only).",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve this worker's Prometheus metrics on this port (GET /metrics).",
    ),
) -> None:
    """Run background jobs until SIGTERM/SIGINT (the job in hand finishes first).

    Run as many as you like on PostgreSQL; on SQLite one is enough.
    """
    from vigil.jobs.worker import main

    raise typer.Exit(main(once=once, scheduler=not no_scheduler, metrics_port=metrics_port))


def _session() -> tuple[Engine, sessionmaker[Session]]:
    from vigil.db import make_engine, make_sessionmaker

    engine = make_engine(Settings())
    return engine, make_sessionmaker(engine)


@jobs_app.command("list")
def list_command(
    status: JobStatus | None = typer.Option(None, "--status", help="Only jobs in this state."),
    kind: str | None = typer.Option(None, "--kind", help="Only jobs of this kind."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
) -> None:
    """The newest jobs, one a line."""
    from vigil.db import transaction
    from vigil.jobs import service

    engine, factory = _session()
    try:
        with transaction(factory) as session:
            page = service.list_jobs(session, status=status, kind=kind, limit=limit)
            if not page.items:
                typer.echo("no jobs")
            for job in page.items:
                error = (job.last_error or "").strip().splitlines()
                typer.echo(
                    f"{job.id:>8}  {job.status.value:<7}  {job.kind:<32}  "
                    f"attempts {job.attempts}/{job.max_attempts}  "
                    f"run_at {job.run_at.isoformat(timespec='seconds')}"
                    + (f"  error: {error[-1][:120]}" if error else "")
                )
    finally:
        engine.dispose()


@jobs_app.command("retry")
def retry_command(
    job_id: int = typer.Argument(..., help="The dead job's id."),
    reason: str | None = typer.Option(None, "--reason", help="Kept in the audit log."),
) -> None:
    """Send a dead job back to the queue, due now, with fresh attempts."""
    from vigil.auth.principal import Principal
    from vigil.db import transaction
    from vigil.jobs import service
    from vigil.kit.errors import VigilError

    engine, factory = _session()
    try:
        with transaction(factory) as session:
            job = service.retry(session, Principal.system("cli"), job_id, reason=reason)
            typer.echo(f"job {job.id} ({job.kind}) queued again")
    except VigilError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@jobs_app.command("stats")
def stats_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """How many jobs are in each state, and how far behind the workers are."""
    from vigil.db import transaction
    from vigil.jobs import service
    from vigil.kit import clock

    engine, factory = _session()
    try:
        with transaction(factory) as session:
            stats = service.stats(session)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "by_status": {s.value: n for s, n in stats.by_status.items()},
                    "by_kind": [
                        {"kind": k.kind, "status": k.status.value, "count": k.count}
                        for k in stats.by_kind
                    ],
                    "oldest_due_at": stats.oldest_due_at.isoformat()
                    if stats.oldest_due_at
                    else None,
                    "expired_leases": stats.expired_leases,
                }
            )
        )
        return
    typer.echo("  ".join(f"{s.value} {n}" for s, n in stats.by_status.items()))
    if stats.oldest_due_at is not None:
        lag = (clock.now() - stats.oldest_due_at).total_seconds()
        typer.echo(f"oldest due job waiting {lag:.0f}s")
    if stats.expired_leases:
        typer.echo(f"{stats.expired_leases} running job(s) with an expired lease (worker died?)")
    for k in stats.by_kind:
        typer.echo(f"  {k.kind:<32} {k.status.value:<7} {k.count}")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")
