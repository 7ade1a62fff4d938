"""``vigil simulate`` and ``vigil demo-data``."""

from __future__ import annotations

from enum import StrEnum

import typer

from vigil.config import Settings


class Marketplace(StrEnum):
    freelance = "freelance"
    services = "services"
    courses = "courses"
    mixed = "mixed"


def _progress(done: int, total: int) -> None:
    if done == total or done % 2000 < 200:
        typer.echo(f"  {done}/{total} events", err=True)


def simulate(
    accounts: int = typer.Option(1000, "--accounts", min=1, help="How many accounts."),
    days: int = typer.Option(30, "--days", min=1, help="History length, ending now."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same marketplace."),
    marketplace: Marketplace = typer.Option(
        Marketplace.freelance, "--marketplace", help="Kind of marketplace, or a mix."
    ),
    cases: bool = typer.Option(
        True, "--cases/--no-cases", help="Also open and work the team's cases."
    ),
) -> None:
    """Write a simulated marketplace with labelled bad actors (and their cases)."""
    from vigil.db import make_engine, make_sessionmaker
    from vigil.kit import clock
    from vigil.kit.errors import VigilError
    from vigil.simulate.generator import make_plan
    from vigil.simulate.runner import run

    engine = make_engine(Settings())
    try:
        plan = make_plan(seed, accounts, days, clock.now(), marketplace.value, with_cases=cases)
        summary = run(make_sessionmaker(engine), plan, progress=_progress)
    except VigilError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    for line in summary.lines():
        typer.echo(line)


def _box(lines: list[str]) -> str:
    width = max(len(x) for x in lines)
    top = "╭" + "─" * (width + 2) + "╮"
    bottom = "╰" + "─" * (width + 2) + "╯"
    return "\n".join([top, *(f"│ {x.ljust(width)} │" for x in lines), bottom])


def demo_data(
    accounts: int = typer.Option(1000, "--accounts", min=1, hidden=True),
    days: int = typer.Option(30, "--days", min=1, hidden=True),
    seed: int = typer.Option(7, "--seed", hidden=True),
) -> None:
    """Load demo staff and a simulated marketplace into an empty database (once)."""
    from vigil.db import make_engine, make_sessionmaker
    from vigil.kit.errors import VigilError
    from vigil.simulate.demo import DEMO_STAFF, load_demo

    settings = Settings()
    engine = make_engine(settings)
    try:
        result = load_demo(make_sessionmaker(engine), accounts=accounts, days=days, seed=seed)
    except VigilError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if result is None:
        typer.echo("Demo data is already loaded (the database has accounts); nothing to do.")
    else:
        for line in result.summary.lines():
            typer.echo(line)
    agent = next(u for u in DEMO_STAFF if u.email == "agent@vigil.example")
    others = [u for u in DEMO_STAFF if u is not agent]
    lines = [
        f"Vigil is at {settings.base_url} — log in as {agent.email} / {agent.password}",
        "other users (demo passwords, never use them for real data):",
        *(f"  {u.email:<26} {u.password:<24} {u.role.value}" for u in others),
    ]
    typer.echo(_box(lines))


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
    app.command("demo-data")(demo_data)
