"""The validation rules of the DSA Transparency Database, written in Python.

A statement that passes :func:`validate_fields` is accepted by the database's submission API;
one that fails names every field at fault. Pure functions, no I/O.

Mirrors upstream ``digital-services-act/transparency-database``:
- ``app/Services/GroupedSubmissionsService.php`` at commit ``242ba47f`` (``multi_rules``: the
  per-statement rules of the batch endpoint ``POST /api/v1/statements``) and its
  ``sanitizePayloadStatement`` (which fields the database drops as not applicable);
- ``app/Http/Controllers/Api/v1/StatementMultipleAPIController.php`` (a batch holds 1 to 100
  statements; ``puid`` values must be unique within the batch);
- ``resources/markdown/api-documentation.md`` (API v2, in force since 1 July 2025): end dates
  on or after ``application_date``, ``territorial_scope`` required, ``content_id`` holding an
  ``EAN-13`` code, and the v2 category and keyword lists (in :mod:`vigil.dsa.vocabulary`).

Where the database silently drops a field that does not apply (``decision_visibility_other``
without ``DECISION_VISIBILITY_OTHER``, ``source_identity`` on a voluntary decision, ...), and
where it ignores fields it does not know, these rules refuse instead (``not_applicable``,
``unknown_field``): what Vigil stores must be what the database publishes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from vigil.dsa import vocabulary as v

BATCH_MAX = 100

# Earliest and latest dates the database takes (its ``after_or_equal`` / ``before_or_equal``).
CONTENT_DATE_MIN = date(2000, 1, 1)
APPLICATION_DATE_MIN = date(2020, 1, 1)
DATE_MAX = date(2038, 1, 1)

END_DATE_FIELDS = (
    "end_date_visibility_restriction",
    "end_date_monetary_restriction",
    "end_date_service_restriction",
    "end_date_account_restriction",
)

# Upper bounds on free text, in characters (Laravel ``max:`` on strings counts characters).
MAX_LENGTH: dict[str, int] = {
    "decision_visibility_other": 500,
    "decision_monetary_other": 500,
    "category_specification_other": 500,
    "decision_ground_reference_url": 500,
    "illegal_content_legal_ground": 500,
    "illegal_content_explanation": 2000,
    "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000,
    "content_type_other": 500,
    "decision_facts": 5000,
    "source_identity": 500,
    "puid": 500,
}

KNOWN_FIELDS = frozenset(
    {
        "decision_visibility",
        "decision_visibility_other",
        "decision_monetary",
        "decision_monetary_other",
        "decision_provision",
        "decision_account",
        "account_type",
        "category_specification",
        "category_specification_other",
        "decision_ground",
        "decision_ground_reference_url",
        "illegal_content_legal_ground",
        "illegal_content_explanation",
        "incompatible_content_ground",
        "incompatible_content_explanation",
        "incompatible_content_illegal",
        "content_type",
        "content_type_other",
        "category",
        "category_addition",
        "territorial_scope",
        "content_language",
        "content_date",
        "application_date",
        *END_DATE_FIELDS,
        "decision_facts",
        "source_type",
        "source_identity",
        "automated_detection",
        "automated_decision",
        "puid",
        "content_id",
    }
)

_PUID = re.compile(r"[A-Za-z0-9_-]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EAN13 = re.compile(r"\d{13}")
CONTENT_ID_KEYS = frozenset({"EAN-13"})


@dataclass(frozen=True)
class FieldError:
    """One violation. ``field`` is the database's field name (``statement.`` is added by the
    service); ``code`` is stable: required, invalid_choice, invalid_type, too_long,
    invalid_format, out_of_range, not_applicable, unknown_field, duplicate."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


def _label(name: str) -> str:
    return name.replace("_", " ")


def _blank(value: Any) -> bool:
    """Laravel's ``required`` fails on null, on a string that is empty once trimmed, and on an
    empty array."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, list | tuple | dict):
        return len(value) == 0
    return False


class _Check:
    """Collects the errors of one statement, in field order, at most one per field."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self.errors: list[FieldError] = []
        self._failed: set[str] = set()

    def fail(self, field: str, code: str, message: str) -> None:
        if field not in self._failed:
            self._failed.add(field)
            self.errors.append(FieldError(field, code, message))

    def ok(self, field: str) -> bool:
        return field not in self._failed

    def present(self, field: str) -> bool:
        return not _blank(self.fields.get(field))

    def get(self, field: str) -> Any:
        return self.fields.get(field)

    def required(self, field: str, why: str = "") -> bool:
        if self.present(field):
            return True
        self.fail(field, "required", f"The {_label(field)} field is required{why}.")
        return False

    def text(self, field: str) -> str | None:
        """A free-text field: a string within its length limit."""
        value = self.get(field)
        if _blank(value):
            return None
        if not isinstance(value, str):
            self.fail(field, "invalid_type", f"The {_label(field)} must be a string.")
            return None
        limit = MAX_LENGTH.get(field)
        if limit is not None and len(value) > limit:
            self.fail(
                field,
                "too_long",
                f"The {_label(field)} must not be greater than {limit} characters "
                f"(it has {len(value)}).",
            )
            return None
        return value

    def choice(self, field: str, allowed: Iterable[str]) -> str | None:
        value = self.get(field)
        if _blank(value):
            return None
        if not isinstance(value, str) or value not in set(allowed):
            self.fail(field, "invalid_choice", f"The selected {_label(field)} is invalid.")
            return None
        return value

    def choices(self, field: str, allowed: Iterable[str]) -> list[str]:
        """An array field: a list whose every item is one of ``allowed``."""
        value = self.get(field)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(field, "invalid_type", f"The {_label(field)} must be an array.")
            return []
        allowed_set = set(allowed)
        bad = [item for item in value if not isinstance(item, str) or item not in allowed_set]
        if bad:
            self.fail(
                field, "invalid_choice", f"The selected {_label(field)} is invalid: {bad[0]!r}."
            )
            return []
        return list(value)

    def day(self, field: str, earliest: date | None, latest: date) -> date | None:
        value = self.get(field)
        if _blank(value):
            return None
        parsed: date | None = None
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                parsed = date.fromisoformat(value)
            except ValueError:
                parsed = None
        if parsed is None:
            self.fail(
                field,
                "invalid_format",
                f"The {_label(field)} does not match the format YYYY-MM-DD.",
            )
            return None
        if earliest is not None and parsed < earliest:
            self.fail(
                field,
                "out_of_range",
                f"The {_label(field)} must be a date after or equal to {earliest.isoformat()}.",
            )
            return None
        if parsed > latest:
            self.fail(
                field,
                "out_of_range",
                f"The {_label(field)} must be a date before or equal to {latest.isoformat()}.",
            )
            return None
        return parsed

    def only_if(self, field: str, applies: bool, why: str) -> None:
        """The database drops ``field`` unless it applies; refuse it instead of losing it."""
        if not applies and self.present(field):
            self.fail(field, "not_applicable", f"The {_label(field)} is only taken {why}.")


# --- the rules, one function per group of fields ---------------------------------------------


def _decision(c: _Check) -> None:
    visibility = c.choices("decision_visibility", v.DECISION_VISIBILITIES)
    monetary = c.choice("decision_monetary", v.DECISION_MONETARIES)
    c.choice("decision_provision", v.DECISION_PROVISIONS)
    c.choice("decision_account", v.DECISION_ACCOUNTS)
    c.choice("account_type", v.ACCOUNT_TYPES)

    decisions = ("decision_visibility", "decision_monetary", "decision_provision")
    if not any(c.present(f) for f in (*decisions, "decision_account")):
        c.fail(
            "decision_visibility",
            "required",
            "At least one of decision visibility, decision monetary, decision provision or "
            "decision account is required.",
        )

    visibility_other = v.DecisionVisibility.OTHER in visibility
    if visibility_other:
        c.required("decision_visibility_other", " when decision visibility is other")
    c.text("decision_visibility_other")
    if c.ok("decision_visibility"):
        c.only_if(
            "decision_visibility_other", visibility_other, "when decision visibility is other"
        )

    monetary_other = monetary == v.DecisionMonetary.OTHER
    if monetary_other:
        c.required("decision_monetary_other", " when decision monetary is other")
    c.text("decision_monetary_other")
    if c.ok("decision_monetary"):
        c.only_if("decision_monetary_other", monetary_other, "when decision monetary is other")


def _ground(c: _Check) -> None:
    ground = c.choice("decision_ground", v.GROUNDS) if c.required("decision_ground") else None
    c.text("decision_ground_reference_url")
    url = c.get("decision_ground_reference_url")
    if c.ok("decision_ground_reference_url") and isinstance(url, str) and url.strip():
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc or " " in url:
            c.fail(
                "decision_ground_reference_url",
                "invalid_format",
                "The decision ground reference url must be a valid URL.",
            )

    illegal = ground == v.DecisionGround.ILLEGAL_CONTENT
    incompatible = ground == v.DecisionGround.INCOMPATIBLE_CONTENT
    for field in ("illegal_content_legal_ground", "illegal_content_explanation"):
        if illegal:
            c.required(field, " when decision ground is illegal content")
        c.text(field)
        if ground is not None:
            c.only_if(field, illegal, "when decision ground is illegal content")
    for field in ("incompatible_content_ground", "incompatible_content_explanation"):
        if incompatible:
            c.required(field, " when decision ground is incompatible content")
        c.text(field)
        if ground is not None:
            c.only_if(field, incompatible, "when decision ground is incompatible content")
    c.choice("incompatible_content_illegal", v.YES_NO)
    if ground is not None and c.ok("incompatible_content_illegal"):
        c.only_if(
            "incompatible_content_illegal",
            incompatible,
            "when decision ground is incompatible content",
        )


def _content(c: _Check) -> None:
    types: list[str] = []
    if c.required("content_type"):
        types = c.choices("content_type", v.CONTENT_TYPES)
    other = v.ContentType.OTHER in types
    if other:
        c.required("content_type_other", " when content type is other")
    c.text("content_type_other")
    if c.ok("content_type"):
        c.only_if("content_type_other", other, "when content type is other")

    content_id = c.get("content_id")
    if content_id is not None:
        if not isinstance(content_id, dict):
            c.fail("content_id", "invalid_type", "The content id must be an object of key: value.")
        elif unknown := sorted(set(content_id) - CONTENT_ID_KEYS):
            c.fail("content_id", "invalid_choice", f"The content id key {unknown[0]!r} is invalid.")
        elif any(not isinstance(x, str) or not _EAN13.fullmatch(x) for x in content_id.values()):
            c.fail("content_id", "invalid_format", "The content id EAN-13 must be 13 digits.")

    c.choice("content_language", v.LANGUAGE_CODES)


def _category(c: _Check) -> None:
    if c.required("category"):
        c.choice("category", v.CATEGORIES)
    c.choices("category_addition", v.CATEGORIES)
    keywords = c.choices("category_specification", v.KEYWORDS)
    c.text("category_specification_other")
    if c.ok("category_specification"):
        c.only_if(
            "category_specification_other",
            v.Keyword.OTHER in keywords,
            "when category specification holds KEYWORD_OTHER",
        )


def _scope(c: _Check) -> None:
    # API v2 documents territorial_scope as required (the v1 code still let it be null).
    if c.required("territorial_scope"):
        c.choices("territorial_scope", v.TERRITORIAL_SCOPE)


def _dates(c: _Check) -> None:
    if c.required("content_date"):
        c.day("content_date", CONTENT_DATE_MIN, DATE_MAX)
    applied = None
    if c.required("application_date"):
        applied = c.day("application_date", APPLICATION_DATE_MIN, DATE_MAX)
    for field in END_DATE_FIELDS:
        ends = c.day(field, None, DATE_MAX)
        if ends is not None and applied is not None and ends < applied:
            c.fail(
                field,
                "out_of_range",
                f"The {_label(field)} must be a date after or equal to the application date.",
            )


def _facts_and_source(c: _Check) -> None:
    if c.required("decision_facts"):
        c.text("decision_facts")
    source = c.choice("source_type", v.SOURCE_TYPES) if c.required("source_type") else None
    c.text("source_identity")
    if source is not None:
        c.only_if(
            "source_identity",
            source != v.SourceType.VOLUNTARY,
            "when the source is a notice (not on own voluntary initiative)",
        )
    if c.required("automated_detection"):
        c.choice("automated_detection", v.YES_NO)
    if c.required("automated_decision"):
        c.choice("automated_decision", v.AUTOMATED_DECISIONS)


def _puid(c: _Check) -> None:
    if not c.required("puid"):
        return
    puid = c.text("puid")
    if puid is not None and not _PUID.fullmatch(puid):
        c.fail(
            "puid",
            "invalid_format",
            "The puid may hold only letters a-z and A-Z, digits, '-' and '_'.",
        )


def _unknown(c: _Check) -> None:
    for field in sorted(set(c.fields) - KNOWN_FIELDS):
        c.fail(field, "unknown_field", f"The database has no field {field!r}.")


RULES: tuple[Callable[[_Check], None], ...] = (
    _decision,
    _ground,
    _content,
    _category,
    _scope,
    _dates,
    _facts_and_source,
    _puid,
    _unknown,
)


def validate_fields(fields: dict[str, Any]) -> list[FieldError]:
    """Every violation of one statement's field set, at most one per field; [] when valid."""
    if not isinstance(fields, dict):
        return [FieldError("statement", "invalid_type", "A statement must be a JSON object.")]
    check = _Check(fields)
    for rule in RULES:
        rule(check)
    return check.errors


@dataclass(frozen=True)
class BatchError:
    """A violation in a batch body; ``index`` is the statement's position (None: the body)."""

    index: int | None
    error: FieldError

    @property
    def location(self) -> str:
        """As the database reports it: ``statement_3.puid`` (the body's own: ``statements``)."""
        if self.index is None:
            return self.error.field
        return f"statement_{self.index}.{self.error.field}"

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, **self.error.as_dict()}


def validate_batch(body: Any) -> list[BatchError]:
    """A body for the database's multiple-statement endpoint: ``{"statements": [...]}`` with 1
    to 100 valid statements whose ``puid`` values are unique."""
    if not isinstance(body, dict) or not isinstance(body.get("statements"), list):
        error = FieldError(
            "statements", "required", 'The body must be an object with a "statements" array.'
        )
        return [BatchError(None, error)]
    statements: list[Any] = body["statements"]
    out: list[BatchError] = []
    extra = sorted(set(body) - {"statements"})
    if extra:
        out.append(
            BatchError(None, FieldError(extra[0], "unknown_field", f"Unknown key {extra[0]!r}."))
        )
    if not 1 <= len(statements) <= BATCH_MAX:
        message = f"The statements must hold between 1 and {BATCH_MAX} items ({len(statements)})."
        out.append(BatchError(None, FieldError("statements", "out_of_range", message)))
    seen: dict[str, int] = {}
    for index, statement in enumerate(statements):
        out.extend(BatchError(index, e) for e in validate_fields(statement))
        puid = statement.get("puid") if isinstance(statement, dict) else None
        if isinstance(puid, str) and puid:
            if puid in seen:
                message = f"The puid is not unique within this call (statement_{seen[puid]})."
                out.append(BatchError(index, FieldError("puid", "duplicate", message)))
            else:
                seen[puid] = index
    return out
