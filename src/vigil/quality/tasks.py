"""Jobs and periodic tasks of the quality domain."""

from __future__ import annotations
