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

from feed.migrate import extension_schema

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As they were made here; 0023 replaced the two on `events`' text (`feed.search` has today's).
INDEXES = {
    "ix_events_title_trgm": ("events", "USING gin (lower(title) {ops}.gin_trgm_ops)"),
    "ix_events_body_trgm": ("events", "USING gin (lower(body) {ops}.gin_trgm_ops)"),
    "ix_event_files_path_trgm": ("event_files", "USING gin (path {ops}.gin_trgm_ops)"),
    "ix_events_repo_pattern": ("events", "(repo varchar_pattern_ops)"),
    "ix_events_branch_pattern": ("events", "(branch varchar_pattern_ops)"),
    "ix_events_actor_pattern": ("events", "(actor varchar_pattern_ops)"),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = extension_schema(bind, "pg_trgm")
    for name, (table, definition) in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {table} {definition.format(ops=schema)}")
    op.execute("ANALYZE events")
    op.execute("ANALYZE event_files")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
