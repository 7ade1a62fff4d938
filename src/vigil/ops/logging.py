"""Log set-up for ``vigil serve`` and ``vigil worker``: plain text or one JSON object a line.

Every line carries the request id of the HTTP request it was written under (set by
:class:`vigil.kit.asgi.RequestContext`) and, in a worker, the id and kind of the job in hand,
so one request or job can be followed across processes in a log store. Uvicorn's own loggers
are routed through the same handler, so a process writes one format only.

What we log never includes request or response bodies, query strings or email addresses: the
access line names the route *template* (``/v1/cases/{case_id}``), not the raw path.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from vigil.kit.context import request_id_var

job_id_var: ContextVar[int | None] = ContextVar("vigil_job_id", default=None)
job_kind_var: ContextVar[str | None] = ContextVar("vigil_job_kind", default=None)

# Uvicorn's loggers; they get no handler of their own and propagate to the root's.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
_HANDLER_NAME = "vigil-ops"


@contextlib.contextmanager
def job_context(job_id: int, kind: str) -> Iterator[None]:
    """Tag every log line written while a job runs with its id and kind."""
    id_token = job_id_var.set(job_id)
    kind_token = job_kind_var.set(kind)
    try:
        yield
    finally:
        job_kind_var.reset(kind_token)
        job_id_var.reset(id_token)


class ContextFilter(logging.Filter):
    """Puts ``request_id``, ``job_id`` and ``job_kind`` on every record (None when unset)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Uvicorn's copy of the message with terminal colour codes: noise in a log store.
        record.__dict__.pop("color_message", None)
        # ``extra=`` values given by the caller win over the context's.
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "job_id", None) is None:
            record.job_id = job_id_var.get()
        if getattr(record, "job_kind", None) is None:
            record.job_kind = job_kind_var.get()
        return True


class TextFormatter(logging.Formatter):
    """``time level logger: message`` plus ``[request=…]`` / ``[job=#id kind]`` when known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tags = []
        request_id = getattr(record, "request_id", None)
        if request_id:
            tags.append(f"request={request_id}")
        job_id = getattr(record, "job_id", None)
        if job_id is not None:
            tags.append(f"job=#{job_id} {getattr(record, 'job_kind', '')}".rstrip())
        if not tags:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [{' '.join(tags)}]{newline}{rest}"


def json_formatter() -> logging.Formatter:
    """One JSON object a line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
    ``request_id``, ``job_id``, ``job_kind``, plus any ``extra=`` fields of the call."""
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s %(job_kind)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        json_ensure_ascii=False,
    )


def is_configured_elsewhere() -> bool:
    """True when the root logger has handlers that :func:`configure` did not install."""
    return any(h.get_name() != _HANDLER_NAME for h in logging.getLogger().handlers)


def configure(log_format: str = "text", level: str | int = "INFO") -> logging.Handler:
    """Replace the root logger's handlers with one stderr handler in ``log_format``.

    Safe to call again (``vigil serve`` after the CLI's callback): the previous handler this
    function installed is replaced, not duplicated."""
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(ContextFilter())
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return handler


def uvicorn_log_settings() -> dict[str, Any]:
    """Arguments for ``uvicorn.run`` that leave logging to :func:`configure`: no config of its
    own, and no access log (ours, written by the metrics middleware, names routes, not raw
    paths)."""
    return {"log_config": None, "access_log": False}
