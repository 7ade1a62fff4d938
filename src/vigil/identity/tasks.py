"""Jobs of identity verification (placeholder)."""

from __future__ import annotations
