"""The policy catalog: read, resolve, create, edit (a new version each time), retire, restore.

Functions never commit. Every write flushes, then appends its audit record
(``policies.policy.create|update|retire|restore``). A policy's content is checked by
:func:`vigil.policies.schemas.validate_policy` before anything is written, so a refused edit
leaves no trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.principal import Principal
from vigil.kit import clock
from vigil.kit.errors import Conflict, InvalidInput, NotFound, VersionConflict
from vigil.kit.pagination import decode_cursor, encode_cursor
from vigil.policies.models import Policy, PolicyVersion
from vigil.policies.schemas import (
    PolicySpec,
    validate_code,
    validate_policy,
    validate_reason,
    version_content,
)

# --- reading ----------------------------------------------------------------------------------


def _find(session: Session, code: str, *, lock: bool = False) -> Policy | None:
    query = select(Policy).where(Policy.code == code)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def _version(session: Session, policy_id: int, number: int) -> PolicyVersion | None:
    return session.scalar(
        select(PolicyVersion).where(
            PolicyVersion.policy_id == policy_id, PolicyVersion.version == number
        )
    )


def get_policy(session: Session, code: str, *, lock: bool = False) -> Policy:
    """The catalog entry (retired or not); 404 ``policy_not_found``."""
    policy = _find(session, code, lock=lock)
    if policy is None:
        raise NotFound(f"no policy '{code}'", field="code", code="policy_not_found")
    return policy


def current(session: Session, policy: Policy) -> PolicyVersion:
    version = _version(session, policy.id, policy.current_version)
    if version is None:  # the current version is written with the policy; never missing
        raise NotFound(f"policy '{policy.code}' has no current version", code="policy_not_found")
    return version


def get_current(session: Session, code: str) -> tuple[Policy, PolicyVersion]:
    policy = get_policy(session, code)
    return policy, current(session, policy)


def get_version(session: Session, code: str, version: int) -> PolicyVersion:
    """One version of a policy, retired or not; 404 ``policy_version_not_found``."""
    policy = get_policy(session, code)
    found = _version(session, policy.id, version)
    if found is None:
        raise NotFound(
            f"policy '{code}' has no version {version}",
            field="version",
            code="policy_version_not_found",
        )
    return found


def resolve(
    session: Session, code: str, version: int | None = None, *, field: str = "policy"
) -> PolicyVersion:
    """The version a decision may cite: the current one when ``version`` is None.

    Refuses (422, with ``field``) a code that names no policy (``unknown_policy``), a version
    that does not exist (``unknown_policy_version``) and a retired policy (``policy_retired``).
    """
    policy = _find(session, code)
    if policy is None:
        raise InvalidInput(f"no policy '{code}'", field=field, code="unknown_policy")
    if policy.retired:
        raise InvalidInput(
            f"policy '{code}' is retired and can no longer be applied",
            field=field,
            code="policy_retired",
        )
    found = _version(session, policy.id, policy.current_version if version is None else version)
    if found is None:
        raise InvalidInput(
            f"policy '{code}' has no version {version}",
            field=field,
            code="unknown_policy_version",
        )
    return found


def _current_join() -> Any:
    return select(PolicyVersion, Policy).join(
        Policy,
        and_(Policy.id == PolicyVersion.policy_id, Policy.current_version == PolicyVersion.version),
    )


def list_policies(session: Session, *, include_retired: bool = False) -> list[PolicyVersion]:
    """The current version of every policy, by code."""
    query = select(PolicyVersion).join(
        Policy,
        and_(Policy.id == PolicyVersion.policy_id, Policy.current_version == PolicyVersion.version),
    )
    if not include_retired:
        query = query.where(Policy.retired.is_(False))
    return list(session.scalars(query.order_by(Policy.code)))


def list_page(
    session: Session, *, include_retired: bool = False, cursor: str | None = None, limit: int = 50
) -> tuple[list[tuple[Policy, PolicyVersion]], str | None]:
    """A page of the catalog by code (keyset on the unique code)."""
    query = _current_join()
    if not include_retired:
        query = query.where(Policy.retired.is_(False))
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(Policy.code > str(after))
    rows = [(p, v) for v, p in session.execute(query.order_by(Policy.code).limit(limit + 1))]
    next_cursor = encode_cursor([rows[limit - 1][0].code]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def history(session: Session, code: str) -> list[PolicyVersion]:
    """Every version of a policy, newest first (retired policies keep theirs)."""
    policy = get_policy(session, code)
    return list(
        session.scalars(
            select(PolicyVersion)
            .where(PolicyVersion.policy_id == policy.id)
            .order_by(PolicyVersion.version.desc())
        )
    )


def history_page(
    session: Session, code: str, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[PolicyVersion], str | None]:
    """A page of :func:`history` (keyset on the version number, newest first)."""
    policy = get_policy(session, code)
    query = select(PolicyVersion).where(PolicyVersion.policy_id == policy.id)
    if cursor is not None:
        (before,) = decode_cursor(cursor, 1)
        if not isinstance(before, int) or isinstance(before, bool):
            raise InvalidInput("cursor is not valid", field="cursor", code="invalid_cursor")
        query = query.where(PolicyVersion.version < before)
    rows = list(session.scalars(query.order_by(PolicyVersion.version.desc()).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].version]) if len(rows) > limit else None
    return rows[:limit], next_cursor


# --- writing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateResult:
    """``changed`` is False when the edit said what the current version already says: then
    nothing was written and ``version`` is the current version."""

    policy: Policy
    version: PolicyVersion
    changed: bool
    changed_fields: list[str]


def _write_version(
    session: Session, actor: Principal, policy: Policy, spec: PolicySpec, number: int, reason: str
) -> PolicyVersion:
    version = PolicyVersion(
        policy_id=policy.id,
        code=policy.code,
        version=number,
        created_at=clock.now(),
        created_by_id=actor.staff_id,
        created_by_label=actor.label,
        change_reason=reason,
        **spec.content,
    )
    session.add(version)
    return version


def _flush_unique(session: Session, code: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        # Two writers raced past the checks; the loser's transaction is rolled back by its edge.
        raise Conflict(
            f"policy '{code}' was changed at the same time; reload and try again",
            field="code",
            code="policy_conflict",
        ) from exc


def create_from_spec(
    session: Session, actor: Principal, spec: PolicySpec, *, change_reason: str
) -> PolicyVersion:
    """Write a new policy and its version 1 from an already validated spec."""
    if _find(session, spec.code) is not None:
        raise Conflict(f"policy '{spec.code}' already exists", field="code", code="policy_exists")
    policy = Policy(code=spec.code, current_version=1, retired=False)
    session.add(policy)
    _flush_unique(session, spec.code)
    version = _write_version(session, actor, policy, spec, 1, change_reason)
    _flush_unique(session, spec.code)
    audit.record(
        session,
        actor,
        "policies.policy.create",
        "policy",
        policy.id,
        reason=change_reason,
        data={"code": policy.code, "version": 1, "version_id": version.id},
    )
    return version


def create_policy(
    session: Session, actor: Principal, data: Mapping[str, Any], *, change_reason: str | None = None
) -> PolicyVersion:
    """Add a policy to the catalog; ``data`` holds ``code`` and the content fields.

    409 ``policy_exists`` when the code is taken (retired policies keep their code)."""
    spec = validate_policy(data)
    reason = validate_reason(change_reason, "change_reason", required=False) or "created"
    return create_from_spec(session, actor, spec, change_reason=reason)


def update_from_spec(
    session: Session,
    actor: Principal,
    policy: Policy,
    spec: PolicySpec,
    *,
    change_reason: str,
) -> UpdateResult:
    """Write ``spec`` as the next version of ``policy`` (locked by the caller), unless it says
    what the current version says."""
    latest = current(session, policy)
    changed_fields = spec.differs_from(latest)
    if not changed_fields:
        return UpdateResult(policy, latest, changed=False, changed_fields=[])
    number = policy.current_version + 1
    version = _write_version(session, actor, policy, spec, number, change_reason)
    policy.current_version = number
    _flush_unique(session, policy.code)
    audit.record(
        session,
        actor,
        "policies.policy.update",
        "policy",
        policy.id,
        reason=change_reason,
        data={
            "code": policy.code,
            "version": number,
            "from_version": number - 1,
            "version_id": version.id,
            "fields": changed_fields,
        },
    )
    return UpdateResult(policy, version, changed=True, changed_fields=changed_fields)


def update_policy(
    session: Session,
    actor: Principal,
    code: str,
    changes: Mapping[str, Any],
    *,
    change_reason: str | None,
    expected_version: int | None = None,
) -> UpdateResult:
    """Edit a policy: the fields in ``changes`` replace the current version's, the whole is
    validated, and a new version is written with ``change_reason`` (required).

    409 ``version_conflict`` when ``expected_version`` is not the current version; an edit that
    changes nothing writes nothing (``changed`` is False). Retired policies may be edited (a
    fix before restoring them); decisions still cannot cite them.
    """
    validate_code(code)
    reason = validate_reason(change_reason, "change_reason")
    assert reason is not None
    if "code" in changes and changes["code"] != code:
        raise InvalidInput(
            "a policy's code never changes; retire it and create a new one",
            field="code",
            code="code_immutable",
        )
    policy = get_policy(session, code, lock=True)
    # The edit is made against the version the caller saw: check that first, then merge.
    if expected_version is not None and policy.current_version != expected_version:
        raise VersionConflict(
            f"policy '{code}' is at version {policy.current_version}, not {expected_version}; "
            "reload and try again",
            field="expected_version",
            code="version_conflict",
        )
    merged = version_content(current(session, policy))
    merged.update({k: v for k, v in changes.items() if k != "code"})
    spec = validate_policy({"code": code, **merged})
    return update_from_spec(session, actor, policy, spec, change_reason=reason)


def retire_policy(session: Session, actor: Principal, code: str, *, reason: str | None) -> Policy:
    """Stop new decisions from citing a policy. Its versions stay (decisions cite them)."""
    text = validate_reason(reason, "reason")
    policy = get_policy(session, code, lock=True)
    if policy.retired:
        raise Conflict(f"policy '{code}' is already retired", code="policy_already_retired")
    policy.retired = True
    policy.retired_at = clock.now()
    policy.retired_by_id = actor.staff_id
    policy.retire_reason = text
    session.flush()
    audit.record(
        session,
        actor,
        "policies.policy.retire",
        "policy",
        policy.id,
        reason=text,
        data={"code": policy.code, "version": policy.current_version},
    )
    return policy


def restore_policy(
    session: Session, actor: Principal, code: str, *, reason: str | None = None
) -> Policy:
    """Bring a retired policy back into use, at its current version."""
    text = validate_reason(reason, "reason", required=False)
    policy = get_policy(session, code, lock=True)
    if not policy.retired:
        raise Conflict(f"policy '{code}' is not retired", code="policy_not_retired")
    policy.retired = False
    policy.retired_at = None
    policy.retired_by_id = None
    policy.retire_reason = None
    session.flush()
    audit.record(
        session,
        actor,
        "policies.policy.restore",
        "policy",
        policy.id,
        reason=text,
        data={"code": policy.code, "version": policy.current_version},
    )
    return policy


def save_spec(
    session: Session, actor: Principal, spec: PolicySpec, *, change_reason: str
) -> Literal["created", "updated", "unchanged"]:
    """Create the policy or write ``spec`` as its next version (the pack loader's step)."""
    policy = _find(session, spec.code, lock=True)
    if policy is None:
        create_from_spec(session, actor, spec, change_reason=change_reason)
        return "created"
    result = update_from_spec(session, actor, policy, spec, change_reason=change_reason)
    return "updated" if result.changed else "unchanged"
