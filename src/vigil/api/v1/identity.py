"""Identity verification API (placeholder)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["identity"])
