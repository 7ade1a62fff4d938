"""API rate limits per API key and per staff member, the headers that say where a caller
stands, the same limit across processes through Redis, and the security headers on every
response."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import auth_header, login_as, make_api_key, make_staff
from tests.kit.test_ratelimit import REDIS_URL, redis_client
from vigil.app import create_app
from vigil.auth.models import ApiKey
from vigil.auth.permissions import Role
from vigil.config import Settings
from vigil.kit import clock
from vigil.kit.ratelimit import RedisLimiter

LIMIT = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.api_rate_limit = LIMIT
    return settings


@pytest.fixture
def at_minute(frozen: clock.FrozenClock) -> clock.FrozenClock:
    # FROZEN_AT is on a minute boundary: every request below falls in one window.
    assert clock.now().timestamp() % 60 == 0
    return frozen


def test_api_key_gets_429_over_its_limit(
    client: TestClient, db: Session, at_minute: clock.FrozenClock
) -> None:
    _, secret = make_api_key(db)
    _, other = make_api_key(db)
    db.commit()
    seen = []
    for _ in range(LIMIT):
        response = client.get("/v1/policies", headers=auth_header(secret))
        assert response.status_code == 200, response.text
        seen.append(response.headers["RateLimit-Remaining"])
        assert response.headers["RateLimit-Limit"] == str(LIMIT)
        assert "Retry-After" not in response.headers
    assert seen == ["2", "1", "0"]
    refused = client.get("/v1/policies", headers=auth_header(secret))
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "80"  # room 20 s into the next minute
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Reset"] == "60"
    # Another key has its own budget.
    assert client.get("/v1/policies", headers=auth_header(other)).status_code == 200
    # The next minutes bring room back (sliding: 20 s in, the old 3 weigh 2).
    at_minute.advance(timedelta(seconds=80))
    assert client.get("/v1/policies", headers=auth_header(secret)).status_code == 200


def test_a_refused_write_changes_nothing(
    client: TestClient, db: Session, at_minute: clock.FrozenClock
) -> None:
    admin = make_staff(db, role=Role.admin)
    login_as(client, db, admin)
    for _ in range(LIMIT):
        assert client.get("/v1/staff/me").status_code == 200
    refused = client.post("/v1/api-keys", json={"name": "k", "scopes": ["cases:read"]})
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_staff_sessions_are_limited_per_person(
    client: TestClient, db: Session, at_minute: clock.FrozenClock
) -> None:
    ana = make_staff(db, role=Role.agent)
    bo = make_staff(db, role=Role.agent)
    login_as(client, db, ana)
    for _ in range(LIMIT):
        assert client.get("/v1/staff/me").status_code == 200
    assert client.get("/v1/staff/me").status_code == 429
    client.cookies.clear()
    login_as(client, db, bo)
    assert client.get("/v1/staff/me").status_code == 200


def test_health_is_not_limited_and_zero_turns_the_limit_off(
    settings: Settings, db: Session, at_minute: clock.FrozenClock
) -> None:
    settings.api_rate_limit = 0
    _, secret = make_api_key(db)
    db.commit()
    with TestClient(create_app(settings, run_worker=False)) as client:
        for _ in range(LIMIT + 3):
            response = client.get("/v1/policies", headers=auth_header(secret))
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers
        health = client.get("/v1/health")
        assert "RateLimit-Limit" not in health.headers


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = redis_client()  # skips without Redis
    prefix = f"vigil-test-api:{uuid.uuid4().hex}:"
    yield prefix
    RedisLimiter(client, prefix=prefix).delete_all()
    client.close()


def test_the_limit_holds_across_processes_through_redis(
    settings: Settings, db: Session, redis_prefix: str, at_minute: clock.FrozenClock
) -> None:
    """Two apps with their own Settings (as two ``vigil serve`` processes have) share one
    budget per key through Redis."""
    settings.redis_url = REDIS_URL
    settings.rate_limit_prefix = redis_prefix
    other_settings = settings.model_copy()
    _, secret = make_api_key(db)
    db.commit()
    with (
        TestClient(create_app(settings, run_worker=False)) as one,
        TestClient(create_app(other_settings, run_worker=False)) as two,
    ):
        codes = [
            c.get("/v1/policies", headers=auth_header(secret)).status_code
            for c in (one, two, one, two, one)
        ]
    assert codes == [200, 200, 200, 429, 429]


# --- security headers -----------------------------------------------------------------------


def test_security_headers_on_pages_and_api(client: TestClient, db: Session) -> None:
    _, secret = make_api_key(db)
    db.commit()
    for response in (
        client.get("/login"),
        client.get("/v1/policies", headers=auth_header(secret)),
        client.get("/v1/policies"),  # 401
    ):
        headers = response.headers
        assert headers["Cache-Control"] == "no-store"
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "camera=()" in headers["Permissions-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        # Plain HTTP (cookie_secure off): no HSTS, which would pin a host to HTTPS.
        assert "Strict-Transport-Security" not in headers
    static = client.get("/static/css/console.css")
    assert static.status_code == 200
    assert static.headers.get("Cache-Control") != "no-store"


def test_hsts_when_cookies_are_secure(settings: Settings) -> None:
    settings.cookie_secure = True
    with TestClient(create_app(settings, run_worker=False)) as client:
        response = client.get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")


def test_the_session_cookie_flags(client: TestClient, db: Session) -> None:
    make_staff(db, role=Role.agent, email="flags@staff.example")
    db.commit()
    response = client.post(
        "/login",
        data={"email": "flags@staff.example", "password": "correct horse battery"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
