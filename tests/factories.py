"""Shared test factories: staff users, console logins and API keys.

The ``db`` fixture and the app under test use different connections, so anything the app must
see has to be committed first. ``make_staff`` and ``make_api_key`` only flush (call
``db.commit()`` before the client uses them); ``login_as`` commits, because it is only ever
used to call the app.

Typical use::

    user = make_staff(db, role=Role.specialist)
    csrf = login_as(client, db, user)            # commits, sets the session cookie
    client.get("/v1/staff/me")

    key, secret = make_api_key(db, scopes=["cases:create"])
    db.commit()
    client.post("/v1/cases", json=..., headers=auth_header(secret))
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import timedelta
from functools import lru_cache

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from vigil.auth import passwords
from vigil.auth import service as auth_service
from vigil.auth.models import ApiKey, StaffUser
from vigil.auth.permissions import API_KEY_SCOPES, Role
from vigil.config import Settings
from vigil.db import transaction
from vigil.kit import clock

DEFAULT_PASSWORD = "correct horse battery"

_counter = itertools.count(1)
# Plain passwords of users made here, so ``login_as`` can log them in without being told.
_passwords: dict[str, str] = {}


@lru_cache(maxsize=32)
def _hash(password: str) -> str:
    # argon2 is slow on purpose; hashing each distinct test password once keeps suites fast.
    return passwords.hash_password(password)


def make_staff(
    db: Session,
    role: Role = Role.agent,
    email: str | None = None,
    name: str | None = None,
    password: str = DEFAULT_PASSWORD,
    languages: Iterable[str] = ("en",),
    active: bool = True,
) -> StaffUser:
    """Insert a staff member (flushed, not committed). Writes no audit record, so tests that
    count audit records see only what the code under test wrote."""
    n = next(_counter)
    email = (email or f"{role.value}{n}@staff.example").lower()
    user = StaffUser(
        email=email,
        name=name or f"{role.value.replace('_', ' ').title()} {n}",
        role=role,
        password_hash=_hash(password),
        languages=list(languages),
        active=active,
    )
    db.add(user)
    db.flush()
    _passwords[email] = password
    return user


def login_as(
    client: TestClient,
    db_or_factory: Session | sessionmaker[Session],
    user: StaffUser,
    password: str | None = None,
) -> str:
    """Log ``user`` in through ``auth.service.login``, commit, put the session cookie on
    ``client`` and return the session's CSRF token (for console form posts).

    With a ``Session`` (the ``db`` fixture) everything pending in it is committed too; with a
    ``sessionmaker`` the user must already be committed."""
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    secret = password if password is not None else _passwords.get(user.email, DEFAULT_PASSWORD)
    ttl = timedelta(hours=settings.session_ttl_hours)
    if isinstance(db_or_factory, Session):
        issued = auth_service.login(db_or_factory, user.email, secret, ttl=ttl)
        db_or_factory.commit()
    else:
        with transaction(db_or_factory) as session:
            issued = auth_service.login(session, user.email, secret, ttl=ttl)
    client.cookies.set(settings.session_cookie, issued.token)
    # Cookie-authenticated writes to /v1 must carry the session's CSRF token.
    client.headers["X-CSRF-Token"] = issued.csrf_token
    return issued.csrf_token


def logout(client: TestClient) -> None:
    """Drop the session cookie from ``client`` (the server-side session stays)."""
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    client.cookies.delete(settings.session_cookie)
    client.headers.pop("X-CSRF-Token", None)


def make_api_key(
    db: Session,
    scopes: Iterable[str] | None = None,
    name: str | None = None,
) -> tuple[ApiKey, str]:
    """Insert an API key (flushed, not committed; no audit record) and return it with its
    secret. ``scopes`` defaults to every scope an API key may hold; they are not checked, so a
    test can also make a key that holds a scope keys are normally refused."""
    chosen = list(scopes) if scopes is not None else sorted(s.value for s in API_KEY_SCOPES)
    secret = auth_service.new_api_key_secret()
    key = ApiKey(
        name=name or f"marketplace key {next(_counter)}",
        prefix=auth_service.key_prefix(secret),
        key_hash=auth_service.digest(secret),
        scopes=sorted(set(chosen)),
        created_at=clock.now(),
    )
    db.add(key)
    db.flush()
    return key, secret


def auth_header(secret: str) -> dict[str, str]:
    """Headers that authenticate a request with an API key secret."""
    return {"Authorization": f"Bearer {secret}"}
