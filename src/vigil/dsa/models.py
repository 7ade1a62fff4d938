"""Tables of the dsa domain."""

from __future__ import annotations
