"""Tables of screening: the loaded lists, their entries, and the token index that finds
candidate entries for a name without reading the whole list.

Invariants:

- A list's ``name`` is unique; loading a list again replaces all its entries (and their
  tokens) in the caller's transaction: readers see the old list or the new one, never a mix.
- Every entry has at least one name; ``names`` holds the primary name first, then aliases,
  as given (the display form). ``birth_dates`` are ISO strings of the precision the source
  gives (``1970``, ``1970-05`` or ``1970-05-02``).
- ``screening_tokens`` holds, for each entry, every word of every name in its transliterated
  forms (both ICAO variants, e.g. ``MUELLER`` and ``MULLER``): a name is screened only against
  entries that share at least one token with it (an indexed lookup), then scored in Python.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONList


class ScreeningList(IdMixin, Base):
    __tablename__ = "screening_lists"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Where it came from: the file name and its format (csv, ftm), and the file's SHA-256.
    source: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer, default=0)
    loaded_at: Mapped[datetime] = mapped_column(default=clock.now)
    loaded_by: Mapped[str] = mapped_column(String(200))


class ScreeningEntry(IdMixin, Base):
    __tablename__ = "screening_entries"
    __table_args__ = (Index("ix_screening_entries_list_entry", "list_id", "entry_id"),)

    list_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("screening_lists.id", ondelete="CASCADE")
    )
    entry_id: Mapped[str] = mapped_column(String(200))  # the source's id
    names: Mapped[list[str]] = mapped_column(JSONList, default=list)
    birth_dates: Mapped[list[str]] = mapped_column(JSONList, default=list)
    countries: Mapped[list[str]] = mapped_column(JSONList, default=list)
    topics: Mapped[list[str]] = mapped_column(JSONList, default=list)
    # Anything else the source says that a reviewer may want (e.g. the FtM schema, notes).
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @property
    def name(self) -> str:
        return self.names[0] if self.names else ""


class ScreeningToken(Base):
    __tablename__ = "screening_tokens"
    __table_args__ = (Index("ix_screening_tokens_list", "list_id"),)

    # The primary key (token, entry) is the lookup index: token -> entries.
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("screening_entries.id", ondelete="CASCADE"), primary_key=True
    )
    list_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("screening_lists.id", ondelete="CASCADE")
    )
