"""PostgreSQL: each text index holds the event's kind, repository, branch and actor too.

A kind and text that each match tens of thousands of events but rarely meet
(`kind=deployment&q=session timeout` at a million events) had one side read to its end: the
40,000 deployments walked, each one's text read (200 ms), or the text's 47,000 title and
23,000 body matches gathered and checked for the kind. A GIN index of the trigrams beside
those columns (`btree_gin`) intersects both inside the index: 16 ms for the titles. GIN
serves any subset of its columns, so these replace 0012's two trigram indexes and still
serve text alone. The extension goes in `public` when there is one, as pg_trgm does (0012);
downgrade keeps it. The text column keeps 0013's finer statistics.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

from feed.migrate import extension_schema

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TARGET = 1000  # 0013's
WITH = "kind, repo, branch, actor"
NEW = {
    "ix_events_title_search": f"USING gin ({WITH}, lower(title) {{ops}}.gin_trgm_ops)",
    "ix_events_body_search": f"USING gin ({WITH}, lower(body) {{ops}}.gin_trgm_ops)",
}
OLD = {
    "ix_events_title_trgm": "USING gin (lower(title) {ops}.gin_trgm_ops)",
    "ix_events_body_trgm": "USING gin (lower(body) {ops}.gin_trgm_ops)",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    extension_schema(bind, "btree_gin")
    _replace(OLD, NEW, extension_schema(bind, "pg_trgm"), column=5)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _replace(NEW, OLD, extension_schema(bind, "pg_trgm"), column=1)


def _replace(old: dict[str, str], new: dict[str, str], ops: str, *, column: int) -> None:
    for name, definition in new.items():
        op.execute(f"CREATE INDEX {name} ON events {definition.format(ops=ops)}")
        op.execute(f"ALTER INDEX {name} ALTER COLUMN {column} SET STATISTICS {TARGET}")
    for name in old:
        op.execute(f"DROP INDEX {name}")
    op.execute("ANALYZE events")
