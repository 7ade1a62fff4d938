"""HTTP API: integrations."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["integrations"])
