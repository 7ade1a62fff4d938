"""Tables of the policies domain: the catalog (``Policy``) and its history (``PolicyVersion``).

Invariants:
- A policy's ``code`` never changes; it is how rules, cases, decisions and messages refer to it.
- ``PolicyVersion`` rows are immutable once written and never deleted: a decision cites the
  version it applied, so what a reviewer enforced can always be shown exactly as it was. Every
  edit writes a new version with who, when and why. The ORM refuses updates and deletes of a
  version (see the listeners below); the foreign key from a version to its policy refuses the
  deletion of a policy that has versions.
- ``Policy.current_version`` is the number of the newest version; versions are numbered from 1
  without gaps. Retiring a policy keeps every version; it only stops new decisions citing it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from vigil.cases.models import Severity
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
from vigil.policies.actions import ActionType

CODE_MAX = 64


class Policy(IdMixin, TimestampMixin, Base):
    """One entry of the catalog. Its content lives in its versions."""

    __tablename__ = "policies"
    __table_args__ = (
        CheckConstraint("current_version >= 1", name="current_version_positive"),
        CheckConstraint("(retired_at IS NOT NULL) = retired", name="retired_at_iff_retired"),
        # The catalog listing: live policies by code.
        Index("ix_policies_retired_code", "retired", "code"),
    )

    code: Mapped[str] = mapped_column(String(CODE_MAX), unique=True)
    current_version: Mapped[int] = mapped_column(default=1)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    retire_reason: Mapped[str | None] = mapped_column(Text)


class PolicyVersion(IdMixin, Base):
    """What a policy said at one point in time. Written once, never changed, never deleted.

    ``ladder`` holds steps ``{"strikes", "action", "scope", "duration_days"}`` sorted by
    strictly increasing ``strikes``; ``grey_areas`` holds ``{"title", "guidance"}`` items;
    ``user_title`` and ``user_explanation`` map a language
    (``en``, ``es``, ``pt``...) to the text the user reads. The content rules are enforced by
    ``vigil.policies.schemas.validate_policy`` before a version is written.
    """

    __tablename__ = "policy_versions"
    __table_args__ = (
        UniqueConstraint("policy_id", "version"),
        # Resolving "code vN" without going through the policy row (decision history, exports).
        Index("ix_policy_versions_code_version", "code", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(enum_check("severity", Severity), name="severity"),
        CheckConstraint(enum_check("default_action", ActionType), name="default_action"),
        CheckConstraint("strike_weight >= 0", name="strike_weight_not_negative"),
        CheckConstraint("strike_ttl_days >= 1", name="strike_ttl_days_positive"),
        CheckConstraint(
            "dsa_ground IN ('DECISION_GROUND_ILLEGAL_CONTENT', "
            "'DECISION_GROUND_INCOMPATIBLE_CONTENT')",
            name="dsa_ground",
        ),
        CheckConstraint(
            "dsa_ground <> 'DECISION_GROUND_ILLEGAL_CONTENT' "
            "OR (legal_ground IS NOT NULL AND illegal_explanation IS NOT NULL)",
            name="illegal_content_has_legal_ground",
        ),
    )

    # RESTRICT: a policy that has versions cannot be deleted, because decisions cite them.
    policy_id: Mapped[int] = mapped_column(BigId, ForeignKey("policies.id", ondelete="RESTRICT"))
    code: Mapped[str] = mapped_column(String(CODE_MAX))
    version: Mapped[int]

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    guidance: Mapped[str] = mapped_column(Text)
    examples_allowed: Mapped[list[str]] = mapped_column(JSONList, default=list)
    examples_not_allowed: Mapped[list[str]] = mapped_column(JSONList, default=list)
    # Hard calls the examples do not settle: ``{"title", "guidance"}`` items, in the order a
    # reviewer should read them. Shown on the case page next to the guidance.
    grey_areas: Mapped[list[dict[str, str]]] = mapped_column(JSONList, default=list)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, 16))

    allowed_actions: Mapped[list[str]] = mapped_column(JSONList)
    default_action: Mapped[str] = mapped_column(String(16))
    strike_weight: Mapped[int] = mapped_column(default=1)
    strike_ttl_days: Mapped[int] = mapped_column(default=365)
    ladder: Mapped[list[dict[str, Any]]] = mapped_column(JSONList)

    dsa_category: Mapped[str] = mapped_column(String(100))
    dsa_keywords: Mapped[list[str]] = mapped_column(JSONList, default=list)
    dsa_ground: Mapped[str] = mapped_column(String(64))
    tos_ground: Mapped[str] = mapped_column(Text)
    legal_ground: Mapped[str | None] = mapped_column(Text)
    illegal_explanation: Mapped[str | None] = mapped_column(Text)

    user_title: Mapped[dict[str, str]] = mapped_column(JSONType)
    user_explanation: Mapped[dict[str, str]] = mapped_column(JSONType)
    # The clause of the terms in plain words, per language, as the user reads it in the
    # statement of reasons in their message (the DSA field set keeps ``tos_ground``). None:
    # the message quotes ``tos_ground``.
    user_ground: Mapped[dict[str, str] | None] = mapped_column(JSONType, default=None)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    # Who wrote this version: a staff member (id and name), or the system (the pack loader).
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_by_label: Mapped[str] = mapped_column(String(200), default="system")
    change_reason: Mapped[str] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<PolicyVersion {self.code} v{self.version}>"


class ImmutableVersionError(RuntimeError):
    """A programming error: something tried to change or delete a written policy version."""


@event.listens_for(PolicyVersion, "before_update")
def _refuse_update(_mapper: Mapper[Any], _connection: Any, target: PolicyVersion) -> None:
    raise ImmutableVersionError(
        f"policy version {target.code} v{target.version} is immutable; write a new version"
    )


@event.listens_for(PolicyVersion, "before_delete")
def _refuse_delete(_mapper: Mapper[Any], _connection: Any, target: PolicyVersion) -> None:
    raise ImmutableVersionError(
        f"policy version {target.code} v{target.version} is cited by decisions; never deleted"
    )
