"""Migrations that carry data over: what a database held before is there after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

from bench.databases import postgres_schema
from feed.db import Database
from feed.filters import Filter
from feed.migrate import alembic_config, upgrade
from feed.models import AuthorAlias, BuildResult, Event
from feed.search import SEARCH_TABLE, sqlite_create
from tests.conftest import PG_SCHEMA, PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need SHIPLOG_TEST_DATABASE_URL")
    with postgres_schema(PG_URL, f"{PG_SCHEMA}_migrations") as url:
        yield url


def test_author_aliases_are_learned_from_the_commits_stored_before(empty_url: str) -> None:
    db = Database(empty_url)
    upgrade(db.engine, "0009")
    insert = text(
        "INSERT INTO events (uid, kind, repo, actor, title, body, occurred_at, updated_at, "
        "ingested_at, data) VALUES (:uid, :kind, 'pallets/flask', :actor, 't', '', "
        "'2026-11-20 10:00:00', '2026-11-20 10:00:00', '2026-11-20 10:00:00', :data)"
    )
    rows = [
        ("commit", "davidism", {"author_name": "David Lord"}),
        ("revert", "davidism", {"author_name": "David Lord"}),  # the same pair once
        ("commit", "David Lord", {"author_name": "David Lord"}),  # a git name alone
        ("commit", "mara", {"author_name": None}),
        ("commit", None, {"author_name": "Nobody"}),
        ("release", "li", {"author_name": "Li Wei"}),  # only commits name their author
    ]
    with db.engine.begin() as connection:
        for number, (kind, actor, data) in enumerate(rows):
            connection.execute(
                insert,
                {"uid": f"u{number}", "kind": kind, "actor": actor, "data": json.dumps(data)},
            )
    upgrade(db.engine)
    with db.read() as session:
        assert set(session.execute(select(AuthorAlias.login, AuthorAlias.name))) == {
            ("davidism", "David Lord")
        }
    db.dispose()


def test_build_results_stored_before_get_their_commit_s_position(empty_url: str) -> None:
    db = Database(empty_url)
    upgrade(db.engine, "0013")
    with db.engine.begin() as connection:
        for uid, kind, sha in [("d", "deployment", "a" * 40), ("c", "commit", "a" * 40)]:
            connection.execute(
                text(
                    "INSERT INTO events (uid, kind, repo, title, body, occurred_at, updated_at, "
                    "ingested_at, data) VALUES (:uid, :kind, 'acme/api', 't', '', "
                    "'2026-11-20 10:00:00', '2026-11-20 10:00:00', '2026-11-20 10:00:00', '{}')"
                ),
                {"uid": uid, "kind": kind},
            )
            connection.execute(
                text("UPDATE events SET sha = :sha WHERE uid = :uid"), {"sha": sha, "uid": uid}
            )
        for key, sha in [("on-a", "a" * 40), ("on-b", "b" * 40)]:
            connection.execute(
                text(
                    'INSERT INTO build_results (key, repo, branch, "check", sha, source, '
                    "conclusion, passed, completed_at, received_at) VALUES (:key, 'acme/api', "
                    "'main', 'tests', :sha, 'status', 'success', :passed, "
                    "'2026-11-20 10:00:00', '2026-11-20 10:00:00')"
                ),
                {"key": key, "sha": sha, "passed": True},
            )
        commit_id = connection.scalar(text("SELECT id FROM events WHERE uid = 'c'"))
    upgrade(db.engine)
    with db.read() as session:
        positions = dict(session.execute(select(BuildResult.key, BuildResult.position)).all())
    assert positions == {"on-a": commit_id, "on-b": None}  # a deployment is no position
    db.dispose()


def test_the_search_index_is_made_again_without_positions_and_back(tmp_path: Path) -> None:
    """0024 makes SQLite's search table again keeping no positions (`detail=none`) and fills
    it from the events stored before; a downgrade makes 0005's again. Text is found both ways,
    and the events are untouched."""
    db = Database(f"sqlite:///{tmp_path / 'search.db'}")
    upgrade(db.engine, "0023")
    with db.engine.begin() as connection:
        for number, title in enumerate(["Session timeout on login", "cache warmed", 'say "hi"']):
            connection.execute(
                text(
                    "INSERT INTO events (uid, kind, repo, title, body, occurred_at, updated_at, "
                    "ingested_at, data) VALUES (:uid, 'commit', 'acme/api', :title, '', "
                    "'2026-11-20 10:00:00', '2026-11-20 10:00:00', '2026-11-20 10:00:00', '{}')"
                ),
                {"uid": f"u{number}", "title": title},
            )

    def made() -> str:
        with db.engine.connect() as connection:
            return connection.execute(
                text("SELECT sql FROM sqlite_schema WHERE name = :name"), {"name": SEARCH_TABLE}
            ).scalar_one()

    def found(q: str) -> list[str]:
        with db.read() as session:
            stmt = Filter(q=q).apply(select(Event.title), drive="q")
            return list(session.scalars(stmt))

    assert "detail='full'" in made()  # as 0005 made it: positions kept
    upgrade(db.engine, "0024")
    assert "detail='none'" in made()
    assert found("session timeout") == ["Session timeout on login"]
    assert found('"hi"') == ['say "hi"']
    with db.write() as session:  # the triggers keep it in step
        session.execute(text("UPDATE events SET title = 'cache cold' WHERE uid = 'u1'"))
    assert found("cache cold") == ["cache cold"] and found("warmed") == []
    command.downgrade(alembic_config(db.engine), "0023")
    assert "detail='full'" in made()
    assert found("session timeout") == ["Session timeout on login"]
    assert found("cache cold") == ["cache cold"]
    db.dispose()


def test_the_search_table_is_made_only_with_a_known_detail() -> None:
    with pytest.raises(ValueError, match="unknown detail 'column'"):
        sqlite_create("column")
