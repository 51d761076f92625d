"""Finer planner statistics on PostgreSQL for the columns and expressions filters test.

With the default sample, the estimate for rare text (`lower(title) LIKE '%memory leak%'`)
was 15 times too high at 100,000 events, and PostgreSQL walked the whole timeline instead
of the trigram indexes (0.8 s against 11 ms). A larger sample keeps every title, repository,
author and path pattern in the most-common-values list, which LIKE estimates read.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TARGET = 1000  # PostgreSQL's default is 100
STATEMENTS = (
    "ALTER INDEX ix_events_title_trgm ALTER COLUMN 1 SET STATISTICS {target}",
    "ALTER INDEX ix_events_body_trgm ALTER COLUMN 1 SET STATISTICS {target}",
    "ALTER TABLE events ALTER COLUMN repo SET STATISTICS {target}",
    "ALTER TABLE events ALTER COLUMN branch SET STATISTICS {target}",
    "ALTER TABLE events ALTER COLUMN actor SET STATISTICS {target}",
    "ALTER TABLE event_files ALTER COLUMN path SET STATISTICS {target}",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in STATEMENTS:
        op.execute(statement.format(target=TARGET))
    op.execute("ANALYZE events")
    op.execute("ANALYZE event_files")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in STATEMENTS:
        op.execute(statement.format(target=-1))
