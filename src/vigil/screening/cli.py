"""``vigil screening``: load sanctions / PEP lists from files, list them, screen a name.

``load`` reads the whole file first (a bad row stops it with the line and field, nothing
changed), then replaces the list's entries in one transaction, audited as the CLI.

``screen`` labels each entry found as the identity check would (``identity.checks.screening``
decides, this module only prints): ``hit``, ``possible`` (a possible hit) or ``dismissed``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.identity import checks
from vigil.identity.types import CheckStatus
from vigil.kit.errors import VigilError
from vigil.screening import loaders, service

cli = typer.Typer(help="Sanctions and PEP lists for identity screening.", no_args_is_help=True)

ACTOR = Principal.system("cli")


@contextmanager
def _unit_of_work() -> Iterator[Session]:
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


@cli.command("load")
def load(
    file: Path | None = typer.Argument(
        None, exists=True, dir_okay=False, help="The list: CSV or FollowTheMoney JSON lines."
    ),
    list_name: str = typer.Option(..., "--list", help="The list's name, e.g. un-sanctions."),
    fmt: str | None = typer.Option(
        None, "--format", help="csv or ftm (default: from the file's extension)."
    ),
    sample: bool = typer.Option(
        False, "--sample", help="Load the shipped sample list of fictional people instead."
    ),
) -> None:
    """Create a list or replace all its entries with the file's."""
    with _unit_of_work() as session:
        if sample:
            found = service.load_sample(session, ACTOR, list_name=list_name, fmt=fmt or "csv")
            typer.echo(f"list {found.name}: {found.entries} entries loaded from {found.source}")
            return
        if file is None:
            typer.echo("error (file): give a FILE or --sample", err=True)
            raise typer.Exit(1)
        path = file
        fmt = fmt or loaders.guess_format(path)
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            typer.echo("error (file): the file is not UTF-8", err=True)
            raise typer.Exit(1) from None
        result = loaders.read(io.StringIO(text, newline=""), fmt)
        found = service.load(
            session,
            ACTOR,
            list_name=list_name,
            result=result,
            source=path.name,
            fmt=fmt,
            sha256=hashlib.sha256(raw).hexdigest(),
        )
        skipped = f", {result.skipped} other entities skipped" if result.skipped else ""
        typer.echo(f"list {found.name}: {found.entries} entries loaded from {path.name}{skipped}")


@cli.command("lists")
def lists() -> None:
    """The loaded lists: name, entries, format, source, when loaded."""
    with _unit_of_work() as session:
        found = service.lists(session)
        if not found:
            typer.echo("no screening lists loaded (vigil screening load FILE --list NAME)")
            return
        width = max(len(x.name) for x in found) + 2
        typer.echo(f"{'list':<{width}}{'entries':>8}  format  loaded (UTC)      source")
        for x in found:
            typer.echo(
                f"{x.name:<{width}}{x.entries:>8}  {x.format:<6}  "
                f"{x.loaded_at:%Y-%m-%d %H:%M}  {x.source}"
            )


@cli.command("remove")
def remove(list_name: str = typer.Argument(..., help="The list to delete.")) -> None:
    """Delete a list and all its entries."""
    with _unit_of_work() as session:
        service.remove(session, ACTOR, list_name)
        typer.echo(f"list {list_name} removed")


# What ``identity.checks.screening`` makes of one entry found, as ``screen`` prints it.
_KINDS = {CheckStatus.failed: "hit", CheckStatus.warning: "possible"}


def classify(hit: service.ScreeningHit, *, hit_score: float, possible_score: float) -> str:
    """``hit``, ``possible`` or ``dismissed``: the verdict of the ``screening`` check on this
    entry alone (a hit needs the name at or above ``hit_score`` and the birth date agreeing;
    an unknown or differing birth date makes it a possible hit at best)."""
    found = checks.screening([hit], hit_score=hit_score, possible_score=possible_score)
    return _KINDS.get(found.status, "dismissed")


@cli.command("screen")
def screen(
    name: str = typer.Argument(..., help="The name to screen."),
    birth_date: str | None = typer.Option(None, "--birth-date", help="YYYY-MM-DD"),
    country: str | None = typer.Option(None, "--country", help="ISO alpha-2"),
    min_score: float | None = typer.Option(
        None, "--min-score", help="Default: identity_screening_possible_score."
    ),
) -> None:
    """Screen a name (and birth date) against every loaded list, as verification does: each
    entry labelled hit, possible or dismissed as the identity check would."""
    settings = Settings()
    born: date | None = None
    if birth_date:
        try:
            born = date.fromisoformat(birth_date)
        except ValueError:
            typer.echo("error (birth_date): not a YYYY-MM-DD date", err=True)
            raise typer.Exit(1) from None
    threshold = settings.identity_screening_possible_score if min_score is None else min_score
    with _unit_of_work() as session:
        hits = service.screen(
            session, name=name, birth_date=born, country=country, min_score=threshold
        )
        if not hits:
            typer.echo("no hits")
            return
        for hit in hits:
            agrees = {True: "agrees", False: "differs", None: "unknown"}[hit.birth_date_agrees]
            kind = classify(
                hit,
                hit_score=settings.identity_screening_hit_score,
                possible_score=settings.identity_screening_possible_score,
            )
            typer.echo(
                f"{hit.score:5.1f}  {kind:<8}  {hit.list_name}/{hit.entry_id}  {hit.name}"
                f" (matched {hit.matched_name}; birth date {agrees}; "
                f"{', '.join(hit.topics) or 'no topics'})"
            )
