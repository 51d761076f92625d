"""Feeds are cached by the events they show: a repeat costs no rendering, and a change
renders again exactly the feeds whose page it changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import feedparser
from flask import Flask
from sqlalchemy import delete

from feed.db import Database
from feed.models import Event
from feed.state import shiplog_state
from feed.store import upsert_event
from feed.syndication_cache import Entry, FeedCache
from tests.conftest import make_event, make_record

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def outcomes(app: Flask) -> dict[str, float]:
    registry = shiplog_state(app).metrics.registry
    return {
        outcome: registry.get_sample_value("shiplog_feed_responses_total", {"outcome": outcome})
        or 0.0
        for outcome in ("hit", "revalidated", "rendered")
    }


def titles(body: bytes) -> list[str]:
    return [entry.title for entry in feedparser.parse(body).entries]


def seed(db: Database) -> None:
    with db.write() as session:
        make_event(session, repo="acme/api", title="api one", occurred_at=NOW)
        make_event(session, repo="acme/web", title="web one", occurred_at=NOW)


def test_a_repeated_feed_is_not_rendered_again(app, client, db) -> None:
    seed(db)
    first = client.get("/feed.atom?repo=acme/api")
    second = client.get("/feed.atom?repo=acme/api")
    assert second.data == first.data
    assert second.headers["ETag"] == first.headers["ETag"]
    counted = outcomes(app)
    assert counted["rendered"] == 1
    # SQLite tells that nothing was written, so no query either; PostgreSQL checks the page.
    repeat = "hit" if db.engine.dialect.name == "sqlite" else "revalidated"
    assert counted[repeat] == 1


def test_a_new_event_renders_only_the_feeds_it_belongs_to(app, client, db) -> None:
    seed(db)
    api_before = client.get("/feed.atom?repo=acme/api")
    web_before = client.get("/feed.atom?repo=acme/web")
    other = Database(db.url)  # another connection, as the worker's would be
    with other.write() as session:
        make_event(session, repo="acme/api", title="api two", occurred_at=NOW + timedelta(1))
    other.dispose()

    api_after = client.get("/feed.atom?repo=acme/api")
    web_after = client.get("/feed.atom?repo=acme/web")
    assert titles(api_after.data)[0] == "acme/api: api two"
    assert api_after.headers["ETag"] != api_before.headers["ETag"]
    assert web_after.data == web_before.data
    counted = outcomes(app)
    assert counted["rendered"] == 3  # two first renders, then the api feed only
    assert counted["revalidated"] == 1


def test_an_edit_and_a_deletion_show_at_once(app, client, db) -> None:
    with db.write() as session:
        kept = make_event(session, title="old words", occurred_at=NOW)
        gone = make_event(session, title="to be deleted", occurred_at=NOW - timedelta(1))
    assert titles(client.get("/feed.atom").data) == [
        "acme/api: old words",
        "acme/api: to be deleted",
    ]
    with db.write() as session:
        edited = make_record(
            uid=kept.uid, title="new words", occurred_at=NOW, updated_at=NOW + timedelta(hours=1)
        )
        upsert_event(session, edited, replace=True)
        session.execute(delete(Event).where(Event.uid == gone.uid))
    assert titles(client.get("/feed.atom").data) == ["acme/api: new words"]


def test_the_cached_feed_answers_304_to_its_etag(client, db) -> None:
    seed(db)
    etag = client.get("/feed.rss").headers["ETag"]
    assert client.get("/feed.rss", headers={"If-None-Match": etag}).status_code == 304
    with db.write() as session:
        make_event(session, title="newer", occurred_at=NOW + timedelta(1))
    assert client.get("/feed.rss", headers={"If-None-Match": etag}).status_code == 200


def test_each_format_filter_page_and_host_is_its_own_entry(client, db) -> None:
    seed(db)
    atom = client.get("/feed.atom").data
    assert client.get("/feed.rss").data != atom
    assert client.get("/feed.atom?limit=1").data != atom
    other_host = client.get("/feed.atom", base_url="https://status.example.org").data
    assert b"status.example.org" in other_host
    assert b"status.example.org" not in client.get("/feed.atom").data


def test_the_cache_keeps_to_its_size_dropping_the_least_recently_used() -> None:
    cache = FeedCache(max_bytes=250)

    def entry(size: int) -> Entry:
        return Entry.of("mark", b"x" * size, "text/plain", NOW, None)

    cache.put("a", entry(100))
    cache.put("b", entry(100))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", entry(100))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    cache.put("huge", entry(251))
    assert cache.get("huge") is None and len(cache) == 2
