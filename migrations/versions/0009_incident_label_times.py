"""When each of an incident's labels was first seen, so that only a label added after a
command wins over it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Empty for incidents from before: their labels count from when they were last seen,
    # as they did then, until a delivery shows a label added or removed.
    with op.batch_alter_table("incidents") as incidents:
        incidents.add_column(sa.Column("label_times", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as incidents:
        incidents.drop_column("label_times")
