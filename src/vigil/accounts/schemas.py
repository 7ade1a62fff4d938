"""API models for accounts, identifiers and restrictions.

Request bodies refuse unknown fields and check every value here, so a bad request is a 422
naming the field before anything is written. Upserts are partial: a field left out keeps its
stored value, a field sent as ``null`` clears it (``side``, ``locale`` and ``status`` cannot
be cleared).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from vigil.accounts import masking, normalize
from vigil.accounts.models import (
    Account,
    AccountStatus,
    Identifier,
    IdentifierKind,
    Restriction,
    RestrictionKind,
    Side,
)
from vigil.kit import clock
from vigil.kit.pagination import Page

MAX_IDENTIFIERS_PER_REQUEST = 100
MAX_ATTRIBUTE_KEYS = 50
MAX_ATTRIBUTES_BYTES = 8192
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


class MarketplaceStatus(StrEnum):
    """What the marketplace may say about an account's lifecycle. ``restricted``,
    ``suspended`` and ``removed`` are Trust & Safety outcomes and follow from restrictions."""

    active = "active"
    closed = "closed"


def _clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("must not contain control characters")
    return text or None


class IdentifierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: IdentifierKind
    value: str = Field(min_length=1, max_length=normalize.MAX_IDENTIFIER_LENGTH)
    # When the marketplace saw it; defaults to now. Later than now is taken as now.
    seen_at: AwareDatetime | None = None

    @field_validator("seen_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else clock.as_utc(value)


class AccountUpsert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    side: Side | None = None
    display_name: str | None = Field(default=None, max_length=200)
    legal_name: str | None = Field(default=None, max_length=300)
    date_of_birth: date | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2, e.g. BR")
    locale: str | None = Field(default=None, description="language tag, e.g. en, es, pt-BR")
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40, description="E.164, e.g. +5511987654321")
    status: MarketplaceStatus | None = None
    registered_at: AwareDatetime | None = Field(
        default=None, description="when the account was created on the marketplace"
    )
    attributes: dict[str, Any] | None = None
    identifiers: list[IdentifierIn] = Field(
        default_factory=list, max_length=MAX_IDENTIFIERS_PER_REQUEST
    )
    expected_version: int | None = Field(
        default=None,
        ge=0,
        description="optimistic concurrency: the version you last read (0: must not exist yet)",
    )

    @field_validator("side", "locale", "status", "attributes")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only reached for values actually sent: defaults are not validated.
        if value is None:
            raise ValueError("cannot be null")
        return value

    @field_validator("display_name", "legal_name")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return _clean_text(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else normalize.normalize_country(value)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return normalize.normalize_locale(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalize.normalize_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalize.normalize_phone(value)

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, value: date | None) -> date | None:
        if value is None:
            return None
        if value > clock.now().date():
            raise ValueError("date of birth is in the future")
        if value < EARLIEST_BIRTH_DATE:
            raise ValueError("date of birth is before 1900")
        return value

    @field_validator("registered_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else clock.as_utc(value)

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_ATTRIBUTE_KEYS:
            raise ValueError(f"at most {MAX_ATTRIBUTE_KEYS} keys")
        if len(json.dumps(value, separators=(",", ":"))) > MAX_ATTRIBUTES_BYTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES_BYTES} bytes of JSON")
        return value


class IdentifierBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identifiers: list[IdentifierIn] = Field(min_length=1, max_length=MAX_IDENTIFIERS_PER_REQUEST)


class RestrictionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RestrictionKind
    reason: str = Field(min_length=1, max_length=2000)
    ends_at: AwareDatetime | None = Field(default=None, description="null: until lifted")
    policy_code: str | None = Field(default=None, min_length=1, max_length=100)
    case_id: int | None = Field(default=None, ge=1)

    @field_validator("ends_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else clock.as_utc(value)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class LiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


# --- responses -----------------------------------------------------------------------------


def _age(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class AccountOut(BaseModel):
    """An account as shown to the caller. For staff, personal data is masked unless revealed
    (``masked`` says which); ``age`` is always given, the date of birth only unmasked."""

    id: int
    external_id: str
    side: Side
    status: AccountStatus
    display_name: str | None
    legal_name: str | None
    date_of_birth: date | None
    age: int | None
    country: str | None
    locale: str
    email: str | None
    phone: str | None
    registered_at: datetime | None
    attributes: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    restrictions_in_force: list[RestrictionKind]
    masked: bool

    @classmethod
    def build(
        cls, account: Account, *, masked: bool, in_force: list[RestrictionKind]
    ) -> AccountOut:
        return cls(
            id=account.id,
            external_id=account.external_id,
            side=account.side,
            status=account.status,
            display_name=account.display_name,
            legal_name=masking.mask_name(account.legal_name) if masked else account.legal_name,
            date_of_birth=None if masked else account.date_of_birth,
            age=_age(account.date_of_birth, clock.now().date()),
            country=account.country,
            locale=account.locale,
            email=masking.mask_email(account.email) if masked else account.email,
            phone=masking.mask_phone(account.phone) if masked else account.phone,
            registered_at=account.registered_at,
            attributes=account.attributes or {},
            version=account.version,
            created_at=account.created_at,
            updated_at=account.updated_at,
            restrictions_in_force=sorted(set(in_force)),
            masked=masked,
        )


class AccountBrief(BaseModel):
    id: int
    external_id: str
    side: Side
    status: AccountStatus
    display_name: str | None
    country: str | None
    created_at: datetime

    @classmethod
    def build(cls, account: Account) -> AccountBrief:
        return cls(
            id=account.id,
            external_id=account.external_id,
            side=account.side,
            status=account.status,
            display_name=account.display_name,
            country=account.country,
            created_at=account.created_at,
        )


class IdentifierOut(BaseModel):
    kind: IdentifierKind
    value: str
    first_seen_at: datetime
    last_seen_at: datetime
    seen_count: int

    @classmethod
    def build(cls, identifier: Identifier, *, masked: bool) -> IdentifierOut:
        value = identifier.value
        return cls(
            kind=identifier.kind,
            value=masking.mask_identifier(identifier.kind, value) if masked else value,
            first_seen_at=identifier.first_seen_at,
            last_seen_at=identifier.last_seen_at,
            seen_count=identifier.seen_count,
        )


class IdentifierBatchOut(BaseModel):
    received: int  # after merging duplicates within the request
    created: int
    updated: int
    items: list[IdentifierOut]


class SharedValue(BaseModel):
    kind: IdentifierKind
    value: str


class SharedValueCount(SharedValue):
    accounts: int  # other accounts seen with this value


class LinkedAccountOut(BaseModel):
    account: AccountBrief
    shared_count: int
    shared: list[SharedValue]


class LinkedPage(Page[LinkedAccountOut]):
    shared_values: list[SharedValueCount]


class RestrictionOut(BaseModel):
    id: int
    account_external_id: str
    kind: RestrictionKind
    reason: str
    policy_code: str | None
    case_id: int | None
    starts_at: datetime
    ends_at: datetime | None
    created_at: datetime
    created_by_id: int | None
    lifted_at: datetime | None
    lifted_by_id: int | None
    lift_reason: str | None
    in_force: bool

    @classmethod
    def build(cls, restriction: Restriction, external_id: str) -> RestrictionOut:
        now = clock.now()
        in_force = (
            restriction.lifted_at is None
            and restriction.starts_at <= now
            and (restriction.ends_at is None or restriction.ends_at > now)
        )
        return cls(
            id=restriction.id,
            account_external_id=external_id,
            kind=restriction.kind,
            reason=restriction.reason,
            policy_code=restriction.policy_code,
            case_id=restriction.case_id,
            starts_at=restriction.starts_at,
            ends_at=restriction.ends_at,
            created_at=restriction.created_at,
            created_by_id=restriction.created_by_id,
            lifted_at=restriction.lifted_at,
            lifted_by_id=restriction.lifted_by_id,
            lift_reason=restriction.lift_reason,
            in_force=in_force,
        )
