"""``vigil audit``: check the hash chain, read the newest records, export the head."""

from __future__ import annotations

import json

import typer
from sqlalchemy import select

from vigil.audit import service
from vigil.audit.models import AuditRecord
from vigil.auth.cli import unit_of_work
from vigil.kit.errors import InvalidInput

cli = typer.Typer(help="The append-only audit log.", no_args_is_help=True)


@cli.command("verify")
def verify(
    expect_head: str | None = typer.Option(
        None,
        help="ID:HASH saved earlier with `vigil audit head`; also catches deleted newest records.",
    ),
) -> None:
    """Walk the whole chain. Exit 0 with "ok: N records", or 1 naming the first bad record
    and listing each break."""
    try:
        head = service.Head.parse(expect_head) if expect_head else None
    except InvalidInput as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    with unit_of_work() as session:
        result = service.verify(session, expect_head=head)
    if result.ok:
        typer.echo(f"ok: {result.checked} records")
        return
    first = min(br.record_id for br in result.breaks)
    typer.echo(
        f"BROKEN: {len(result.breaks)} problem(s) in {result.checked} records; "
        f"first bad record: {first}"
    )
    for br in result.breaks:
        typer.echo(f"record {br.record_id}: {br.problem}")
    raise typer.Exit(1)


@cli.command("head")
def head() -> None:
    """Print the newest record as ID:HASH. Store it outside this database (a ticket, a
    notebook, another system): `verify --expect-head` then detects deletion of newer history."""
    with unit_of_work() as session:
        current = service.head(session)
    if current is None:
        typer.echo("the audit log is empty", err=True)
        raise typer.Exit(1)
    typer.echo(str(current))


@cli.command("tail")
def tail(
    n: int = typer.Option(20, "-n", "--lines", min=1, help="How many records."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Print the newest N records, oldest first."""
    with unit_of_work() as session:
        rows = list(
            reversed(
                session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(n)).all()
            )
        )
        for r in rows:
            if as_json:
                typer.echo(
                    json.dumps(
                        {
                            "id": r.id,
                            "at": r.at.isoformat(),
                            "actor_type": r.actor_type,
                            "actor_id": r.actor_id,
                            "action": r.action,
                            "target_type": r.target_type,
                            "target_id": r.target_id,
                            "reason": r.reason,
                            "data": r.data,
                        },
                        sort_keys=True,
                    )
                )
                continue
            actor = f"{r.actor_type}:{r.actor_id}" if r.actor_id else r.actor_type
            target = f"{r.target_type}:{r.target_id}" if r.target_id else r.target_type
            why = f"  reason={r.reason!r}" if r.reason else ""
            typer.echo(f"{r.id}\t{r.at:%Y-%m-%d %H:%M:%S}\t{actor}\t{r.action}\t{target}{why}")
