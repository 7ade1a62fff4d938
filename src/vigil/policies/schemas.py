"""What a policy version must say, checked in one place for the API and the pack loader alike,
and the API's request and response models.

:func:`validate_policy` takes plain data (a JSON body, a YAML mapping), reports every problem
with a stable ``code`` and the path of the field at fault (``ladder[2].scope``,
``user_title.pt``), and returns a normalised :class:`PolicySpec`. Normalising matters: two
specs that say the same thing compare equal, which is how an edit that changes nothing is
recognised and written as nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.cases.models import Severity
from vigil.dsa.vocabulary import CATEGORIES, GROUNDS, KEYWORDS, DecisionGround, Keyword
from vigil.kit.errors import InvalidInput
from vigil.policies.actions import ALLOWED_SCOPES, ActionType, Scope
from vigil.policies.models import CODE_MAX, Policy, PolicyVersion

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
LOCALE_PATTERN = re.compile(r"^[a-z]{2}$")
REQUIRED_LOCALES = ("en", "es", "pt")

# Lengths. The three grounds go verbatim into DSA statements of reasons, so they keep to the
# Transparency Database's limits (incompatible_content_ground and illegal_content_legal_ground
# 500, illegal_content_explanation 2,000 characters).
MAX_TITLE = 200
MAX_DESCRIPTION = 4_000
MAX_GUIDANCE = 20_000
MAX_EXAMPLE = 1_000
MAX_EXAMPLES = 20
MAX_GREY_AREAS = 20
MAX_GREY_TITLE = 200
MAX_GREY_GUIDANCE = 2_000
GREY_AREA_FIELDS = ("title", "guidance")
MAX_GROUND = 500
MAX_ILLEGAL_EXPLANATION = 2_000
MAX_USER_TITLE = 200
MAX_USER_EXPLANATION = 2_000
MAX_LADDER_STEPS = 20
MAX_DURATION_DAYS = 3_650
MAX_STRIKE_WEIGHT = 100
MAX_STRIKE_TTL_DAYS = 3_650
MAX_REASON = 4_000

# Every field of a version's content, in the order people read them.
CONTENT_FIELDS: tuple[str, ...] = (
    "title",
    "description",
    "guidance",
    "examples_allowed",
    "examples_not_allowed",
    "grey_areas",
    "severity",
    "allowed_actions",
    "default_action",
    "strike_weight",
    "strike_ttl_days",
    "ladder",
    "dsa_category",
    "dsa_keywords",
    "dsa_ground",
    "tos_ground",
    "legal_ground",
    "illegal_explanation",
    "user_title",
    "user_explanation",
    "user_ground",
)
# Fields that may be left out (with their default).
OPTIONAL_FIELDS: dict[str, Any] = {
    "examples_allowed": [],
    "examples_not_allowed": [],
    "grey_areas": [],
    "strike_weight": 1,
    "strike_ttl_days": 365,
    "dsa_keywords": [],
    "legal_ground": None,
    "illegal_explanation": None,
    "user_ground": None,
}
STEP_FIELDS = ("strikes", "action", "scope", "duration_days")
ILLEGAL = DecisionGround.ILLEGAL_CONTENT.value


@dataclass(frozen=True)
class PolicySpec:
    """A validated, normalised policy version, not yet written."""

    code: str
    content: dict[str, Any]

    def differs_from(self, version: PolicyVersion) -> list[str]:
        """The content fields in which this spec and ``version`` disagree."""
        current = version_content(version)
        return [name for name in CONTENT_FIELDS if self.content[name] != current[name]]


def version_content(version: PolicyVersion) -> dict[str, Any]:
    """A written version's content in the same normal form as :class:`PolicySpec`."""
    out: dict[str, Any] = {}
    for name in CONTENT_FIELDS:
        value = getattr(version, name)
        if name == "severity":
            value = str(Severity(value).value)
        elif isinstance(value, list):
            value = [dict(v) if isinstance(v, dict) else v for v in value]
        elif isinstance(value, dict):
            value = dict(value)
        out[name] = value
    return out


class _Errors:
    """Collects problems; the first one becomes the error's ``code`` and ``field``."""

    def __init__(self, prefix: str, label: str) -> None:
        self.prefix = prefix
        self.label = label
        self.items: list[dict[str, Any]] = []

    def add(self, path: str, code: str, message: str) -> None:
        # An error about the whole policy (not one of its fields) names the policy's own path.
        full = f"{self.prefix}{path}" if path else (self.prefix.rstrip(".") or None)
        self.items.append({"code": code, "field": full, "message": f"{self.label}{message}"})

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            raise InvalidInput(
                first["message"], field=first["field"], code=first["code"], details=self.items
            )


def _text(
    errors: _Errors,
    data: Mapping[str, Any],
    name: str,
    limit: int,
    *,
    required: bool = True,
    path: str | None = None,
) -> str | None:
    at = path or name
    value = data.get(name)
    if value is None:
        if required:
            errors.add(at, "missing_field", f"{at} is required")
        return None
    if not isinstance(value, str):
        errors.add(at, "invalid_type", f"{at} must be text")
        return None
    value = value.strip()
    if not value:
        if required:
            errors.add(at, "empty_field", f"{at} must not be empty")
        return None
    if len(value) > limit:
        errors.add(at, "too_long", f"{at} is longer than {limit} characters")
        return None
    return value


def _int(errors: _Errors, value: Any, path: str) -> int | None:
    # bool is an int in Python; ``true`` is never a number of strikes.
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "invalid_type", f"{path} must be a whole number")
        return None
    return value


def _text_list(errors: _Errors, data: Mapping[str, Any], name: str) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(name, "invalid_type", f"{name} must be a list of texts")
        return []
    if len(value) > MAX_EXAMPLES:
        errors.add(name, "too_many", f"{name} holds more than {MAX_EXAMPLES} items")
    out: list[str] = []
    for i, item in enumerate(value):
        path = f"{name}[{i}]"
        if not isinstance(item, str):
            errors.add(path, "invalid_type", f"{path} must be text")
        elif not item.strip():
            errors.add(path, "empty_field", f"{path} must not be empty")
        elif len(item.strip()) > MAX_EXAMPLE:
            errors.add(path, "too_long", f"{path} is longer than {MAX_EXAMPLE} characters")
        else:
            out.append(item.strip())
    return out


def _grey_areas(errors: _Errors, data: Mapping[str, Any]) -> list[dict[str, str]]:
    """Hard calls: each a short ``title`` and the ``guidance`` that settles it."""
    value = data.get("grey_areas")
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(
            "grey_areas", "invalid_type", "grey_areas must be a list of {title, guidance} items"
        )
        return []
    if len(value) > MAX_GREY_AREAS:
        errors.add("grey_areas", "too_many", f"grey_areas holds more than {MAX_GREY_AREAS} items")
    out: list[dict[str, str]] = []
    titles: dict[str, int] = {}
    for i, raw in enumerate(value):
        at = f"grey_areas[{i}]"
        if not isinstance(raw, Mapping):
            errors.add(at, "invalid_type", f"{at} must have a title and guidance")
            continue
        for key in raw:
            if key not in GREY_AREA_FIELDS:
                errors.add(f"{at}.{key}", "unknown_field", f"{at} has no field '{key}'")
        item: dict[str, str] = {}
        for name, limit in (("title", MAX_GREY_TITLE), ("guidance", MAX_GREY_GUIDANCE)):
            text = _text(errors, raw, name, limit, path=f"{at}.{name}")
            if text is not None:
                item[name] = text
        if len(item) < len(GREY_AREA_FIELDS):
            continue
        key = item["title"].casefold()
        if key in titles:
            errors.add(
                f"{at}.title",
                "duplicate_grey_area",
                f"{at}.title repeats grey_areas[{titles[key]}].title",
            )
            continue
        titles[key] = i
        out.append(item)
    return out


def _actions(errors: _Errors, data: Mapping[str, Any]) -> list[ActionType]:
    value = data.get("allowed_actions")
    if value is None:
        errors.add("allowed_actions", "missing_field", "allowed_actions is required")
        return []
    if not isinstance(value, list):
        errors.add("allowed_actions", "invalid_type", "allowed_actions must be a list")
        return []
    found: set[ActionType] = set()
    for i, item in enumerate(value):
        try:
            found.add(ActionType(item))
        except (ValueError, TypeError):
            errors.add(
                f"allowed_actions[{i}]",
                "unknown_action",
                f"allowed_actions[{i}] '{item}' is not one of {', '.join(ActionType)}",
            )
    if not value:
        errors.add("allowed_actions", "empty_field", "allowed_actions must name at least one")
    return sorted(found, key=lambda a: a.rank)


def _ladder(
    errors: _Errors, data: Mapping[str, Any], allowed: list[ActionType]
) -> list[dict[str, Any]]:
    value = data.get("ladder")
    if value is None:
        errors.add("ladder", "missing_field", "ladder is required")
        return []
    if not isinstance(value, list):
        errors.add("ladder", "invalid_type", "ladder must be a list of steps")
        return []
    if not value:
        errors.add("ladder", "empty_field", "ladder must have at least one step")
    if len(value) > MAX_LADDER_STEPS:
        errors.add("ladder", "too_many", f"ladder has more than {MAX_LADDER_STEPS} steps")
    steps: list[dict[str, Any]] = []
    previous: int | None = None
    for i, raw in enumerate(value):
        at = f"ladder[{i}]"
        if not isinstance(raw, Mapping):
            errors.add(at, "invalid_type", f"{at} must be a step with strikes, action and scope")
            continue
        for key in raw:
            if key not in STEP_FIELDS:
                errors.add(f"{at}.{key}", "unknown_field", f"{at} has no field '{key}'")
        strikes = None
        if raw.get("strikes") is None:
            errors.add(f"{at}.strikes", "missing_field", f"{at}.strikes is required")
        else:
            strikes = _int(errors, raw["strikes"], f"{at}.strikes")
        if strikes is not None:
            if strikes < 1:
                errors.add(f"{at}.strikes", "invalid_strikes", f"{at}.strikes must be 1 or more")
            elif previous is not None and strikes <= previous:
                errors.add(
                    f"{at}.strikes",
                    "ladder_not_increasing",
                    f"{at}.strikes must be greater than the step before ({previous}): "
                    "steps go in order of strictly increasing strikes",
                )
            previous = strikes if previous is None else max(previous, strikes)
        action = _step_action(errors, raw, at, allowed)
        scope = _step_scope(errors, raw, at, action)
        duration = _step_duration(errors, raw, at, action)
        if strikes is not None and action is not None and scope is not None:
            steps.append(
                {
                    "strikes": strikes,
                    "action": action.value,
                    "scope": scope.value,
                    "duration_days": duration,
                }
            )
    return steps


def _step_action(
    errors: _Errors, raw: Mapping[str, Any], at: str, allowed: list[ActionType]
) -> ActionType | None:
    if raw.get("action") is None:
        errors.add(f"{at}.action", "missing_field", f"{at}.action is required")
        return None
    try:
        action = ActionType(raw["action"])
    except (ValueError, TypeError):
        errors.add(
            f"{at}.action",
            "unknown_action",
            f"{at}.action '{raw['action']}' is not one of {', '.join(ActionType)}",
        )
        return None
    if allowed and action not in allowed:
        errors.add(
            f"{at}.action",
            "action_not_allowed",
            f"{at}.action '{action}' is not in allowed_actions",
        )
    return action


def _step_scope(
    errors: _Errors, raw: Mapping[str, Any], at: str, action: ActionType | None
) -> Scope | None:
    if action is None:
        return None
    scopes = ALLOWED_SCOPES[action]
    if raw.get("scope") is None:
        if len(scopes) == 1:  # warn, suspend and ban can only take the account
            return next(iter(scopes))
        errors.add(
            f"{at}.scope",
            "missing_field",
            f"{at}.scope is required for {action} (one of {', '.join(sorted(scopes))})",
        )
        return None
    try:
        scope = Scope(raw["scope"])
    except (ValueError, TypeError):
        scope = None
    if scope is None or scope not in scopes:
        errors.add(
            f"{at}.scope",
            "scope_not_allowed",
            f"{at}.scope '{raw['scope']}' does not go with {action} "
            f"(one of {', '.join(sorted(scopes))})",
        )
        return None
    return scope


def _step_duration(
    errors: _Errors, raw: Mapping[str, Any], at: str, action: ActionType | None
) -> int | None:
    path = f"{at}.duration_days"
    value = raw.get("duration_days")
    if action is None:
        return None
    if value is None:
        if action is ActionType.suspend:
            errors.add(path, "duration_required", f"{path} is required for a suspension")
        return None
    if action is not ActionType.suspend and action is not ActionType.restrict:
        errors.add(path, "duration_not_allowed", f"{path}: {action} takes no duration")
        return None
    days = _int(errors, value, path)
    if days is None:
        return None
    if not 1 <= days <= MAX_DURATION_DAYS:
        errors.add(path, "invalid_duration", f"{path} must be between 1 and {MAX_DURATION_DAYS}")
        return None
    return days


def _bounded_int(
    errors: _Errors, data: Mapping[str, Any], name: str, low: int, high: int
) -> int | None:
    value = data.get(name, OPTIONAL_FIELDS[name])
    if value is None:
        value = OPTIONAL_FIELDS[name]
    number = _int(errors, value, name)
    if number is not None and not low <= number <= high:
        errors.add(name, f"invalid_{name}", f"{name} must be between {low} and {high}")
        return None
    return number


def _localized(errors: _Errors, data: Mapping[str, Any], name: str, limit: int) -> dict[str, str]:
    value = data.get(name)
    if value is None:
        errors.add(name, "missing_field", f"{name} is required (en, es and pt)")
        return {}
    if not isinstance(value, Mapping):
        errors.add(name, "invalid_type", f"{name} must map a language (en, es, pt) to text")
        return {}
    out: dict[str, str] = {}
    for locale, text in value.items():
        path = f"{name}.{locale}"
        if not isinstance(locale, str) or not LOCALE_PATTERN.match(locale):
            errors.add(path, "invalid_locale", f"{path}: use a two-letter language code")
        elif not isinstance(text, str):
            errors.add(path, "invalid_type", f"{path} must be text")
        elif not text.strip():
            errors.add(path, "empty_field", f"{path} must not be empty")
        elif len(text.strip()) > limit:
            errors.add(path, "too_long", f"{path} is longer than {limit} characters")
        else:
            out[locale] = text.strip()
    for locale in REQUIRED_LOCALES:
        if locale not in value:
            errors.add(f"{name}.{locale}", "missing_locale", f"{name}.{locale} is required")
    return dict(sorted(out.items()))


def _dsa(errors: _Errors, data: Mapping[str, Any]) -> dict[str, Any]:
    category = _text(errors, data, "dsa_category", 100)
    if category is not None and category not in CATEGORIES:
        errors.add(
            "dsa_category",
            "unknown_dsa_category",
            f"dsa_category '{category}' is not a DSA Transparency Database category "
            "(STATEMENT_CATEGORY_...)",
        )
    keywords: list[str] = []
    raw = data.get("dsa_keywords")
    if raw is not None and not isinstance(raw, list):
        errors.add("dsa_keywords", "invalid_type", "dsa_keywords must be a list")
    elif raw:
        for i, item in enumerate(raw):
            path = f"dsa_keywords[{i}]"
            if item == Keyword.OTHER.value:
                # KEYWORD_OTHER needs a free-text specification the policy has no field for.
                errors.add(path, "unknown_dsa_keyword", f"{path}: KEYWORD_OTHER cannot be used")
            elif not isinstance(item, str) or item not in KEYWORDS:
                errors.add(
                    path,
                    "unknown_dsa_keyword",
                    f"{path} '{item}' is not a DSA Transparency Database keyword (KEYWORD_...)",
                )
            elif item not in keywords:
                keywords.append(item)
    ground = _text(errors, data, "dsa_ground", 64)
    if ground is not None and ground not in GROUNDS:
        errors.add(
            "dsa_ground", "unknown_dsa_ground", f"dsa_ground must be one of {', '.join(GROUNDS)}"
        )
    tos = _text(errors, data, "tos_ground", MAX_GROUND)
    legal = _text(errors, data, "legal_ground", MAX_GROUND, required=False)
    explanation = _text(
        errors, data, "illegal_explanation", MAX_ILLEGAL_EXPLANATION, required=False
    )
    if ground == ILLEGAL:
        if legal is None and "legal_ground" not in _reported(errors):
            errors.add(
                "legal_ground",
                "legal_ground_required",
                "legal_ground is required when dsa_ground is illegal content: name the law",
            )
        if explanation is None and "illegal_explanation" not in _reported(errors):
            errors.add(
                "illegal_explanation",
                "illegal_explanation_required",
                "illegal_explanation is required when dsa_ground is illegal content",
            )
    elif ground is not None:
        for name, value in (("legal_ground", legal), ("illegal_explanation", explanation)):
            if value is not None:
                errors.add(
                    name,
                    "only_for_illegal_content",
                    f"{name} is only for policies whose dsa_ground is illegal content",
                )
    return {
        "dsa_category": category,
        "dsa_keywords": sorted(keywords),
        "dsa_ground": ground,
        "tos_ground": tos,
        "legal_ground": legal,
        "illegal_explanation": explanation,
    }


def _reported(errors: _Errors) -> set[str]:
    return {(e["field"] or "").removeprefix(errors.prefix) for e in errors.items}


def validate_code(value: Any, *, field: str = "code", prefix: str = "") -> str:
    """A policy code: a lower-case slug such as ``fee_circumvention``."""
    errors = _Errors(prefix, "")
    if value is None or value == "":
        errors.add(field, "missing_field", "code is required")
    elif not isinstance(value, str):
        errors.add(field, "invalid_type", "code must be text")
    elif len(value) > CODE_MAX or not CODE_PATTERN.match(value):
        errors.add(
            field,
            "invalid_code",
            f"code '{value[:80]}' must be a lower-case slug of at most {CODE_MAX} characters: "
            "letters, digits and single underscores, starting with a letter "
            "(e.g. fee_circumvention)",
        )
    errors.raise_if_any()
    return str(value)


def validate_policy(data: Mapping[str, Any], *, prefix: str = "", label: str = "") -> PolicySpec:
    """Check a whole policy version (``code`` plus every content field).

    Raises :class:`InvalidInput` whose ``code`` and ``field`` are the first problem's and whose
    ``details`` list every problem found. ``prefix`` is prepended to each field path (the pack
    loader passes ``policies[3].``) and ``label`` to each message (``policy fraud: ``).
    """
    errors = _Errors(prefix, label)
    if not isinstance(data, Mapping):
        errors.add("", "invalid_type", "a policy must be a mapping of fields")
        errors.raise_if_any()
    for key in data:
        if key != "code" and key not in CONTENT_FIELDS:
            errors.add(str(key), "unknown_field", f"'{key}' is not a field of a policy")
    code = ""
    try:
        code = validate_code(data.get("code"), prefix=prefix)
    except InvalidInput as exc:
        errors.items.extend({**d, "message": f"{label}{d['message']}"} for d in exc.details)

    content: dict[str, Any] = {
        "title": _text(errors, data, "title", MAX_TITLE),
        "description": _text(errors, data, "description", MAX_DESCRIPTION),
        "guidance": _text(errors, data, "guidance", MAX_GUIDANCE),
        "examples_allowed": _text_list(errors, data, "examples_allowed"),
        "examples_not_allowed": _text_list(errors, data, "examples_not_allowed"),
        "grey_areas": _grey_areas(errors, data),
    }
    severity = data.get("severity")
    if severity is None:
        errors.add("severity", "missing_field", "severity is required")
    elif not isinstance(severity, str) or severity not in {s.value for s in Severity}:
        errors.add(
            "severity",
            "invalid_severity",
            f"severity '{severity}' is not one of {', '.join(Severity)}",
        )
    content["severity"] = severity

    allowed = _actions(errors, data)
    content["allowed_actions"] = [a.value for a in allowed]
    default = data.get("default_action")
    if default is None:
        errors.add("default_action", "missing_field", "default_action is required")
    elif not isinstance(default, str) or default not in {a.value for a in ActionType}:
        errors.add(
            "default_action",
            "unknown_action",
            f"default_action '{default}' is not one of {', '.join(ActionType)}",
        )
    elif allowed and ActionType(default) not in allowed:
        errors.add(
            "default_action",
            "default_action_not_allowed",
            f"default_action '{default}' is not in allowed_actions",
        )
    content["default_action"] = default
    content["strike_weight"] = _bounded_int(errors, data, "strike_weight", 0, MAX_STRIKE_WEIGHT)
    content["strike_ttl_days"] = _bounded_int(
        errors, data, "strike_ttl_days", 1, MAX_STRIKE_TTL_DAYS
    )
    content["ladder"] = _ladder(errors, data, allowed)
    content.update(_dsa(errors, data))
    content["user_title"] = _localized(errors, data, "user_title", MAX_USER_TITLE)
    content["user_explanation"] = _localized(errors, data, "user_explanation", MAX_USER_EXPLANATION)
    content["user_ground"] = (
        _localized(errors, data, "user_ground", MAX_GROUND)
        if data.get("user_ground") is not None
        else None
    )
    errors.raise_if_any()
    return PolicySpec(code=code, content=content)


def validate_reason(value: str | None, field: str, *, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"{field} is required", field=field, code=f"{field}_required")
        return None
    if len(text) > MAX_REASON:
        raise InvalidInput(
            f"{field} is longer than {MAX_REASON} characters", field=field, code="too_long"
        )
    return text


# --- API requests -----------------------------------------------------------------------------
# Types here are loose on purpose: what a field must hold is checked by ``validate_policy``, so
# the API and the YAML pack answer the same mistake with the same code and field path.


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LadderStepIn(_Body):
    strikes: int = Field(
        description="Accumulated strikes (including this one) at which it applies."
    )
    action: str = Field(description="warn, restrict, suspend, remove or ban.")
    scope: str | None = Field(
        default=None,
        description="What the action takes; may be left out for warn, suspend and ban (account).",
    )
    duration_days: int | None = Field(
        default=None, description="Required for suspend, optional for restrict, else none."
    )


class GreyAreaIn(_Body):
    title: str | None = Field(
        default=None, description="The hard call, in a few words (at most 200 characters)."
    )
    guidance: str | None = Field(
        default=None, description="How reviewers settle it (at most 2,000 characters)."
    )


class GreyAreaOut(BaseModel):
    title: str
    guidance: str


class _Content(_Body):
    title: str | None = None
    description: str | None = None
    guidance: str | None = Field(default=None, description="How reviewers apply the policy.")
    examples_allowed: list[str] | None = None
    examples_not_allowed: list[str] | None = None
    grey_areas: list[GreyAreaIn] | None = Field(
        default=None,
        description="Hard calls the examples do not settle, each with a title and guidance "
        "(at most 20).",
    )
    severity: str | None = Field(default=None, description="low, medium, high or critical.")
    allowed_actions: list[str] | None = None
    default_action: str | None = None
    strike_weight: int | None = None
    strike_ttl_days: int | None = None
    ladder: list[LadderStepIn] | None = None
    dsa_category: str | None = Field(default=None, description="STATEMENT_CATEGORY_...")
    dsa_keywords: list[str] | None = Field(default=None, description="KEYWORD_... values.")
    dsa_ground: str | None = Field(
        default=None,
        description="DECISION_GROUND_INCOMPATIBLE_CONTENT or DECISION_GROUND_ILLEGAL_CONTENT.",
    )
    tos_ground: str | None = Field(default=None, description="The clause of the terms.")
    legal_ground: str | None = Field(default=None, description="The law (illegal content).")
    illegal_explanation: str | None = None
    user_title: dict[str, str] | None = Field(default=None, description="en, es and pt.")
    user_explanation: dict[str, str] | None = Field(default=None, description="en, es and pt.")
    user_ground: dict[str, str] | None = Field(
        default=None,
        description="The terms clause in plain words, as the user reads it (en, es and pt); "
        "left out: messages quote tos_ground.",
    )

    def fields_given(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"change_reason", "expected_version"})


class PolicyCreate(_Content):
    code: str = Field(description="Stable lower-case slug, e.g. fee_circumvention. Never changes.")
    change_reason: str | None = Field(default=None, description="Defaults to 'created'.")


class PolicyUpdate(_Content):
    """Only the fields sent change; the result is a new version."""

    change_reason: str = Field(description="Why (kept with the version). Required.")
    expected_version: int | None = Field(
        default=None, ge=1, description="Refuse the edit (409) unless this is the current version."
    )


class RetireBody(_Body):
    reason: str = Field(description="Why the policy stops being used. Required.")


class RestoreBody(_Body):
    reason: str | None = None


# --- API responses ----------------------------------------------------------------------------


class LadderStepOut(BaseModel):
    strikes: int
    action: ActionType
    scope: Scope
    duration_days: int | None


class PolicyVersionOut(BaseModel):
    id: int
    policy_id: int
    code: str
    version: int
    title: str
    description: str
    guidance: str
    examples_allowed: list[str]
    examples_not_allowed: list[str]
    grey_areas: list[GreyAreaOut]
    severity: Severity
    allowed_actions: list[ActionType]
    default_action: ActionType
    strike_weight: int
    strike_ttl_days: int
    ladder: list[LadderStepOut]
    dsa_category: str
    dsa_keywords: list[str]
    dsa_ground: str
    tos_ground: str
    legal_ground: str | None
    illegal_explanation: str | None
    user_title: dict[str, str]
    user_explanation: dict[str, str]
    user_ground: dict[str, str] | None
    created_at: datetime
    created_by_id: int | None
    created_by_label: str
    change_reason: str

    @classmethod
    def of(cls, version: PolicyVersion) -> PolicyVersionOut:
        return cls(**_version_fields(cls, version))


def _version_fields(cls: type[BaseModel], version: PolicyVersion) -> dict[str, Any]:
    names = set(cls.model_fields) & set(PolicyVersionOut.model_fields)
    return {name: getattr(version, name) for name in names}


class PolicyOut(PolicyVersionOut):
    """A policy as it stands: its current version plus the catalog entry's state."""

    current_version: int
    retired: bool
    retired_at: datetime | None
    retire_reason: str | None

    @classmethod
    def of_policy(cls, policy: Policy, version: PolicyVersion) -> PolicyOut:
        return cls(
            **_version_fields(cls, version),
            current_version=policy.current_version,
            retired=policy.retired,
            retired_at=policy.retired_at,
            retire_reason=policy.retire_reason,
        )


class PolicyPage(BaseModel):
    items: list[PolicyOut]
    next_cursor: str | None = None


class PolicyVersionPage(BaseModel):
    items: list[PolicyVersionOut]
    next_cursor: str | None = None


class PolicyUpdateOut(BaseModel):
    changed: bool = Field(description="False when the edit matched the current version.")
    changed_fields: list[str]
    policy: PolicyOut
