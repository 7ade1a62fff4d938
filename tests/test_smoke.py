from fastapi.testclient import TestClient


def test_health_reports_database_and_schema(client: TestClient, backend: str) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == backend
    assert body["schema_revision"] == "0001"
    assert response.headers["x-request-id"]
