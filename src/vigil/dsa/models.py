"""Tables of the dsa domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin, JSONList, JSONType


class Statement(IdMixin, Base):
    """A statement of reasons (DSA Art. 17) for one restrictive decision.

    ``fields`` is the body exactly as it is submitted to the DSA Transparency Database, and is
    never changed once written; the other columns are copies of a few of its values, kept for
    querying. ``actions`` records what the decision did (action, scope, end), from which the
    user's message is worded. ``exported_at`` is the last time it went into an export batch.

    ``revision`` is what happened to the decision afterwards, stored next to the submitted
    fields rather than in them: set when an appeal is decided (``outcome``: confirmed,
    overturned or modified; ``at``; ``reason``; ``appeal_id``; for a modification the
    ``replaced_by_statement_id``/``replaced_by_decision_id``), with ``revised_at`` its time.
    """

    __tablename__ = "dsa_statements"
    __table_args__ = (
        # The export window and the date filters of the list walk created_at in order.
        Index("ix_dsa_statements_created_at_id", "created_at", "id"),
        Index("ix_dsa_statements_category_id", "category", "id"),
    )

    # The enforcement decision this statement explains (no foreign key: the decision table
    # belongs to enforcement, and a statement must outlive any clean-up there).
    decision_id: Mapped[int] = mapped_column(BigId, index=True)
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    puid: Mapped[str] = mapped_column(String(500), unique=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONList, default=list)
    category: Mapped[str] = mapped_column(String(100))
    decision_ground: Mapped[str] = mapped_column(String(64))
    application_date: Mapped[date] = mapped_column(Date)
    automated_decision: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    exported_at: Mapped[datetime | None]
    revision: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    revised_at: Mapped[datetime | None]

    @property
    def reference(self) -> str:
        """How the statement is named to the user and to staff."""
        return f"SOR-{self.id}"
