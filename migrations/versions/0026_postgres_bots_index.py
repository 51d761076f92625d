"""PostgreSQL: a partial index of the events by bot accounts, newest first, as SQLite's (0025).

No index finds `author=*[bot]` by its actor (a LIKE that starts with `%`): with other common
parts the planner walked the whole timeline and tested each event (bots' events touching
`src/*` with "session timeout", at a million events: 114 ms a request in the benchmark).
Its 82,000 entries take about a second to build at a million events (writes to `events`
wait meanwhile). The planner reads it whenever the filter's authors are that glob alone (the
statements of those shapes' pages: 4 to 13 ms). Its condition is the filter's own LIKE
(`postgres_bots_condition`): the planner must see that the query implies it.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

from feed.filters import BOTS_INDEX, postgres_bots_condition

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX {BOTS_INDEX} ON events (occurred_at, id) "
            f"WHERE {postgres_bots_condition()}"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX {BOTS_INDEX}")
