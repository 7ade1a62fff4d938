"""Arranging events for trend tests: accounts, events inserted as ingestion stores them
(received when they occurred), and a few scenarios over weeks."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from vigil.accounts.models import Account, Side
from vigil.detection.models import Event

_n = itertools.count(1)

# A Monday, so weekday arithmetic in tests reads plainly.
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


OLD = datetime(2026, 1, 5, tzinfo=UTC)


def make_account(
    db: Session,
    country: str | None = "US",
    registered_at: datetime | None = OLD,
) -> Account:
    """An account; ``registered_at=None`` for one whose signup date Vigil was never told."""
    n = next(_n)
    account = Account(
        external_id=f"trend-acct-{n}",
        side=Side.client,
        country=country,
        registered_at=registered_at,
    )
    db.add(account)
    db.flush()
    return account


def event(
    at: datetime,
    account: Account | None,
    type: str = "report_filed",
    *,
    data: dict[str, Any] | None = None,
    outcome: str = "allow",
    hits: list[dict[str, Any]] | None = None,
    case_id: int | None = None,
    received_at: datetime | None = None,
    counterparty: Account | str | None = None,
) -> dict[str, Any]:
    n = next(_n)
    return {
        "event_id": f"trend-evt-{n}",
        "payload_sha256": "0" * 64,
        "type": type,
        "account_id": account.id if account else None,
        "account_external_id": account.external_id if account else f"unknown-{n}",
        "occurred_at": at,
        "received_at": received_at or at,
        "payload": {"type": type, "data": data or {}},
        "features": {},
        "outcome": outcome,
        "score": 0.0,
        "hits": hits or [],
        "errors": [],
        "case_id": case_id,
        "counterparty_external_id": (
            counterparty.external_id if isinstance(counterparty, Account) else counterparty
        ),
    }


def report(
    at: datetime,
    reporter: Account | None,
    reason: str,
    about: Account | str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """A report filed by ``reporter`` about ``about`` (the reported account, the envelope's
    counterparty)."""
    return event(at, reporter, "report_filed", data={"reason": reason, "text": "t"},
                 counterparty=about, **kw)  # fmt: skip


def hit(name: str, policy: str, *, shadow: bool = False) -> dict[str, Any]:
    return {"rule_id": 1, "name": name, "policy_code": policy, "outcome": "review",
            "shadow": shadow, "score": 50}  # fmt: skip


def add(db: Session, rows: Iterable[dict[str, Any]]) -> int:
    batch = list(rows)
    if batch:
        db.execute(insert(Event), batch)
        db.flush()
    return len(batch)


def hours(start: datetime, end: datetime) -> Iterable[datetime]:
    at = start
    while at < end:
        yield at
        at += timedelta(hours=1)


# --- scenarios ---------------------------------------------------------------------------------

# Five weeks of history before the Monday the tests judge.
HISTORY_START = MONDAY - timedelta(weeks=5)
RISE_AT = MONDAY + timedelta(hours=9)  # the scam wave starts at 09:00 that Monday
WEEK = timedelta(weeks=1)


class Scenario:
    """Ordinary US users report other accounts every hour: 2 scam and 2 spam reports about
    long-standing US accounts, with busy Mondays for spam (25 an hour, 09:00-17:59, every
    week). Optionally, a scam wave on the judged Monday from 09:00 to ``wave_end``: 20 scam
    reports an hour, 16 of them about new BR accounts (registered two days earlier), each of
    the first 12 linked to a case; ``past_wave`` plays the same wave one week earlier too.
    Events are inserted in the order they are received."""

    def __init__(self, db: Session, *, wave_end: datetime | None = None,
                 until: datetime | None = None, past_wave: bool = False) -> None:  # fmt: skip
        self.victims = [make_account(db, "US", datetime(2024, 3, 4, tzinfo=UTC)) for _ in range(3)]
        self.us = make_account(db, "US", datetime(2025, 6, 2, tzinfo=UTC))
        self.br = [make_account(db, "BR", MONDAY - timedelta(days=2)) for _ in range(4)]
        self.old_br = make_account(db, "BR", MONDAY - timedelta(days=9))
        self.case_ids: list[int] = []
        self.queue_id: int | None = None
        rows: list[dict[str, Any]] = []
        waves = []
        if wave_end is not None:
            waves.append((RISE_AT, wave_end, self.br))
            if past_wave:
                waves.append((RISE_AT - WEEK, wave_end - WEEK, [self.old_br]))
        for at in hours(HISTORY_START, until or MONDAY + timedelta(hours=13)):
            busy = at.weekday() == 0 and 9 <= at.hour <= 17
            for i in range(2):
                rows.append(report(at + timedelta(minutes=10 + i), self.victims[i], "scam",
                                   about=self.us))  # fmt: skip
            for i in range(25 if busy else 2):
                rows.append(report(at + timedelta(minutes=20 + i), self.victims[i % 3], "spam",
                                   about=self.us))  # fmt: skip
            for start, end, bad in waves:
                if not start <= at < end:
                    continue
                for i in range(16):
                    case_id = (
                        self._case(db, bad[i % len(bad)]) if i < 12 and at >= RISE_AT else None
                    )
                    who, whom = self.victims[i % 3], bad[i % len(bad)]
                    rows.append(report(at + timedelta(minutes=30 + i), who, "scam", about=whom,
                                       case_id=case_id))  # fmt: skip
                for i in range(2):
                    rows.append(report(at + timedelta(minutes=50 + i), self.victims[2], "scam",
                                       about=self.us))  # fmt: skip
        rows.sort(key=lambda r: r["occurred_at"])
        add(db, rows)

    def _case(self, db: Session, account: Account) -> int:
        from vigil.cases import routing
        from vigil.cases.models import Case, CaseType

        if self.queue_id is None:
            self.queue_id = routing.ensure_default_queues(db)[0].id
        case = Case(type=CaseType.user_report, title="Scam report", account_id=account.id,
                    queue_id=self.queue_id, sla_due_at=MONDAY + timedelta(days=1))  # fmt: skip
        db.add(case)
        db.flush()
        self.case_ids.append(case.id)
        return case.id


def quick_alert(
    db: Session, at: datetime = MONDAY + timedelta(hours=11), reason: str = "crypto_giveaway"
) -> int:
    """One alert, opened by the roll-up and the detector: 15 ``crypto_giveaway`` reports
    about one account in the hour from ``at``, a reason never seen; 8 spam reports about the
    same account a week earlier keep its country and age band from alerting too. The clock
    must be frozen; it is left just after the judged hour. Returns the alert's id."""
    from vigil.analytics.trends import detect, rollup
    from vigil.kit import clock

    reporter = make_account(db, "US")
    account = make_account(db, "AR")
    week_ago = at - timedelta(days=7)
    rows = [report(week_ago + timedelta(minutes=i), reporter, "spam", about=account)
            for i in range(8)]  # fmt: skip
    rows += [report(at + timedelta(minutes=i), reporter, reason, about=account) for i in range(15)]
    add(db, rows)
    with clock.frozen(at + timedelta(hours=1, minutes=5)):
        rollup.run(db)
        result = detect.run(db)
    assert len(result.opened) == 1, result
    return result.opened[0]
