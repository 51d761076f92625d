"""Job lanes and partitions, alert latency, and chat channels' circuit breakers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("lane", sa.String(16), nullable=False, server_default="github"))
        jobs.add_column(sa.Column("partition", sa.String(64), nullable=True))
        jobs.add_column(sa.Column("ready_at", TIMESTAMP, nullable=True))
        jobs.add_column(sa.Column("latency_seconds", sa.Float(), nullable=True))
    # Jobs made before lanes: digests and their messages wait in the digest lane, other
    # messages are alerts; the rest is GitHub work, the default.
    op.execute(
        "UPDATE jobs SET lane = 'digests' WHERE kind = 'digest' "
        "OR (kind = 'deliver' AND key LIKE 'deliver:%:digest:%')"
    )
    op.execute("UPDATE jobs SET lane = 'alerts' WHERE kind = 'deliver' AND lane = 'github'")
    op.create_index("ix_jobs_lane_due", "jobs", ["state", "lane", "due_at", "id"])
    op.create_index("ix_jobs_partition", "jobs", ["partition", "state", "id"])
    with op.batch_alter_table("channels") as channels:
        channels.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        channels.add_column(sa.Column("circuit_until", TIMESTAMP, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channels") as channels:
        channels.drop_column("circuit_until")
        channels.drop_column("failures")
    op.drop_index("ix_jobs_partition", table_name="jobs")
    op.drop_index("ix_jobs_lane_due", table_name="jobs")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("latency_seconds")
        jobs.drop_column("ready_at")
        jobs.drop_column("partition")
        jobs.drop_column("lane")
