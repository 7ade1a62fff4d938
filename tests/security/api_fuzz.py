"""Runs schemathesis against the app's own OpenAPI document through a ``TestClient``, and
counts what matters: responses with a 5xx status and responses that contradict the schema.

Shared by ``tests/api/test_schemathesis.py`` (a few examples per operation, fixed seed) and
``bench/schemathesis.py`` (full budget). Every failure is recorded, not raised, so one run
reports every operation; the caller asserts (the test) or prints a table (the bench).

Requests go through the caller's client (its cookies and headers: an admin session with its
CSRF token reaches every handler), built from each generated case with
``Case.as_transport_kwargs``; responses are checked with schemathesis's own
``not_a_server_error`` and ``response_schema_conformance``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

CHECKS = [not_a_server_error, response_schema_conformance]


@dataclass
class OperationResult:
    label: str
    cases: int = 0
    server_errors: list[str] = field(default_factory=list)
    schema_violations: list[str] = field(default_factory=list)
    generation_errors: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)  # 2 -> count of 2xx, ...


@dataclass
class Report:
    operations: list[OperationResult]
    seconds: float

    @property
    def cases(self) -> int:
        return sum(o.cases for o in self.operations)

    @property
    def server_errors(self) -> list[str]:
        return [e for o in self.operations for e in o.server_errors]

    @property
    def schema_violations(self) -> list[str]:
        return [e for o in self.operations for e in o.schema_violations]

    @property
    def generation_errors(self) -> list[str]:
        return [e for o in self.operations for e in o.generation_errors]


def _failures(exc: BaseException) -> Iterable[BaseException]:
    inner = getattr(exc, "exceptions", None)
    if inner:
        for e in inner:
            yield from _failures(e)
    else:
        yield exc


def _short(case: Any, response: Any, failure: BaseException) -> str:
    title = getattr(failure, "title", type(failure).__name__)
    message = str(getattr(failure, "message", failure)).strip().splitlines()
    body = response.text[:300] if response is not None else ""
    return (
        f"{case.method.upper()} {case.formatted_path} -> {getattr(response, 'status_code', '?')}"
        f": {title}: {message[0] if message else ''} | body={body!r}"
    )


def run(
    client: TestClient,
    *,
    max_examples: int,
    seed: int = 9,
    skip: Iterable[tuple[str, str]] = (),
    only_prefix: str = "/v1/",
) -> Report:
    """Generate up to ``max_examples`` valid requests per operation (hypothesis, derandomized
    from ``seed``) and send each through ``client``."""
    started = time.perf_counter()
    raw = client.get("/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    skipped = set(skip)
    results: list[OperationResult] = []
    for loaded in schema.get_all_operations():
        operation = loaded.ok()
        if not operation.path.startswith(only_prefix):
            continue
        if (operation.method.upper(), operation.path) in skipped:
            continue
        result = OperationResult(f"{operation.method.upper()} {operation.path}")
        results.append(result)

        exercise = _exercise(client, operation, result, max_examples, seed)
        try:
            exercise()
        except Exception as exc:  # the strategy itself could not be built
            result.generation_errors.append(f"{result.label}: {type(exc).__name__}: {exc}")
    return Report(results, time.perf_counter() - started)


def _exercise(
    client: TestClient, operation: Any, result: OperationResult, max_examples: int, seed: int
) -> Any:
    @hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.seed(seed)
    @hypothesis.given(case=operation.as_strategy())
    def exercise(case: Any) -> None:
        result.cases += 1
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        for unsupported in ("timeout", "follow_redirects", "allow_redirects", "verify"):
            kwargs.pop(unsupported, None)
        # The caller's session authenticates: drop credentials generated from the security
        # schemes (a random bearer token would answer 401 before any handler runs).
        headers = {
            k: v for k, v in (kwargs.pop("headers", None) or {}).items()
            if k.lower() not in ("authorization", "cookie", "x-csrf-token")
        }  # fmt: skip
        kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), (bytes, str)):
            kwargs["content"] = kwargs.pop("data")  # raw bodies are ``content`` for httpx
        if kwargs.get("files"):
            kwargs["files"] = [(name, _sendable(part)) for name, part in kwargs["files"]]
        response = client.request(**kwargs, headers=headers)
        response.request.read()  # multipart bodies are streamed; the checks read them
        result.statuses[response.status_code // 100] = (
            result.statuses.get(response.status_code // 100, 0) + 1
        )
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises failure groups
            for failure in _failures(exc):
                line = _short(case, response, failure)
                if type(failure).__name__ == "ServerError" or response.status_code >= 500:
                    result.server_errors.append(line)
                else:
                    result.schema_violations.append(line)

    return exercise


def _sendable(part: Any) -> Any:
    """Multipart parts as httpx takes them: schemathesis may generate a form field's value as
    a number or an object (the schema allows it); it goes on the wire as text."""
    if isinstance(part, tuple) and len(part) >= 2 and not isinstance(part[1], (bytes, str)):
        return (part[0], str(part[1]), *part[2:])
    if not isinstance(part, (bytes, str, tuple)):
        return str(part)
    return part


def table(report: Report) -> str:
    """Operations, cases, 5xx, schema violations, duration: one line per operation that
    failed, then the totals."""
    lines = [f"{'operation':<70} {'cases':>6} {'5xx':>5} {'schema':>7}"]
    for o in report.operations:
        if o.server_errors or o.schema_violations or o.generation_errors:
            lines.append(
                f"{o.label[:70]:<70} {o.cases:>6} {len(o.server_errors):>5} "
                f"{len(o.schema_violations):>7}"
            )
    lines.append(
        f"{'TOTAL ' + str(len(report.operations)) + ' operations':<70} {report.cases:>6} "
        f"{len(report.server_errors):>5} {len(report.schema_violations):>7}"
    )
    statuses: dict[int, int] = {}
    for o in report.operations:
        for k, v in o.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
    lines.append("responses: " + ", ".join(f"{k}xx {v}" for k, v in sorted(statuses.items())))
    lines.append(f"duration {report.seconds:.1f} s")
    return "\n".join(lines)
