"""Jobs of the integrations domain."""

from __future__ import annotations
