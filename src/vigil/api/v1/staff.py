"""HTTP API for staff: the team's directory, roles and passwords."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, status

from vigil.api.deps import DB, AppSettings, CurrentPrincipal, CurrentStaff, StaffRead, StaffWrite
from vigil.auth import guard, service, totp
from vigil.auth.models import StaffSession
from vigil.auth.permissions import Role
from vigil.auth.schemas import (
    PasswordChange,
    SecondFactorReset,
    StaffCreate,
    StaffMe,
    StaffOut,
    StaffUnlock,
    StaffUpdate,
)
from vigil.kit.pagination import Page

router = APIRouter(tags=["staff"])


def page_limit(settings: AppSettings, limit: int | None) -> int:
    return min(limit or settings.page_size_default, settings.page_size_max)


@router.get("/staff", response_model=Page[StaffOut], summary="List staff")
def list_staff(
    db: DB,
    settings: AppSettings,
    _actor: StaffRead,
    role: Role | None = None,
    active: bool | None = None,
    cursor: str | None = None,
    limit: int | None = Query(default=None, ge=1),
) -> Page[StaffOut]:
    rows, next_cursor = service.list_staff(
        db, role=role, active=active, cursor=cursor, limit=page_limit(settings, limit)
    )
    return Page(items=[StaffOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/staff/me", response_model=StaffMe, summary="The logged-in staff member")
def me(request: Request, user: CurrentStaff, actor: CurrentPrincipal) -> StaffMe:
    return StaffMe(
        **StaffOut.model_validate(user).model_dump(),
        permissions=sorted(p.value for p in actor.permissions),
        tier=actor.tier.value if actor.tier else None,
        csrf_token=request.state.staff_session.csrf_token,
    )


@router.get("/staff/{staff_id}", response_model=StaffOut, summary="One staff member")
def get_staff(staff_id: int, db: DB, _actor: StaffRead) -> StaffOut:
    return StaffOut.model_validate(service.get_staff(db, staff_id))


@router.post(
    "/staff",
    response_model=StaffOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a staff member",
)
def create_staff(body: StaffCreate, db: DB, actor: StaffWrite) -> StaffOut:
    user = service.create_staff(
        db,
        actor,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        languages=body.languages,
    )
    return StaffOut.model_validate(user)


@router.patch(
    "/staff/{staff_id}",
    response_model=StaffOut,
    summary="Change a staff member's name, role, languages or active flag",
)
def update_staff(staff_id: int, body: StaffUpdate, db: DB, actor: StaffWrite) -> StaffOut:
    user = service.update_staff(
        db,
        actor,
        staff_id,
        name=body.name,
        role=body.role,
        languages=body.languages,
        active=body.active,
        reason=body.reason,
    )
    return StaffOut.model_validate(user)


@router.post(
    "/staff/{staff_id}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change one's own password, or (admin) set anyone's",
)
def set_password(
    staff_id: int,
    body: PasswordChange,
    request: Request,
    db: DB,
    _user: CurrentStaff,
    actor: CurrentPrincipal,
) -> None:
    current: StaffSession | None = getattr(request.state, "staff_session", None)
    service.set_password(
        db,
        actor,
        staff_id,
        body.new_password,
        current_password=body.current_password,
        keep_session_token_hash=current.token_hash if current else None,
    )


@router.post(
    "/staff/{staff_id}/unlock",
    response_model=StaffOut,
    summary="End a login lockout (and clear the failed-login count)",
)
def unlock_staff(
    staff_id: int, body: StaffUnlock, db: DB, settings: AppSettings, actor: StaffWrite
) -> StaffOut:
    user = service.unlock_staff(db, actor, staff_id, reason=body.reason)
    guard.login_succeeded(settings, user.email)  # the email's attempt limit starts again
    return StaffOut.model_validate(user)


@router.post(
    "/staff/{staff_id}/second-factor/reset",
    response_model=StaffOut,
    summary="Remove a staff member's second factor (they enrol again); ends their sessions",
)
def reset_second_factor(
    staff_id: int, body: SecondFactorReset, db: DB, actor: StaffWrite
) -> StaffOut:
    user = service.get_staff(db, staff_id)
    totp.reset(db, actor, user, reason=body.reason)
    return StaffOut.model_validate(user)
