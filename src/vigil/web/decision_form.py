"""The decision form of the console: what the reviewer filled in, the API request it becomes,
and where the service's refusals are shown.

The service names the field at fault in the API's terms (``violations.0.policy``,
``actions.0.scope``, ``statement.facts``, ``message.channels``); :func:`form_key` maps each to
the form control that shows it, so a refusal appears next to what must change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import ImmutableMultiDict

from vigil.accounts.models import Account
from vigil.cases.models import Case
from vigil.dsa.service import MIN_FACTS_LENGTH
from vigil.dsa.vocabulary import ContentType
from vigil.enforcement.models import DecisionStatus
from vigil.enforcement.queries import DecisionView
from vigil.enforcement.schemas import DecisionIn
from vigil.enforcement.suggest import Suggestion
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, VigilError
from vigil.policies.actions import ALLOWED_SCOPES, TAKES_END_DATE, ActionType, Scope
from vigil.policies.models import PolicyVersion

NO_VIOLATION = "none"  # the policy picker's "No violation" choice
LANGUAGES = {"en": "English", "es": "Spanish", "pt": "Portuguese"}
ACTION_LABELS = {
    ActionType.warn: "Warn",
    ActionType.restrict: "Restrict",
    ActionType.suspend: "Suspend",
    ActionType.remove: "Remove content",
    ActionType.ban: "Ban (remove the account)",
}
SCOPE_LABELS = {
    Scope.account: "Account",
    Scope.listing: "Listing",
    Scope.profile: "Profile",
    Scope.message: "Message",
    Scope.payouts: "Payouts",
}
CONTENT_TYPES = [
    (ContentType.TEXT, "Text (messages, descriptions)"),
    (ContentType.PRODUCT, "A listing or service offered"),
    (ContentType.IMAGE, "Image"),
    (ContentType.VIDEO, "Video"),
    (ContentType.AUDIO, "Audio"),
    (ContentType.SYNTHETIC_MEDIA, "Synthetic media"),
    (ContentType.APP, "App"),
    (ContentType.OTHER, "Other (describe it)"),
]
CHANNELS = [("email", "Email"), ("in_app", "In-app (through the marketplace)")]
STATUS_LABELS = {
    DecisionStatus.pending_approval: "waiting for approval",
    DecisionStatus.applied: "applied",
    DecisionStatus.rejected: "rejected",
    DecisionStatus.reversed: "reversed",
}

# What each form control is called in the problems list, by its key (the control's id is
# ``decision-<key with dashes>``).
FIELD_LABELS = {
    "policy": "Policy",
    "action_type": "Action",
    "action_scope": "Scope",
    "duration_days": "Duration",
    "ends_at": "End date",
    "target_ref": "Target",
    "departure_reason": "Why you depart from the ladder",
    "internal_reasoning": "Internal reasoning",
    "facts": "Facts and circumstances",
    "content_type": "Content type",
    "content_type_other": "Other content type",
    "content_date": "Content date",
    "statement": "Statement of reasons",
    "channels": "Channels",
    "no_message_reason": "Why the user is not told",
    "message_subject": "Subject",
    "message_body": "Message",
    "message": "Message",
    "general": "Decision",
}
_EXACT_KEYS = {
    "no_violation": "policy",
    "violations": "policy",
    "policy": "policy",
    "actions": "action_type",
    "departure_reason": "departure_reason",
    "internal_reasoning": "internal_reasoning",
    "statement": "statement",
    "statement.facts": "facts",
    "statement.content_type": "content_type",
    "statement.content_type_other": "content_type_other",
    "statement.content_date": "content_date",
    "message": "message",
    "message.channels": "channels",
    "message.subject": "message_subject",
    "message.body": "message_body",
    "message.no_message_reason": "no_message_reason",
}
_ACTION_KEYS = {
    "type": "action_type",
    "scope": "action_scope",
    "duration_days": "duration_days",
    "ends_at": "ends_at",
    "target_ref": "target_ref",
}
_ACTION_FIELD = re.compile(r"^actions\.\d+\.(\w+)$")


def form_key(name: str | None) -> str:
    """The form control a service field names: ``actions.0.scope`` -> ``action_scope``,
    ``violations.0.policy`` -> ``policy``, ``statement.category`` -> ``statement``."""
    if not name:
        return "general"
    if name in _EXACT_KEYS:
        return _EXACT_KEYS[name]
    if match := _ACTION_FIELD.match(name):
        return _ACTION_KEYS.get(match.group(1), "action_type")
    if name.startswith(("violations.", "policy.")):
        return "policy"
    if name.startswith("message.channels"):
        return "channels"
    if name.startswith("statement."):
        return "statement"
    return "general"


Errors = dict[str, list[str]]
# A submitted form (or query string).
Source = ImmutableMultiDict[str, Any]


def collect(problems: Iterable[tuple[str | None, str]], into: Errors | None = None) -> Errors:
    out: Errors = into if into is not None else {}
    for name, message in problems:
        messages = out.setdefault(form_key(name), [])
        if message and message not in messages:
            messages.append(message)
    return out


# What the console says for a refusal. The service's messages name the API's fields
# (``duration_days or ends_at``) for the scripts that call it; a reviewer reads the form's
# words. By the service's code, or by (code, form key) where one code serves several fields.
# A code not listed keeps the service's message.
REVIEWER_WORDS: dict[str, str] = {
    "violations_required": "Choose the policy violated, or “No violation”",
    "actions_required": "Choose an action (a warning is the mildest)",
    "duration_required": "Suspension needs a number of days or an end date",
    "duration_and_end_date": "Give a number of days or an end date, not both",
    "end_date_not_allowed": "This action has no end date: leave Duration and End date empty",
    "ends_at_in_past": "The end date must be in the future",
    "target_ref_required": "Give the marketplace's id of the listing or message to remove",
    "duplicate_action": "This action is chosen twice",
    "account_already_removed": "This account is already removed",
    "internal_reasoning_required": "Internal reasoning is required",
    "no_message_reason_required": "Say why the user is not told, or choose a channel",
    "message_text_required": "Write the subject and the message",
    "message_needs_action": (
        "Complete the action first: the message to the user is written from the policy and "
        "the action"
    ),
    "no_email_address": "The account has no email address: tell the user in-app",
    "subject_multiline": "The subject must be one line",
    "unrendered_template": "The message still holds template markup ({{, {% or {#): write it out",
    "statement_required": "Fill in the statement of reasons",
    "content_date_in_future": "The content date can't be after today",
}
REVIEWER_FIELD_WORDS: dict[tuple[str, str], str] = {
    ("missing_field", "facts"): "Write the facts and circumstances the decision relies on",
    ("missing_field", "content_type"): "Choose the type of content",
    ("missing_field", "content_date"): (
        "Give the date the content was posted or the conduct took place"
    ),
    ("required", "facts"): "Write the facts and circumstances the decision relies on",
    ("too_short", "facts"): (
        f"Say what happened: the facts need at least {MIN_FACTS_LENGTH} characters"
    ),
    ("too_long", "facts"): "The facts are too long for the statement of reasons",
    ("personal_data", "facts"): (
        "Take the email address out of the facts: the statement of reasons is published"
    ),
    ("out_of_range", "content_date"): "The content date is out of range (2000 to today)",
    ("after_application_date", "content_date"): "The content date can't be after today",
    ("required", "content_type_other"): "Describe the content when its type is “Other”",
}
# Refusals of the request's shape (a number or a date that does not parse), by form key.
_SHAPE_WORDS: dict[str, str] = {
    "duration_days": "The duration is a whole number of days, from 1 to 3650",
    "ends_at": "Give the end date as a date",
    "content_date": "Give the content date as a date",
}


def reviewer_message(code: str | None, name: str | None, message: str) -> str:
    key = form_key(name)
    if code and (code, key) in REVIEWER_FIELD_WORDS:
        return REVIEWER_FIELD_WORDS[(code, key)]
    if code and code in REVIEWER_WORDS:
        return REVIEWER_WORDS[code]
    if code and code.startswith(_SHAPE_CODES) and key in _SHAPE_WORDS:
        return _SHAPE_WORDS[key]
    return message


# Pydantic's error types for a value of the wrong shape or out of its bounds.
_SHAPE_CODES = (
    "int_",
    "greater_than",
    "less_than",
    "date_",
    "datetime_",
    "timezone_",
    "missing",
)


def problems_of(exc: VigilError) -> list[tuple[str | None, str]]:
    """The error and, for a refused statement of reasons, every field it found wrong, each
    in the reviewer's words."""
    found: list[tuple[str | None, str]] = []
    if not (exc.code == "invalid_statement" and exc.details):
        # A refused statement's first violation is also its first detail.
        found.append((exc.field, reviewer_message(exc.code, exc.field, exc.message)))
    for detail in exc.details:
        name = detail.get("field")
        code = detail.get("code")
        text = str(detail.get("message", ""))
        found.append((name, reviewer_message(str(code) if code else None, name, text)))
    return found


# --- the form -----------------------------------------------------------------------------


def text_of(source: Source, name: str) -> str:
    value = source.get(name)
    # Browsers send line breaks as CRLF; the service and the templates use LF.
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


@dataclass
class DecisionForm:
    """What the reviewer filled in, as text, so a refused form comes back as it was sent."""

    policy: str = ""
    action_type: str = ""
    action_scope: str = ""
    duration_days: str = ""
    ends_at: str = ""
    target_ref: str = ""
    departure_reason: str = ""
    internal_reasoning: str = ""
    facts: str = ""
    content_type: str = ContentType.TEXT.value
    content_type_other: str = ""
    content_date: str = ""
    channels: list[str] = field(default_factory=list)
    no_message_reason: str = ""
    message_subject: str = ""
    message_body: str = ""
    template_subject: str = ""
    template_body: str = ""
    message_edited: bool = False
    previewed: bool = False

    @property
    def no_violation(self) -> bool:
        return self.policy == NO_VIOLATION

    @property
    def edited(self) -> bool:
        """The reviewer changed the text the template gave (or wrote it from scratch)."""
        return self.previewed and (
            self.message_edited
            or self.message_subject != self.template_subject
            or self.message_body != self.template_body
        )

    @classmethod
    def parse(cls, source: Source) -> DecisionForm:
        form = cls()
        for name in _TEXT_FIELDS:
            setattr(form, name, text_of(source, name))
        form.channels = [c for c in source.getlist("channels") if isinstance(c, str)]
        form.message_edited = source.get("message_edited") == "1"
        form.previewed = source.get("message_subject") is not None
        if form.content_type == "" and source.get("content_type") is None:
            form.content_type = ContentType.TEXT.value
        return form

    @classmethod
    def defaults(cls, case: Case, account: Account | None, policy: str = "") -> DecisionForm:
        form = cls(policy=policy, content_date=case.opened_at.date().isoformat())
        form.channels = default_channels(account, no_violation=policy == NO_VIOLATION)
        return form

    @classmethod
    def from_decision(cls, view: DecisionView, case: Case, account: Account | None) -> DecisionForm:
        """The form as the reviewer sent a decision that was rejected, to change what the
        approver asked rather than start again (the console's form holds one action)."""
        d = view.decision
        form = cls.defaults(case, account)
        form.policy = (
            NO_VIOLATION if d.no_violation else (view.policies[0].code if view.policies else "")
        )
        if view.actions:
            a = view.actions[0]
            form.action_type = str(a.type)
            form.action_scope = str(a.scope)
            form.duration_days = str(a.duration_days or "")
            ends = a.requested_ends_at
            form.ends_at = clock.as_utc(ends).date().isoformat() if ends is not None else ""
            form.target_ref = a.target_ref or ""
        else:
            form.action_type = form.action_scope = ""
        form.departure_reason = d.departure_reason or ""
        form.internal_reasoning = d.internal_reasoning or ""
        spec = d.statement_spec or {}
        form.facts = str(spec.get("facts") or "")
        types = spec.get("content_type") or []
        form.content_type = str(types[0]) if types else ContentType.TEXT.value
        form.content_type_other = str(spec.get("content_type_other") or "")
        form.content_date = str(spec.get("content_date") or form.content_date)
        message = d.message_spec or {}
        form.channels = [str(c) for c in message.get("channels") or []]
        form.no_message_reason = str(message.get("no_message_reason") or "")
        if message.get("subject") is not None or message.get("body") is not None:
            # The reviewer's own text: shown again in the message box, still theirs.
            form.message_subject = str(message.get("subject") or "")
            form.message_body = str(message.get("body") or "")
            form.message_edited = form.previewed = True
        return form

    def prefill(self, suggestion: Suggestion | None, policy: PolicyVersion | None) -> None:
        """The ladder's proposal in the action fields (the policy's default without one)."""
        if suggestion is not None:
            self.action_type = suggestion.action.value
            self.action_scope = suggestion.scope.value
            self.duration_days = str(suggestion.duration_days or "")
        elif policy is not None:
            action = ActionType(policy.default_action)
            self.action_type = action.value
            self.action_scope = "account" if Scope.account in ALLOWED_SCOPES[action] else ""
            self.duration_days = ""
        self.ends_at = ""


_TEXT_FIELDS = [
    name for name, spec in DecisionForm.__dataclass_fields__.items() if spec.type in ("str", str)
]
TEXT_FIELDS = frozenset(_TEXT_FIELDS)


def default_channels(account: Account | None, *, no_violation: bool) -> list[str]:
    """A violation is told on every channel that reaches the user; "no violation" sends
    nothing unless the reviewer writes a message."""
    if account is None or no_violation:
        return []
    return (["email"] if account.email else []) + ["in_app"]


def takes_end_date(action_type: str) -> bool:
    return action_type in ActionType.__members__ and TAKES_END_DATE[ActionType(action_type)]


def _end_of(value: str) -> str:
    """A date from the form means the start of that day, UTC; anything else goes to the
    model as it is, which names it in its refusal."""
    try:
        return f"{date.fromisoformat(value).isoformat()}T00:00:00+00:00"
    except ValueError:
        return value


def decision_in(form: DecisionForm) -> DecisionIn:
    """The API's request body for the form. Refuses with the field the API would name."""
    raw: dict[str, Any] = {"internal_reasoning": form.internal_reasoning}
    if form.no_violation:
        raw["no_violation"] = True
    else:
        if form.policy:
            raw["violations"] = [{"policy": form.policy}]
        if form.action_type:
            if not form.action_scope:
                raise InvalidInput(
                    "choose what the action applies to", field="actions.0.scope", code="missing"
                )
            action: dict[str, Any] = {
                "type": form.action_type,
                "scope": form.action_scope,
                "target_ref": form.target_ref.strip() or None,
            }
            # A disabled duration field still arrives from a browser without scripts: an
            # action without an end date ignores it rather than refusing the form.
            if takes_end_date(form.action_type):
                if form.duration_days.strip():
                    action["duration_days"] = form.duration_days.strip()
                if form.ends_at.strip():
                    action["ends_at"] = _end_of(form.ends_at.strip())
            raw["actions"] = [action]
        if form.departure_reason.strip():
            raw["departure_reason"] = form.departure_reason
        raw["statement"] = {
            "facts": form.facts.strip() or None,
            "content_type": [form.content_type] if form.content_type else None,
            "content_type_other": form.content_type_other.strip() or None,
            "content_date": form.content_date.strip() or None,
        }
    message: dict[str, Any] = {"channels": form.channels}
    if form.no_message_reason.strip():
        message["no_message_reason"] = form.no_message_reason
    if form.edited:
        message["subject"] = form.message_subject
        message["body"] = form.message_body
    raw["message"] = message
    try:
        return DecisionIn.model_validate(raw)
    except ValidationError as exc:
        details = [
            {
                "field": ".".join(str(p) for p in e["loc"]),
                "code": e["type"],
                "message": str(e["msg"]),
            }
            for e in exc.errors()
        ]
        first = details[0]
        raise InvalidInput(
            first["message"], field=first["field"], code=first["code"], details=details[1:]
        ) from None
