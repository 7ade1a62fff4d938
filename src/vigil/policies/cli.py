"""``vigil policies``: load a policy pack, list the catalog, show a policy or its history."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.kit.errors import VigilError
from vigil.policies import ladder, pack, service
from vigil.policies.models import PolicyVersion

cli = typer.Typer(help="The policy catalog and policy packs.", no_args_is_help=True)

ACTOR = Principal.system("cli")


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One transaction; a domain error becomes a one-line message, exit status 1, and nothing
    written."""
    engine = make_engine(Settings())
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    except VigilError as exc:
        where = f" ({exc.field})" if exc.field else ""
        typer.echo(f"error{where}: {exc.message}", err=True)
        for extra in exc.details[1:]:
            typer.echo(f"  also ({extra.get('field')}): {extra.get('message')}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@cli.command("load")
def load(
    file: Path | None = typer.Option(
        None, "--file", "-f", help="A pack file (default: the marketplace pack shipped with Vigil)."
    ),
) -> None:
    """Load a policy pack. Safe to run again: unchanged policies write nothing, changed ones
    get a new version."""
    with unit_of_work() as session:
        result = pack.load_pack(session, ACTOR, file)
    typer.echo(
        f"policy pack {result.name}: {len(result.created)} created, "
        f"{len(result.updated)} updated, {len(result.unchanged)} unchanged"
    )
    for label, codes in (("created", result.created), ("updated", result.updated)):
        if codes:
            typer.echo(f"  {label}: {', '.join(codes)}")
    if result.retired:
        typer.echo(f"  still retired: {', '.join(result.retired)}")


@cli.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", help="Include retired policies."),
) -> None:
    """Every policy: code, current version, severity, default action, title."""
    with unit_of_work() as session:
        rows, _cursor = service.list_page(session, include_retired=all_, limit=10_000)
        if not rows:
            typer.echo("no policies yet (run `vigil policies load`)")
            return
        width = max(len(policy.code) for policy, _ in rows) + 2
        typer.echo(f"{'code':<{width}}{'ver':>4}  {'severity':<9}{'default':<9}title")
        for policy, version in rows:
            flag = " (retired)" if policy.retired else ""
            typer.echo(
                f"{policy.code:<{width}}{version.version:>4}  {version.severity.value:<9}"
                f"{version.default_action:<9}{version.title}{flag}"
            )


def _print_version(v: PolicyVersion, retired: bool) -> None:
    state = "retired" if retired else "in use"
    typer.echo(f"{v.code} v{v.version}: {v.title} ({v.severity.value}, {state})")
    typer.echo(f"written {v.created_at:%Y-%m-%d %H:%M} UTC by {v.created_by_label}: "
               f"{v.change_reason}")  # fmt: skip
    typer.echo("")
    typer.echo(v.description)
    typer.echo("\nGuidance:")
    typer.echo(v.guidance)
    for title, examples in (
        ("Allowed", v.examples_allowed),
        ("Not allowed", v.examples_not_allowed),
    ):
        if examples:
            typer.echo(f"\n{title}:")
            for example in examples:
                typer.echo(f"  - {example}")
    if v.grey_areas:
        typer.echo("\nGrey areas:")
        for area in v.grey_areas:
            typer.echo(f"  - {area['title']}")
            typer.echo(f"    {area['guidance']}")
    typer.echo(f"\nActions: {', '.join(v.allowed_actions)} (default {v.default_action})")
    typer.echo(f"Strikes: weight {v.strike_weight}, counted for {v.strike_ttl_days} days")
    typer.echo("Ladder:")
    for step in ladder.steps(v):
        typer.echo(f"  {step.describe()}")
    typer.echo(f"\nDSA: {v.dsa_category} {', '.join(v.dsa_keywords)}")
    typer.echo(f"Ground: {v.dsa_ground}")
    typer.echo(f"Terms: {v.tos_ground}")
    if v.legal_ground:
        typer.echo(f"Law: {v.legal_ground}")
        typer.echo(f"Why illegal: {v.illegal_explanation}")
    for locale in sorted(v.user_title):
        typer.echo(f"\n[{locale}] {v.user_title[locale]}")
        typer.echo(v.user_explanation.get(locale, ""))


@cli.command("show")
def show(
    code: str = typer.Argument(..., help="The policy's code."),
    version: int | None = typer.Option(
        None, "--version", help="An older version (default: current)."
    ),
) -> None:
    """Print a policy in full, as reviewers and users see it."""
    with unit_of_work() as session:
        policy = service.get_policy(session, code)
        found = (
            service.current(session, policy)
            if version is None
            else service.get_version(session, code, version)
        )
        _print_version(found, policy.retired)


@cli.command("history")
def history(code: str = typer.Argument(..., help="The policy's code.")) -> None:
    """Every version of a policy: when, by whom and why."""
    with unit_of_work() as session:
        for v in service.history(session, code):
            typer.echo(
                f"v{v.version}\t{v.created_at:%Y-%m-%d %H:%M}\t{v.created_by_label}\t"
                f"{v.change_reason}"
            )
