"""A partial index of the reverts still waiting for their commit; the index of reverts_id
holds the linked reverts only.

Every stored push asks whether its repository has a waiting revert (`reverts_id IS NULL`).
SQLite's statistics of the whole-table reverts_id index (a few rows a value) made that look
rare, so the planner walked every event without one: 25-35 ms of a 45-57 ms 20-commit push at
100,000 events. Now the waiting reverts have an index of their own and reverts_id's holds
only the rows that have one.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "reverts_ref IS NOT NULL AND reverts_id IS NULL"
LINKED = "reverts_id IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_events_reverts_id", table_name="events")
    op.create_index(
        "ix_events_reverts_id",
        "events",
        ["reverts_id"],
        sqlite_where=sa.text(LINKED),
        postgresql_where=sa.text(LINKED),
    )
    op.create_index(
        "ix_events_reverts_waiting",
        "events",
        ["repo", "reverts_ref"],
        sqlite_where=sa.text(WAITING),
        postgresql_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_events_reverts_waiting", table_name="events")
    op.drop_index("ix_events_reverts_id", table_name="events")
    op.create_index("ix_events_reverts_id", "events", ["reverts_id"])
