"""Every /v1 route for every role: the declared permission is enforced, and nothing else is.

Routes are discovered from the app, so routes added later are covered without editing this
file. Each route must declare exactly one ``require_<permission>`` dependency (the typed
aliases in ``vigil.api.deps``), or be open to any logged-in staff member by depending only
on ``current_staff`` (``CurrentStaff``), or be listed in ``PUBLIC``.

Dummy path ids and an empty JSON body are sent: callers holding the permission may get 404
or 422, never 401 or 403; callers lacking it get 403 before anything is looked up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import auth_header, login_as, make_api_key, make_staff
from vigil.api.deps import current_staff
from vigil.app import create_app
from vigil.auth.permissions import API_KEY_SCOPES, ROLE_PERMISSIONS, Permission, Role
from vigil.config import Settings

# Reachable without credentials.
PUBLIC = {("GET", "/v1/health")}
# Routes open to any staff session (and to no API key); checked against the dependant tree.
KNOWN_ANY_STAFF = {("GET", "/v1/staff/me"), ("POST", "/v1/staff/{staff_id}/password")}

_REQUIRE = re.compile(r"^require_(\w+)$")


def _calls(dependant: Dependant) -> Iterator[object]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    dependant: Dependant


def declared_permissions(route: Route) -> list[Permission]:
    found: list[Permission] = []
    for call in _calls(route.dependant):
        match = _REQUIRE.match(getattr(call, "__name__", ""))
        if match and match.group(1) in Permission.__members__:
            permission = Permission[match.group(1)]
            if permission not in found:
                found.append(permission)
    return found


def is_any_staff(route: Route) -> bool:
    return any(call is current_staff for call in _calls(route.dependant))


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    permission: Permission | None  # None: any staff session

    @property
    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", "999999", self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def v1_routes() -> list[Route]:
    """Every (method, path) under /v1 as the app serves it: with the include prefix and the
    dependencies of the router it was included through."""
    app = create_app(Settings(database_url="sqlite:///:memory:"), run_worker=False)
    out: list[Route] = []
    for ctx in iter_route_contexts(app.routes):
        if not isinstance(ctx.original_route, APIRoute) or not (ctx.path or "").startswith("/v1/"):
            continue
        dependant = getattr(ctx, "dependant", None) or ctx.original_route.dependant
        out.extend(Route(m, str(ctx.path), dependant) for m in sorted(ctx.methods or ()))
    return out


def endpoints() -> list[Endpoint]:
    out: list[Endpoint] = []
    for route in v1_routes():
        if (route.method, route.path) in PUBLIC:
            continue
        permissions = declared_permissions(route)
        out.append(Endpoint(route.method, route.path, permissions[0] if permissions else None))
    return out


def test_every_route_declares_exactly_one_permission_or_is_any_staff() -> None:
    problems: list[str] = []
    routes = v1_routes()
    assert len(routes) > 10, "no routes found: has FastAPI's routing changed?"
    for route in routes:
        if (route.method, route.path) in PUBLIC:
            continue
        permissions = declared_permissions(route)
        if len(permissions) > 1:
            problems.append(f"{route.method} {route.path}: several permissions {permissions}")
        elif not permissions and not is_any_staff(route):
            problems.append(f"{route.method} {route.path}: declares no permission")
    assert problems == []


def test_known_any_staff_routes_are_still_any_staff() -> None:
    found = {(e.method, e.path) for e in endpoints() if e.permission is None}
    assert found >= KNOWN_ANY_STAFF


def test_docs_and_schema_are_outside_the_route_check() -> None:
    paths = {route.path for route in v1_routes()}
    assert "/v1/openapi.json" not in paths and "/v1/docs" not in paths


@pytest.fixture
def callers(client: TestClient, db: Session) -> dict[str, dict[str, str]]:
    """Per caller: the cookies or headers to send. One staff member per role, one API key
    holding every scope keys may hold, and nobody."""
    cookie = client.app.state.settings.session_cookie  # type: ignore[attr-defined]
    out: dict[str, dict[str, str]] = {"nobody": {}}
    for role in Role:
        user = make_staff(db, role=role)
        csrf = login_as(client, db, user)
        out[role.value] = {"cookie": client.cookies[cookie], "csrf": csrf}
        client.cookies.clear()
        client.headers.pop("X-CSRF-Token", None)
    _, secret = make_api_key(db)
    db.commit()
    out["api_key"] = auth_header(secret)
    return out


def _holds(caller: str) -> frozenset[Permission]:
    if caller == "api_key":
        return API_KEY_SCOPES
    if caller == "nobody":
        return frozenset()
    return ROLE_PERMISSIONS[Role(caller)]


def _expected(caller: str, endpoint: Endpoint) -> str:
    if caller == "nobody":
        return "401"
    if endpoint.permission is None:
        return "403" if caller == "api_key" else "allowed"
    return "allowed" if endpoint.permission in _holds(caller) else "403"


def test_every_route_for_every_role(client: TestClient, callers: dict[str, dict[str, str]]) -> None:
    cookie = client.app.state.settings.session_cookie  # type: ignore[attr-defined]
    wrong: list[str] = []
    checked = 0
    seen: set[str] = set()
    for endpoint in endpoints():
        for caller, creds in callers.items():
            client.cookies.clear()
            headers: dict[str, str] = {}
            if "cookie" in creds:
                client.cookies.set(cookie, creds["cookie"])
                headers = {"X-CSRF-Token": creds["csrf"]}
            else:
                headers = creds
            kwargs: dict[str, object] = {"headers": headers}
            if endpoint.method in {"POST", "PUT", "PATCH"}:
                kwargs["json"] = {}
            response = client.request(endpoint.method, endpoint.url, **kwargs)  # type: ignore[arg-type]
            status = response.status_code
            expected = _expected(caller, endpoint)
            got = str(status) if status in (401, 403) else "allowed"
            seen.add(got)
            if got != expected:
                wrong.append(f"{endpoint} as {caller}: expected {expected}, got {status}")
            checked += 1
    assert wrong == []
    assert checked >= 8 * len(callers)
    assert seen == {"401", "403", "allowed"}


def test_cookie_writes_need_the_csrf_token(client: TestClient, db: Session) -> None:
    """A page on another site can make a browser send our session cookie, but it cannot read
    the CSRF token; a cookie-authenticated change without it is refused and changes nothing."""
    admin = make_staff(db, role=Role.admin)
    csrf = login_as(client, db, admin)
    client.headers.pop("X-CSRF-Token", None)
    body = {"email": "new.agent@staff.example", "name": "New", "role": "agent",
            "password": "a long enough password"}  # fmt: skip
    refused = client.post("/v1/staff", json=body)
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    me = client.get("/v1/staff/me")  # reads need no token, and tell scripts the token
    assert me.status_code == 200
    assert me.json()["csrf_token"] == csrf
    accepted = client.post("/v1/staff", json=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201, accepted.text
