"""Incidents by when they were resolved: the status page reads the 90 days' incidents (those
still open or resolved since the window began) through this index.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_incidents_resolved", "incidents", ["resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_incidents_resolved", table_name="incidents")
