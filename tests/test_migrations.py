"""Migrations that carry data over: what a database held before is there after."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bench.databases import postgres_schema
from feed.db import Database
from feed.migrate import upgrade
from feed.models import AuthorAlias, BuildResult
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
