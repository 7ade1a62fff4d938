"""Who is acting: a staff member, an API key, or the system itself (jobs, CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from vigil.auth.permissions import ROLE_PERMISSIONS, ROLE_TIER, Permission, Role, Tier
from vigil.kit.errors import PermissionDenied


class ActorType(StrEnum):
    staff = "staff"
    api_key = "api_key"
    system = "system"


@dataclass(frozen=True)
class Principal:
    type: ActorType
    id: int | None
    label: str
    role: Role | None = None
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    languages: tuple[str, ...] = ()

    @classmethod
    def staff(
        cls, staff_id: int, label: str, role: Role, languages: tuple[str, ...] = ()
    ) -> Principal:
        return cls(ActorType.staff, staff_id, label, role, ROLE_PERMISSIONS[role], languages)

    @classmethod
    def api_key(cls, key_id: int, label: str, scopes: frozenset[Permission]) -> Principal:
        return cls(ActorType.api_key, key_id, label, None, scopes)

    @classmethod
    def system(cls, label: str = "system") -> Principal:
        return cls(ActorType.system, None, label, None, frozenset(Permission))

    @property
    def is_staff(self) -> bool:
        return self.type is ActorType.staff

    @property
    def staff_id(self) -> int | None:
        return self.id if self.type is ActorType.staff else None

    @property
    def tier(self) -> Tier | None:
        return ROLE_TIER.get(self.role) if self.role else None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(
                f"this needs the '{permission.value}' permission", code="permission_denied"
            )
