"""A live Vigil on loopback and a real headless Chromium (Debian's package) to drive it."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from tests.conftest import IN_CI
from vigil.app import create_app
from vigil.config import Settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    port = _free_port()
    app = create_app(settings, run_worker=False)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("CI=true but Chromium is not installed (make browser)", pytrace=False)
        pytest.skip("Chromium is not installed; `make browser` installs Debian's package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    outside: list[str] = []
    pg.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith((live_server, "data:")) else None,
    )
    pg.problems = problems  # type: ignore[attr-defined]
    pg.outside_requests = outside  # type: ignore[attr-defined]
    yield pg
    context.close()
