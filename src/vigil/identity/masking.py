"""What staff without ``pii:reveal`` see of a verification: the personal values read from a
document (names, birth dates, document numbers, MRZ lines and the errors quoting them)
masked, and everything else (scores, outcomes, field names, comparison results) as is.

One place for the console's review screen and the API, so both show a role the same thing.

Invariants:
- Names become their initials and document numbers their last two characters (the accounts'
  own masks, ``accounts.service.mask_name``/``mask_identifier``); dates and MRZ lines become
  ``HIDDEN``; an error message naming a personal field keeps its text and loses its value.
- Masking never changes the shape: a dict stays a dict with the same keys, a list keeps its
  length, numbers and booleans stay (they are scores and outcomes, never personal values).
- Pure functions: nothing here reads the database or the caller's permissions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from vigil.accounts import service as accounts
from vigil.accounts.models import IdentifierKind
from vigil.identity.types import CheckName

__all__ = [
    "HIDDEN",
    "mask_checks",
    "mask_error",
    "mask_evidence",
    "mask_fields",
    "mask_value",
]

HIDDEN = "hidden"  # a date or an MRZ line, masked (as the profile's date of birth)

# Personal values in what the readers and checks report, by the key they come under.
_PERSONAL_KEYS = {
    "surname": "name", "given_names": "name", "full_name": "name", "name": "name",
    "matched_name": "name", "legal_name": "name",
    "birth_date": "date", "date_of_birth": "date", "dob": "date",
    "document_number": "number", "personal_number": "number", "optional_data": "number",
    "lines": "hidden", "raw": "hidden",
    "errors": "errors", "reader_errors": "errors",
}  # fmt: skip
# Keys holding the value of the key (or the check) they sit under: ``profile_name``'s
# ``profile``/``document``, ``sides_consistency``'s ``surname.front``, ``visual_zone``'s
# ``printed.birth_date.reference``...
_CARRIERS = frozenset({"profile", "document", "compared", "front", "back", "reference", "printed"})
# What the top-level carriers of a check that compares one personal value hold.
_CHECK_VALUES = {CheckName.profile_name.value: "name", CheckName.profile_birth_date.value: "date"}
# Keys whose values are field names and outcomes ("agrees", True...), never personal values.
_NOT_PERSONAL = frozenset({"fields", "check_digits", "failed_check_digits", "differing"})
# An error message naming a personal field carries its value after the colon.
_PERSONAL_ERROR = re.compile(r"birth|name|number|\bD(?:AA|AB|AC|AD|AQ|BB|CS|CT)\b", re.I)


def mask_error(text: str) -> str:
    """``impossible birth date: 901304`` -> ``impossible birth date: hidden``."""
    head, sep, _value = text.partition(":")
    if sep and _PERSONAL_ERROR.search(head):
        return f"{head}: {HIDDEN}"
    return text


def mask_value(kind: str, value: str) -> str:
    """One personal value as a role without ``pii:reveal`` sees it: names by their initials,
    document numbers by their last two characters (the accounts' masks), dates and MRZ lines
    hidden."""
    if kind == "name":
        return accounts.mask_name(value) or ""
    if kind == "number":
        return accounts.mask_identifier(IdentifierKind.document, value)
    if kind == "errors":
        return mask_error(value)
    return HIDDEN


def _child_kind(key: str, parent: str | None) -> str | None:
    if key in _NOT_PERSONAL:
        return "keep"
    if key in _PERSONAL_KEYS:
        return _PERSONAL_KEYS[key]
    return parent if key in _CARRIERS else None


def _mask_tree(value: Any, kind: str | None) -> Any:
    if kind == "keep":
        return value
    if isinstance(value, dict):
        return {k: _mask_tree(v, _child_kind(str(k), kind)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_tree(v, kind) for v in value]
    if kind is None or value is None or isinstance(value, bool | int | float):
        return value
    return mask_value(kind, str(value))


def mask_evidence(check_name: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """A check's evidence with its personal values masked (names, birth dates, document
    numbers, MRZ lines, screening names); scores, outcomes and field names stay."""
    masked = _mask_tree(evidence, _CHECK_VALUES.get(check_name))
    return masked if isinstance(masked, dict) else {}


def mask_checks(checks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored checks (``Check.to_json()``) with each one's evidence masked."""
    return [
        {**c, "evidence": mask_evidence(str(c.get("name", "")), c.get("evidence") or {})}
        for c in checks
    ]


def mask_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A verification's ``fields`` (the merged read and each source's: ``document``,
    ``mrz``, ``barcode``, ``viz``, ``faces``...) with names, birth dates, numbers, MRZ lines
    and the errors quoting them masked; dates of issue and expiry, countries, sex, formats,
    check-digit results and face counts stay."""
    masked = _mask_tree(fields, None)
    return masked if isinstance(masked, dict) else {}
