"""Feed a simulated event stream to Vigil: straight into the database through the real
pipeline (:func:`vigil.detection.service.ingest`), or over HTTP to a running server
(``POST /v1/events/batch``).

Direct ingestion replays history on the Vigil clock, like :mod:`vigil.simulate.runner`: each
event is decided with the clock set to the moment it happened, so the cases and decisions it
causes carry that date. The clock is process-wide, so this belongs in its own process (the CLI,
an eval script), never inside a server. The plan's suspensions (the suspended originals of
duplicate identities) are placed when they happened, so "shares a device with a banned account"
has something to find. Commits every ``batch`` events; a refused event stops the run with the
batches before it kept.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.accounts import service as accounts
from vigil.accounts.models import Account
from vigil.auth.principal import Principal
from vigil.config import Settings
from vigil.db import transaction
from vigil.kit import clock
from vigil.kit.errors import VigilError
from vigil.simulate.events import EventStream, SimEvent
from vigil.simulate.plan import Plan, RestrictionPlan

if TYPE_CHECKING:
    from vigil.detection.service import EventResult

SIMULATOR = Principal.system("simulator")
DEFAULT_BATCH = 500


@dataclass
class FeedSummary:
    """What feeding a stream did. ``seconds`` counts the pipeline only (not generating)."""

    events: int = 0
    duplicates: int = 0
    refused: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    rule_hits: Counter[str] = field(default_factory=Counter)
    cases: set[int] = field(default_factory=set)
    decisions: int = 0
    rule_errors: int = 0
    restrictions: int = 0
    seconds: float = 0.0
    # Seconds per event, direct ingestion only (the pipeline's own work, no commit).
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        top = ", ".join(f"{k} {v}" for k, v in self.rule_hits.most_common(8))
        return [
            f"fed          {self.events} events in {self.seconds:.1f} s "
            f"({self.per_second:.0f} events/s)",
            f"outcomes     {outcomes or '-'}"
            + (f"; {self.duplicates} already decided" if self.duplicates else "")
            + (f"; {self.refused} refused" if self.refused else ""),
            f"cases        {len(self.cases)} opened or added to; {self.decisions} automated "
            f"decisions; {self.restrictions} suspensions from the plan",
            f"rules        {top or 'none fired'}"
            + (f"; {self.rule_errors} rule errors" if self.rule_errors else ""),
        ]

    def count(self, result: EventResult | Any) -> None:
        """Tally one decision (an ``EventResult`` or the API's JSON decision)."""
        get = result.get if isinstance(result, dict) else lambda k: getattr(result, k)
        self.events += 1
        if get("duplicate"):
            self.duplicates += 1
        self.outcomes[str(get("outcome"))] += 1
        for hit in get("hits") or []:
            name = hit.get("name") if isinstance(hit, dict) else getattr(hit, "name", "?")
            self.rule_hits[str(name)] += 1
        case_id = get("case_id")
        if case_id is not None:
            self.cases.add(int(case_id))
        if get("decision_id"):
            self.decisions += 1
        self.rule_errors += len(get("errors") or [])


OnResult = Callable[[SimEvent, "EventResult"], None]


def ingest_stream(
    factory: sessionmaker[Session],
    settings: Settings,
    stream: EventStream,
    plan: Plan | None = None,
    *,
    actor: Principal = SIMULATOR,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
    on_result: OnResult | None = None,
) -> FeedSummary:
    """Decide every event of ``stream`` through the real pipeline, in time order, each with
    the clock at its moment. ``plan`` (the one the stream came from) adds its suspensions."""
    from vigil.detection import service as detection
    from vigil.detection.events import EventIn

    summary = FeedSummary()
    store = detection.store_for(settings)
    bans = sorted(plan.restrictions if plan else [], key=lambda r: r[0])
    external = {a.index: a.external_id for a in plan.accounts} if plan else {}
    events = stream.events
    done = 0
    while done < len(events):
        chunk = events[done : done + batch]
        started = time.perf_counter()
        with transaction(factory) as session:
            for e in chunk:
                while bans and bans[0][0] <= e.at:
                    at, ban = bans.pop(0)
                    with clock.frozen(at):
                        summary.restrictions += _suspend(session, actor, ban, external)
                with clock.frozen(e.at):
                    begun = time.perf_counter()
                    try:
                        result = detection.ingest(
                            session,
                            settings,
                            EventIn.model_validate(e.envelope),
                            actor=actor,
                            store=store,
                        )
                    except VigilError as exc:
                        exc.add_note(f"while ingesting {e.envelope['event_id']}")
                        raise
                summary.latencies.append(time.perf_counter() - begun)
                summary.count(result)
                if on_result is not None:
                    on_result(e, result)
        summary.seconds += time.perf_counter() - started
        done += len(chunk)
        if progress is not None:
            progress(done, len(events))
    return summary


def _suspend(
    session: Session, actor: Principal, ban: RestrictionPlan, external: dict[int, str]
) -> int:
    account = session.scalar(
        select(Account).where(Account.external_id == external.get(ban.account, ""))
    )
    if account is None or ban.kind in accounts.in_force_kinds(session, account):
        return 0  # not signed up (yet), or already suspended (by a case, or an earlier run)
    ends_at = clock.now() + timedelta(days=ban.days) if ban.days else None
    accounts.place_restriction(
        session,
        actor,
        account,
        ban.kind,
        ban.reason,
        ends_at=ends_at,
        policy_code=ban.policy_code,
    )
    return 1


def post_stream(
    url: str,
    api_key: str,
    events: Iterable[SimEvent],
    *,
    batch: int = 1000,
    timeout: float = 120.0,
    progress: Callable[[int, int], None] | None = None,
    total: int = 0,
    client: httpx.Client | None = None,
) -> FeedSummary:
    """Send the events to a running Vigil, ``batch`` per ``POST /v1/events/batch``. An HTTP
    error status stops the run (``httpx.HTTPStatusError``); refused items are counted.
    ``client``: an ``httpx.Client`` to send with (tests pass the app's test client)."""

    summary = FeedSummary()
    endpoint = url.rstrip("/") + "/v1/events/batch"
    headers = {"Authorization": f"Bearer {api_key}"}
    pending: list[dict[str, Any]] = []

    def send(client: httpx.Client) -> None:
        started = time.perf_counter()
        response = client.post(endpoint, json={"events": pending}, headers=headers)
        response.raise_for_status()
        summary.seconds += time.perf_counter() - started
        for item in response.json()["items"]:
            if item.get("decision"):
                summary.count(item["decision"])
            else:
                summary.refused += 1
        pending.clear()
        if progress is not None:
            progress(summary.events + summary.refused, total)

    http = client or httpx.Client(timeout=timeout)
    try:
        for e in events:
            pending.append(e.envelope)
            if len(pending) >= batch:
                send(http)
        if pending:
            send(http)
    finally:
        if client is None:  # a client passed in belongs to the caller
            http.close()
    return summary
