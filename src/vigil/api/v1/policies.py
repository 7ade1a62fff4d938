"""HTTP API: the policy catalog and its history.

Reads need ``policies:read``; creating, editing, retiring and restoring need
``policies:write`` (policy leads). Every edit writes a new version; ``PATCH`` with
``expected_version`` answers 409 ``version_conflict`` when someone else edited first, and an
edit that changes nothing answers 200 with ``changed: false`` and writes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from vigil.api.deps import DB, AppSettings, PoliciesRead, PoliciesWrite
from vigil.policies import service
from vigil.policies.schemas import (
    PolicyCreate,
    PolicyOut,
    PolicyPage,
    PolicyUpdate,
    PolicyUpdateOut,
    PolicyVersionOut,
    PolicyVersionPage,
    RestoreBody,
    RetireBody,
)

router = APIRouter(tags=["policies"])

Code = Annotated[str, Path(max_length=200, description="The policy's code, e.g. fraud_scams.")]
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="The version number.")]


def _limit(settings: AppSettings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


def _out(db: DB, code: str) -> PolicyOut:
    policy, version = service.get_current(db, code)
    return PolicyOut.of_policy(policy, version)


@router.get("/policies", response_model=PolicyPage, summary="The catalog: current versions")
def list_policies(
    db: DB,
    settings: AppSettings,
    _actor: PoliciesRead,
    include_retired: bool = False,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> PolicyPage:
    rows, next_cursor = service.list_page(
        db, include_retired=include_retired, cursor=cursor, limit=_limit(settings, limit)
    )
    return PolicyPage(items=[PolicyOut.of_policy(p, v) for p, v in rows], next_cursor=next_cursor)


@router.post(
    "/policies",
    response_model=PolicyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a policy (version 1)",
)
def create_policy(body: PolicyCreate, db: DB, actor: PoliciesWrite) -> PolicyOut:
    version = service.create_policy(
        db, actor, body.fields_given(), change_reason=body.change_reason
    )
    return _out(db, version.code)


@router.get("/policies/{code}", response_model=PolicyOut, summary="A policy as it stands")
def get_policy(code: Code, db: DB, _actor: PoliciesRead) -> PolicyOut:
    return _out(db, code)


@router.patch(
    "/policies/{code}",
    response_model=PolicyUpdateOut,
    summary="Edit a policy: the fields sent change, and a new version is written",
)
def update_policy(code: Code, body: PolicyUpdate, db: DB, actor: PoliciesWrite) -> PolicyUpdateOut:
    result = service.update_policy(
        db,
        actor,
        code,
        body.fields_given(),
        change_reason=body.change_reason,
        expected_version=body.expected_version,
    )
    return PolicyUpdateOut(
        changed=result.changed,
        changed_fields=result.changed_fields,
        policy=PolicyOut.of_policy(result.policy, result.version),
    )


@router.get(
    "/policies/{code}/versions",
    response_model=PolicyVersionPage,
    summary="Every version of a policy, newest first",
)
def list_versions(
    code: Code,
    db: DB,
    settings: AppSettings,
    _actor: PoliciesRead,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> PolicyVersionPage:
    rows, next_cursor = service.history_page(db, code, cursor=cursor, limit=_limit(settings, limit))
    return PolicyVersionPage(items=[PolicyVersionOut.of(v) for v in rows], next_cursor=next_cursor)


@router.get(
    "/policies/{code}/versions/{version}",
    response_model=PolicyVersionOut,
    summary="One version of a policy, exactly as it was written",
)
def get_version(
    code: Code, version: VersionNumber, db: DB, _actor: PoliciesRead
) -> PolicyVersionOut:
    return PolicyVersionOut.of(service.get_version(db, code, version))


@router.post(
    "/policies/{code}/retire",
    response_model=PolicyOut,
    summary="Retire a policy: decisions can no longer cite it; its versions stay",
)
def retire_policy(code: Code, body: RetireBody, db: DB, actor: PoliciesWrite) -> PolicyOut:
    service.retire_policy(db, actor, code, reason=body.reason)
    return _out(db, code)


@router.post(
    "/policies/{code}/restore",
    response_model=PolicyOut,
    summary="Bring a retired policy back into use",
)
def restore_policy(
    code: Code, db: DB, actor: PoliciesWrite, body: RestoreBody | None = None
) -> PolicyOut:
    service.restore_policy(db, actor, code, reason=(body or RestoreBody()).reason)
    return _out(db, code)
