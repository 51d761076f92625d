"""Indexes for every filter on PostgreSQL: trigrams for free text and paths, patterns for globs.

`q` stays a case-insensitive substring (`lower(title) LIKE '%...%'`): a `pg_trgm` GIN index
on `lower(title)` and on `lower(body)` finds the rows, as SQLite's FTS5 trigram index
(0005) does there. A path glob may start with `*`, so `event_files.path` gets one too.
Repository, branch and author globs are prefixes (`acme/*`), which a btree serves only with
the pattern operator class under a collation other than C. Then ANALYZE, so that the planner
knows the new expressions at once. SQLite needs none of these: its indexes serve LIKE
prefixes (`case_sensitive_like`), and `feed.db.Database.analyze` keeps `sqlite_stat1`.

The extension goes in the `public` schema when there is one, so that dropping a schema the
tables live in (as the tests do) never drops it from under another; downgrade keeps it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from feed.search import POSTGRES_INDEXES

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.scalar(
        text("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'")
    )
    if schema is None:
        public = bind.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = 'public'"))
        op.execute("CREATE EXTENSION pg_trgm" + (" SCHEMA public" if public else ""))
        schema = bind.scalar(
            text(
                "SELECT extnamespace::regnamespace::text FROM pg_extension "
                "WHERE extname = 'pg_trgm'"
            )
        )
    for name, (table, definition) in POSTGRES_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {table} {definition.format(ops=schema)}")
    op.execute("ANALYZE events")
    op.execute("ANALYZE event_files")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in POSTGRES_INDEXES:
        op.execute(f"DROP INDEX {name}")
