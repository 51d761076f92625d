"""Events by repository and kind in time order: a repository's deployments.

/health looks for a failed environment's last success among its repository's newest
deployments; by the repository's index that read every commit of a busy repository
(0.7 ms an environment at 200,000 events), by this one only its deployments.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_repo_kind_timeline", "events", ["repo", "kind", "occurred_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_repo_kind_timeline", table_name="events")
