"""Application wiring: settings, database, middleware, routers, the embedded worker."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from importlib import import_module

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from vigil import __version__
from vigil.api import errors
from vigil.config import Settings
from vigil.db import make_engine, make_sessionmaker
from vigil.kit.asgi import BodyLimit, ConcurrencyLimit, RequestContext
from vigil.ops import metrics as ops_metrics

log = logging.getLogger("vigil")

API_ROUTERS = [
    "vigil.api.v1.health",
    "vigil.api.v1.accounts",
    # Before cases/decisions: /cases/export and /decisions/export must not be taken for ids.
    "vigil.api.v1.exports",
    "vigil.api.v1.cases",
    "vigil.api.v1.queues",
    "vigil.api.v1.staff",
    "vigil.api.v1.api_keys",
    "vigil.api.v1.audit",
    "vigil.api.v1.jobs",
    "vigil.api.v1.policies",
    "vigil.api.v1.decisions",
    "vigil.api.v1.messages",
    "vigil.api.v1.integrations",
    "vigil.api.v1.statements",
    "vigil.api.v1.events",
    "vigil.api.v1.rules",
    "vigil.api.v1.links",
    "vigil.api.v1.identity",
    "vigil.api.v1.disputes",
    "vigil.api.v1.appeals",
    "vigil.api.v1.quality",
    "vigil.api.v1.clusters",
    "vigil.api.v1.incidents",
    "vigil.api.v1.goals",
    "vigil.api.v1.reports",
    "vigil.api.v1.orders",
    "vigil.api.v1.metrics",
    "vigil.api.v1.trends",
    "vigil.api.v1.privacy",
]

# Modules that register job handlers and periodic tasks when imported.
TASK_MODULES = [
    "vigil.jobs.tasks",
    "vigil.cases.tasks",
    "vigil.auth.tasks",
    "vigil.accounts.tasks",
    "vigil.disputes.tasks",
    "vigil.quality.tasks",
    "vigil.enforcement.tasks",
    "vigil.communications.tasks",
    "vigil.integrations.tasks",
    "vigil.detection.tasks",
    "vigil.identity.tasks",
    "vigil.analytics.clusters.tasks",
    "vigil.analytics.trends.tasks",
    "vigil.keys.tasks",
    "vigil.privacy.tasks",
]


def load_task_modules() -> None:
    for name in TASK_MODULES:
        import_module(name)


def create_app(settings: Settings | None = None, *, run_worker: bool | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings)
    factory = make_sessionmaker(engine)
    load_task_modules()
    embedded = settings.serve_worker if run_worker is None else run_worker

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if embedded:
            from vigil.jobs.worker import EmbeddedWorker

            worker = EmbeddedWorker(settings, factory)
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            engine.dispose()

    app = FastAPI(
        title="Vigil",
        version=__version__,
        summary="Trust & Safety operations for online marketplaces",
        description=(
            "The marketplace's servers send accounts and open cases; staff work cases in the "
            "console. Authenticate with `Authorization: Bearer <API key>`. Every error has "
            "the shape `{code, message, field, request_id, details}`; lists use keyset "
            "pagination (`cursor`, `limit`, `next_cursor`)."
        ),
        lifespan=lifespan,
        openapi_url="/v1/openapi.json",
        # The interactive docs page loads its scripts from a CDN, which the console's
        # content security policy (and an offline install) forbids: serve the document only.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = factory

    errors.install(app)
    for name in API_ROUTERS:
        app.include_router(import_module(name).router, prefix="/v1")
    # /readyz and /ops/metrics, at the root where balancers and scrapers look.
    app.include_router(import_module("vigil.api.v1.health").root_router)
    ops_metrics.install_hooks()

    from vigil.api.v1 import disputes as disputes_api
    from vigil.api.v1 import identity as identity_api
    from vigil.web import (
        appeal_case,
        appeals,
        casepage,
        decisions,
        disputes,
        identity,
        links,
        policies,
        precedent,
        quality,
        rules,
        search,
        views,
    )
    from vigil.web import auth as web_auth
    from vigil.web import goals as web_goals
    from vigil.web import incidents as web_incidents
    from vigil.web import metrics as web_metrics
    from vigil.web import privacy as web_privacy
    from vigil.web import reports as web_reports
    from vigil.web import security as web_security
    from vigil.web import trends as web_trends

    web_auth.install(app)
    app.include_router(views.router)
    app.include_router(web_security.router)
    app.include_router(casepage.router)
    app.include_router(precedent.router)
    app.include_router(search.router)
    app.include_router(policies.router)
    app.include_router(decisions.router)
    app.include_router(links.router)
    app.include_router(appeals.router)
    app.include_router(rules.router)
    app.include_router(identity.router)
    app.include_router(disputes.router)
    app.include_router(appeal_case.router)
    app.include_router(quality.router)
    app.include_router(web_metrics.router)
    app.include_router(web_reports.router)
    app.include_router(web_goals.router)
    app.include_router(web_trends.router)
    app.include_router(web_incidents.router)
    app.include_router(web_privacy.router)
    app.mount("/static", StaticFiles(packages=[("vigil.web", "static")]), name="static")

    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        overrides=[identity_api.upload_limit(settings), disputes_api.upload_limit(settings)],
        session_cookie=settings.session_cookie,
    )
    app.add_middleware(ConcurrencyLimit, limit=settings.request_concurrency)
    # Outside the concurrency limit: latency counts the wait for a slot; /livez never waits.
    app.add_middleware(ops_metrics.Observe, access_log_enabled=settings.access_log)
    app.add_middleware(RequestContext, hsts=settings.cookie_secure)
    return app
