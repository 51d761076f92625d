"""On PostgreSQL the index of file paths takes the pattern operator class.

A path glob is LIKE 'prefix%'; under a collation other than "C" (C.UTF-8 included) the
default class cannot serve it, so PostgreSQL used the trigram index, which costs more the
longer the prefix: 17 ms for `db/migrations/race_condition_*` at 200,000 files, 0.2 ms as a
range of this index. It replaces the old one, so ingest keeps one index of paths, not two.
SQLite's index is unchanged.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_event_files_path", table_name="event_files")
    op.create_index(
        "ix_event_files_path",
        "event_files",
        ["path", "event_id"],
        postgresql_ops={"path": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_event_files_path", table_name="event_files")
    op.create_index("ix_event_files_path", "event_files", ["path", "event_id"])
