"""Schema changes through Alembic, run from code (`shiplog db upgrade`) or by `shiplog run`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to `engine`, with no ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty one."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    """Whether the schema is at the newest revision; only reads."""
    heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    return current_revision(engine) in heads


def extension_schema(bind: Connection, name: str) -> str:
    """The schema PostgreSQL extension `name` lives in, creating it first if it is missing:
    in `public` when there is one, so that dropping a schema the tables live in (as the
    tests do) never drops it from under another."""
    find = text("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = :name")
    schema = bind.scalar(find, {"name": name})
    if schema is None:
        public = bind.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = 'public'"))
        bind.execute(text(f"CREATE EXTENSION {name}" + (" SCHEMA public" if public else "")))
        schema = bind.scalar(find, {"name": name})
    return schema
