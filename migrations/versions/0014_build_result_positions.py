"""Each CI result keeps its commit's position on the timeline, so a fold reads a range.

The position is the commit event's id (the order commits were stored in: push order), set
when the result or, later, its commit arrives. Results stored before this revision get it
from the events already there.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

BACKFILL = """
UPDATE build_results SET position = (
    SELECT events.id FROM events
    WHERE events.repo = build_results.repo AND events.sha = build_results.sha
      AND events.kind IN ('commit', 'revert')
    ORDER BY events.id LIMIT 1
)
"""


def upgrade() -> None:
    with op.batch_alter_table("build_results") as batch:
        batch.add_column(sa.Column("position", BIG_ID, nullable=True))
    op.create_index(
        "ix_build_results_placed", "build_results", ["repo", "branch", "check", "position"]
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index("ix_build_results_placed", table_name="build_results")
    with op.batch_alter_table("build_results") as batch:
        batch.drop_column("position")
