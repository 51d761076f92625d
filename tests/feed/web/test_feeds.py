"""/feed.atom, /feed.rss and /feed.json over HTTP: filters, validity, caching headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from flask import Flask

from app import create_app
from feed.db import Database
from feed.state import shiplog_state
from tests.conftest import make_event

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
FEEDS = {
    "/feed.atom": "application/atom+xml; charset=utf-8",
    "/feed.rss": "application/rss+xml; charset=utf-8",
    "/feed.json": "application/feed+json; charset=utf-8",
}


def seed(db: Database, count: int = 5) -> None:
    with db.write() as session:
        for index in range(count):
            make_event(
                session,
                title=f"Change {index}",
                occurred_at=T0 + timedelta(minutes=index),
                repo="acme/api" if index % 2 else "acme/web",
                body="<script>alert(1)</script> fine **text**",
            )


def entries(response) -> list[dict]:
    if response.content_type.startswith("application/feed+json"):
        return json.loads(response.data)["items"]
    parsed = feedparser.parse(response.data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed.entries


@pytest.mark.parametrize("path", FEEDS)
def test_each_feed_has_its_registered_type_and_every_entry(client, db, path) -> None:
    seed(db)
    response = client.get(path)
    assert response.status_code == 200
    assert response.content_type == FEEDS[path]
    assert [e["title"] for e in entries(response)] == [
        f"acme/{'api' if i % 2 else 'web'}: Change {i}" for i in range(4, -1, -1)
    ]


@pytest.mark.parametrize("path", FEEDS)
def test_two_requests_without_new_events_are_byte_identical(client, db, path) -> None:
    seed(db)
    first, second = client.get(path), client.get(path)
    assert first.data == second.data
    assert first.headers["ETag"] == second.headers["ETag"]
    assert first.headers["Last-Modified"] == "Sun, 01 Nov 2026 09:04:00 GMT"


@pytest.mark.parametrize("path", FEEDS)
def test_a_conditional_request_gets_304_until_something_changes(client, db, path) -> None:
    seed(db)
    first = client.get(path)
    etag = first.headers["ETag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    since = client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    with db.write() as session:
        make_event(session, title="New one", occurred_at=T0 + timedelta(hours=1))
    fresh = client.get(path, headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert "New one" in entries(fresh)[0]["title"]


@pytest.mark.parametrize("path", FEEDS)
def test_feeds_take_the_page_filters(client, db, path) -> None:
    seed(db)
    titles = [e["title"] for e in entries(client.get(f"{path}?repo=acme/api"))]
    assert titles == ["acme/api: Change 3", "acme/api: Change 1"]


@pytest.mark.parametrize("path", FEEDS)
def test_limit_defaults_to_50_and_stops_at_200(client, db, path) -> None:
    seed(db, 60)
    assert len(entries(client.get(path))) == 50
    assert len(entries(client.get(f"{path}?limit=3"))) == 3
    for bad in ("201", "0", "-1", "ten"):
        response = client.get(f"{path}?limit={bad}")
        assert response.status_code == 400
        assert "limit: expected a whole number from 1 to 200" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", FEEDS)
@pytest.mark.parametrize("query", ["kind=nope", "cursor=%%%", "repo=bad", "colour=red"])
def test_bad_filters_get_400_with_a_message(client, path, query) -> None:
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert response.content_type.startswith("text/plain")
    assert response.get_data(as_text=True).strip()


def test_self_links_are_absolute_on_the_base_url(app_config, isolated_env) -> None:
    app: Flask = create_app({**app_config, "BASE_URL": "https://shiplog.example.com/"})
    seed(shiplog_state(app).db)
    client = app.test_client()
    atom = feedparser.parse(client.get("/feed.atom?kind=commit").data)
    self_link = next(link.href for link in atom.feed.links if link.rel == "self")
    assert self_link == "https://shiplog.example.com/feed.atom?kind=commit"
    assert atom.entries[0].id.startswith("tag:shiplog.example.com,2026:commit:acme/")
    assert atom.entries[0].link.startswith("https://shiplog.example.com/events/")
    document = json.loads(client.get("/feed.json").data)
    assert document["feed_url"] == "https://shiplog.example.com/feed.json"
    shiplog_state(app).db.dispose()


def test_without_a_base_url_links_use_the_request_url(client, db) -> None:
    seed(db, 1)
    atom = feedparser.parse(client.get("/feed.atom", base_url="https://ops.example:8443").data)
    assert next(link.href for link in atom.feed.links if link.rel == "self") == (
        "https://ops.example:8443/feed.atom"
    )


def test_entry_ids_never_change_between_regenerations(client, db) -> None:
    seed(db, 3)
    before = {e.id for e in entries(client.get("/feed.atom"))}
    with db.write() as session:
        make_event(session, occurred_at=T0 + timedelta(days=1))
    after = {e.id for e in entries(client.get("/feed.atom"))}
    assert before < after and len(after - before) == 1


def test_the_rss_and_atom_ids_are_the_same(client, db) -> None:
    seed(db, 3)
    atom_ids = [e.id for e in entries(client.get("/feed.atom"))]
    rss_ids = [e.id for e in entries(client.get("/feed.rss"))]
    json_ids = [e["id"] for e in entries(client.get("/feed.json"))]
    assert atom_ids == rss_ids == json_ids


def test_next_page_links_walk_the_whole_feed(client, db) -> None:
    seed(db, 7)
    document = json.loads(client.get("/feed.json?limit=3").data)
    titles = [item["title"] for item in document["items"]]
    while "next_url" in document:
        document = json.loads(client.get(document["next_url"]).data)
        titles += [item["title"] for item in document["items"]]
    assert len(titles) == 7 and len(set(titles)) == 7


def test_an_empty_feed_is_valid(client) -> None:
    for path in FEEDS:
        response = client.get(path)
        assert response.status_code == 200
        assert entries(response) == []


def test_a_filter_names_one_feed_in_any_order_of_its_arguments(app, client, db) -> None:
    seed(db)
    orders = ["kind=commit,revert", "kind=revert,commit", "kind=revert&kind=commit&kind=revert"]
    for path in FEEDS:
        answers = [client.get(f"{path}?{query}") for query in orders]
        assert len({answer.data for answer in answers}) == 1, path
        assert len({answer.headers["ETag"] for answer in answers}) == 1, path
    assert len(shiplog_state(app).feed_cache) == len(FEEDS)  # one each
    atom = feedparser.parse(client.get("/feed.atom?kind=revert,commit&repo=acme/web").data)
    assert atom.feed.id == "tag:localhost,2026:feed?repo=acme/web&kind=commit&kind=revert"
    assert atom.feed.title == "shiplog: repo acme/web · kind commit, revert"
    self_link = next(link.href for link in atom.feed.links if link.rel == "self")
    assert self_link == "http://localhost/feed.atom?repo=acme/web&kind=commit&kind=revert"
    document = json.loads(client.get("/feed.json?q=a b&kind=revert,commit&limit=2").data)
    assert (
        document["feed_url"] == "http://localhost/feed.json?kind=commit&kind=revert&q=a%20b&limit=2"
    )
    assert feedparser.parse(client.get("/feed.atom").data).feed.id == "tag:localhost,2026:feed"


@pytest.mark.parametrize("path", [*FEEDS, "/status.atom"])
def test_an_empty_feed_is_the_same_bytes_and_has_no_last_modified(client, db, path) -> None:
    first, second = client.get(path), client.get(path)
    assert first.data == second.data
    assert "Last-Modified" not in first.headers  # its date tells nothing of its data
    assert client.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    if path == "/status.atom":
        return
    # A backfill brings an event older than any date the empty feed could have given: a
    # reader that was given no date asks by ETag alone, and gets it.
    with db.write() as session:
        make_event(session, title="From the backfill", occurred_at=T0 - timedelta(days=400))
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert [e["title"] for e in entries(again)] == ["acme/api: From the backfill"]
