"""Prometheus metrics (prometheus-client), one set per process; docs/observability.md lists
every metric.

Three kinds of figure:

- **Counted in the process** (request latency, requests in flight, events accepted,
  decision latency, rate-limited requests, jobs run, webhook delivery failures): each
  ``vigil serve`` and ``vigil worker`` counts its own; sum them across processes.
- **Read from the database at scrape time** (queue depth per job kind, job lag, expired
  leases, deliveries failing now): the same value on every process, from a few cheap
  queries that each read one partial index; take ``max`` across processes, not ``sum``.
- **The process's own connection pool** (connections in use).

Labels never carry raw paths, ids or personal data: HTTP requests are labelled with the
route template (``/v1/cases/{case_id}``), the method and the status class (``2xx``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.kit import clock
from vigil.kit.context import request_id_var

log = logging.getLogger("vigil.ops")
access_log = logging.getLogger("vigil.access")

# Seconds. Requests and decisions are mostly milliseconds; the tail matters up to seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)

HTTP_LATENCY = Histogram(
    "vigil_http_request_duration_seconds",
    "HTTP requests by method, route template and status class, from the first byte in to "
    "the last byte out (waiting for a free request slot included).",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "vigil_http_requests_in_flight",
    "HTTP requests inside this process now (running or waiting for a request slot).",
)
EVENTS_ACCEPTED = Counter(
    "vigil_events_accepted",
    "New events decided and stored (POST /v1/events and /v1/events/batch), by outcome; "
    "duplicates of an event_id already decided are not counted.",
    ["outcome"],
)
DECISION_LATENCY = Histogram(
    "vigil_decision_duration_seconds",
    "From receiving a single event (POST /v1/events) to answering its decision, by outcome.",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)
RATE_LIMITED = Counter(
    "vigil_rate_limited_requests",
    "Requests refused with 429 (API rate limit, login throttling), by route template.",
    ["route"],
)
JOBS = Counter(
    "vigil_jobs",
    "Job attempts finished by this process, by kind and result: done, retry (failed, "
    "queued again with backoff) or dead (failed for good).",
    ["kind", "result"],
)
JOB_DURATION = Histogram(
    "vigil_job_duration_seconds",
    "How long one job attempt ran, by kind.",
    ["kind"],
    buckets=JOB_BUCKETS,
)
WEBHOOK_FAILURES = Counter(
    "vigil_webhook_delivery_failures",
    "Webhook delivery attempts that failed (no 2xx answer: error status, timeout, refused "
    "connection), recorded by this process.",
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_EVENT_ROUTES = {"/v1/events": "single", "/v1/events/batch": "batch"}
# Probes every few seconds from every balancer would drown the access log.
_QUIET_ROUTES = frozenset({"/livez", "/readyz", "/v1/health", "/ops/metrics"})
UNMATCHED = "<unmatched>"


def route_template(scope: Scope, root_path: str = "") -> str:
    """The template of the route that served the request, never the raw path: ids and junk
    paths would make unbounded label sets.

    FastAPI records the matched route, with its router's prefix, on the scope
    (``/v1/cases/{case_id}``); a mounted app (the static files) only moves ``root_path``
    past its mount point, so its requests are labelled ``<mount>/{path}``."""
    context = scope.get("fastapi", {}).get("effective_route_context")
    template = getattr(context, "path_format", None)
    if isinstance(template, str) and template:
        return template
    route = getattr(scope.get("route"), "path", None)
    if isinstance(route, str) and route:
        return route
    mounted = scope.get("root_path", "")
    if isinstance(mounted, str) and mounted != root_path and mounted.startswith(root_path):
        return mounted.rstrip("/") + "/{path}"
    return UNMATCHED


def job_finished(kind: str, result: str, seconds: float) -> None:
    """Count a job attempt (``result``: done, retry, dead); called by the worker."""
    JOBS.labels(kind, result).inc()
    JOB_DURATION.labels(kind).observe(seconds)


# --- HTTP --------------------------------------------------------------------------------------


class Observe:
    """ASGI middleware: request metrics, event and decision metrics, and the access log line.

    Placed outside the concurrency limit, so latency includes the wait for a request slot and
    ``GET /livez`` is answered here, without waiting for one: a process whose slots are all
    busy is slow, not dead, and must not be restarted by its balancer for it."""

    def __init__(self, app: ASGIApp, *, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        if scope.get("path") == "/livez" and method in ("GET", "HEAD"):
            await _livez(send)
            return
        started = time.perf_counter()
        status = 500
        root_path = scope.get("root_path", "")
        route = UNMATCHED
        events_kind = _EVENT_ROUTES.get(scope.get("path", "")) if method == "POST" else None
        body: list[bytes] = []

        async def observed_send(message: Message) -> None:
            nonlocal status, route
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # Read now: FastAPI resets its route context when the endpoint returns.
                route = route_template(scope, root_path)
            elif events_kind is not None and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            status = 500
            raise
        finally:
            HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            label = method if method in _METHODS else "other"
            HTTP_LATENCY.labels(label, route, f"{status // 100}xx").observe(elapsed)
            if status == 429:
                RATE_LIMITED.labels(route).inc()
            if events_kind is not None and status == 200:
                _count_events(events_kind, b"".join(body), elapsed)
            if self.access_log_enabled:
                _access(label, route, status, elapsed)


async def _livez(send: Send) -> None:
    raw = b'{"status":"ok"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


def _count_events(kind: str, raw: bytes, elapsed: float) -> None:
    try:
        answer = json.loads(raw)
    except ValueError:
        return
    if not isinstance(answer, dict):
        return
    if kind == "single":
        if answer.get("duplicate") is False:
            outcome = str(answer.get("outcome", "unknown"))
            EVENTS_ACCEPTED.labels(outcome).inc()
            DECISION_LATENCY.labels(outcome).observe(elapsed)
        return
    for item in answer.get("items") or []:
        decision = item.get("decision") if isinstance(item, dict) else None
        if isinstance(decision, dict) and decision.get("duplicate") is False:
            EVENTS_ACCEPTED.labels(str(decision.get("outcome", "unknown"))).inc()


def _access(method: str, route: str, status: int, elapsed: float) -> None:
    duration_ms = round(elapsed * 1000, 1)
    level = logging.DEBUG if route in _QUIET_ROUTES and status < 400 else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    access_log.log(
        level,
        "%s %s %d %.1fms",
        method,
        route,
        status,
        duration_ms,
        extra={
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            # Set here too: the line is written after RequestContext may have reset it.
            "request_id": request_id_var.get(),
        },
    )


# --- read at scrape time -------------------------------------------------------------------


class DatabaseCollector(Collector):
    """Queue depth, job lag, expired leases and webhook deliveries failing now, read from the
    database when scraped, plus this process's pool use. A failing query does not fail the
    scrape: ``vigil_metrics_database_up`` turns 0 instead."""

    def __init__(self, factory: sessionmaker[Session], engine: Engine) -> None:
        self.factory = factory
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        pool = GaugeMetricFamily(
            "vigil_db_pool_connections_in_use",
            "Database connections this process has checked out of its pool now.",
        )
        checkedout = getattr(self.engine.pool, "checkedout", None)
        pool.add_metric([], float(checkedout()) if callable(checkedout) else 0.0)
        yield pool
        up = GaugeMetricFamily(
            "vigil_metrics_database_up",
            "1 when the database figures of this scrape could be read, else 0.",
        )
        try:
            figures = read_figures(self.factory)
        except Exception as exc:  # the database may be down: say so, keep the rest
            log.warning("metrics: could not read the database: %s", exc.__class__.__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        depth = GaugeMetricFamily(
            "vigil_job_queue_depth",
            "Jobs waiting (queued, due now or later), by kind.",
            labels=["kind"],
        )
        for kind, count in sorted(figures["depth"].items()):
            depth.add_metric([kind], float(count))
        yield depth
        yield GaugeMetricFamily(
            "vigil_job_lag_seconds",
            "Age of the oldest due job still waiting (now - its run_at); 0 when none waits. "
            "Growing: the workers cannot keep up.",
            value=figures["lag"],
        )
        yield GaugeMetricFamily(
            "vigil_jobs_expired_leases",
            "Running jobs whose lease expired (their worker probably died); retaken by the "
            "next claim.",
            value=float(figures["expired"]),
        )
        yield GaugeMetricFamily(
            "vigil_webhook_deliveries_failing",
            "Webhook deliveries whose last attempt failed and that are waiting to be retried.",
            value=float(figures["failing"]),
        )
        yield GaugeMetricFamily(
            "vigil_webhook_deliveries_failed",
            "Webhook deliveries that ran out of attempts (status failed; redeliver to revive).",
            value=float(figures["failed"]),
        )


def read_figures(factory: sessionmaker[Session]) -> dict[str, Any]:
    """The database figures of a scrape, in one short read-only transaction."""
    from vigil.integrations.models import DeliveryStatus, WebhookDelivery
    from vigil.jobs.models import Job, JobStatus

    now = clock.now()
    session = factory()
    try:
        depth = {
            str(kind): int(n)
            for kind, n in session.execute(
                select(Job.kind, func.count())
                .where(Job.status == JobStatus.queued)
                .group_by(Job.kind)
            )
        }
        # ix_jobs_runnable (run_at, id WHERE queued): the minimum is its first entry.
        oldest = session.scalar(
            select(func.min(Job.run_at)).where(Job.status == JobStatus.queued, Job.run_at <= now)
        )
        expired = session.scalar(
            select(func.count()).where(Job.status == JobStatus.running, Job.locked_until < now)
        )
        pending = WebhookDelivery.status == DeliveryStatus.pending
        failing = session.scalar(
            select(func.count()).where(
                pending, WebhookDelivery.attempts > WebhookDelivery.redelivered_at_attempt
            )
        )
        failed = session.scalar(
            select(func.count()).where(WebhookDelivery.status == DeliveryStatus.failed)
        )
        session.rollback()
    finally:
        session.close()
    lag = 0.0
    if oldest is not None:
        lag = max((now - clock.as_utc(oldest)).total_seconds(), 0.0)
    return {
        "depth": depth,
        "lag": lag,
        "expired": int(expired or 0),
        "failing": int(failing or 0),
        "failed": int(failed or 0),
    }


def exposition(factory: sessionmaker[Session], engine: Engine) -> bytes:
    """The process's metrics and the database's, in the Prometheus text format."""
    from prometheus_client import generate_latest

    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(DatabaseCollector(factory, engine))
    return generate_latest(REGISTRY) + generate_latest(scrape)


# --- webhook failures, counted when their attempt row commits --------------------------------

_FAILED_ATTEMPTS = "vigil.ops.webhook_failures"
_hooks_installed = False


def install_hooks() -> None:
    """Count failed webhook delivery attempts when the transaction recording them commits
    (the delivery code records every attempt as a ``DeliveryAttempt`` row). Idempotent."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", _after_rollback)


def _after_flush(session: Session, _context: Any) -> None:
    from vigil.integrations.models import DeliveryAttempt

    failed = sum(1 for obj in session.new if isinstance(obj, DeliveryAttempt) and not _ok(obj))
    if failed:
        session.info[_FAILED_ATTEMPTS] = session.info.get(_FAILED_ATTEMPTS, 0) + failed


def _ok(attempt: Any) -> bool:
    code = attempt.status_code
    return code is not None and 200 <= code < 300


def _after_commit(session: Session) -> None:
    failed = session.info.pop(_FAILED_ATTEMPTS, 0)
    if failed:
        WEBHOOK_FAILURES.inc(failed)


def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_FAILED_ATTEMPTS, None)


# --- who may scrape --------------------------------------------------------------------------

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def scrape_allowed(token: str, authorization: str | None, client_host: str | None) -> bool:
    """With a token configured, the scraper must send ``Authorization: Bearer <token>``;
    without one, only clients on loopback may scrape."""
    import hmac

    if token:
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)
    return client_host is not None and (client_host in LOOPBACK or client_host.startswith("127."))


__all__ = [
    "DECISION_LATENCY",
    "EVENTS_ACCEPTED",
    "HTTP_IN_FLIGHT",
    "HTTP_LATENCY",
    "JOBS",
    "RATE_LIMITED",
    "WEBHOOK_FAILURES",
    "Observe",
    "exposition",
    "install_hooks",
    "job_finished",
    "read_figures",
    "scrape_allowed",
]


# --- the worker's own metrics port --------------------------------------------------------------


def serve_metrics(
    settings: Any, factory: sessionmaker[Session], engine: Engine, port: int, host: str = ""
) -> Any:
    """Serve ``GET /metrics`` (and ``/ops/metrics``) for ``vigil worker --metrics-port`` in a
    daemon thread, with the same rule as the API's: the bearer token when
    ``VIGIL_METRICS_TOKEN`` is set, else loopback clients only. Binds every interface (or
    ``host``) so a scraper on another machine can reach it with the token. Returns the
    server (``shutdown()`` stops it)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from prometheus_client import CONTENT_TYPE_LATEST

    token = settings.metrics_token.get_secret_value()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/metrics", "/ops/metrics"):
                self._answer(404, b"not found\n", "text/plain")
                return
            if not scrape_allowed(token, self.headers.get("authorization"), self.client_address[0]):
                self._answer(401 if token else 403, b"not allowed\n", "text/plain")
                return
            self._answer(200, exposition(factory, engine), CONTENT_TYPE_LATEST)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would flood the worker's log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="vigil-metrics", daemon=True).start()
    log.info("worker metrics on port %d", server.server_address[1])
    return server
