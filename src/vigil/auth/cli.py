"""``vigil staff``: manage staff accounts from the shell (how the first admin is made)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session

from vigil.auth import guard, service
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.kit.errors import VigilError

cli = typer.Typer(help="Staff accounts.", no_args_is_help=True)

CLI_ACTOR = Principal.system("cli")


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction against the database named by ``VIGIL_DATABASE_URL``; a domain error
    becomes a one-line message and exit status 1, with nothing written."""
    engine = make_engine(Settings())
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    except VigilError as exc:
        where = f" ({exc.field})" if exc.field else ""
        typer.echo(f"error{where}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def read_password(password: str | None, password_stdin: bool) -> str:
    if password is not None and password_stdin:
        typer.echo("error: give --password or --password-stdin, not both", err=True)
        raise typer.Exit(2)
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if password is not None:
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _languages(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@cli.command("create")
def create(
    email: str = typer.Option(..., help="Login email."),
    name: str = typer.Option(..., help="Full name shown to colleagues."),
    role: Role = typer.Option(
        ..., help="agent, specialist, legal, qa, policy_lead, leadership or admin."
    ),
    password: str | None = typer.Option(
        None, help="Password (visible in the shell history; prefer the prompt or stdin)."
    ),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input."),
    languages: str = typer.Option("en", help="Comma-separated language tags, e.g. en,es."),
) -> None:
    """Add a staff member (the first admin is made this way)."""
    secret = read_password(password, password_stdin)
    with unit_of_work() as session:
        user = service.create_staff(
            session,
            CLI_ACTOR,
            email=email,
            name=name,
            role=role,
            password=secret,
            languages=_languages(languages),
        )
        typer.echo(f"created staff {user.id} {user.email} ({user.role.value})")


@cli.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", help="Include deactivated staff."),
) -> None:
    """Print staff: id, email, role, languages, active."""
    with unit_of_work() as session:
        cursor: str | None = None
        while True:
            rows, cursor = service.list_staff(
                session, active=None if all_ else True, cursor=cursor, limit=500
            )
            for u in rows:
                state = "active" if u.active else "inactive"
                langs = ",".join(u.languages or [])
                typer.echo(f"{u.id}\t{u.email}\t{u.role.value}\t{langs}\t{state}\t{u.name}")
            if cursor is None:
                break


@cli.command("set-password")
def set_password(
    email: str = typer.Argument(..., help="The staff member's email."),
    password: str | None = typer.Option(None, help="New password (prefer the prompt or stdin)."),
    password_stdin: bool = typer.Option(False, help="Read the password from standard input."),
) -> None:
    """Set a staff member's password; their console sessions end."""
    secret = read_password(password, password_stdin)
    with unit_of_work() as session:
        user = service.get_staff_by_email(session, email)
        service.set_password(session, CLI_ACTOR, user.id, secret)
        typer.echo(f"password set for {user.email}")


@cli.command("deactivate")
def deactivate(
    email: str = typer.Argument(..., help="The staff member's email."),
    reason: str = typer.Option(..., help="Why (kept in the audit log)."),
) -> None:
    """Stop a staff member from logging in; their console sessions end at once."""
    with unit_of_work() as session:
        user = service.get_staff_by_email(session, email)
        service.update_staff(session, CLI_ACTOR, user.id, active=False, reason=reason)
        typer.echo(f"deactivated {user.email}")


@cli.command("unlock")
def unlock(
    email: str = typer.Argument(..., help="The staff member's email."),
    reason: str | None = typer.Option(None, help="Why (kept in the audit log)."),
) -> None:
    """End a login lockout now and clear the failed-login count."""
    with unit_of_work() as session:
        user = service.get_staff_by_email(session, email)
        service.unlock_staff(session, CLI_ACTOR, user.id, reason=reason)
        # With Redis this also clears the email's attempt limit for every process; the
        # in-process limiter of a single ``vigil serve`` forgets it within the window.
        guard.login_succeeded(Settings(), user.email)
        typer.echo(f"unlocked {user.email}")


@cli.command("reset-second-factor")
def reset_second_factor(
    email: str = typer.Argument(..., help="The staff member's email."),
    reason: str = typer.Option(..., help="Why (kept in the audit log)."),
) -> None:
    """Remove a staff member's TOTP second factor (a lost phone); they enrol again, and
    their console sessions end."""
    from vigil.auth import totp

    with unit_of_work() as session:
        user = service.get_staff_by_email(session, email)
        totp.reset(session, CLI_ACTOR, user, reason=reason)
        typer.echo(f"second factor reset for {user.email}")
