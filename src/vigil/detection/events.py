"""The marketplace's events: one envelope, and a declared schema for each type's ``data``.

The envelope (:class:`EventIn`) is what every event shares: its idempotency key, the account
it is about, when it happened, and the identifiers it was seen with. ``data`` is validated
against the schema of its ``type`` (:data:`EVENT_SCHEMAS`), with every field defaulted, so
features and rules never meet a missing key. Errors name the field as the caller wrote it:
``type`` for an unknown type, ``data.<field>`` for a bad value inside ``data``.

Invariants:
- Every data field has a default; a type's schema accepts ``{}``.
- Fields that carry free text users wrote are named ``text`` (the text models read them).
- ``data`` keeps fields the schema does not declare (marketplace-specific extras), as sent,
  so a rule can read them; declared fields are type-checked and defaulted.
- After validation ``EventIn.data`` is plain JSON (what is stored and what rules see).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails

from vigil.accounts import normalize
from vigil.accounts.models import Side
from vigil.kit import clock

MAX_TEXT = 20_000
MAX_ID = 200


def _checked(fn: Any) -> Any:
    """Wrap a ``normalize`` function as a pydantic validator (``ValueError`` -> 422)."""

    def check(value: str | None) -> str | None:
        return None if value is None else fn(value)

    return AfterValidator(check)


Ref = Annotated[str | None, Field(min_length=1, max_length=MAX_ID)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Money = Annotated[float | None, Field(ge=0, le=1e12)]
Currency = Annotated[str | None, Field(pattern=r"^[A-Z]{3}$")]
Email = Annotated[str | None, Field(max_length=320), _checked(normalize.normalize_email)]
Phone = Annotated[str | None, Field(max_length=40), _checked(normalize.normalize_phone)]
Country = Annotated[str | None, Field(max_length=2), _checked(normalize.normalize_country)]
Locale = Annotated[str | None, Field(max_length=16), _checked(normalize.normalize_locale)]
Short = Annotated[str | None, Field(max_length=100)]


class EventData(BaseModel):
    """Base of every type's data. Undeclared fields are kept (``extra="allow"``)."""

    model_config = ConfigDict(extra="allow")


class SignupData(EventData):
    """A new account. Creates the account in Vigil when it is not known yet (``side`` is
    then required)."""

    side: Side | None = None
    email: Email = None
    phone: Phone = None
    country: Country = None
    locale: Locale = None
    display_name: Annotated[str | None, Field(max_length=200)] = None
    method: Short = Field(default="email", description="email, google, apple, phone...")
    referrer: Ref = None


class LoginData(EventData):
    success: bool = True
    method: Short = Field(default="password", description="password, sso, magic_link...")
    two_factor: bool = False


class ProfileUpdateData(EventData):
    changed: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=50)
    display_name: Annotated[str | None, Field(max_length=200)] = None
    text: Text = Field(default="", description="The bio or description, as now written.")


class MessageSentData(EventData):
    message_id: Ref = None
    conversation_id: Ref = None
    text: Text = ""
    attachments: int = Field(default=0, ge=0, le=1000)
    is_reply: bool = False


class ListingCreatedData(EventData):
    listing_id: Ref = None
    title: Annotated[str, Field(max_length=500)] = ""
    text: Text = Field(default="", description="The listing's description.")
    category: Short = None
    price: Money = None
    currency: Currency = None


class JobPostedData(EventData):
    job_id: Ref = None
    title: Annotated[str, Field(max_length=500)] = ""
    text: Text = Field(default="", description="The job's description.")
    category: Short = None
    budget: Money = None
    currency: Currency = None


class ProposalSentData(EventData):
    proposal_id: Ref = None
    job_id: Ref = None
    text: Text = Field(default="", description="The cover letter.")
    amount: Money = None
    currency: Currency = None


class ContractStartedData(EventData):
    contract_id: Ref = None
    job_id: Ref = None
    amount: Money = None
    currency: Currency = None


class PaymentData(EventData):
    payment_id: Ref = None
    contract_id: Ref = None
    amount: Money = None
    currency: Currency = None
    method: Short = Field(default=None, description="card, bank_transfer, wallet...")
    status: Literal["succeeded", "failed", "refunded", "disputed"] = "succeeded"


class PayoutRequestData(EventData):
    payout_id: Ref = None
    amount: Money = None
    currency: Currency = None
    method: Short = Field(default=None, description="bank, paypal, payoneer...")
    destination_changed: bool = Field(
        default=False, description="Paid to a destination the account had not used before."
    )


class ReviewPostedData(EventData):
    review_id: Ref = None
    contract_id: Ref = None
    rating: int | None = Field(default=None, ge=1, le=5)
    text: Text = ""


class ReportFiledData(EventData):
    """A user reports someone: ``counterparty_id`` on the envelope is the reported account."""

    report_id: Ref = None
    reason: Annotated[str, Field(max_length=100)] = "other"
    target_type: Literal["account", "message", "listing", "job", "review", "other"] = "account"
    target_id: Ref = None
    text: Text = ""


class DocumentUploadedData(EventData):
    document_id: Ref = None
    document_type: Annotated[str, Field(max_length=64)] = "id_card"
    issuing_country: Country = None


class IdentityVerifiedData(EventData):
    """Sent by Vigil itself when an identity verification is decided (not by the
    marketplace), so rules can use what the document check found: e.g. the same document
    fingerprint on several accounts, or a face that barely matches."""

    verification_id: int | None = None
    kind: Annotated[str, Field(max_length=32)] = "passport"
    outcome: Literal["approve", "reject", "review"] | None = None
    reasons: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=50)
    document_fingerprint: Annotated[str | None, Field(max_length=64)] = Field(
        default=None, description="Keyed hash of number + issuer + birth date (not reversible)."
    )
    face_distance: float | None = Field(
        default=None, ge=0, description="Selfie vs document portrait; lower is more alike."
    )
    document_reused: bool = False
    image_reused: bool = False
    screening_hit: bool = False


EVENT_SCHEMAS: dict[str, type[BaseModel]] = {
    "signup": SignupData,
    "login": LoginData,
    "profile_update": ProfileUpdateData,
    "message_sent": MessageSentData,
    "listing_created": ListingCreatedData,
    "job_posted": JobPostedData,
    "proposal_sent": ProposalSentData,
    "contract_started": ContractStartedData,
    "payment": PaymentData,
    "payout_request": PayoutRequestData,
    "review_posted": ReviewPostedData,
    "report_filed": ReportFiledData,
    "document_uploaded": DocumentUploadedData,
    "identity_verified": IdentityVerifiedData,
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_SCHEMAS)
# Types Vigil records about an account itself; the marketplace may not send them.
SYSTEM_EVENT_TYPES = frozenset({"identity_verified"})

# Types whose ``data.text`` is content a user wrote (the statement of reasons calls it text).
TEXT_TYPES = frozenset(
    {
        "message_sent",
        "review_posted",
        "listing_created",
        "job_posted",
        "proposal_sent",
        "profile_update",
        "report_filed",
    }
)


def _nested(exc: ValidationError, prefix: str) -> ValidationError:
    """``exc`` with every location under ``prefix``: raised inside a field validator, pydantic
    puts it under the field's own location, so the caller reads ``data.text``."""
    details = [
        InitErrorDetails(
            type=e["type"],
            loc=tuple(e["loc"]),
            input=e["input"],
            ctx=e.get("ctx") or {},
        )
        for e in exc.errors()
    ]
    return ValidationError.from_exception_data(prefix, details)


def _nul_at(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where the first NUL character is, in a key or a string of ``value`` (JSON)."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return (*path, str(key))
            found = _nul_at(item, (*path, str(key)))
            if found is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_at(item, (*path, i))
            if found is not None:
                return found
    return None


_NUL = "must not contain NUL characters"


class EventIn(BaseModel):
    """One event from the marketplace. Unknown envelope fields are refused (a typo in
    ``account_id`` must not pass silently); ``data`` follows its type's schema."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(
        min_length=1,
        max_length=MAX_ID,
        description="Your id for this event: the idempotency key. Sending it again returns the "
        "first decision.",
    )
    type: str = Field(
        min_length=1, max_length=40, description="One of: " + ", ".join(EVENT_TYPES) + "."
    )
    account_id: str = Field(
        min_length=1, max_length=MAX_ID, description="Your id for the account it is about."
    )
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When it happened (with a time zone); defaults to now."
    )
    ip: str | None = Field(default=None, max_length=64)
    device_id: str | None = Field(default=None, min_length=1, max_length=300)
    payment_fingerprint: str | None = Field(default=None, min_length=1, max_length=300)
    counterparty_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ID,
        description="The other account (messages, contracts, payments, reviews, reports).",
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        validate_default=True,  # an event sent without data still gets its type's defaults
        description="Fields of the type's schema; see docs/detection.md.",
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_SCHEMAS:
            raise ValueError(f"unknown event type; one of {', '.join(EVENT_TYPES)}")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else clock.as_utc(value)

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        return None if value is None else normalize.normalize_ip(value)

    @field_validator("device_id", "payment_fingerprint")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        return None if value is None else normalize.normalize_token(value)

    @field_validator("data")
    @classmethod
    def _data(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        schema = EVENT_SCHEMAS.get(info.data.get("type", ""))
        if schema is None:
            return value  # the type itself was refused; that error is the one to read
        try:
            data = schema.model_validate(value).model_dump(mode="json")
        except ValidationError as exc:
            raise _nested(exc, schema.__name__) from None
        # PostgreSQL stores no NUL in text or JSON: refused here (422), for every backend.
        where = _nul_at(data)
        if where is not None:
            raise ValidationError.from_exception_data(
                schema.__name__,
                [InitErrorDetails(type="value_error", loc=where, input="",
                                  ctx={"error": ValueError(_NUL)})],
            )  # fmt: skip
        return data

    @field_validator("event_id", "account_id", "counterparty_id")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError(_NUL)
        return value

    def fingerprint(self) -> str:
        """SHA-256 of the event as sent (after validation, before ``occurred_at`` defaults):
        a repeat of an ``event_id`` must carry the same event."""
        raw = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), default=str
        )
        return hashlib.sha256(raw.encode()).hexdigest()

    def when(self, received_at: datetime) -> datetime:
        """When the event happened: as sent, else when it was received."""
        return self.occurred_at if self.occurred_at is not None else received_at

    @property
    def text(self) -> str:
        """The text a user wrote, for types that carry one; else ''."""
        value = self.data.get("text")
        return value if isinstance(value, str) else ""


def schema_of(event_type: str) -> dict[str, Any]:
    """The JSON schema of one type's ``data`` (for the docs and ``vigil events types``)."""
    return EVENT_SCHEMAS[event_type].model_json_schema()
