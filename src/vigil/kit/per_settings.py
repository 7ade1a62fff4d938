"""One object per ``Settings`` instance, built once (a key file read once), forgotten when the
settings object is garbage collected. Used for keyrings and blob stores."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from vigil.config import Settings

T = TypeVar("T")


class PerSettings(Generic[T]):
    def __init__(self, build: Callable[[Settings], T]) -> None:
        self._build = build
        self._made: dict[int, T] = {}
        self._lock = threading.Lock()

    def __call__(self, settings: Settings) -> T:
        key = id(settings)
        found = self._made.get(key)
        if found is None:
            with self._lock:
                found = self._made.get(key)
                if found is None:
                    found = self._made[key] = self._build(settings)
                    weakref.finalize(settings, self._made.pop, key, None)
        return found
