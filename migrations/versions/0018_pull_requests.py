"""Merged pull requests, kept as context for the commits they brought.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pull_requests",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text()),
        sa.Column("merge_sha", sa.String(64)),
        sa.Column("head_sha", sa.String(64)),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("repo", "number", name="uq_pull_requests_number"),
    )
    op.create_index("ix_pull_requests_merge_sha", "pull_requests", ["repo", "merge_sha"])
    op.create_index("ix_pull_requests_head_sha", "pull_requests", ["repo", "head_sha"])


def downgrade() -> None:
    op.drop_index("ix_pull_requests_head_sha", table_name="pull_requests")
    op.drop_index("ix_pull_requests_merge_sha", table_name="pull_requests")
    op.drop_table("pull_requests")
