"""Tables of the policies domain."""

from __future__ import annotations
