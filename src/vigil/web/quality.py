"""Console: quality assurance: blind review of sampled decisions, scorecards, calibration."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
