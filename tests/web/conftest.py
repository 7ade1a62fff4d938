"""A live Vigil on loopback and a real headless Chromium (Debian's package) to drive it."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from sqlalchemy.orm import Session

from tests.conftest import IN_CI
from tests.factories import make_staff
from vigil.accounts import service as accounts
from vigil.accounts.schemas import AccountUpsert
from vigil.app import create_app
from vigil.auth.permissions import Role
from vigil.auth.principal import Principal
from vigil.cases import service as cases
from vigil.cases.models import CaseType, Severity
from vigil.cases.routing import ensure_default_queues
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
    from playwright.sync_api import expect, sync_playwright

    # A loaded CI machine (two xdist workers, each with a server and a browser) can take
    # longer than Playwright's 5 s default to settle a page; waiting longer costs nothing
    # when the page is quick.
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server)
    context.set_default_timeout(15_000)
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


SYSTEM = Principal.system("test")


def seed_case(db: Session) -> tuple[str, int]:
    """Default queues, a Spanish-speaking agent and one Spanish user report about María:
    returns the agent's email and the case id (committed)."""
    ensure_default_queues(db, SYSTEM)
    agent = make_staff(db, role=Role.agent, name="Elena Ruiz", languages=["es", "en"])
    account, _ = accounts.upsert_account(
        db,
        SYSTEM,
        "u-100",
        AccountUpsert.model_validate(
            {
                "side": "freelancer",
                "display_name": "María G.",
                "legal_name": "María González",
                "email": "maria@example.com",
                "phone": "+34600111222",
                "country": "ES",
                "locale": "es",
                "identifiers": [{"kind": "device", "value": "dev-abc"}],
            }
        ),
    )
    created = cases.create_case(
        db,
        SYSTEM,
        cases.NewCase(
            type=CaseType.user_report,
            title="Asked to pay outside the platform",
            summary="Me pidió que le pagara por fuera de la plataforma.",
            account_id=account.id,
            language="es",
            severity=Severity.high,
            priority=2,
        ),
    )
    db.commit()
    return agent.email, created.case.id
