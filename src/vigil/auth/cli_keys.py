"""``vigil api-keys``: keys for the marketplace's servers."""

from __future__ import annotations

from datetime import timedelta

import typer

from vigil.auth import service
from vigil.auth.cli import CLI_ACTOR, unit_of_work
from vigil.auth.models import ApiKey

cli = typer.Typer(help="API keys for the marketplace's servers.", no_args_is_help=True)


def _describe(key: ApiKey) -> str:
    if key.revoked_at is not None:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
    elif key.expires_at is not None:
        state = f"expires {key.expires_at:%Y-%m-%d %H:%M}"
    else:
        state = "active"
    return f"{key.id}\t{key.prefix}…\t{key.name}\t{','.join(key.scopes)}\t{state}"


@cli.command("create")
def create(
    name: str = typer.Option(..., help="What the key is for, e.g. 'marketplace production'."),
    scopes: str = typer.Option(..., help="Comma-separated, e.g. accounts:write,cases:create."),
) -> None:
    """Create a key and print its secret (shown only this once)."""
    with unit_of_work() as session:
        issued = service.create_api_key(
            session,
            CLI_ACTOR,
            name=name,
            scopes=[s.strip() for s in scopes.split(",") if s.strip()],
        )
        typer.echo(f"created API key {issued.key.id} ({','.join(issued.key.scopes)})")
    # Printed only after the commit succeeded: a secret for a key that does not exist is useless.
    typer.echo(f"secret (store it now, it is not shown again): {issued.secret}")


@cli.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", help="Include revoked and expired keys."),
) -> None:
    """Print keys: id, prefix, name, scopes, state. Never the secrets."""
    with unit_of_work() as session:
        cursor: str | None = None
        while True:
            rows, cursor = service.list_api_keys(
                session, include_revoked=all_, cursor=cursor, limit=500
            )
            for key in rows:
                typer.echo(_describe(key))
            if cursor is None:
                break


@cli.command("revoke")
def revoke(
    key_id: int = typer.Argument(..., help="The key's id (from `vigil api-keys list`)."),
    reason: str = typer.Option(..., help="Why (kept in the audit log)."),
) -> None:
    """Revoke a key at once."""
    with unit_of_work() as session:
        service.revoke_api_key(session, CLI_ACTOR, key_id, reason)
        typer.echo(f"revoked API key {key_id}")


@cli.command("rotate")
def rotate(
    key_id: int = typer.Argument(..., help="The key's id."),
    grace_seconds: int = typer.Option(0, help="How long the old key keeps working."),
    reason: str | None = typer.Option(None, help="Why (kept in the audit log)."),
) -> None:
    """Replace a key with a new one of the same name and scopes; print the new secret."""
    with unit_of_work() as session:
        issued = service.rotate_api_key(
            session, CLI_ACTOR, key_id, grace=timedelta(seconds=grace_seconds), reason=reason
        )
        typer.echo(f"API key {key_id} replaced by {issued.key.id}")
    typer.echo(f"secret (store it now, it is not shown again): {issued.secret}")
