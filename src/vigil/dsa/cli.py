"""``vigil dsa``: export statements of reasons in batches, and check a batch file."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import typer

from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.dsa import export as export_mod
from vigil.dsa.rules import validate_batch
from vigil.kit.errors import VigilError

cli = typer.Typer(
    help="DSA statements of reasons: export batches for the Transparency Database.",
    no_args_is_help=True,
)

ACTOR = Principal.system("cli")


def _day(value: str, option: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param_hint=option) from None


@cli.command("export")
def export(
    since: str = typer.Option(..., help="First day (YYYY-MM-DD, UTC), included."),
    until: str = typer.Option(..., help="Last day (YYYY-MM-DD, UTC), included."),
    out: Path = typer.Option(Path("."), help="Folder to write the batch files into."),
    pending: bool = typer.Option(False, "--pending", help="Only statements never exported before."),
) -> None:
    """Write the statements created in the window as JSON batch files of at most 100, each a
    valid body for the Transparency Database's multiple-statement endpoint."""
    first, last = _day(since, "--since"), _day(until, "--until")
    engine = make_engine(Settings())
    factory = make_sessionmaker(engine)
    try:
        with transaction(factory) as session:
            result = export_mod.export_statements(
                session, ACTOR, since=first, until=last, out_dir=out, only_pending=pending
            )
    except export_mod.ExportRefused as exc:
        typer.echo(f"error: {exc.message}; nothing was written", err=True)
        for ref, errors in exc.invalid.items():
            for e in errors:
                typer.echo(f"  {ref} {e.field}: {e.code}: {e.message}", err=True)
        raise typer.Exit(1) from None
    except VigilError as exc:
        typer.echo(f"error: {exc.message}" + (f" ({exc.field})" if exc.field else ""), err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if not result.files:
        typer.echo(f"no statements created from {first} to {last}: nothing to export")
        return
    for f in result.files:
        typer.echo(f"{f.path}  {f.count} statements")
    typer.echo(f"{result.total} statements in {len(result.files)} files")


@cli.command("validate")
def validate(
    file: Path = typer.Argument(..., help='A batch file: {"statements": [...]}.'),
) -> None:
    """Check a batch file against the Transparency Database's rules and list every violation
    (exit code 1 when there is one)."""
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        typer.echo(f"error: {file} is not JSON: {exc}", err=True)
        raise typer.Exit(1) from None
    errors = validate_batch(body)
    count = (
        len(body["statements"])
        if isinstance(body, dict) and isinstance(body.get("statements"), list)
        else 0
    )
    if not errors:
        typer.echo(f"{file}: {count} statements, all valid")
        return
    for e in errors:
        typer.echo(f"{e.location}: {e.error.code}: {e.error.message}")
    bad = len({e.index for e in errors if e.index is not None})
    typer.echo(f"{file}: {len(errors)} violations in {bad} of {count} statements")
    raise typer.Exit(1)
