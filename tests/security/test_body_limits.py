"""Every route that takes a body refuses one over its limit with 413 ``payload_too_large``
(``field`` null) and writes nothing: whether the length is declared or the body is streamed
without one, as JSON, as a console form or as a multipart upload. Routes are discovered from
the app, so a route added later is covered without editing this file.

The limits are lowered (64 kB for every body, 100 kB per identity image) so the walk is quick;
what is under test is that no route escapes the middleware, not the default sizes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import login_as, make_staff
from vigil.app import create_app
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.kit.asgi import BodyLimit
from vigil.models import Base
from vigil.web.auth import csrf_checked

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SMALL = 64 * 1024
CHUNK = 16 * 1024


def _calls(dependant: Dependant) -> Iterator[object]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    reads_body: bool  # a declared body, form fields, or the console's CSRF form check
    console: bool

    @property
    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", "999999", self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def targets(app: Any) -> list[Target]:
    out: dict[tuple[str, str], Target] = {}
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        dependant = getattr(ctx, "dependant", None) or route.dependant
        reads = route.body_field is not None or any(c is csrf_checked for c in _calls(dependant))
        path = str(ctx.path)
        for method in sorted(set(ctx.methods or ()) & BODY_METHODS):
            out[(method, path)] = Target(method, path, reads, not path.startswith("/v1/"))
    return sorted(out.values(), key=str)


@pytest.fixture
def small(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"max_body_bytes": SMALL, "identity_max_upload_bytes": 100_000}
    )


@pytest.fixture
def admin(small: Settings, db: Session) -> Iterator[TestClient]:
    with TestClient(create_app(small, run_worker=False)) as client:
        login_as(client, db, make_staff(db, role=Role.admin))
        client.headers.pop("X-CSRF-Token", None)  # console forms must read their body
        yield client


def body_limit(client: TestClient) -> BodyLimit:
    layer: Any = client.app.middleware_stack  # type: ignore[attr-defined]
    while layer is not None and not isinstance(layer, BodyLimit):
        layer = getattr(layer, "app", None)
    assert layer is not None, "the BodyLimit middleware is not installed"
    return layer


def limit_for(client: TestClient, target: Target) -> int:
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    scope = {
        "type": "http",
        "method": target.method,
        "path": target.url,
        "headers": [(b"cookie", cookies.encode())],
    }
    return body_limit(client).limit_for(scope)


def rows(db: Session) -> dict[str, int]:
    db.rollback()
    counts = {
        t.name: int(db.scalar(select(func.count()).select_from(t)) or 0)
        for t in Base.metadata.sorted_tables
    }
    db.commit()
    return counts


def _content_type(target: Target) -> str:
    return "application/x-www-form-urlencoded" if target.console else "application/json"


def _assert_413(response: Any, target: Target, how: str) -> None:
    assert response.status_code == 413, (
        f"{target} ({how}): {response.status_code} {response.text[:200]}"
    )
    body = response.json()
    assert (body["code"], body["field"]) == ("payload_too_large", None), f"{target} ({how})"


def test_the_walk_finds_api_and_console_routes(admin: TestClient) -> None:
    found = targets(admin.app)
    assert sum(not t.console for t in found) > 20 and sum(t.console for t in found) > 10
    assert sum(t.reads_body for t in found) > 20


def test_every_body_over_its_limit_is_refused_with_413_and_nothing_is_written(
    admin: TestClient, db: Session
) -> None:
    before = rows(db)
    refused_streamed = 0
    for target in targets(admin.app):
        limit = limit_for(admin, target)
        headers = {"content-type": _content_type(target)}
        declared = admin.request(
            target.method, target.url, content=b"a" * (limit + 1), headers=headers
        )
        _assert_413(declared, target, "declared length")
        if not target.reads_body:
            continue  # a route that never reads its body cannot be made to stream one

        def chunks(limit: int = limit) -> Iterator[bytes]:
            sent = 0
            while sent <= limit:
                yield b"a" * CHUNK
                sent += CHUNK

        streamed = admin.request(target.method, target.url, content=chunks(), headers=headers)
        _assert_413(streamed, target, "streamed, no length")
        refused_streamed += 1
    assert refused_streamed > 20
    assert rows(db) == before


def test_credentials_raise_the_limit_of_upload_routes_only(admin: TestClient) -> None:
    raised = [t for t in targets(admin.app) if limit_for(admin, t) > SMALL]
    assert {t.path for t in raised} == {
        "/v1/accounts/{external_id}/documents",
        "/v1/disputes/{dispute_id}/files",
    }
    anonymous = TestClient(admin.app)
    for target in raised:
        response = anonymous.request(
            target.method, target.url, content=b"a" * (SMALL + 1),
            headers={"content-type": "multipart/form-data; boundary=x"},
        )  # fmt: skip
        _assert_413(response, target, "without credentials")


def _multipart(boundary: str, size: int) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="front"; '
        f'filename="front.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    sent = 0
    while sent < size:
        yield b"\xff" * CHUNK
        sent += CHUNK
    yield f"\r\n--{boundary}--\r\n".encode()


def test_a_streamed_multipart_upload_over_its_limit_is_refused(
    admin: TestClient, db: Session
) -> None:
    before = rows(db)
    for target in targets(admin.app):
        limit = limit_for(admin, target)
        if limit <= SMALL or not target.reads_body:
            continue
        response = admin.request(
            target.method, target.url, content=_multipart("bnd", limit + 1),
            headers={"content-type": "multipart/form-data; boundary=bnd"},
        )  # fmt: skip
        _assert_413(response, target, "streamed multipart")
    assert rows(db) == before


DEEP = "[" * 200_000 + "]" * 200_000  # 400 kB: under a raised limit, absurd nesting
WIDE = "[" + ",".join(["0"] * 30_000) + "]"


@pytest.mark.parametrize("payload", [DEEP, WIDE], ids=["deep-nesting", "huge-array"])
def test_json_nesting_and_huge_arrays_are_a_4xx_never_a_500(
    settings: Settings, db: Session, payload: str
) -> None:
    roomy = settings.model_copy(update={"max_body_bytes": 1_048_576})
    with TestClient(create_app(roomy, run_worker=False)) as client:
        login_as(client, db, make_staff(db, role=Role.admin))
        before = rows(db)
        for target in targets(client.app):
            if target.console or not target.reads_body:
                continue
            response = client.request(
                target.method, target.url, content=payload.encode(),
                headers={"content-type": "application/json"},
            )  # fmt: skip
            assert 400 <= response.status_code < 500, f"{target}: {response.status_code}"
            assert response.json()["code"], target
        assert rows(db) == before


# Request lists that the OpenAPI document leaves unbounded because the service checks them by
# hand (a count limit before any per-item work) or by a setting.
HAND_CHECKED = {
    "BatchIn.events",  # VIGIL_EVENTS_BATCH_MAX
    "RuleIn.case_types",  # rules.schemas MAX_TAGS
    "RuleIn.languages",
    "RuleIn.tiers",
    "PolicyCreate.examples_allowed",  # policies.schemas MAX_EXAMPLES ...
    "PolicyCreate.examples_not_allowed",
    "PolicyCreate.grey_areas",
    "PolicyCreate.allowed_actions",  # each item one of the action types
    "PolicyCreate.ladder",
    "PolicyCreate.dsa_keywords",  # each item one of the DSA keywords
    "PolicyUpdate.examples_allowed",
    "PolicyUpdate.examples_not_allowed",
    "PolicyUpdate.grey_areas",
    "PolicyUpdate.allowed_actions",
    "PolicyUpdate.ladder",
    "PolicyUpdate.dsa_keywords",
}


def _unbounded_arrays(spec: dict[str, Any]) -> set[str]:
    components = spec.get("components", {}).get("schemas", {})
    seen: set[str] = set()
    found: set[str] = set()

    def walk(schema: dict[str, Any], where: str) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                walk(components[name], name)
            return
        if schema.get("type") == "array" and "maxItems" not in schema:
            found.add(where)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                walk(schema[key], f"{where}.{key}")
        for key, value in (schema.get("properties") or {}).items():
            walk(value, f"{where}.{key}")
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                walk(option, where)

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for content in (operation.get("requestBody") or {}).get("content", {}).values():
                walk(content.get("schema", {}), f"{method.upper()} {path}")
    return found


def test_every_list_a_request_takes_is_bounded(client: TestClient) -> None:
    spec = client.get("/v1/openapi.json").json()
    assert _unbounded_arrays(spec) - HAND_CHECKED == set()


def test_a_huge_list_answers_with_a_bounded_list_of_errors(client: TestClient, db: Session) -> None:
    login_as(client, db, make_staff(db, role=Role.admin))
    body = {"name": "x", "scopes": [f"s{i}" for i in range(5_000)]}
    response = client.post("/v1/api-keys", json=body)
    assert response.status_code == 422
    assert len(response.json()["details"]) <= 101
    many = client.post(
        "/v1/rules", json={"name": "r", "tiers": ["?"] * 50_000, "case_types": list(range(9_000))}
    )
    assert many.status_code == 422
    assert len(many.json()["details"]) <= 101
