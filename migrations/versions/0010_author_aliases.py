"""Authors' logins and git names, so that `author=` finds a person by either.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The commits stored so far that name their author both ways: the login as the actor and
# the git name in `data`.
BACKFILL = """
INSERT INTO author_aliases (login, name)
SELECT DISTINCT actor, {name} FROM events
WHERE kind IN ('commit', 'revert') AND actor IS NOT NULL
  AND {name} IS NOT NULL AND {name} <> '' AND {name} <> actor AND length({name}) <= 200
ON CONFLICT DO NOTHING
"""


def upgrade() -> None:
    op.create_table(
        "author_aliases",
        sa.Column("login", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
    )
    op.create_index("ix_author_aliases_name", "author_aliases", ["name", "login"])
    sqlite = op.get_bind().dialect.name == "sqlite"
    name = "json_extract(data, '$.author_name')" if sqlite else "(data ->> 'author_name')"
    op.execute(BACKFILL.format(name=name))


def downgrade() -> None:
    op.drop_index("ix_author_aliases_name", table_name="author_aliases")
    op.drop_table("author_aliases")
