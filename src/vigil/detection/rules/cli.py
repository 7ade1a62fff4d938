"""``vigil rules``: load the default ruleset, list and show rules, try an expression on an
event, change a rule's state, and backtest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.detection.rules import backtest, engine, pack, service
from vigil.detection.rules.models import Backtest
from vigil.kit.errors import VigilError

cli = typer.Typer(help="Detection rules: the ruleset, tests and backtests.", no_args_is_help=True)

ACTOR = Principal.system("cli")


@contextmanager
def unit_of_work() -> Iterator[tuple[Session, Settings]]:
    """One transaction; a domain error becomes a one-line message (and each problem of an
    expression with its line and column), exit status 1, and nothing written."""
    settings = Settings()
    engine = make_engine(settings)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session, settings
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
        None, "--file", "-f", help="A pack file (default: the marketplace ruleset shipped)."
    ),
) -> None:
    """Load a rule pack. Safe to run again: unchanged rules write nothing, changed ones get a
    new version, and rules already there keep their state."""
    with unit_of_work() as (session, _settings):
        result = pack.load_pack(session, ACTOR, file)
    typer.echo(
        f"rule pack {result.name}: {len(result.created)} created, {len(result.updated)} "
        f"updated, {len(result.unchanged)} unchanged"
    )
    for label, names in (("created", result.created), ("updated", result.updated)):
        if names:
            typer.echo(f"  {label}: {', '.join(names)}")


@cli.command("list")
def list_(
    state: str | None = typer.Option(None, "--state", help="draft, shadow, active or disabled."),
) -> None:
    """Every rule: name, state, version, score, outcome, policy, event types."""
    with unit_of_work() as (session, _settings):
        rows, _cursor = service.list_page(session, state=state, limit=10_000)
        if not rows:
            typer.echo("no rules yet (run `vigil rules load`)")
            return
        width = max(len(rule.name) for rule, _ in rows) + 2
        typer.echo(
            f"{'name':<{width}}{'state':<10}{'ver':>4} {'score':>6}  {'outcome':<8}"
            f"{'policy':<22}event types"
        )
        for rule, v in rows:
            typer.echo(
                f"{rule.name:<{width}}{rule.state.value:<10}{v.version:>4} {v.score:>6g}  "
                f"{v.outcome.value:<8}{(v.policy_code or '—'):<22}{', '.join(v.event_types)}"
            )
        revision, _token = engine.current_revision(session)
        typer.echo(f"\nruleset revision {revision}")


@cli.command("show")
def show(
    name: str = typer.Argument(..., help="The rule's name."),
    version: int | None = typer.Option(None, "--version", help="An older version."),
) -> None:
    """A rule in full, and its history."""
    with unit_of_work() as (session, _settings):
        rule = service.get_rule(session, name)
        v = (
            service.current(session, rule)
            if version is None
            else service.get_version(session, name, version)
        )
        typer.echo(f"{v.name} v{v.version} ({rule.state.value}, current v{rule.current_version})")
        typer.echo(v.description)
        typer.echo(f"\n  {v.expression}\n")
        typer.echo(
            f"score {v.score:g}, outcome {v.outcome.value}, policy {v.policy_code or '—'}, "
            f"queue {v.queue or 'routing'}"
        )
        typer.echo(f"event types: {', '.join(v.event_types)}; tags: {', '.join(v.tags) or '—'}")
        typer.echo("\nhistory:")
        history, _ = service.history_page(session, name, limit=1000)
        for h in history:
            typer.echo(
                f"  v{h.version}\t{h.created_at:%Y-%m-%d %H:%M}\t{h.created_by_label}\t"
                f"{h.change_reason}"
            )


@cli.command("state")
def state(
    name: str = typer.Argument(..., help="The rule's name."),
    to: str = typer.Argument(..., help="draft, shadow, active or disabled."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the audit log)."),
) -> None:
    """Move a rule to another state."""
    with unit_of_work() as (session, _settings):
        rule = service.change_state(session, ACTOR, name, to, reason=reason)
        typer.echo(f"{rule.name} is {rule.state.value}")


def _read_event(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        typer.echo(f"error (event): cannot read {path}: {exc}", err=True)
        raise typer.Exit(1) from None
    if not isinstance(data, dict):
        typer.echo("error (event): the file must hold a JSON object", err=True)
        raise typer.Exit(1)
    return data


@cli.command("test")
def test(
    expression: str = typer.Argument(..., help="A CEL expression."),
    event: Path | None = typer.Option(
        None,
        "--event",
        help='A JSON file: {"event": {...}, "account": {...}, "features": {...}}, or a bare '
        "event envelope.",
    ),
    event_id: str | None = typer.Option(None, "--event-id", help="Replay a stored event."),
) -> None:
    """Compile an expression and evaluate it on one event. Writes nothing."""
    sample: dict[str, Any] = _read_event(event) if event is not None else {}
    if sample and not {"event", "account", "features"} & set(sample):
        sample = {"event": sample}
    with unit_of_work() as (session, _settings):
        trial = service.try_expression(
            session,
            expression,
            event_id=event_id,
            event=sample.get("event"),
            account=sample.get("account"),
            features=sample.get("features"),
        )
        session.rollback()
    if trial.problems:
        for p in trial.problems:
            typer.echo(f"line {p.line}, column {p.column}: {p.message}", err=True)
            typer.echo(f"  {expression.splitlines()[p.line - 1] if expression else ''}", err=True)
            typer.echo(f"  {' ' * (p.column - 1)}^", err=True)
        raise typer.Exit(1)
    for name, value in (trial.values or {}).items():
        typer.echo(f"  {name} = {value!r}")
    if trial.error is not None:
        typer.echo(f"error at run time: {trial.error}")
        raise typer.Exit(2)
    typer.echo("true" if trial.result else "false")


def _when(value: str | None, label: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        typer.echo(f"error ({label}): '{value}' is not an ISO date or time", err=True)
        raise typer.Exit(1) from None


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def print_backtest(run: Backtest) -> None:
    typer.echo(
        f"backtest #{run.id} ({run.status.value}): {backtest.describe(run.target)} over "
        f"{run.since_at:%Y-%m-%d %H:%M} .. {run.until_at:%Y-%m-%d %H:%M} UTC, "
        f"{run.events_scanned} events"
    )
    if run.error:
        typer.echo(f"error: {run.error}")
    if run.results:
        width = max(len(r["name"]) for r in run.results) + 2
        typer.echo(
            f"{'rule':<{width}}{'hits':>7}{'accts':>7}{'errs':>6}{'TP':>5}{'FP':>5}"
            f"{'unlab':>7}{'prec':>7}{'recall':>8}"
        )
        for r in run.results:
            typer.echo(
                f"{r['name']:<{width}}{r['hits']:>7}{r['accounts']:>7}{r['errors']:>6}"
                f"{r['true_positives'] if r['true_positives'] is not None else '—':>5}"
                f"{r['false_positives'] if r['false_positives'] is not None else '—':>5}"
                f"{r['unlabelled']:>7}{_pct(r['precision']):>7}{_pct(r['recall']):>8}"
            )
    if run.comparison:
        typer.echo(f"\ncompared with {backtest.describe(run.compare)}:")
        rows = run.comparison["rules"]
        width = max((len(r["name"]) for r in rows), default=4) + 2
        typer.echo(
            f"{'rule':<{width}}{'hits A':>8}{'hits B':>8}{'gained':>8}{'lost':>6}"
            f"{'prec A':>8}{'prec B':>8}{'rec A':>7}{'rec B':>7}"
        )
        for r in rows:
            typer.echo(
                f"{r['name']:<{width}}{r['hits_a']:>8}{r['hits_b']:>8}{r['hits_gained']:>8}"
                f"{r['hits_lost']:>6}{_pct(r['precision_a']):>8}{_pct(r['precision_b']):>8}"
                f"{_pct(r['recall_a']):>7}{_pct(r['recall_b']):>7}"
            )
        changes = run.comparison.get("outcome_changes") or {}
        if changes:
            typer.echo("outcome changes: " + ", ".join(f"{k} {v}" for k, v in changes.items()))


@cli.command("backtest")
def backtest_(
    since: str | None = typer.Option(None, "--since", help="ISO date or time (default: 7 days)."),
    until: str | None = typer.Option(None, "--until", help="ISO date or time (default: now)."),
    version: int | None = typer.Option(
        None, "--version", help="A past ruleset revision (default: the live rules)."
    ),
    draft: str | None = typer.Option(
        None, "--draft", help="One rule instead of the ruleset: NAME or NAME@VERSION."
    ),
    compare: str | None = typer.Option(
        None, "--compare", help="Side by side with: active, a revision number, or NAME@VERSION."
    ),
) -> None:
    """Replay rules over stored events and measure them against reviewers' decisions. Runs
    here, whatever the range; the run is stored (see it in the console)."""
    if version is not None and draft is not None:
        typer.echo("error: give --version or --draft, not both", err=True)
        raise typer.Exit(1)
    with unit_of_work() as (session, settings):
        target = (
            backtest.parse_target_text(session, draft, field="draft")
            if draft is not None
            else backtest.parse_target_text(
                session, str(version) if version is not None else None, field="version"
            )
        )
        other = (
            backtest.parse_target_text(session, compare, field="compare")
            if compare is not None
            else None
        )
        run = backtest.create(
            session,
            ACTOR,
            settings,
            since=_when(since, "since"),
            until=_when(until, "until"),
            target=target,
            compare=other,
            inline=True,
        )
        print_backtest(run)
