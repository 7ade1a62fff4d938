"""Tables of detection rules: the rules (``Rule``), their history (``RuleVersion``), the
ruleset's revisions (``RulesetRevision``) and backtest runs (``Backtest``).

Invariants:
- A rule's ``name`` never changes; events' recorded hits, cases and backtests refer to it.
- ``RuleVersion`` rows are immutable and never deleted (the ORM refuses both, see the
  listeners below): an event's hits name the version that fired, so what fired can always be
  shown exactly as it was. Versions are numbered from 1 without gaps; ``Rule.current_version``
  is the newest, and it is the version the engine runs while the rule is shadow or active.
- ``Rule.state`` changes only through ``rules.states.transition`` (one timestamp per step).
- Every change that alters what the engine runs (a new version of a shadow or active rule, a
  state change into or out of shadow/active) appends a ``RulesetRevision`` in the same
  transaction, with a snapshot of the live rules. The newest revision's ``(revision, token)``
  is the engine cache's key; the token is random, so a database that was restored or truncated
  and counts the same revision numbers again is still told apart.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from vigil.kit import clock
from vigil.kit.models import (
    Base,
    BigId,
    IdMixin,
    JSONList,
    JSONType,
    TimestampMixin,
    UTCDateTime,
    enum_check,
    str_enum,
)

NAME_MAX = 64
_FK_STAFF = "staff_users.id"


class RuleState(StrEnum):
    draft = "draft"  # being written: never evaluated on live events (backtests only)
    shadow = "shadow"  # evaluated and recorded on every event, with no effect on the outcome
    active = "active"  # evaluated; its score and outcome count
    disabled = "disabled"  # switched off; kept with its history


LIVE_STATES = frozenset({RuleState.shadow, RuleState.active})


class RuleOutcome(StrEnum):
    allow = "allow"
    review = "review"
    block = "block"

    @property
    def rank(self) -> int:
        return list(RuleOutcome).index(self)


class BacktestStatus(StrEnum):
    queued = "queued"  # waiting for a worker (large ranges)
    running = "running"
    done = "done"
    failed = "failed"


class Rule(IdMixin, TimestampMixin, Base):
    """One detection rule. Its content lives in its versions."""

    __tablename__ = "rules"
    __table_args__ = (
        CheckConstraint(enum_check("state", RuleState), name="state"),
        CheckConstraint("current_version >= 1", name="current_version_positive"),
        # The engine's load: live rules (shadow + active); the console list by state.
        Index("ix_rules_state_name", "state", "name"),
    )

    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    state: Mapped[RuleState] = mapped_column(str_enum(RuleState, 16), default=RuleState.draft)
    current_version: Mapped[int] = mapped_column(default=1)
    # A timestamp per step: when the rule last entered each state.
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    shadowed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )


class RuleVersion(IdMixin, Base):
    """What a rule said at one point in time. Written once, never changed, never deleted."""

    __tablename__ = "rule_versions"
    __table_args__ = (
        UniqueConstraint("rule_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(enum_check("outcome", RuleOutcome), name="outcome"),
        # Hits name a rule and version: resolve them without going through the rule row.
        Index("ix_rule_versions_name_version", "name", "version"),
    )

    # RESTRICT: a rule that has versions cannot be deleted; recorded hits cite them.
    rule_id: Mapped[int] = mapped_column(BigId, ForeignKey("rules.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    version: Mapped[int]

    description: Mapped[str] = mapped_column(Text)
    expression: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    outcome: Mapped[RuleOutcome] = mapped_column(str_enum(RuleOutcome, 16))
    queue: Mapped[str | None] = mapped_column(String(64))
    policy_code: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(JSONList, default=list)
    event_types: Mapped[list[str]] = mapped_column(JSONList)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    created_by_label: Mapped[str] = mapped_column(String(200), default="system")
    change_reason: Mapped[str] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<RuleVersion {self.name} v{self.version}>"


class RulesetRevision(IdMixin, Base):
    """The live ruleset after one change. Append-only.

    ``rules`` is the snapshot ``[{"rule_id", "name", "version", "state"}]`` of every shadow and
    active rule at this revision, so a backtest can replay "the ruleset as it was at revision
    N" after the rules moved on.
    """

    __tablename__ = "ruleset_revisions"
    __table_args__ = (CheckConstraint("revision >= 1", name="revision_positive"),)

    # unique=True gives the index the engine's check reads: the newest revision.
    revision: Mapped[int] = mapped_column(unique=True)
    token: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    actor_label: Mapped[str] = mapped_column(String(200), default="system")
    change: Mapped[str] = mapped_column(Text)  # what moved, for people: "fraud_x v3 active"
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONList)


class Backtest(IdMixin, Base):
    """One run of a ruleset (or one rule) over stored events, and its results.

    ``target`` and ``compare`` say what ran: ``{"kind": "active"}``, ``{"kind": "revision",
    "revision": N}`` or ``{"kind": "rule", "name": ..., "version": N}``. ``results`` holds one
    entry per rule (hits, accounts, precision, recall...); ``comparison`` the side-by-side
    figures when ``compare`` is set. See ``rules.backtest``.
    """

    __tablename__ = "rule_backtests"
    __table_args__ = (
        CheckConstraint(enum_check("status", BacktestStatus), name="status"),
        CheckConstraint("until_at > since_at", name="range"),
        # Waiting and running runs (the console's "in progress" list).
        Index("ix_rule_backtests_status", "status", "id"),
    )

    status: Mapped[BacktestStatus] = mapped_column(
        str_enum(BacktestStatus, 16), default=BacktestStatus.queued
    )
    target: Mapped[dict[str, Any]] = mapped_column(JSONType)
    compare: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    since_at: Mapped[datetime] = mapped_column(UTCDateTime())
    until_at: Mapped[datetime] = mapped_column(UTCDateTime())

    requested_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey(_FK_STAFF, ondelete="SET NULL")
    )
    requested_by_label: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    events_scanned: Mapped[int] = mapped_column(default=0)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONList, default=list)
    comparison: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(BigId)


class ImmutableRuleVersionError(RuntimeError):
    """A programming error: something tried to change or delete a written rule version."""


@sa_event.listens_for(RuleVersion, "before_update")
def _refuse_update(_mapper: Mapper[Any], _connection: Any, target: RuleVersion) -> None:
    raise ImmutableRuleVersionError(
        f"rule version {target.name} v{target.version} is immutable; write a new version"
    )


@sa_event.listens_for(RuleVersion, "before_delete")
def _refuse_delete(_mapper: Mapper[Any], _connection: Any, target: RuleVersion) -> None:
    raise ImmutableRuleVersionError(
        f"rule version {target.name} v{target.version} is cited by recorded hits; never deleted"
    )
