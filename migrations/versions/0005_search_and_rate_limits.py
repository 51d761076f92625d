"""Free-text search index (SQLite FTS5, trigram) and each repository's API budget.

The search index is kept by triggers on `events`. A later SQLite migration that rebuilds
`events` in batch mode drops those triggers: run `feed.search.sqlite_create()` again after it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from feed.search import SQLITE_DROP, sqlite_create

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("repos") as batch:
        batch.add_column(
            sa.Column("api_requests", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("rate_limit_remaining", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("rate_limit_reset_at", sa.DateTime(timezone=True), nullable=True)
        )
    if op.get_bind().dialect.name == "sqlite":
        for statement in sqlite_create("full"):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DROP:
            op.execute(statement)
    with op.batch_alter_table("repos") as batch:
        batch.drop_column("rate_limit_reset_at")
        batch.drop_column("rate_limit_remaining")
        batch.drop_column("api_requests")
