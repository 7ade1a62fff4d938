"""The catalog service: versions, history, optimistic edits, retiring, resolving."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import FROZEN_AT
from tests.factories import make_staff
from tests.policies.helpers import SYSTEM, audit_actions, counts, policy
from vigil.audit.models import AuditRecord
from vigil.auth import service as auth_service
from vigil.auth.permissions import Role
from vigil.kit.clock import FrozenClock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, VersionConflict
from vigil.policies import service
from vigil.policies.models import ImmutableVersionError, PolicyVersion


def test_create_writes_version_one_with_who_when_and_why(db: Session, frozen: FrozenClock) -> None:
    lead = make_staff(db, role=Role.policy_lead, name="Pat Lead")
    actor = auth_service.principal_for(lead)
    version = service.create_policy(db, actor, policy(), change_reason="first draft")
    db.commit()
    assert (version.code, version.version) == ("off_platform_payment", 1)
    assert version.created_by_id == lead.id and version.created_by_label == actor.label
    assert version.created_at == FROZEN_AT
    assert version.change_reason == "first draft"
    assert version.ladder[1] == {
        "strikes": 2,
        "action": "restrict",
        "scope": "message",
        "duration_days": 14,
    }
    policy_row = service.get_policy(db, "off_platform_payment")
    assert (policy_row.current_version, policy_row.retired) == (1, False)
    record = db.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
    assert record is not None and record.action == "policies.policy.create"
    assert record.data["code"] == "off_platform_payment" and record.reason == "first draft"


def test_a_code_is_taken_once(db: Session) -> None:
    service.create_policy(db, SYSTEM, policy())
    db.commit()
    before = counts(db)
    with pytest.raises(Conflict) as caught:
        service.create_policy(db, SYSTEM, policy(title="Another"))
    db.rollback()
    assert (caught.value.code, caught.value.field, caught.value.status_code) == (
        "policy_exists",
        "code",
        409,
    )
    assert counts(db) == before


def test_invalid_content_writes_nothing(db: Session) -> None:
    before = counts(db)
    bad = policy(ladder=[{"strikes": 1, "action": "suspend"}])
    with pytest.raises(InvalidInput) as caught:
        service.create_policy(db, SYSTEM, bad)
    db.rollback()
    assert (caught.value.code, caught.value.field) == (
        "duration_required",
        "ladder[0].duration_days",
    )
    assert counts(db) == before


def test_each_edit_is_a_new_version_and_the_old_ones_stay(db: Session, frozen: FrozenClock) -> None:
    service.create_policy(db, SYSTEM, policy())
    db.commit()
    frozen.advance(timedelta(days=1))
    result = service.update_policy(
        db,
        SYSTEM,
        "off_platform_payment",
        {"severity": "high", "strike_weight": 2},
        change_reason="more harm than we thought",
        expected_version=1,
    )
    db.commit()
    assert result.changed and result.version.version == 2
    assert result.changed_fields == ["severity", "strike_weight"]
    assert result.policy.current_version == 2
    history = service.history(db, "off_platform_payment")
    assert [v.version for v in history] == [2, 1]
    assert history[1].severity == "medium" and history[0].severity == "high"
    assert history[0].change_reason == "more harm than we thought"
    assert history[0].created_at > history[1].created_at
    assert history[0].title == history[1].title  # untouched fields carry over
    assert service.get_version(db, "off_platform_payment", 1).strike_weight == 1
    assert audit_actions(db)[-1] == "policies.policy.update"


def test_an_edit_that_changes_nothing_writes_nothing(db: Session) -> None:
    service.create_policy(db, SYSTEM, policy())
    db.commit()
    before = counts(db)
    result = service.update_policy(
        db,
        SYSTEM,
        "off_platform_payment",
        {
            "title": "  Off-platform payment ",
            "allowed_actions": ["ban", "suspend", "restrict", "warn"],
        },
        change_reason="tidy",
    )
    db.commit()
    assert not result.changed and result.changed_fields == []
    assert result.version.version == 1
    assert counts(db) == before


def test_an_edit_needs_a_reason(db: Session) -> None:
    service.create_policy(db, SYSTEM, policy())
    db.commit()
    before = counts(db)
    for reason in (None, "", "   "):
        with pytest.raises(InvalidInput) as caught:
            service.update_policy(
                db, SYSTEM, "off_platform_payment", {"severity": "high"}, change_reason=reason
            )
        assert (caught.value.code, caught.value.field) == (
            "change_reason_required",
            "change_reason",
        )
    db.rollback()
    assert counts(db) == before


def test_a_stale_edit_is_refused(db: Session) -> None:
    service.create_policy(db, SYSTEM, policy())
    service.update_policy(
        db,
        SYSTEM,
        "off_platform_payment",
        {"severity": "high"},
        change_reason="first",
        expected_version=1,
    )
    db.commit()
    before = counts(db)
    with pytest.raises(VersionConflict) as caught:
        service.update_policy(
            db,
            SYSTEM,
            "off_platform_payment",
            {"severity": "low"},
            change_reason="second",
            expected_version=1,
        )
    db.rollback()
    assert (caught.value.code, caught.value.field, caught.value.status_code) == (
        "version_conflict",
        "expected_version",
        409,
    )
    assert counts(db) == before
    assert service.get_current(db, "off_platform_payment")[1].severity == "high"


def test_an_edit_that_breaks_the_policy_is_refused_with_its_field(db: Session) -> None:
    service.create_policy(db, SYSTEM, policy())
    db.commit()
    before = counts(db)
    with pytest.raises(InvalidInput) as caught:
        service.update_policy(
            db,
            SYSTEM,
            "off_platform_payment",
            {"allowed_actions": ["warn", "ban"]},
            change_reason="simplify",
        )
    db.rollback()
    # The ladder still has a restrict step, which is no longer allowed.
    assert (caught.value.code, caught.value.field) == ("action_not_allowed", "ladder[1].action")
    assert counts(db) == before


def test_the_code_never_changes(db: Session) -> None:
    service.create_policy(db, SYSTEM, policy())
    db.commit()
    with pytest.raises(InvalidInput) as caught:
        service.update_policy(
            db, SYSTEM, "off_platform_payment", {"code": "fees"}, change_reason="rename"
        )
    assert caught.value.code == "code_immutable"


def test_unknown_codes_are_not_found(db: Session) -> None:
    with pytest.raises(NotFound) as caught:
        service.history(db, "no_such_policy")
    assert caught.value.code == "policy_not_found"
    service.create_policy(db, SYSTEM, policy())
    db.commit()
    with pytest.raises(NotFound) as caught:
        service.get_version(db, "off_platform_payment", 2)
    assert caught.value.code == "policy_version_not_found"


def test_resolve_gives_the_version_a_decision_may_cite(db: Session) -> None:
    service.create_policy(db, SYSTEM, policy())
    service.update_policy(
        db, SYSTEM, "off_platform_payment", {"severity": "high"}, change_reason="tighten"
    )
    db.commit()
    assert service.resolve(db, "off_platform_payment").version == 2
    assert service.resolve(db, "off_platform_payment", 1).severity == "medium"
    cases = [
        ("no_such_policy", None, "unknown_policy"),
        ("off_platform_payment", 3, "unknown_policy_version"),
    ]
    for code, number, expected in cases:
        with pytest.raises(InvalidInput) as caught:
            service.resolve(db, code, number, field="policies[0]")
        assert (caught.value.code, caught.value.field) == (expected, "policies[0]")


def test_retired_policies_keep_their_versions_but_cannot_be_applied(db: Session) -> None:
    service.create_policy(db, SYSTEM, policy())
    service.create_policy(db, SYSTEM, policy(code="spam", title="Spam"))
    db.commit()
    retired = service.retire_policy(db, SYSTEM, "off_platform_payment", reason="merged into fees")
    db.commit()
    assert retired.retired and retired.retired_at is not None
    assert retired.retire_reason == "merged into fees"
    for number in (None, 1):
        with pytest.raises(InvalidInput) as caught:
            service.resolve(db, "off_platform_payment", number)
        assert (caught.value.code, caught.value.field) == ("policy_retired", "policy")
    assert [v.code for v in service.list_policies(db)] == ["spam"]
    assert [v.code for v in service.list_policies(db, include_retired=True)] == [
        "off_platform_payment",
        "spam",
    ]
    assert [v.version for v in service.history(db, "off_platform_payment")] == [1]

    with pytest.raises(Conflict) as again:
        service.retire_policy(db, SYSTEM, "off_platform_payment", reason="twice")
    assert again.value.code == "policy_already_retired"
    db.rollback()

    service.restore_policy(db, SYSTEM, "off_platform_payment", reason="split out again")
    db.commit()
    assert service.resolve(db, "off_platform_payment").version == 1
    with pytest.raises(Conflict) as live:
        service.restore_policy(db, SYSTEM, "off_platform_payment")
    assert live.value.code == "policy_not_retired"
    db.rollback()
    assert audit_actions(db)[-2:] == ["policies.policy.retire", "policies.policy.restore"]


def test_retiring_needs_a_reason(db: Session) -> None:
    service.create_policy(db, SYSTEM, policy())
    db.commit()
    before = counts(db)
    with pytest.raises(InvalidInput) as caught:
        service.retire_policy(db, SYSTEM, "off_platform_payment", reason=" ")
    db.rollback()
    assert (caught.value.code, caught.value.field) == ("reason_required", "reason")
    assert counts(db) == before


def test_a_retired_policy_may_still_be_edited(db: Session) -> None:
    service.create_policy(db, SYSTEM, policy())
    service.retire_policy(db, SYSTEM, "off_platform_payment", reason="paused")
    result = service.update_policy(
        db, SYSTEM, "off_platform_payment", {"title": "Fees"}, change_reason="fix before restoring"
    )
    db.commit()
    assert result.changed and result.policy.retired


def test_written_versions_cannot_be_changed_or_deleted(db: Session) -> None:
    version = service.create_policy(db, SYSTEM, policy())
    db.commit()
    version.title = "Rewritten history"
    with pytest.raises(ImmutableVersionError):
        db.flush()
    db.rollback()
    stored = db.scalar(select(PolicyVersion).where(PolicyVersion.code == "off_platform_payment"))
    assert stored is not None and stored.title == "Off-platform payment"
    db.delete(stored)
    with pytest.raises(ImmutableVersionError):
        db.flush()
    db.rollback()


def test_pages_walk_the_catalog_and_the_history(db: Session) -> None:
    for code in ("c_policy", "a_policy", "b_policy"):
        service.create_policy(db, SYSTEM, policy(code=code))
    for n in range(2, 5):
        service.update_policy(
            db, SYSTEM, "a_policy", {"strike_ttl_days": 100 + n}, change_reason=f"edit {n}"
        )
    db.commit()
    first, cursor = service.list_page(db, limit=2)
    assert [p.code for p, _ in first] == ["a_policy", "b_policy"] and cursor
    assert first[0][1].version == 4  # the current version
    rest, end = service.list_page(db, limit=2, cursor=cursor)
    assert [p.code for p, _ in rest] == ["c_policy"] and end is None

    newest, cursor = service.history_page(db, "a_policy", limit=3)
    assert [v.version for v in newest] == [4, 3, 2] and cursor
    oldest, end = service.history_page(db, "a_policy", limit=3, cursor=cursor)
    assert [v.version for v in oldest] == [1] and end is None
    with pytest.raises(InvalidInput):
        service.history_page(db, "a_policy", cursor="not-a-cursor")
