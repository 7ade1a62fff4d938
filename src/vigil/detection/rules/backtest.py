"""Backtests: replay a ruleset (or one rule) over stored events and measure it.

What runs (a *target*): ``{"kind": "active"}`` — the live rules as they stand (shadow ones
included: watching them is what shadow mode is for); ``{"kind": "revision", "revision": N}`` —
the live rules as they were at ruleset revision N (from the revision's snapshot);
``{"kind": "rule", "name": ..., "version": N}`` — one rule at one version (a draft, or an old
version), evaluated as if it were active.

Replay. Each stored event is evaluated from what ingestion kept: its envelope
(``Event.payload``) and the feature values computed when it arrived (``Event.features``).
Velocity and model scores are not recomputed, so a backtest sees exactly what the live rules
saw. The ``account`` part is rebuilt from the account as it stands now, aged at the event's
time; ``account.status`` is therefore today's status (a rule that reads it looks better in a
backtest than it was live).

Labels come from reviewers' closed work, per policy: an account with an *applied* decision
(not reversed, not waiting for approval) citing the policy is a positive; an account whose case
for the policy closed as ``no_violation`` (and that has no such decision) is a negative; every
other account a rule hits is unlabelled and reported apart, never counted as a miss. Per rule:
precision = hit positives / hit labelled accounts; recall = hit positives / positives that
had an event of the rule's types in the range.

Samples: each rule's result keeps ``sample_event_ids``, the ids of the up to
``SAMPLES_PER_RULE`` newest events (by time, then id) it hit in the range, newest first, so
the console can show them without replaying anything. Runs stored before samples were kept
have no such key.

Comparing: ``target`` (A, what is being tried) runs side by side with ``compare`` (B, the
baseline) on the same events; per rule, ``hits_gained`` are events A hits and B does not,
``hits_lost`` the reverse, and ``outcome_changes`` counts events whose outcome would move from
B's to A's (``"allow->review": 3``).

Runs are stored (:class:`Backtest`); a range with more than ``INLINE_MAX_EVENTS`` events runs
as a job (``rules.backtest``) instead of inside the request.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select, tuple_
from sqlalchemy.orm import Session

from vigil.accounts.models import Account
from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.cases.models import Case, CaseStatus, Resolution
from vigil.config import Settings
from vigil.detection.models import Event
from vigil.detection.rules import compiler, service
from vigil.detection.rules.engine import (
    Engine,
    LiveRule,
    account_map,
    engines_for,
    live_rules,
    outcome_for,
)
from vigil.detection.rules.models import Backtest, BacktestStatus, RuleState, RuleVersion
from vigil.enforcement.models import Decision, DecisionPolicy, DecisionStatus
from vigil.jobs import service as jobs
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, NotFound
from vigil.kit.pagination import decode_cursor, encode_cursor

JOB_KIND = "rules.backtest"
INLINE_MAX_EVENTS = 10_000
BATCH = 500
DEFAULT_DAYS = 7
SAMPLES_PER_RULE = 5

# --- what runs ----------------------------------------------------------------------------


def _bad(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, field=field, code="invalid_target")


def parse_target(session: Session, raw: Any, *, field: str = "target") -> dict[str, Any]:
    """Check a target and return it normalised (a rule target gets its version filled in)."""
    if raw is None:
        return {"kind": "active"}
    if not isinstance(raw, Mapping):
        raise _bad(f"{field} must be an object with a 'kind'", field)
    kind = raw.get("kind")
    extra = set(raw) - {"kind", "revision", "name", "version"}
    if extra:
        raise _bad(f"{field} has unknown fields: {', '.join(sorted(extra))}", field)
    if kind == "active":
        return {"kind": "active"}
    if kind == "revision":
        number = raw.get("revision")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise _bad(f"{field}.revision must be a revision number", f"{field}.revision")
        service.get_revision(session, number, field=f"{field}.revision")
        return {"kind": "revision", "revision": number}
    if kind == "rule":
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"{field}.name must name a rule", f"{field}.name")
        rule = service._find(session, name)
        if rule is None:
            raise InvalidInput(f"no rule '{name}'", field=f"{field}.name", code="unknown_rule")
        version = raw.get("version", rule.current_version)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise _bad(f"{field}.version must be a version number", f"{field}.version")
        if service._version(session, rule.id, version) is None:
            raise InvalidInput(
                f"rule '{name}' has no version {version}",
                field=f"{field}.version",
                code="unknown_rule_version",
            )
        return {"kind": "rule", "name": name, "version": version}
    raise _bad(f"{field}.kind must be active, revision or rule", f"{field}.kind")


def parse_target_text(session: Session, text: str | None, *, field: str) -> dict[str, Any]:
    """The CLI's and console's short form: ``active``, ``12`` or ``r12`` (a revision),
    ``name`` or ``name@3`` (one rule)."""
    value = (text or "active").strip()
    if value == "active":
        return parse_target(session, {"kind": "active"}, field=field)
    digits = value[1:] if value.startswith("r") and value[1:].isdigit() else value
    if digits.isdigit():
        return parse_target(session, {"kind": "revision", "revision": int(digits)}, field=field)
    name, _, version = value.partition("@")
    raw: dict[str, Any] = {"kind": "rule", "name": name}
    if version:
        if not version.isdigit():
            raise _bad(f"{field}: write name@version, e.g. {name}@2", field)
        raw["version"] = int(version)
    return parse_target(session, raw, field=field)


def describe(target: Mapping[str, Any] | None) -> str:
    if not target:
        return "—"
    if target.get("kind") == "revision":
        return f"ruleset revision {target['revision']}"
    if target.get("kind") == "rule":
        return f"{target['name']} v{target['version']}"
    return "live rules"


def rules_of(session: Session, target: Mapping[str, Any]) -> list[LiveRule]:
    kind = target.get("kind")
    if kind == "revision":
        snapshot = service.get_revision(session, int(target["revision"])).rules
        out = []
        for item in snapshot:
            version = session.scalar(
                select(RuleVersion).where(
                    RuleVersion.rule_id == item["rule_id"], RuleVersion.version == item["version"]
                )
            )
            if version is not None:
                shadow = item.get("state") == RuleState.shadow.value
                out.append(LiveRule.of(version, shadow=shadow))
        return out
    if kind == "rule":
        rule = service.get_rule(session, str(target["name"]))
        version = service._version(session, rule.id, int(target["version"]))
        return [LiveRule.of(version, shadow=False)] if version is not None else []
    return live_rules(session)


# --- labels -------------------------------------------------------------------------------


@dataclass
class Labels:
    positives: set[int] = field(default_factory=set)
    negatives: set[int] = field(default_factory=set)


def labels_for(session: Session, codes: set[str]) -> dict[str, Labels]:
    """Positive and negative accounts per policy code, from closed decisions and cases."""
    out = {code: Labels() for code in codes}
    if not codes:
        return out
    positive_rows = session.execute(
        select(DecisionPolicy.policy_code, Decision.account_id)
        .join(Decision, Decision.id == DecisionPolicy.decision_id)
        .where(
            DecisionPolicy.policy_code.in_(codes),
            Decision.status == DecisionStatus.applied,
            Decision.no_violation.is_(False),
            Decision.account_id.is_not(None),
        )
    )
    for code, account_id in positive_rows:
        if account_id is not None:
            out[code].positives.add(int(account_id))
    negative_rows = session.execute(
        select(Case.policy_code, Case.account_id).where(
            Case.policy_code.in_(codes),
            Case.status == CaseStatus.closed,
            Case.resolution == Resolution.no_violation,
            Case.account_id.is_not(None),
        )
    )
    for policy_code, case_account in negative_rows:
        if policy_code is None or case_account is None:
            continue
        if int(case_account) not in out[policy_code].positives:
            out[policy_code].negatives.add(int(case_account))
    return out


# --- the replay ---------------------------------------------------------------------------


@dataclass
class _Side:
    """What one target did over the range."""

    engines: dict[str, Engine]
    rules: list[LiveRule]
    hits: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    accounts: dict[str, set[Any]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    # Per rule, a min-heap of the newest hits seen so far: (occurred_at, event id).
    samples: dict[str, list[tuple[datetime, int]]] = field(default_factory=dict)

    def sample(self, name: str, occurred_at: datetime, event_id: int) -> None:
        """Keep the event if it is among the rule's ``SAMPLES_PER_RULE`` newest hits."""
        heap = self.samples.setdefault(name, [])
        item = (occurred_at, event_id)
        if len(heap) < SAMPLES_PER_RULE:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)

    def sample_ids(self, name: str) -> list[int]:
        """The kept hits' event ids, newest first."""
        return [event_id for _at, event_id in sorted(self.samples.get(name, []), reverse=True)]


_COLUMNS = (
    Event.id,
    Event.type,
    Event.account_id,
    Event.account_external_id,
    Event.occurred_at,
    Event.payload,
    Event.features,
)


def _events(
    session: Session, event_types: list[str], since: datetime, until: datetime
) -> Iterator[Row[Any]]:
    """Events of these types in [since, until), by type then time, in keyset batches (each
    batch one read of the (type, occurred_at, id) index). Rows, not ORM objects: a long range
    must not fill the session's identity map."""
    for event_type in sorted(event_types):
        after: tuple[datetime, int] | None = None
        while True:
            query = select(*_COLUMNS).where(
                Event.type == event_type, Event.occurred_at >= since, Event.occurred_at < until
            )
            if after is not None:
                query = query.where(tuple_(Event.occurred_at, Event.id) > tuple_(*after))
            batch = list(session.execute(query.order_by(Event.occurred_at, Event.id).limit(BATCH)))
            yield from batch
            if len(batch) < BATCH:
                break
            after = (batch[-1].occurred_at, batch[-1].id)


def count_events(session: Session, event_types: list[str], since: datetime, until: datetime) -> int:
    if not event_types:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(Event)
            .where(
                Event.type.in_(event_types), Event.occurred_at >= since, Event.occurred_at < until
            )
        )
        or 0
    )


def _account_key(event: Row[Any]) -> Any:
    return event.account_id if event.account_id is not None else f"ext:{event.account_external_id}"


def _rule_result(
    rule: LiveRule,
    side: _Side,
    labels: Mapping[str, Labels],
    seen_by_type: Mapping[str, set[Any]],
) -> dict[str, Any]:
    hit = side.accounts.get(rule.name, set())
    out: dict[str, Any] = {
        "name": rule.name,
        "version": rule.version,
        "state": "shadow" if rule.shadow else "active",
        "policy_code": rule.policy_code,
        "event_types": list(rule.event_types),
        "score": rule.score,
        "outcome": rule.outcome,
        "hits": side.hits[rule.name],
        "accounts": len(hit),
        "errors": side.errors[rule.name],
        "true_positives": None,
        "false_positives": None,
        "unlabelled": len(hit),
        "positives": None,
        "precision": None,
        "recall": None,
        "sample_event_ids": side.sample_ids(rule.name),
    }
    label = labels.get(rule.policy_code or "")
    if label is None:
        return out
    seen: set[Any] = set().union(*(seen_by_type.get(t, set()) for t in rule.event_types))
    tp = len(hit & label.positives)
    fp = len(hit & label.negatives)
    positives_seen = len(label.positives & seen)
    out.update(
        true_positives=tp,
        false_positives=fp,
        unlabelled=len(hit) - tp - fp,
        positives=positives_seen,
        precision=round(tp / (tp + fp), 4) if tp + fp else None,
        recall=round(tp / positives_seen, 4) if positives_seen else None,
    )
    return out


def run(session: Session, settings: Settings, backtest: Backtest) -> Backtest:
    """Replay the backtest's target (and comparison) over its range and store the results."""
    schema = compiler.current_schema()
    sides = [_side(session, backtest.target, schema)]
    if backtest.compare:
        sides.append(_side(session, backtest.compare, schema))
    event_types = sorted({t for s in sides for t in s.engines})
    codes = {r.policy_code for s in sides for r in s.rules if r.policy_code}
    labels = labels_for(session, codes)

    # One flattening per event serves every engine: the variables any of them reads.
    needed: dict[str, frozenset[str] | None] = {}
    for event_type in event_types:
        parts = [s.engines[event_type].needed for s in sides if event_type in s.engines]
        complete = any(p is None for p in parts)
        needed[event_type] = None if complete else frozenset(v for p in parts if p for v in p)
    seen_by_type: dict[str, set[Any]] = {}
    changes: Counter[str] = Counter()
    gained: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    accounts: dict[int, Account] = {}
    scanned = 0
    for event in _events(session, event_types, backtest.since_at, backtest.until_at):
        scanned += 1
        key = _account_key(event)
        seen_by_type.setdefault(event.type, set()).add(key)
        account = None
        if event.account_id is not None:
            account = accounts.get(event.account_id)
            if account is None:
                account = session.get(Account, event.account_id)
                if account is not None:
                    accounts[event.account_id] = account
        activation = {
            "event": event.payload or {},
            "account": account_map(account, event.occurred_at),
            "features": event.features or {},
        }
        flat = compiler.flatten(activation, schema, needed[event.type])
        fired: list[set[str]] = []
        outcomes: list[str] = []
        for side in sides:
            engine = side.engines.get(event.type)
            if engine is None:
                fired.append(set())
                outcomes.append("allow")
                side.outcomes["allow"] += 1
                continue
            evaluation = engine.run_flat(flat)
            names = set()
            for hit in evaluation.hits:
                names.add(hit.name)
                side.hits[hit.name] += 1
                side.accounts.setdefault(hit.name, set()).add(key)
                side.sample(hit.name, event.occurred_at, event.id)
            for error in evaluation.errors:
                side.errors[error.name] += 1
            outcome, _score = outcome_for(evaluation.hits, settings)
            side.outcomes[outcome] += 1
            fired.append(names)
            outcomes.append(outcome)
        if len(sides) == 2:
            # A is what is being tried, B the baseline: "gained" is what A adds to B.
            for name in fired[0] - fired[1]:
                gained[name] += 1
            for name in fired[1] - fired[0]:
                lost[name] += 1
            if outcomes[0] != outcomes[1]:
                changes[f"{outcomes[1]}->{outcomes[0]}"] += 1

    backtest.events_scanned = scanned
    backtest.results = [_rule_result(r, sides[0], labels, seen_by_type) for r in sides[0].rules]
    backtest.labels = {
        code: {"positives": len(label.positives), "negatives": len(label.negatives)}
        for code, label in sorted(labels.items())
    }
    backtest.comparison = (
        _comparison(sides, labels, seen_by_type, gained, lost, changes) if len(sides) == 2 else None
    )
    backtest.status = BacktestStatus.done
    backtest.finished_at = clock.now()
    backtest.error = None
    session.flush()
    return backtest


def _side(session: Session, target: Mapping[str, Any], schema: compiler.Schema) -> _Side:
    rules = rules_of(session, target)
    return _Side(engines=engines_for(rules, schema=schema), rules=rules)


def _comparison(
    sides: list[_Side],
    labels: Mapping[str, Labels],
    seen_by_type: Mapping[str, set[Any]],
    gained: Counter[str],
    lost: Counter[str],
    changes: Counter[str],
) -> dict[str, Any]:
    a, b = sides
    by_name_a = {r.name: r for r in a.rules}
    by_name_b = {r.name: r for r in b.rules}
    rows = []
    for name in sorted(set(by_name_a) | set(by_name_b)):
        ra = _rule_result(by_name_a[name], a, labels, seen_by_type) if name in by_name_a else None
        rb = _rule_result(by_name_b[name], b, labels, seen_by_type) if name in by_name_b else None
        acc_a, acc_b = a.accounts.get(name, set()), b.accounts.get(name, set())
        rows.append(
            {
                "name": name,
                "version_a": ra["version"] if ra else None,
                "version_b": rb["version"] if rb else None,
                "hits_a": ra["hits"] if ra else 0,
                "hits_b": rb["hits"] if rb else 0,
                "hits_gained": gained[name],
                "hits_lost": lost[name],
                "accounts_gained": len(acc_a - acc_b),
                "accounts_lost": len(acc_b - acc_a),
                "precision_a": ra["precision"] if ra else None,
                "precision_b": rb["precision"] if rb else None,
                "recall_a": ra["recall"] if ra else None,
                "recall_b": rb["recall"] if rb else None,
            }
        )
    return {
        "rules": rows,
        "outcomes_a": dict(a.outcomes),
        "outcomes_b": dict(b.outcomes),
        "outcome_changes": dict(changes),
    }


# --- runs ---------------------------------------------------------------------------------


def _aware(value: datetime | None, default: datetime) -> datetime:
    return clock.as_utc(value) if value is not None else default


def create(
    session: Session,
    actor: Principal,
    settings: Settings,
    *,
    since: datetime | None,
    until: datetime | None,
    target: Any = None,
    compare: Any = None,
    inline: bool | None = None,
) -> Backtest:
    """Store a backtest and run it now, or enqueue it when the range is large (``inline``
    forces one or the other). Audited as ``rules.backtest.create``."""
    until_at = _aware(until, clock.now())
    since_at = _aware(since, until_at - timedelta(days=DEFAULT_DAYS))
    if since_at >= until_at:
        raise InvalidInput("since must be before until", field="since", code="invalid_range")
    chosen = parse_target(session, target, field="target")
    other = parse_target(session, compare, field="compare") if compare is not None else None
    backtest = Backtest(
        status=BacktestStatus.queued,
        target=chosen,
        compare=other,
        since_at=since_at,
        until_at=until_at,
        requested_by_id=actor.staff_id,
        requested_by_label=actor.label,
        created_at=clock.now(),
    )
    session.add(backtest)
    session.flush()
    types = sorted(
        {t for r in rules_of(session, chosen) for t in r.event_types}
        | ({t for r in rules_of(session, other) for t in r.event_types} if other else set())
    )
    if inline is None:
        inline = count_events(session, types, since_at, until_at) <= INLINE_MAX_EVENTS
    audit.record(
        session,
        actor,
        "rules.backtest.create",
        "rule_backtest",
        backtest.id,
        data={
            "target": chosen,
            "compare": other,
            "since": since_at.isoformat(),
            "until": until_at.isoformat(),
            "inline": inline,
        },
    )
    if inline:
        backtest.status = BacktestStatus.running
        backtest.started_at = clock.now()
        return run(session, settings, backtest)
    job = jobs.enqueue(session, JOB_KIND, {"backtest_id": backtest.id})
    backtest.job_id = job.id
    session.flush()
    return backtest


def run_queued(session: Session, settings: Settings, backtest_id: int) -> Backtest | None:
    """The job's step: lock the run, skip it when another attempt finished it, else run it.
    Safe to run twice (a rerun recomputes the same figures)."""
    backtest = session.scalar(
        select(Backtest)
        .where(Backtest.id == backtest_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if backtest is None or backtest.status is BacktestStatus.done:
        return backtest
    backtest.status = BacktestStatus.running
    backtest.started_at = clock.now()
    session.flush()
    try:
        return run(session, settings, backtest)
    except InvalidInput as exc:  # the revision or rule it named is gone: nothing to retry
        backtest.status = BacktestStatus.failed
        backtest.error = exc.message
        backtest.finished_at = clock.now()
        session.flush()
        return backtest


def get(session: Session, backtest_id: int) -> Backtest:
    found = session.get(Backtest, backtest_id)
    if found is None:
        raise NotFound("no such backtest", field="id", code="backtest_not_found")
    return found


def list_page(
    session: Session, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[Backtest], str | None]:
    """Newest first (keyset on id)."""
    query = select(Backtest)
    if cursor is not None:
        (before,) = decode_cursor(cursor, 1)
        if not isinstance(before, int) or isinstance(before, bool):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(Backtest.id < before)
    rows = list(session.scalars(query.order_by(Backtest.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor
