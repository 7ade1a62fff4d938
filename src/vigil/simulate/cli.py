"""``vigil simulate`` and ``vigil demo-data``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

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
    ctx: typer.Context,
    accounts: int = typer.Option(1000, "--accounts", min=1, help="How many accounts."),
    days: int = typer.Option(30, "--days", min=1, help="History length, ending now."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same marketplace."),
    marketplace: Marketplace = typer.Option(
        Marketplace.freelance, "--marketplace", help="Kind of marketplace, or a mix."
    ),
    cases: bool = typer.Option(
        True, "--cases/--no-cases", help="Also open and work the team's cases."
    ),
    inject: list[str] = typer.Option(
        [],
        "--inject",
        help="Inject a known trend change: KIND[@START][,key=value...], KIND scam_wave or "
        "reason_spike (see docs/simulator.md). Repeatable.",
    ),
) -> None:
    """Write a simulated marketplace with labelled bad actors (and their cases)."""
    if ctx.invoked_subcommand is not None:
        return  # ``vigil simulate events ...``: the subcommand takes its own options
    from vigil.db import make_engine, make_sessionmaker
    from vigil.kit import clock
    from vigil.kit.errors import VigilError
    from vigil.simulate.generator import make_plan
    from vigil.simulate.runner import run

    engine = make_engine(Settings())
    try:
        plan = make_plan(seed, accounts, days, clock.now(), marketplace.value, with_cases=cases)
        _inject(plan, inject)
        summary = run(make_sessionmaker(engine), plan, progress=_progress)
    except VigilError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    for line in summary.lines():
        typer.echo(line)


def _inject(plan: Any, specs: list[str]) -> None:
    """Add the ``--inject`` waves to the plan, or stop with the reason a spec is wrong."""
    from vigil.simulate import waves

    try:
        waves.apply(plan, [waves.parse(spec, plan.now) for spec in specs])
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for w in plan.waves:
        moves = ", ".join(f"{d}={v}" for d, v in w.moves)
        typer.echo(f"injecting {w.key}: {w.kind} from {w.start:%Y-%m-%d %H:%M}, moves {moves}")


def _box(lines: list[str]) -> str:
    width = max(len(x) for x in lines)
    top = "╭" + "─" * (width + 2) + "╮"
    bottom = "╰" + "─" * (width + 2) + "╯"
    return "\n".join([top, *(f"│ {x.ljust(width)} │" for x in lines), bottom])


def _steps(done: int, total: int) -> None:
    if done == total or done % 5000 < 200:
        typer.echo(f"  {done}/{total} steps", err=True)


def demo_data(
    accounts: int = typer.Option(1000, "--accounts", min=1, hidden=True),
    days: int = typer.Option(30, "--days", min=1, hidden=True),
    seed: int = typer.Option(7, "--seed", hidden=True),
    feed_days: int = typer.Option(
        4, "--feed-days", min=0, hidden=True, help="Days of events fed to detection."
    ),
) -> None:
    """Load demo staff and a simulated marketplace into an empty database (once)."""
    from vigil.db import make_engine, make_sessionmaker
    from vigil.kit.errors import VigilError
    from vigil.simulate.demo import DEMO_STAFF, load_demo

    settings = Settings()
    engine = make_engine(settings)
    typer.echo(
        f"Loading the demo: {accounts} accounts over {days} days; the last {feed_days} days "
        "of events go through detection (a few minutes)…",
        err=True,
    )
    try:
        result = load_demo(
            make_sessionmaker(engine),
            accounts=accounts,
            days=days,
            seed=seed,
            feed_days=feed_days,
            settings=settings,
            progress=_steps,
        )
    except VigilError as exc:
        notes = "; ".join(getattr(exc, "__notes__", []))
        typer.echo(f"error: {exc.message}" + (f" ({notes})" if notes else ""), err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if result is None:
        typer.echo("Demo data is already loaded (the database has accounts); nothing to do.")
    else:
        for line in result.lines():
            typer.echo(line)
    agent = next(u for u in DEMO_STAFF if u.email == "agent@vigil.example")
    others = [u for u in DEMO_STAFF if u is not agent]
    lines = [
        f"Vigil is at {settings.base_url} — log in as {agent.email} / {agent.password}",
        "other users (demo passwords, never use them for real data):",
        *(f"  {u.email:<26} {u.password:<24} {u.role.value}" for u in others),
    ]
    typer.echo(_box(lines))


def events(
    accounts: int = typer.Option(1000, "--accounts", min=1, help="How many accounts."),
    days: int = typer.Option(30, "--days", min=1, help="History length, ending now."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same accounts and events."),
    marketplace: Marketplace = typer.Option(
        Marketplace.freelance, "--marketplace", help="Kind of marketplace, or a mix."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the events here, one JSON envelope per line."
    ),
    labels: Path | None = typer.Option(
        None, "--labels", help="Write the ground truth here (per event, then per account)."
    ),
    ingest: bool = typer.Option(
        False, "--ingest", help="Decide them through the pipeline into the configured database."
    ),
    post: str | None = typer.Option(
        None, "--post", help="Send them to a running Vigil at this URL (POST /v1/events/batch)."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="VIGIL_API_KEY", help="The API key for --post."
    ),
    batch: int = typer.Option(1000, "--batch", min=1, max=1000, help="Events per request."),
    inject: list[str] = typer.Option(
        [],
        "--inject",
        help="Inject a known trend change: KIND[@START][,key=value...], KIND scam_wave or "
        "reason_spike (see docs/simulator.md). Repeatable.",
    ),
) -> None:
    """Generate the simulated marketplace's events, with their ground truth.

    Sign-ups, logins, listings, job posts, proposals, messages, contracts, payments, payouts,
    reviews and reports of the same accounts ``vigil simulate`` writes for this seed. Write
    them to files, decide them into the configured database, or send them to a running Vigil.
    """
    from vigil.kit import clock
    from vigil.simulate import events as sim_events
    from vigil.simulate.generator import make_plan

    if not (out or labels or ingest or post):
        typer.echo("error: say where the events go: --out, --labels, --ingest or --post", err=True)
        raise typer.Exit(2)
    if post and not api_key:
        typer.echo("error (--api-key): --post needs an API key with events:write", err=True)
        raise typer.Exit(2)
    # Without cases: the accounts are the same either way, and suspensions are then plain
    # restrictions in the plan, placed by --ingest when they happened.
    plan = make_plan(seed, accounts, days, clock.now(), marketplace.value, with_cases=False)
    _inject(plan, inject)
    stream = sim_events.generate(plan)
    for line in stream.lines():
        typer.echo(line)
    if out:
        sim_events.write_events(stream.events, out)
        typer.echo(f"wrote {len(stream.events)} events to {out}")
    if labels:
        n = sim_events.write_labels(stream, labels)
        typer.echo(f"wrote {n} ground-truth lines to {labels}")
    if ingest:
        _ingest(plan, stream)
    if post:
        _post(post, api_key or "", stream, batch)


def _ingest(plan: Any, stream: Any) -> None:
    from vigil.db import make_engine, make_sessionmaker
    from vigil.kit.errors import VigilError
    from vigil.migrate import current
    from vigil.simulate.feed import ingest_stream

    settings = Settings()
    engine = make_engine(settings)
    try:
        if current(engine) is None:
            typer.echo("error: the database has no schema yet: run `vigil db upgrade`", err=True)
            raise typer.Exit(1)
        summary = ingest_stream(
            make_sessionmaker(engine), settings, stream, plan, progress=_progress
        )
    except VigilError as exc:
        notes = "; ".join(getattr(exc, "__notes__", []))
        typer.echo(f"error: {exc.message}" + (f" ({notes})" if notes else ""), err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    for line in summary.lines():
        typer.echo(line)


def _post(url: str, api_key: str, stream: Any, batch: int) -> None:
    import httpx

    from vigil.simulate.feed import post_stream

    try:
        summary = post_stream(
            url, api_key, stream.events, batch=batch, progress=_progress, total=len(stream.events)
        )
    except httpx.HTTPStatusError as exc:
        typer.echo(
            f"error: {url} answered {exc.response.status_code}: {exc.response.text[:300]}",
            err=True,
        )
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        typer.echo(f"error: could not reach {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in summary.lines():
        typer.echo(line)


def register(app: typer.Typer) -> None:
    # ``vigil simulate`` writes accounts and cases; ``vigil simulate events`` their events.
    group = typer.Typer(
        invoke_without_command=True,
        help="Write a simulated marketplace with labelled bad actors (and their cases).",
    )
    group.callback()(simulate)
    group.command("events")(events)
    app.add_typer(group, name="simulate")
    app.command("demo-data")(demo_data)
