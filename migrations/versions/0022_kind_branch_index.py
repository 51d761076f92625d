"""An index of (kind, branch, occurred_at, id).

A kind and a branch glob that each match many events but rarely meet (`kind=deployment&
branch=feature/*`: deployments carry no branch) had either part's index walked to the end:
40,000 deployments read at a million events on SQLite, the same on PostgreSQL. A range of
this index finds the few, or none, at once. On PostgreSQL the branch takes the pattern
operator class, so a glob such as `feature/*` is a range under any collation.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_events_kind_branch",
        "events",
        ["kind", "branch", "occurred_at", "id"],
        postgresql_ops={"branch": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_events_kind_branch", table_name="events")
