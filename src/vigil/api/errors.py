"""One error shape for every failure: ``{"code", "message", "field", "request_id", "details"}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.kit.asgi import BodyTooLarge
from vigil.kit.context import current_request_id
from vigil.kit.errors import VigilError

log = logging.getLogger("vigil.api")

_VALIDATION_CODES = {
    "json_invalid": "invalid_json",
    "extra_forbidden": "unknown_field",
    "missing": "missing_field",
}

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# A body of a million bad list items must not answer with a million details (a response
# tens of times larger than the request): the first ones are enough to fix the request.
MAX_DETAILS = 100


def error_body(
    code: str, message: str, field: str | None = None, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    listed = details or []
    if len(listed) > MAX_DETAILS:
        more = len(listed) - MAX_DETAILS
        listed = [*listed[:MAX_DETAILS], {
            "code": "more_errors", "field": None, "message": f"{more} more errors not listed",
        }]  # fmt: skip
    return {
        "code": code,
        "message": message,
        "field": field,
        "request_id": current_request_id(),
        "details": listed,
    }


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or None


def validation_response(exc: RequestValidationError) -> JSONResponse:
    details: list[dict[str, Any]] = []
    for e in exc.errors():
        kind = e.get("type", "")
        # For malformed JSON the location is a byte offset, not a field: say so in the message.
        field = None if kind == "json_invalid" else _field_of(e.get("loc", ()))
        message = str(e.get("msg", "invalid"))
        if kind == "json_invalid":
            message = f"request body is not valid JSON ({e.get('ctx', {}).get('error', message)})"
        details.append(
            {
                "code": _VALIDATION_CODES.get(kind, "invalid_field"),
                "field": field,
                "message": message,
            }
        )
    if not details:
        details.append({"code": "invalid_input", "field": None, "message": "invalid input"})
    first = details[0]
    return JSONResponse(
        status_code=422,
        content=error_body(str(first["code"]), str(first["message"]), first["field"], details),
    )


_TITLES = {
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Someone got there first",
    413: "Too large",
    422: "Something in the request is not right",
}


def _wants_page(request: Request) -> bool:
    """Console pages (everything outside /v1 and /static) answer errors with a page."""
    path = request.url.path
    return not path.startswith(("/v1/", "/static/")) and "text/html" in request.headers.get(
        "accept", "text/html"
    )


def _page(request: Request, status: int, message: str) -> Response:
    from vigil.web.render import templates

    context = {
        "title": _TITLES.get(status, "Something went wrong"),
        "message": message,
        "request_id": current_request_id(),
        "user": None,
        "csrf_token": None,
        "can_work": False,
        "notice": None,
    }
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(VigilError)
    def _vigil(request: Request, exc: VigilError) -> Response:
        if _wants_page(request):
            return _page(request, exc.status_code, exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(
            status_code=exc.status_code,
            content=error_body(exc.code, exc.message, exc.field, exc.details),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    def _validation(request: Request, exc: RequestValidationError) -> Response:
        if _wants_page(request):
            return _page(request, 404, "There is nothing at this address.")
        return validation_response(exc)

    @app.exception_handler(StaleDataError)
    def _stale(_request: Request, _exc: StaleDataError) -> JSONResponse:
        return JSONResponse(
            status_code=409,
            content=error_body(
                "version_conflict", "someone else changed this record; reload and try again"
            ),
        )

    @app.exception_handler(IntegrityError)
    def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Services check what they can before writing; this is the race they cannot see.
        log.warning("integrity error: %s", exc.orig)
        return JSONResponse(
            status_code=409,
            content=error_body("conflict", "the change conflicts with existing data"),
        )

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, BodyTooLarge):
            # FastAPI wraps errors raised while reading the body in a 400; a streamed body
            # that outgrew the limit is a 413.
            return JSONResponse(
                status_code=413, content=error_body("payload_too_large", str(exc.__cause__))
            )
        if _wants_page(request) and exc.status_code in (404, 405):
            return _page(request, exc.status_code, "There is nothing at this address.")
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            status_code=exc.status_code,
            content=error_body(code, str(exc.detail)),
            headers=getattr(exc, "headers", None),
        )

    # Values the database or the driver cannot hold (ids past 64 bits, NUL characters on
    # PostgreSQL, dates that overflow in UTC, unpaired surrogates, absurd nesting) are the
    # caller's input, not our failure: 422, and the transaction has been rolled back.
    @app.exception_handler(DataError)
    def _data(_request: Request, exc: DataError) -> JSONResponse:
        log.info("value refused by the database: %s", exc.orig)
        return _bad_value()

    for kind in (OverflowError, UnicodeError, RecursionError):
        app.add_exception_handler(kind, _bad_value_handler)

    # The database is unreachable (stopped, restarting, failed over) or the connection broke
    # mid-request: the transaction did not commit (short of a commit whose acknowledgement
    # was lost, which retrying with the same event_id / idempotency key makes harmless), and
    # the same request works once it is back (the pool checks each connection before use).
    # 503 with a stable code and Retry-After, not a 500.
    for outage in (OperationalError, InterfaceError):
        app.add_exception_handler(outage, _database_unavailable)


def _bad_value() -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content=error_body(
            "invalid_value",
            "a value in the request is out of range or cannot be stored "
            "(numbers past 64 bits, NUL characters, dates beyond year 9999, broken unicode)",
        ),
    )


def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
    message = "the database is unavailable; send the request again shortly"
    if _wants_page(request):
        return _page(request, 503, message)
    return JSONResponse(
        status_code=503,
        content=error_body("database_unavailable", message),
        headers={"Retry-After": "1"},
    )


def _bad_value_handler(_request: Request, exc: Exception) -> JSONResponse:
    log.info("value refused: %r", exc)
    return _bad_value()
