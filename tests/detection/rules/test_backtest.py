"""Backtests on a small labelled world: accounts, stored events with their features, and
reviewers' decisions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.detection.conftest import make_account
from tests.detection.rules.conftest import SYSTEM, rule_body
from tests.factories import make_staff
from vigil.accounts.models import Account
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.cases import service as cases
from vigil.cases.models import CaseType, Resolution
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.detection.rules import backtest, service
from vigil.detection.rules.models import BacktestStatus
from vigil.enforcement import service as enforcement
from vigil.enforcement.schemas import DecisionIn
from vigil.jobs.models import Job
from vigil.kit import clock
from vigil.kit.errors import InvalidInput

pytestmark = pytest.mark.usefixtures("catalog")
_n = itertools.count(1)
DAY = timedelta(days=1)


@dataclass
class World:
    alice: Account  # spammer, decided (positive), hit by v1
    bob: Account  # reviewed, no violation (negative), hit by v1
    carol: Account  # never reviewed (unlabelled), hit by v1
    dave: Account  # spammer, decided (positive), below v1's bar: a miss
    erin: Account  # decided then reversed on appeal: not a positive
    start: datetime


def stored_event(
    db: Session,
    account: Account | None,
    at: datetime,
    features: dict[str, Any],
    type: str = "message_sent",
    data: dict[str, Any] | None = None,
) -> Event:
    """An event as ingestion stored it: envelope and the features computed at the time."""
    event_id = f"bt-{next(_n)}"
    external = account.external_id if account else "unknown-acct"
    row = Event(
        event_id=event_id,
        payload_sha256="0" * 64,
        type=type,
        account_id=account.id if account else None,
        account_external_id=external,
        occurred_at=at,
        received_at=at,
        source="tests",
        payload={
            "event_id": event_id,
            "type": type,
            "account_id": external,
            "occurred_at": at.isoformat(),
            "data": data or {"text": "hello"},
        },
        features=features,
        outcome="allow",
        score=0.0,
        hits=[],
        errors=[],
    )
    db.add(row)
    db.flush()
    return row


def _decide(db: Session, settings: Settings, account: Account, policy: str) -> int:
    holder = make_staff(db, role=Role.agent)
    case = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.detection, title="Spam?", policy_code=policy, account_id=account.id
        ),
    ).case
    cases.assign(db, SYSTEM, case.id, staff_id=holder.id)
    decision = enforcement.decide(
        db,
        auth_service.principal_for(holder),
        case.id,
        DecisionIn(
            violations=[{"policy": policy}],
            actions=[{"type": "warn", "scope": "account"}],
            internal_reasoning="Bulk messages to strangers.",
        ),
        settings=settings,
    )
    return decision.id


def _cleared(db: Session, account: Account, policy: str) -> None:
    holder = make_staff(db, role=Role.agent)
    case = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.detection, title="Spam?", policy_code=policy, account_id=account.id
        ),
    ).case
    cases.assign(db, SYSTEM, case.id, staff_id=holder.id)
    cases.close(
        db,
        auth_service.principal_for(holder),
        case.id,
        resolution=Resolution.no_violation,
        note="Replies to a group job post.",
    )


@pytest.fixture
def world(db: Session, settings: Settings) -> World:
    accounts = [
        make_account(db, f"bt-{name}") for name in ("alice", "bob", "carol", "dave", "erin")
    ]
    alice, bob, carol, dave, erin = accounts
    _decide(db, settings, alice, "spam")
    _decide(db, settings, dave, "spam")
    reversed_id = _decide(db, settings, erin, "spam")
    enforcement.reverse_decision(db, SYSTEM, reversed_id, "appeal upheld", settings=settings)
    _cleared(db, bob, "spam")

    start = clock.now() - 10 * DAY
    for offset, account, sent in [
        (1, alice, 30),
        (2, alice, 35),
        (1, bob, 25),
        (2, carol, 40),
        (3, dave, 15),
        (3, erin, 50),
    ]:
        stored_event(db, account, start + offset * DAY, {"messages_1h": sent})
    # Outside the range, and of a type the rule does not read: never counted.
    stored_event(db, dave, start - DAY, {"messages_1h": 99})
    stored_event(db, dave, start + DAY, {"messages_1h": 99}, type="login")
    # An event of an account Vigil does not know: hit, unlabelled.
    stored_event(db, None, start + 4 * DAY, {"messages_1h": 60})

    service.create_rule(
        db,
        SYSTEM,
        rule_body(name="mass_messaging", expression="features.messages_1h > 20", score=60),
        state="active",
    )
    return World(alice, bob, carol, dave, erin, start)


def _by_name(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in results}


def test_hits_accounts_precision_and_recall_against_reviewers_labels(
    db: Session, settings: Settings, world: World
) -> None:
    run = backtest.create(db, SYSTEM, settings, since=world.start, until=clock.now())
    assert run.status is BacktestStatus.done
    assert run.events_scanned == 7
    result = _by_name(run.results)["mass_messaging"]
    # alice twice, bob, carol, erin, the unknown account.
    assert result["hits"] == 6 and result["accounts"] == 5
    assert result["true_positives"] == 1  # alice
    assert result["false_positives"] == 1  # bob
    assert result["unlabelled"] == 3  # carol, erin (reversed), the unknown account
    assert result["positives"] == 2  # alice and dave had messages in the range
    assert result["precision"] == 0.5 and result["recall"] == 0.5
    assert run.labels == {"spam": {"positives": 2, "negatives": 1}}


def test_a_draft_version_compared_with_the_live_one(
    db: Session, settings: Settings, world: World
) -> None:
    service.change_state(db, SYSTEM, "mass_messaging", "shadow", reason="tuning")
    service.change_state(db, SYSTEM, "mass_messaging", "draft", reason="tuning")
    service.update_rule(
        db,
        SYSTEM,
        "mass_messaging",
        {"expression": "features.messages_1h > 10"},
        change_reason="catch slower spammers",
    )
    run = backtest.create(
        db,
        SYSTEM,
        settings,
        since=world.start,
        until=clock.now(),
        target={"kind": "rule", "name": "mass_messaging"},
        compare={"kind": "rule", "name": "mass_messaging", "version": 1},
    )
    assert run.target == {"kind": "rule", "name": "mass_messaging", "version": 2}
    draft = _by_name(run.results)["mass_messaging"]
    assert draft["recall"] == 1.0 and draft["precision"] == 0.6667
    row = run.comparison["rules"][0]
    assert (row["version_a"], row["version_b"]) == (2, 1)
    assert (row["hits_a"], row["hits_b"]) == (7, 6)
    assert (row["hits_gained"], row["hits_lost"]) == (1, 0)  # v2 also catches dave
    assert (row["accounts_gained"], row["accounts_lost"]) == (1, 0)
    assert (row["recall_a"], row["recall_b"]) == (1.0, 0.5)
    assert run.comparison["outcome_changes"] == {"allow->review": 1}


def test_a_past_revision_replays_the_rules_as_they_were(
    db: Session, settings: Settings, world: World
) -> None:
    service.update_rule(
        db,
        SYSTEM,
        "mass_messaging",
        {"expression": "features.messages_1h > 45"},
        change_reason="too broad",
    )
    run = backtest.create(
        db,
        SYSTEM,
        settings,
        since=world.start,
        until=clock.now(),
        target={"kind": "revision", "revision": 1},
        compare={"kind": "active"},
    )
    assert _by_name(run.results)["mass_messaging"]["version"] == 1
    assert _by_name(run.results)["mass_messaging"]["hits"] == 6
    row = run.comparison["rules"][0]
    assert (row["hits_a"], row["hits_b"], row["hits_gained"]) == (6, 2, 4)
    assert row["hits_lost"] == 0 and row["accounts_gained"] == 3


def test_shadow_rules_are_measured_but_do_not_change_outcomes(
    db: Session, settings: Settings, world: World
) -> None:
    service.change_state(db, SYSTEM, "mass_messaging", "shadow", reason="watch")
    run = backtest.create(db, SYSTEM, settings, since=world.start, until=clock.now())
    result = _by_name(run.results)["mass_messaging"]
    assert result["state"] == "shadow" and result["hits"] == 6


def test_a_large_range_runs_as_a_job(
    db: Session, settings: Settings, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = backtest.create(
        db, SYSTEM, settings, since=world.start, until=clock.now(), inline=False
    )
    assert queued.status is BacktestStatus.queued and queued.results == []
    job = db.get(Job, queued.job_id)
    assert job is not None and job.kind == backtest.JOB_KIND
    assert job.payload == {"backtest_id": queued.id}
    done = backtest.run_queued(db, settings, queued.id)
    assert done is not None and done.status is BacktestStatus.done
    assert _by_name(done.results)["mass_messaging"]["hits"] == 6
    # Twice is harmless.
    assert backtest.run_queued(db, settings, queued.id).events_scanned == 7  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target": {"kind": "revision", "revision": 99}}, "target.revision"),
        ({"target": {"kind": "rule", "name": "nope"}}, "target.name"),
        ({"target": {"kind": "rule", "name": "mass_messaging", "version": 9}}, "target.version"),
        ({"target": {"kind": "everything"}}, "target.kind"),
        ({"compare": "yesterday"}, "compare"),
    ],
)
def test_bad_targets_are_named(
    db: Session, settings: Settings, world: World, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        backtest.create(db, SYSTEM, settings, since=world.start, until=clock.now(), **kwargs)
    assert raised.value.field == field


def test_the_range_must_be_ordered(db: Session, settings: Settings, world: World) -> None:
    with pytest.raises(InvalidInput) as raised:
        backtest.create(db, SYSTEM, settings, since=clock.now(), until=world.start)
    assert raised.value.code == "invalid_range"


def test_runs_are_listed_newest_first(db: Session, settings: Settings, world: World) -> None:
    first = backtest.create(db, SYSTEM, settings, since=world.start, until=clock.now())
    second = backtest.create(db, SYSTEM, settings, since=world.start, until=clock.now())
    page, cursor = backtest.list_page(db, limit=1)
    assert [b.id for b in page] == [second.id] and cursor is not None
    rest, _ = backtest.list_page(db, cursor=cursor, limit=1)
    assert [b.id for b in rest] == [first.id]
    assert db.scalar(select(Event.id).limit(1)) is not None


def test_each_rule_keeps_its_five_newest_hits_as_samples(
    db: Session, settings: Settings, world: World
) -> None:
    # A second type the rule reads, older than every message: it must not push a newer hit out.
    service.update_rule(
        db,
        SYSTEM,
        "mass_messaging",
        {"event_types": ["message_sent", "proposal_sent"]},
        change_reason="proposals too",
    )
    early = stored_event(
        db, world.carol, world.start + DAY / 2, {"messages_1h": 70}, type="proposal_sent"
    )
    late = stored_event(
        db, world.carol, world.start + 5 * DAY, {"messages_1h": 70}, type="proposal_sent"
    )
    run = backtest.create(db, SYSTEM, settings, since=world.start, until=clock.now())
    result = _by_name(run.results)["mass_messaging"]
    assert result["hits"] == 8
    hit = list(
        db.execute(
            select(Event.id, Event.occurred_at).where(
                Event.id.in_([*_hit_ids(db, world), early.id, late.id])
            )
        )
    )
    newest = [i for _at, i in sorted(((at, i) for i, at in hit), reverse=True)][:5]
    assert result["sample_event_ids"] == newest
    assert newest[0] == late.id and early.id not in newest
    # Kept with the run: the API shows them too, and a job-run backtest keeps the same ones.
    queued = backtest.create(
        db, SYSTEM, settings, since=world.start, until=clock.now(), inline=False
    )
    done = backtest.run_queued(db, settings, queued.id)
    assert done is not None
    assert _by_name(done.results)["mass_messaging"]["sample_event_ids"] == newest


def test_a_rule_without_hits_keeps_no_samples(
    db: Session, settings: Settings, world: World
) -> None:
    service.update_rule(
        db,
        SYSTEM,
        "mass_messaging",
        {"expression": "features.messages_1h > 500"},
        change_reason="nothing that loud",
    )
    run = backtest.create(db, SYSTEM, settings, since=world.start, until=clock.now())
    result = _by_name(run.results)["mass_messaging"]
    assert result["hits"] == 0 and result["sample_event_ids"] == []


def _hit_ids(db: Session, world: World) -> list[int]:
    """The message events ``world``'s rule hits in its range (more than 20 messages)."""
    rows = db.execute(
        select(Event.id, Event.features).where(
            Event.type == "message_sent", Event.occurred_at >= world.start
        )
    )
    return [i for i, features in rows if features.get("messages_1h", 0) > 20]
