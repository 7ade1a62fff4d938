"""What the quality services share: the decision form (a policy code or no violation, and a
label), permission checks that accept one of several permissions, and staff-only guards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.cases.models import Case

# The text checks are the cases service's, re-exported for the quality modules.
from vigil.cases.service import optional_text as optional_text
from vigil.cases.service import required_text as required_text
from vigil.cases.service import visible
from vigil.enforcement.models import Decision, DecisionPolicy
from vigil.kit.errors import InvalidInput, PermissionDenied
from vigil.policies.models import Policy
from vigil.quality.models import Label

LABELS: tuple[str, ...] = tuple(label.value for label in Label)


def require_any(actor: Principal, *permissions: Permission) -> None:
    if not any(actor.can(p) for p in permissions):
        names = "' or '".join(p.value for p in permissions)
        raise PermissionDenied(f"this needs the '{names}' permission", code="permission_denied")


def require_staff(actor: Principal) -> int:
    if actor.staff_id is None:
        raise PermissionDenied("this needs a staff member", code="staff_only")
    return actor.staff_id


def case_visible(actor: Principal, case: Case | None) -> bool:
    return case is not None and visible(actor, case)


@dataclass(frozen=True)
class DecisionForm:
    """A checked answer: ``policy_code`` is None exactly when ``label`` is no_violation."""

    policy_code: str | None
    label: Label


def check_form(
    session: Session,
    policy_code: str | None,
    action: str | None,
    *,
    policy_field: str = "policy_code",
    action_field: str = "action",
) -> DecisionForm:
    """Validate a blind decision (QA or calibration). Refuses with 422 naming the field:
    ``invalid_action``, ``policy_required``, ``no_violation_has_no_policy``,
    ``unknown_policy``."""
    value = (action or "").strip()
    if value not in LABELS:
        raise InvalidInput(
            f"action must be one of: {', '.join(LABELS)}",
            field=action_field,
            code="invalid_action",
        )
    label = Label(value)
    code = (policy_code or "").strip() or None
    if label is Label.no_violation:
        if code is not None:
            raise InvalidInput(
                "a no_violation answer cites no policy",
                field=policy_field,
                code="no_violation_has_no_policy",
            )
        return DecisionForm(None, label)
    if code is None:
        raise InvalidInput(
            "name the policy violated (or answer no_violation)",
            field=policy_field,
            code="policy_required",
        )
    if session.scalar(select(Policy.id).where(Policy.code == code)) is None:
        raise InvalidInput(f"no policy {code!r}", field=policy_field, code="unknown_policy")
    return DecisionForm(code, label)


def as_dict(rows: Iterable[Any]) -> dict[Any, Any]:
    """``{first: second}`` of two-column rows (``dict(result)`` would read a ``Result`` as a
    mapping of its column names)."""
    return {row[0]: row[1] for row in rows}


def decision_label(decision: Decision) -> Label | None:
    """The decision's label; ``None`` for an action QA has no label for (the sampler skips
    such a decision rather than fail)."""
    if decision.no_violation or decision.action is None:
        return Label.no_violation
    try:
        return Label(decision.action.value)
    except ValueError:
        return None


def primary_policies(session: Session, decision_ids: list[int]) -> dict[int, str]:
    """The most severe policy each decision cites (position 0)."""
    if not decision_ids:
        return {}
    rows = session.execute(
        select(DecisionPolicy.decision_id, DecisionPolicy.policy_code).where(
            DecisionPolicy.decision_id.in_(decision_ids), DecisionPolicy.position == 0
        )
    )
    return {decision_id: code for decision_id, code in rows}
