"""Screening: load sanctions / PEP lists, and screen a person's name and birth date against
every loaded list.

Invariants:

- ``load`` replaces a list's entries atomically in the caller's transaction (the service never
  commits) and is audited (``screening.list.load``); it needs ``screening:write``.
- ``screen`` reads only: it finds candidates through the token index (entries sharing at least
  one significant word of the name, in either ICAO transliteration) and scores them in
  Python, so its cost depends on the candidates, not on the size of the lists.
- A name is compared in transliterated form (``names.variants``: ``MÜLLER`` is ``MUELLER`` and
  ``MULLER``), word order free, a missing middle name costing a little (see ``name_score``).
- ``birth_date_agrees`` is None when either side has no birth date; a list date of year or
  year-month precision agrees with any date inside it.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from rapidfuzz import fuzz
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from vigil.audit import service as audit
from vigil.auth.permissions import Permission
from vigil.auth.principal import Principal
from vigil.identity import names as names_mod
from vigil.kit import clock
from vigil.kit.errors import InvalidInput, NotFound
from vigil.screening import loaders
from vigil.screening.loaders import EntryData, ReadResult
from vigil.screening.models import ScreeningEntry, ScreeningList, ScreeningToken

LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
# Words too common in names to find candidates by (they still count in the score).
PARTICLES: frozenset[str] = frozenset(
    [
        "A",
        "AL",
        "AP",
        "BIN",
        "BINT",
        "DA",
        "DAS",
        "DE",
        "DEL",
        "DELLA",
        "DEN",
        "DER",
        "DI",
        "DOS",
        "DU",
        "E",
        "EL",
        "IBN",
        "LA",
        "LE",
        "LOS",
        "VAN",
        "VON",
        "Y",
    ]
)
# At most this many candidates are scored per screen (those sharing the most words first).
MAX_CANDIDATES = 500
_BATCH = 1000


@dataclass
class ScreeningHit:
    list_name: str
    entry_id: str
    name: str  # the entry's primary name
    matched_name: str  # the entry's name or alias that matched best
    score: float  # 0-100
    birth_date_agrees: bool | None
    topics: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    country_agrees: bool | None = None
    birth_dates: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "list": self.list_name,
            "entry_id": self.entry_id,
            "name": self.name,
            "matched_name": self.matched_name,
            "score": self.score,
            "birth_date_agrees": self.birth_date_agrees,
            "topics": list(self.topics),
            "countries": list(self.countries),
            "country_agrees": self.country_agrees,
            "birth_dates": list(self.birth_dates),
        }


# --- names -------------------------------------------------------------------------------------


@lru_cache(maxsize=200_000)
def _variants(name: str) -> tuple[str, ...]:
    """Transliterated forms of a name, cached: list names are screened again and again."""
    return tuple(names_mod.variants(name))


def tokens(name: str) -> set[str]:
    """The index keys of a name: its significant words in both transliterations."""
    out: set[str] = set()
    for form in _variants(name):
        for word in form.split():
            if len(word) >= 2 and word not in PARTICLES:
                out.add(word[:64])
    return out


def _form_score(a: str, b: str) -> float:
    words_a, words_b = a.split(), b.split()
    if not words_a or not words_b:
        return 0.0
    score = fuzz.token_sort_ratio(a, b)
    distinct = min(len(set(words_a)), len(set(words_b)))
    if len(words_a) != len(words_b) and distinct >= 2:
        # One name is the other plus words (a middle name, a second surname): nearly as good,
        # a little less for each extra word. Only for names of two distinct words or more:
        # "ANAN ANAN" is not contained in "SHAVOL ANAN".
        subset = fuzz.token_set_ratio(a, b) - 4.0 * abs(len(words_a) - len(words_b))
        score = max(score, subset)
    return float(score)


def name_score(name: str, other: str) -> float:
    """How alike two names are, 0-100, after transliteration, in any word order."""
    best = 0.0
    for a in _variants(name):
        for b in _variants(other):
            best = max(best, _form_score(a, b))
    return round(best, 1)


def birth_date_agrees(birth_date: date | None, listed: Sequence[str]) -> bool | None:
    if birth_date is None or not listed:
        return None
    iso = birth_date.isoformat()
    return any(iso.startswith(value) for value in listed)


# --- lists -------------------------------------------------------------------------------------


def lists(session: Session) -> list[ScreeningList]:
    return list(session.scalars(select(ScreeningList).order_by(ScreeningList.name)))


def lists_loaded(session: Session) -> int:
    """How many lists with at least one entry are loaded: screening against none proves
    nothing (``checks.screening(..., lists_loaded=...)`` is then skipped, not passed)."""
    count = session.scalar(
        select(func.count()).select_from(ScreeningList).where(ScreeningList.entries > 0)
    )
    return int(count or 0)


def get_list(session: Session, name: str) -> ScreeningList:
    found = session.scalar(select(ScreeningList).where(ScreeningList.name == name))
    if found is None:
        raise NotFound(f"no screening list named {name!r}", field="list", code="list_not_found")
    return found


def _validate_name(list_name: str) -> None:
    if not LIST_NAME.match(list_name):
        raise InvalidInput(
            "a list name is 1-100 characters: lower-case letters, digits, '.', '_' or '-'",
            field="list",
            code="invalid_list_name",
        )


def _clear(session: Session, list_id: int) -> int:
    count = session.scalar(
        select(func.count()).select_from(ScreeningEntry).where(ScreeningEntry.list_id == list_id)
    )
    session.execute(delete(ScreeningToken).where(ScreeningToken.list_id == list_id))
    session.execute(delete(ScreeningEntry).where(ScreeningEntry.list_id == list_id))
    return int(count or 0)


def _insert(session: Session, list_id: int, entries: Sequence[EntryData]) -> None:
    for start in range(0, len(entries), _BATCH):
        chunk = entries[start : start + _BATCH]
        ids = session.scalars(
            insert(ScreeningEntry).returning(ScreeningEntry.id, sort_by_parameter_order=True),
            [
                {
                    "list_id": list_id,
                    "entry_id": e.entry_id,
                    "names": e.names,
                    "birth_dates": e.birth_dates,
                    "countries": e.countries,
                    "topics": e.topics,
                    "data": e.data,
                }
                for e in chunk
            ],
        ).all()
        rows = [
            {"token": token, "entry_id": entry_id, "list_id": list_id}
            for entry_id, entry in zip(ids, chunk, strict=True)
            for token in sorted({t for n in entry.names for t in tokens(n)})
        ]
        for at in range(0, len(rows), _BATCH * 4):
            session.execute(insert(ScreeningToken), rows[at : at + _BATCH * 4])


def load(
    session: Session,
    actor: Principal,
    *,
    list_name: str,
    result: ReadResult,
    source: str,
    fmt: str,
    sha256: str,
) -> ScreeningList:
    """Create the list ``list_name`` or replace all its entries with ``result``'s."""
    actor.require(Permission.screening_write)
    _validate_name(list_name)
    if fmt not in loaders.FORMATS:
        raise InvalidInput(
            f"unknown format {fmt!r} (one of: {', '.join(loaders.FORMATS)})",
            field="format",
            code="screening_bad_format",
        )
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise InvalidInput(
            "sha256 must be 64 lower-case hex digits", field="sha256", code="invalid_sha256"
        )
    if not result.entries:
        raise InvalidInput(
            "the file has no entries to screen against", field="file", code="screening_empty"
        )
    # Everything is checked before anything changes (entries may come from elsewhere than
    # the loaders): the database never sees a value too long for its column.
    for index, entry in enumerate(result.entries, start=1):
        where = f"line {entry.line}" if entry.line is not None else f"entry {index}"
        loaders.check_lengths(entry, where, field_names=loaders.FILE_FIELD_NAMES)
    found = session.scalar(
        select(ScreeningList).where(ScreeningList.name == list_name).with_for_update()
    )
    previous = 0
    if found is None:
        found = ScreeningList(
            name=list_name, source=source[:300], format=fmt, sha256=sha256, loaded_by=actor.label
        )
        session.add(found)
        session.flush()
    else:
        previous = _clear(session, found.id)
    _insert(session, found.id, result.entries)
    found.source, found.format, found.sha256 = source[:300], fmt, sha256
    found.entries = len(result.entries)
    found.loaded_at = clock.now()
    found.loaded_by = actor.label
    session.flush()
    audit.record(
        session,
        actor,
        "screening.list.load",
        "screening_list",
        found.id,
        data={
            "name": list_name,
            "source": source,
            "format": fmt,
            "sha256": sha256,
            "entries": len(result.entries),
            "skipped": result.skipped,
            "previous_entries": previous,
        },
    )
    return found


def load_sample(
    session: Session, actor: Principal, *, list_name: str = loaders.SAMPLE_LIST, fmt: str = "csv"
) -> ScreeningList:
    """Load the shipped sample list of fictional people (the demo's list)."""
    path = loaders.sample_path(fmt)
    raw = path.read_bytes()
    result = loaders.read(io.StringIO(raw.decode("utf-8"), newline=""), fmt)
    return load(
        session,
        actor,
        list_name=list_name,
        result=result,
        source=path.name,
        fmt=fmt,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def remove(session: Session, actor: Principal, list_name: str) -> None:
    """Delete a list and its entries (audited ``screening.list.remove``)."""
    actor.require(Permission.screening_write)
    found = get_list(session, list_name)
    count = _clear(session, found.id)
    session.delete(found)
    session.flush()
    audit.record(
        session,
        actor,
        "screening.list.remove",
        "screening_list",
        found.id,
        data={"name": list_name, "entries": count},
    )


# --- screening ---------------------------------------------------------------------------------


def _candidates(session: Session, keys: Iterable[str]) -> list[int]:
    keys = sorted(keys)
    if not keys:
        return []
    shared = func.count(ScreeningToken.token)
    rows = session.execute(
        select(ScreeningToken.entry_id, shared)
        .where(ScreeningToken.token.in_(keys))
        .group_by(ScreeningToken.entry_id)
        .order_by(shared.desc(), ScreeningToken.entry_id)
        .limit(MAX_CANDIDATES)
    ).all()
    return [row[0] for row in rows]


def screen(
    session: Session,
    *,
    name: str,
    birth_date: date | None,
    country: str | None,
    min_score: float = 80.0,
    limit: int = 20,
) -> list[ScreeningHit]:
    """Entries of every loaded list whose name or an alias scores at least ``min_score``
    against ``name``, best first. ``country`` (ISO alpha-2 or alpha-3) only informs
    ``country_agrees``: lists name nationalities and residences, not the document's issuer."""
    ids = _candidates(session, tokens(name))
    if not ids:
        return []
    rows = session.execute(
        select(ScreeningEntry, ScreeningList.name)
        .join(ScreeningList, ScreeningList.id == ScreeningEntry.list_id)
        .where(ScreeningEntry.id.in_(ids))
    ).all()
    wanted = (country or "").strip().upper() or None
    hits: list[ScreeningHit] = []
    for entry, list_name in rows:
        scored = [(name_score(name, listed), listed) for listed in entry.names]
        score, matched = max(scored, key=lambda s: s[0])
        if score < min_score:
            continue
        hits.append(
            ScreeningHit(
                list_name=list_name,
                entry_id=entry.entry_id,
                name=entry.name,
                matched_name=matched,
                score=score,
                birth_date_agrees=birth_date_agrees(birth_date, entry.birth_dates),
                topics=list(entry.topics),
                countries=list(entry.countries),
                country_agrees=(wanted in entry.countries) if wanted and entry.countries else None,
                birth_dates=list(entry.birth_dates),
            )
        )
    hits.sort(key=lambda h: (-h.score, h.birth_date_agrees is not True, h.list_name, h.entry_id))
    return hits[:limit]
