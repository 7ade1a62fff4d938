"""``vigil events``: send a file of events (one JSON object per line) and read stored ones.

``send`` decides each event exactly as ``POST /v1/events/batch`` does (a bad line is reported
with its line number and field, the others are decided), committing every
``events_batch_max`` events. Safe to run again on the same file: events already decided are
answered from storage (``duplicate``) and nothing is applied twice.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import typer
from sqlalchemy.orm import Session

from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker, transaction
from vigil.detection import service
from vigil.detection.events import EVENT_SCHEMAS, EVENT_TYPES
from vigil.detection.schemas import DecisionOut, EventOut
from vigil.kit.errors import VigilError

cli = typer.Typer(help="The marketplace's events and their decisions.", no_args_is_help=True)

ACTOR = Principal.system("cli")


@contextmanager
def _engine(settings: Settings) -> Iterator[Any]:
    engine = make_engine(settings)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


@contextmanager
def _unit_of_work(settings: Settings) -> Iterator[Session]:
    with _engine(settings) as factory:
        try:
            with transaction(factory) as session:
                yield session
        except VigilError as exc:
            where = f" ({exc.field})" if exc.field else ""
            typer.echo(f"error{where}: {exc.message}", err=True)
            raise typer.Exit(1) from None


def _lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(handle, start=1):
        if line.strip():
            yield number, line


def _describe(result: DecisionOut) -> str:
    text = f"{result.outcome} (score {result.score:g})"
    if result.duplicate:
        text += ", duplicate"
    if result.case_id is not None:
        text += f", case {result.case_id}"
    if result.decision_id is not None:
        text += f", decision {result.decision_id}"
    if result.snoozed_by_case_id is not None:
        text += f", snoozed by case {result.snoozed_by_case_id}"
    if result.hits:
        text += ": " + ", ".join(h.name for h in result.hits)
    for problem in result.errors:
        text += f" [{problem.code}: {problem.message}]"
    return text


@dataclass
class Totals:
    outcomes: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("allow", "review", "block"), 0)
    )
    duplicates: int = 0
    refused: int = 0


@cli.command("send")
def send(
    file: Path = typer.Argument(..., help="JSON lines, one event per line; '-' reads stdin."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only refusals and totals."),
) -> None:
    """Decide every event of a file. Exit status 1 when any line was refused."""
    settings = Settings()
    handle = sys.stdin if str(file) == "-" else file.open(encoding="utf-8")
    totals = Totals()
    try:
        with _engine(settings) as factory:
            batch: list[tuple[int, Any]] = []
            for number, line in _lines(handle):
                try:
                    batch.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    typer.echo(f"line {number}: refused (invalid_json): {exc.msg}", err=True)
                    totals.refused += 1
                    continue
                if len(batch) >= settings.events_batch_max:
                    _send_batch(factory, settings, batch, totals, quiet)
                    batch = []
            if batch:
                _send_batch(factory, settings, batch, totals, quiet)
    finally:
        if handle is not sys.stdin:
            handle.close()
    outcomes = totals.outcomes
    typer.echo(
        f"{sum(outcomes.values())} decided ({outcomes['allow']} allow, {outcomes['review']} "
        f"review, {outcomes['block']} block; {totals.duplicates} duplicates), "
        f"{totals.refused} refused"
    )
    if totals.refused:
        raise typer.Exit(1)


def _send_batch(
    factory: Any,
    settings: Settings,
    batch: list[tuple[int, Any]],
    totals: Totals,
    quiet: bool,
) -> None:
    numbers = [n for n, _ in batch]
    items = [body for _, body in batch]
    try:
        with transaction(factory) as session:
            results = service.ingest_batch(session, settings, items, actor=ACTOR)
    except VigilError as exc:  # the velocity store is down, say: the whole batch waits
        typer.echo(f"lines {numbers[0]}-{numbers[-1]}: not sent: {exc.message}", err=True)
        totals.refused += len(batch)
        return
    for item in results:
        number = numbers[item.index]
        if item.result is None:
            error = item.error or {}
            field = str(error.get("field") or "").removeprefix(f"events.{item.index}")
            field = field.removeprefix(".") or "-"
            typer.echo(
                f"line {number}: refused ({error.get('code')}, {field}): {error.get('message')}",
                err=True,
            )
            totals.refused += 1
            continue
        decision = DecisionOut.of(item.result)
        totals.outcomes[decision.outcome] += 1
        totals.duplicates += int(decision.duplicate)
        if not quiet:
            typer.echo(f"line {number}: {decision.event_id}: {_describe(decision)}")


@cli.command("show")
def show(event_id: str = typer.Argument(..., help="The marketplace's event_id.")) -> None:
    """One stored event with its features, fired rules (shadow included) and decision."""
    settings = Settings()
    with _unit_of_work(settings) as session:
        row = service.get_event(session, ACTOR, event_id)
        out = EventOut.of(row, staff=False)
        shadow = [h for h in row.hits or [] if h.get("shadow")]
    body = out.model_dump(mode="json")
    body["shadow_hits"] = shadow
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))


@cli.command("list")
def list_events(
    account: str | None = typer.Option(None, help="The marketplace's account id."),
    type_: str | None = typer.Option(None, "--type", help="An event type."),
    limit: int = typer.Option(20, min=1, max=500),
) -> None:
    """The newest events, one line each."""
    settings = Settings()
    with _unit_of_work(settings) as session:
        rows, _ = service.list_events(session, ACTOR, account=account, type=type_, limit=limit)
        for r in rows:
            extra = f" case {r.case_id}" if r.case_id else ""
            typer.echo(
                f"{r.occurred_at:%Y-%m-%d %H:%M:%S}  {r.event_id:<24} {r.type:<18} "
                f"{r.account_external_id:<16} {r.outcome} ({r.score:g}){extra}"
            )


@cli.command("types")
def types() -> None:
    """Every event type and the fields of its data, with their defaults."""
    for name in EVENT_TYPES:
        fields = EVENT_SCHEMAS[name].model_fields
        shown = ", ".join(f"{f}={info.default!r}" for f, info in fields.items())
        typer.echo(f"{name}: {shown}")
