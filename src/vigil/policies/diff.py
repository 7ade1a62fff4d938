"""What changed between two versions of a policy, in a form people can read.

:func:`diff_versions` compares two versions field by field (the order of
:data:`~vigil.policies.schemas.CONTENT_FIELDS`) and returns only the fields that differ. Texts
are compared word by word, so an edited sentence shows the words taken out and put in rather
than two whole paragraphs; lists (examples, keywords, actions) show the items added and
removed; the ladder compares its steps as sentences; grey areas and the per-language texts
are matched by title and by language, so an edit to one shows as a change to that one.

Pure: no database, no HTML. The console escapes and marks up the segments.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vigil.policies import ladder
from vigil.policies.models import PolicyVersion
from vigil.policies.schemas import CONTENT_FIELDS, version_content

Op = Literal["same", "added", "removed"]
ItemOp = Literal["same", "added", "removed", "changed"]

LABELS: dict[str, str] = {
    "title": "Title",
    "description": "Description",
    "guidance": "Guidance for reviewers",
    "examples_allowed": "Examples: allowed",
    "examples_not_allowed": "Examples: not allowed",
    "grey_areas": "Grey areas",
    "severity": "Severity",
    "allowed_actions": "Allowed actions",
    "default_action": "Default action",
    "strike_weight": "Strike weight",
    "strike_ttl_days": "Strikes count for (days)",
    "ladder": "Ladder",
    "dsa_category": "DSA category",
    "dsa_keywords": "DSA keywords",
    "dsa_ground": "DSA ground",
    "tos_ground": "Terms of Service ground",
    "legal_ground": "Legal ground",
    "illegal_explanation": "Why it is illegal",
    "user_title": "Title the user reads",
    "user_explanation": "Explanation the user reads",
    "user_ground": "Terms clause the user reads",
}
# Fields compared word by word; every other scalar is shown as old → new.
_PROSE = {
    "title",
    "description",
    "guidance",
    "tos_ground",
    "legal_ground",
    "illegal_explanation",
}
_LOCALIZED = {"user_title", "user_explanation", "user_ground"}
_WORDS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class Segment:
    op: Op
    text: str


@dataclass(frozen=True)
class Item:
    """One entry of a list-like field: a list item, a grey area, a language's text."""

    op: ItemOp
    label: str | None
    segments: list[Segment]


@dataclass(frozen=True)
class FieldChange:
    name: str
    label: str
    kind: Literal["text", "items"]
    segments: list[Segment] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)


def text_diff(old: str | None, new: str | None) -> list[Segment]:
    """Word-level diff; whitespace (line breaks included) is kept so the text reads as written.

    A change is shown as everything taken out, then everything put in: the spaces between
    two changed words belong to the change, so "not a violation" → "never enough" reads as
    one replacement, not as four alternating fragments."""
    a = _WORDS.findall(old or "")
    b = _WORDS.findall(new or "")
    out: list[Segment] = []
    removed: list[str] = []
    added: list[str] = []

    def flush() -> None:
        _push(out, "removed", "".join(removed))
        _push(out, "added", "".join(added))
        removed.clear()
        added.clear()

    opcodes = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    for n, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            same = "".join(a[i1:i2])
            between = (removed or added) and n + 1 < len(opcodes)
            if between and not same.strip():
                removed.append(same)
                added.append(same)
                continue
            flush()
            _push(out, "same", same)
            continue
        removed.extend(a[i1:i2])
        added.extend(b[j1:j2])
    flush()
    return out


def _push(out: list[Segment], op: Op, text: str) -> None:
    if not text:
        return
    if out and out[-1].op == op:
        out[-1] = Segment(op, out[-1].text + text)
    else:
        out.append(Segment(op, text))


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    return str(value)


def _list_items(old: Sequence[str], new: Sequence[str]) -> list[Item]:
    """Items in the new order, with removed ones where they used to be."""
    items: list[Item] = []
    matcher = difflib.SequenceMatcher(a=list(old), b=list(new), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            items.extend(Item("same", None, [Segment("same", v)]) for v in old[i1:i2])
            continue
        if tag in ("delete", "replace"):
            items.extend(Item("removed", None, [Segment("removed", v)]) for v in old[i1:i2])
        if tag in ("insert", "replace"):
            items.extend(Item("added", None, [Segment("added", v)]) for v in new[j1:j2])
    return items


def _keyed_items(old: Mapping[str, str], new: Mapping[str, str]) -> list[Item]:
    """Entries matched by key (a grey area's title, a language): changed ones get a word diff."""
    items: list[Item] = []
    for key in [*new.keys(), *(k for k in old if k not in new)]:
        if key not in old:
            items.append(Item("added", key, [Segment("added", new[key])]))
        elif key not in new:
            items.append(Item("removed", key, [Segment("removed", old[key])]))
        elif old[key] == new[key]:
            items.append(Item("same", key, [Segment("same", new[key])]))
        else:
            items.append(Item("changed", key, text_diff(old[key], new[key])))
    return items


def _ladder_lines(steps: Sequence[dict[str, Any]]) -> list[str]:
    return [s.describe() for s in ladder.steps(_Steps(steps))]


@dataclass(frozen=True)
class _Steps:
    ladder: Sequence[dict[str, Any]]


def _grey(areas: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    return {a["title"]: a["guidance"] for a in areas or []}


def diff_contents(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """The differing fields of two contents in :func:`version_content`'s normal form."""
    changes: list[FieldChange] = []
    for name in CONTENT_FIELDS:
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        label = LABELS.get(name, name)
        if name in _PROSE:
            changes.append(FieldChange(name, label, "text", segments=text_diff(a, b)))
        elif name == "grey_areas":
            changes.append(
                FieldChange(name, label, "items", items=_keyed_items(_grey(a), _grey(b)))
            )
        elif name in _LOCALIZED:
            changes.append(FieldChange(name, label, "items", items=_keyed_items(a or {}, b or {})))
        elif name == "ladder":
            items = _list_items(_ladder_lines(a or []), _ladder_lines(b or []))
            changes.append(FieldChange(name, label, "items", items=items))
        elif isinstance(a, list) or isinstance(b, list):
            items = _list_items([str(v) for v in a or []], [str(v) for v in b or []])
            changes.append(FieldChange(name, label, "items", items=items))
        else:
            segments = [Segment("removed", _scalar(a)), Segment("added", _scalar(b))]
            changes.append(FieldChange(name, label, "text", segments=segments))
    return changes


def diff_versions(old: PolicyVersion, new: PolicyVersion) -> list[FieldChange]:
    """What ``new`` says differently from ``old`` (either order: "old" is only the left side)."""
    return diff_contents(version_content(old), version_content(new))
