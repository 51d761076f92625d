"""Two small partial indexes of (kind, uid): one of the breaks, one of the fixes.

/health and the digests' "still red" lines read the breaks that have no fix. By the kind
index that fetched every break and every fix from the table (about 2,000 rows at 1,000
repositories: 4 ms on SQLite, 8 ms on PostgreSQL, growing with the history); these indexes
answer it alone, and only the breaks still open are read whole.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BREAKS = "kind = 'build_broken'"
FIXES = "kind = 'build_fixed'"


def upgrade() -> None:
    op.create_index(
        "ix_events_breaks",
        "events",
        ["kind", "uid"],
        sqlite_where=sa.text(BREAKS),
        postgresql_where=sa.text(BREAKS),
        postgresql_include=["id"],
    )
    op.create_index(
        "ix_events_fixes",
        "events",
        ["kind", "uid"],
        sqlite_where=sa.text(FIXES),
        postgresql_where=sa.text(FIXES),
    )


def downgrade() -> None:
    op.drop_index("ix_events_fixes", table_name="events")
    op.drop_index("ix_events_breaks", table_name="events")
