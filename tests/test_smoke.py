from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from vigil.migrate import alembic_config


def _head() -> str:
    """The newest migration: the schema a fresh database is upgraded to."""
    return str(ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head())


def test_health_reports_database_and_schema(client: TestClient, backend: str) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == backend
    assert body["schema_revision"] == _head()
    assert response.headers["x-request-id"]
