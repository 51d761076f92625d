"""CI results per commit, check and branch, from which build health is folded.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "build_results",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(600), nullable=False),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("check", sa.String(255), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("conclusion", sa.String(32), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("url", sa.Text()),
        sa.Column("completed_at", TIMESTAMP, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_build_results_check", "build_results", ["repo", "branch", "check", "sha"])
    op.create_index("ix_build_results_sha", "build_results", ["repo", "sha"])


def downgrade() -> None:
    op.drop_index("ix_build_results_sha", table_name="build_results")
    op.drop_index("ix_build_results_check", table_name="build_results")
    op.drop_table("build_results")
