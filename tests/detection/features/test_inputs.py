"""Optional providers (linked accounts, text) and the in-process store under threads."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from tests.detection.features.conftest import ev
from vigil.detection.features.inputs import Provided, event_text
from vigil.detection.features.store import Count, MemoryStore, Mode, Write


def test_a_missing_provider_gives_none() -> None:
    assert Provided("vigil.detection.no_such_part", "scan").get() is None
    assert Provided("vigil.detection.features.store", "no_such_function").get() is None


def test_a_provider_that_fails_to_import_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "vigil_broken_provider.py").write_text("import vigil_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    provider = Provided("vigil_broken_provider", "scan")
    with pytest.raises(ModuleNotFoundError, match="vigil_no_such_dependency"):
        provider.get()
    sys.modules.pop("vigil_broken_provider", None)


def test_a_provider_is_resolved_once_until_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    provider = Provided("vigil_late_provider", "scan")
    assert provider.get() is None
    (tmp_path / "vigil_late_provider.py").write_text("def scan(text):\n    return text\n")
    assert provider.get() is None  # kept: no import attempt per event
    provider.reset()
    assert provider.get()("x") == "x"
    sys.modules.pop("vigil_late_provider", None)


def test_event_text_ignores_blank_and_non_string_text() -> None:
    assert event_text(ev("message_sent", data={"text": "  "})) is None
    assert event_text(ev("message_sent", data={"text": 42})) is None
    assert event_text(ev("login")) is None
    assert event_text(ev("message_sent", data={"text": "x" * 30_000})) == "x" * 20_000


def test_memory_store_is_thread_safe() -> None:
    store = MemoryStore()
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        start.wait()
        for i in range(500):
            store.apply([Write("k", f"{n}-{i}", i, Mode.first, 0, 60_000)], [Count("k", -1, None)])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.apply([], [Count("k", -1, None)]) == [2000]
