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


def make_account(
    db: Session, country: str | None = "US", registered_at: datetime | None = None
) -> Account:
    n = next(_n)
    account = Account(
        external_id=f"trend-acct-{n}",
        side=Side.client,
        country=country,
        registered_at=registered_at or datetime(2026, 1, 5, tzinfo=UTC),
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
    }


def report(at: datetime, account: Account, reason: str, **kw: Any) -> dict[str, Any]:
    return event(at, account, "report_filed", data={"reason": reason, "text": "t"}, **kw)


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


class Scenario:
    """Background reports every hour (2 scam, 2 spam from US accounts), busy Mondays for
    spam (25 an hour, 09:00-17:59, every week), and optionally a scam wave on the judged
    Monday from 09:00 to ``wave_end``: 20 an hour, 16 of them from new BR accounts, each of
    the BR reports linked to a case. Events are inserted in the order they are received."""

    def __init__(self, db: Session, *, wave_end: datetime | None = None,
                 until: datetime | None = None) -> None:  # fmt: skip
        self.us = make_account(db, "US", datetime(2025, 6, 2, tzinfo=UTC))
        self.br = make_account(db, "BR", MONDAY - timedelta(days=2))  # week of Mon 11-16
        self.case_ids: list[int] = []
        self.queue_id: int | None = None
        rows: list[dict[str, Any]] = []
        for at in hours(HISTORY_START, until or MONDAY + timedelta(hours=13)):
            busy = at.weekday() == 0 and 9 <= at.hour <= 17
            for i in range(2):
                rows.append(report(at + timedelta(minutes=10 + i), self.us, "scam"))
            for i in range(25 if busy else 2):
                rows.append(report(at + timedelta(minutes=20 + i), self.us, "spam"))
            if wave_end is not None and RISE_AT <= at < wave_end:
                for i in range(16):
                    rows.append(report(at + timedelta(minutes=30 + i), self.br, "scam",
                                       case_id=self._case(db) if i < 12 else None))  # fmt: skip
                for i in range(2):
                    rows.append(report(at + timedelta(minutes=50 + i), self.us, "scam"))
        rows.sort(key=lambda r: r["occurred_at"])
        add(db, rows)

    def _case(self, db: Session) -> int:
        from vigil.cases import routing
        from vigil.cases.models import Case, CaseType

        if self.queue_id is None:
            self.queue_id = routing.ensure_default_queues(db)[0].id
        case = Case(type=CaseType.user_report, title="Scam report", account_id=self.br.id,
                    queue_id=self.queue_id, sla_due_at=MONDAY + timedelta(days=1))  # fmt: skip
        db.add(case)
        db.flush()
        self.case_ids.append(case.id)
        return case.id


def quick_alert(db: Session, at: datetime = MONDAY + timedelta(hours=11)) -> int:
    """One alert, opened by the roll-up and the detector: 15 ``crypto_giveaway`` reports in
    the hour from ``at``, a reason never seen; the same account's 8 spam reports a week
    earlier keep its country and cohort from alerting too. The clock must be frozen; it is
    left just after the judged hour. Returns the alert's id."""
    from vigil.analytics.trends import detect, rollup
    from vigil.kit import clock

    account = make_account(db, "AR")
    week_ago = at - timedelta(days=7)
    rows = [report(week_ago + timedelta(minutes=i), account, "spam") for i in range(8)]
    rows += [
        report(at + timedelta(minutes=i), account, "crypto_giveaway", case_id=None)
        for i in range(15)
    ]
    add(db, rows)
    with clock.frozen(at + timedelta(hours=1, minutes=5)):
        rollup.run(db)
        result = detect.run(db)
    assert len(result.opened) == 1, result
    return result.opened[0]
