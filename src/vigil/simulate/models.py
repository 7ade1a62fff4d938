from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.kit import clock
from vigil.kit.models import Base, BigId, IdMixin


class SimulationLabel(IdMixin, Base):
    """Ground truth written by ``vigil simulate``: which accounts are bad actors, of what kind,
    and which group (fraud ring, duplicate identity) they belong to. Benchmarks and evaluations
    score detections against it; nothing in the product reads it."""

    __tablename__ = "simulation_labels"
    __table_args__ = (Index("ix_simulation_labels_label", "label", "group_key"),)

    run_seed: Mapped[int]
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    label: Mapped[str] = mapped_column(String(40))  # benign, fraud_ring, scammer, ...
    group_key: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class SimulationTruth(IdMixin, Base):
    """Ground truth about something other than an account that the simulator made through
    the services: who was in the right in a dispute, whether an appeal deserved to succeed,
    what a QA reviewer's answer should have been. One row per simulated subject
    (``subject_type`` names the table: ``dispute``, ``appeal``, ``qa_sample``), never read
    by the product: mediators and reviewers work without it, evaluations compare against it."""

    __tablename__ = "simulation_truths"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id"),
        Index("ix_simulation_truths_label", "subject_type", "label"),
    )

    run_seed: Mapped[int]
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(BigId)
    # What the simulator meant: e.g. "seller_at_fault", "appeal_justified".
    label: Mapped[str] = mapped_column(String(60))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
