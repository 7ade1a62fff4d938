"""Tables of identity verification (placeholder: filled in by the storage part)."""

from __future__ import annotations
