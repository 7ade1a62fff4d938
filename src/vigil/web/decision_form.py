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
from vigil.dsa.vocabulary import ContentType
from vigil.enforcement.models import DecisionStatus
from vigil.enforcement.schemas import DecisionIn
from vigil.enforcement.suggest import Suggestion
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


def problems_of(exc: VigilError) -> list[tuple[str | None, str]]:
    """The error and, for a refused statement of reasons, every field it found wrong."""
    found: list[tuple[str | None, str]] = [(exc.field, exc.message)]
    for detail in exc.details:
        found.append((detail.get("field"), str(detail.get("message", ""))))
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
        raise InvalidInput(first["message"], field=first["field"], details=details[1:]) from None
