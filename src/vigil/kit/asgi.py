"""Small ASGI middlewares: request ids, body size limits and security headers.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so they add no per-request task or copy
of the body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.kit.context import request_id_var

log = logging.getLogger("vigil.http")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# The console loads nothing from other hosts; htmx needs no inline script.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


# Features the console never uses, switched off for the page and anything it embeds.
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)
# Two years, the preload lists' minimum; sent only when cookies are marked Secure (HTTPS).
HSTS = "max-age=63072000; includeSubDomains"


class RequestContext:
    """Takes ``X-Request-ID`` from the caller when it is a safe token, else makes one; puts it
    in the context (for logs and audit records) and on the response; adds security headers.

    Every response but static files gets ``Cache-Control: no-store`` unless the endpoint set
    its own: console pages and API answers carry personal data, and a shared cache or the
    browser's back button must not keep them. ``hsts`` (on when ``cookie_secure``) adds
    Strict-Transport-Security. An endpoint's rate-limit decision, left in the request state
    as ``rate_limit`` (a ``vigil.kit.ratelimit.Decision``), becomes ``RateLimit-*`` headers
    (and ``Retry-After`` on a refusal)."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = False
        # ``request.state`` lives in this dict: made here so the endpoint's writes land in
        # the one this middleware reads.
        state: dict[str, Any] = scope.setdefault("state", {})
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"x-frame-options", b"DENY"))
                headers.append((b"referrer-policy", b"same-origin"))
                headers.append((b"content-security-policy", CSP.encode()))
                headers.append((b"permissions-policy", PERMISSIONS_POLICY.encode()))
                headers.append((b"cross-origin-opener-policy", b"same-origin"))
                if self.hsts:
                    headers.append((b"strict-transport-security", HSTS.encode()))
                if not static and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                decision = state.get("rate_limit")
                if decision is not None:
                    for name, value in decision.headers().items():
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # The last resort, inside this middleware so the 500 still carries the request
            # id and the security headers; the traceback goes to the log under that id.
            log.exception("unhandled error (request %s)", request_id)
            if started:
                raise
            await _send_json(send_with_headers, 500, {
                "code": "internal_error",
                "message": "something went wrong on our side",
                "field": None,
                "request_id": request_id,
                "details": [],
            })  # fmt: skip
        finally:
            request_id_var.reset(token)


class ConcurrencyLimit:
    """At most ``limit`` HTTP requests inside the app at once; the rest wait here, in the event
    loop, holding nothing.

    Endpoints are synchronous: each runs on one of the thread pool's 40 threads and holds a
    database connection until its dependency's teardown (the commit), which needs a thread too.
    Without a cap, a burst fills every thread with requests waiting for a connection (or, on
    SQLite, for the write lock), no thread is left to finish a request and hand its
    connection back, and the server stalls until timeouts fire. Keeping the cap below both
    the connection pool and the thread pool makes excess load queue instead of deadlock."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:  # created in the running loop
            self._semaphore = asyncio.Semaphore(self.limit)
        async with self._semaphore:
            await self.app(scope, receive, send)


@dataclass(frozen=True)
class RouteLimit:
    """A body limit for one route: ``method`` and a ``path`` regex (matched whole).

    ``credentials_required``: the limit applies only to a request that carries credentials
    (an ``Authorization`` header or the session cookie); others keep the global limit. It
    does not authenticate anything (the route does): it keeps an anonymous client from
    making the server receive a large body before it is refused."""

    method: str
    path: str
    max_bytes: int
    credentials_required: bool = False


class BodyLimit:
    """Refuses bodies over ``max_bytes`` with 413, whether or not Content-Length is sent.

    ``overrides`` raise (or lower) the limit for chosen routes only (:class:`RouteLimit`, or
    a ``(method, path regex, max_bytes)`` tuple), first match wins; e.g. document uploads,
    which carry several images. ``session_cookie`` names the cookie that counts as
    credentials for ``credentials_required``."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        overrides: Sequence[RouteLimit | tuple[str, str, int]] | None = None,
        session_cookie: str = "vigil_session",
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        routes = [o if isinstance(o, RouteLimit) else RouteLimit(*o) for o in overrides or []]
        self.overrides = [(route, re.compile(route.path)) for route in routes]
        self._cookie = re.compile(rf"(?:^|;)\s*{re.escape(session_cookie)}=[^;\s]")

    def _has_credentials(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value.strip():
                return True
            if name == b"cookie" and self._cookie.search(value.decode("latin-1")):
                return True
        return False

    def limit_for(self, scope: Scope) -> int:
        method, path = scope.get("method", ""), scope.get("path", "")
        for route, pattern in self.overrides:
            if method != route.method.upper() or not pattern.fullmatch(path):
                continue
            if route.credentials_required and not self._has_credentials(scope):
                continue
            return route.max_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await _too_large(send, max_bytes)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(f"request body is larger than {max_bytes} bytes")
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await _too_large(send, max_bytes)


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes the limit."""


async def _too_large(send: Send, limit: int) -> None:
    body: dict[str, Any] = {
        "code": "payload_too_large",
        "message": f"request body is larger than {limit} bytes",
        "field": None,
        "request_id": request_id_var.get(),
        "details": [],
    }
    await _send_json(send, 413, body)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
