"""analytics views for analysts who work in SQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Hand-written (views are not tracked by autogenerate): the SQL lives in
``vigil.analytics.views`` and is rendered for the database being migrated.
"""

from collections.abc import Sequence

from alembic import op

from vigil.analytics import views

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in views.drop_statements() + views.create_statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    for statement in views.drop_statements():
        op.execute(statement)
