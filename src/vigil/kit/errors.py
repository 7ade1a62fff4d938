"""Domain errors. Each carries its HTTP status and a stable ``code`` that clients can rely on.

Services raise these; the API turns every one into the same JSON shape
(``{"code", "message", "field", "request_id"}``) and the console shows the message.
"""

from __future__ import annotations

from typing import Any


class VigilError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or []
        if code is not None:
            self.code = code


class InvalidInput(VigilError):
    status_code = 422
    code = "invalid_input"


class NotAuthenticated(VigilError):
    status_code = 401
    code = "not_authenticated"


class PermissionDenied(VigilError):
    status_code = 403
    code = "permission_denied"


class NotFound(VigilError):
    status_code = 404
    code = "not_found"


class Conflict(VigilError):
    status_code = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class VersionConflict(Conflict):
    code = "version_conflict"


class TooLarge(VigilError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(VigilError):
    status_code = 429
    code = "rate_limited"
