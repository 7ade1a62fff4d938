"""Test wiring: every database test runs on SQLite and on PostgreSQL.

- SQLite: one migrated template file per test session, copied for each test (isolated, fast).
- PostgreSQL (127.0.0.1:5432, or ``VIGIL_TEST_PG_URL``): one migrated database per xdist
  worker, truncated after each test. Outside CI the PostgreSQL half skips with a reason when
  no server answers; under ``CI=true`` it must run, so a missing server is an error.

The schema is always built by the migrations, never by ``create_all``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from tests.servers import SmtpServer, WebhookReceiver
from vigil.app import create_app
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker
from vigil.kit import clock
from vigil.migrate import upgrade
from vigil.models import Base

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_ADMIN_URL = os.environ.get(
    "VIGIL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
FROZEN_AT = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _pg_reason() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means "no server here"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}"


@pytest.fixture(scope="session")
def worker_name(request: pytest.FixtureRequest) -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = make_engine(Settings(database_url=f"sqlite:///{path}"))
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database(worker_name: str) -> Iterator[str]:
    reason = _pg_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    name = f"vigil_test_{worker_name}_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(Settings(database_url=url), poolclass=None)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    """Empty every table and restart the ids after a PostgreSQL test.

    DELETE in reverse dependency order, not TRUNCATE: on these small tables TRUNCATE of 40-odd
    tables costs ~0.6 s (it rewrites each file), DELETE ~0.07 s, over a thousand tests."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        sequences = conn.execute(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        ).scalars()
        for name in list(sequences):
            conn.execute(text(f'ALTER SEQUENCE "{name}" RESTART'))
    engine.dispose()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "only_backend(name): run this database test on one backend only (the other is "
        "not applicable, so it is not collected rather than skipped)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("only_backend")
        params = getattr(getattr(item, "callspec", None), "params", {})
        if marker is None and "page" in getattr(item, "fixturenames", ()):
            # Browser tests drive the screens on the embedded default (SQLite): what they add
            # over the HTTP console tests (which run on both databases, as do the services
            # under the screens) is the browser's side, which does not depend on the
            # database. A browser story that does is marked only_backend("postgresql").
            marker = pytest.mark.only_backend("sqlite").mark
        if marker is not None and params.get("backend") not in (None, marker.args[0]):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "vigil.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("pg_database")
    yield url
    _truncate_pg(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        serve_worker=False,
        job_backoff_base_seconds=1.0,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for arranging and checking state. Tests commit explicitly when a second
    connection (the app, a worker) must see what they wrote."""
    session = session_factory()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(FROZEN_AT) as handle:
        yield handle


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings, run_worker=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback; pair with ``mail_settings``."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A real HTTP server on loopback that records webhooks and can be told to fail."""
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    """``settings`` pointed at the loopback SMTP server, with webhook retries in seconds."""
    return settings.model_copy(
        update={
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "webhook_backoff_base_seconds": 0.05,
            "webhook_backoff_max_seconds": 0.2,
            "webhook_timeout_seconds": 5.0,
        }
    )


# --- a live server and a real Chromium (Debian's package), for console tests --------------

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
