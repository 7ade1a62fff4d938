"""Tables of the appeals domain."""

from __future__ import annotations
