"""API sync state, due jobs, patch status per file, and revert links.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("diff_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("reverts_ref", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reverts_id", BIG_ID, nullable=True))
        batch.create_foreign_key(
            "fk_events_reverts_id", "events", ["reverts_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_events_reverts_id", ["reverts_id"])
        batch.create_index("ix_events_repo_reverts_ref", ["repo", "reverts_ref"])
    with op.batch_alter_table("event_files") as batch:
        batch.add_column(
            sa.Column("patch_status", sa.String(16), nullable=False, server_default="pending")
        )
    with op.batch_alter_table("repos") as batch:
        batch.add_column(sa.Column("sync_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("sync_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_synced_at", TIMESTAMP, nullable=True))

    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("resource", sa.String(300), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("cursor", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repo", "resource"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(1200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=False),
        sa.Column("locked_until", TIMESTAMP, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_jobs_due", "jobs", ["state", "due_at"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("sync_state")
    with op.batch_alter_table("repos") as batch:
        batch.drop_column("last_synced_at")
        batch.drop_column("sync_reason")
        batch.drop_column("sync_status")
    with op.batch_alter_table("event_files") as batch:
        batch.drop_column("patch_status")
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_repo_reverts_ref")
        batch.drop_index("ix_events_reverts_id")
        batch.drop_constraint("fk_events_reverts_id", type_="foreignkey")
        batch.drop_column("reverts_id")
        batch.drop_column("reverts_ref")
        batch.drop_column("diff_state")
