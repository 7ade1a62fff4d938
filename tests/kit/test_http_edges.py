"""What every caller sees at the edge: request ids, size limits, the one error shape."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from vigil.kit.pagination import decode_cursor, encode_cursor


def test_request_id_is_echoed_when_safe_and_made_when_not(client: TestClient) -> None:
    ok = client.get("/v1/health", headers={"X-Request-ID": "abc-123"})
    assert ok.headers["x-request-id"] == "abc-123"
    unsafe = client.get("/v1/health", headers={"X-Request-ID": "<script>"})
    assert unsafe.headers["x-request-id"] != "<script>"
    assert len(unsafe.headers["x-request-id"]) == 32


def test_security_headers_on_every_response(client: TestClient) -> None:
    response = client.get("/login")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_declared_oversized_body_is_refused_with_413(client: TestClient) -> None:
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    response = client.put(
        "/v1/accounts/u-1",
        content=b"x" * (limit + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_streamed_oversized_body_is_refused_with_413(client: TestClient) -> None:
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    response = client.put(
        "/v1/accounts/u-1", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "payload_too_large"
    assert body["request_id"] == response.headers["x-request-id"]


def test_unknown_route_has_the_error_shape(client: TestClient) -> None:
    response = client.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message", "field", "request_id", "details"}


def test_cursor_round_trip_and_garbage_is_a_422_error() -> None:
    assert decode_cursor(encode_cursor([5, "2026-11-21"]), 2) == [5, "2026-11-21"]
    import pytest

    from vigil.kit.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        decode_cursor("%%%not-base64", 1)
    assert err.value.field == "cursor"


def test_an_unexpected_error_is_a_500_with_the_error_shape_and_request_id(
    app, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    def boom() -> None:
        raise RuntimeError("bug")

    app.add_api_route("/v1/test-boom", boom)
    response = client.get("/v1/test-boom", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert response.json()["request_id"] == "trace-me"
    assert response.headers["x-request-id"] == "trace-me"
    assert "bug" not in response.text


def test_values_the_database_cannot_hold_are_422_not_500(client: TestClient, db) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import auth_header, make_api_key

    _, secret = make_api_key(db)
    db.commit()
    headers = auth_header(secret)
    huge = 2**64
    assert client.get(f"/v1/cases/{huge}", headers=headers).status_code in (404, 422)
    nul = client.put(
        "/v1/accounts/u-nul",
        json={"side": "client", "attributes": {"note": "a\u0000b"}},
        headers=headers,
    )
    assert nul.status_code in (201, 422)  # SQLite stores NUL; PostgreSQL's JSONB refuses it
    if nul.status_code == 422:
        assert nul.json()["code"] == "invalid_value"
        assert client.get("/v1/accounts/u-nul", headers=headers).status_code == 404
    far = client.put(
        "/v1/accounts/u-far",
        json={"side": "client", "registered_at": "9999-12-31T23:59:59-14:00"},
        headers=headers,
    )
    assert far.status_code == 422
