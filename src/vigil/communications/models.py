"""Tables of the communications domain."""

from __future__ import annotations
