"""Tables of the quality domain."""

from __future__ import annotations
