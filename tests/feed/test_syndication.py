"""Atom, RSS and JSON Feed from events: valid, stable, and inert."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import feedparser
import pytest

from feed import syndication
from feed.models import Event, Incident
from tests.validators import feed_problems, json_feed_problems, needs_validators

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
HOSTILE_BODY = '<script>alert("x")</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>'


def event(number: int, **overrides) -> Event:
    values = {
        "id": number,
        "uid": f"incident:acme/api#{number}" if number % 2 else f"commit:acme/api:{number:040x}",
        "kind": "incident_opened" if number % 2 else "commit",
        "repo": "acme/api",
        "branch": None if number % 2 else "main",
        "actor": "mara",
        "sha": None if number % 2 else f"{number:040x}",
        "title": f"Event <{number}> & more",
        "body": HOSTILE_BODY,
        "url": f"https://github.com/acme/api/commit/{number:040x}",
        "occurred_at": T0 + timedelta(minutes=number),
        "updated_at": T0 + timedelta(minutes=number, seconds=30),
        "data": {},
    }
    values.update(overrides)
    return Event(**values)


def meta(**overrides) -> syndication.FeedMeta:
    values = {
        "title": "shiplog: all activity",
        "description": "Everything.",
        "self_url": "https://shiplog.example/feed.atom",
        "home_url": "https://shiplog.example/",
        "feed_key": "feed",
        "tag_authority": "shiplog.example",
        "event_url": lambda e: f"https://shiplog.example/events/{e.id}",
    }
    values.update(overrides)
    return syndication.FeedMeta(**values)


def incident(number: int, **overrides) -> Incident:
    values = {
        "id": number,
        "uid": f"incident:acme/api#{number}",
        "repo": "acme/api",
        "number": number,
        "title": f"Checkout errors {number}",
        "status": "identified",
        "severity": "sev2",
        "components": ["api"],
        "opened_at": T0 + timedelta(hours=number),
        "updated_at": T0 + timedelta(hours=number, minutes=5),
    }
    values.update(overrides)
    return Incident(**values)


EVENTS = [event(3), event(2), event(1)]
# A deployment with no creator, a release without author: nobody to name.
NOBODY = [
    event(5, uid="deployment:acme/api:5", kind="deployment", actor=None),
    event(4, uid="release:acme/api:v4", kind="release", actor=None, sha=None),
]
INCIDENTS = [incident(2), incident(1, status="resolved")]
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.mark.parametrize("render", [syndication.atom, syndication.rss])
def test_xml_feeds_parse_cleanly_with_every_entry(render) -> None:
    parsed = feedparser.parse(render(EVENTS, meta()))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert [entry.id for entry in parsed.entries] == [
        "tag:shiplog.example,2026:incident:acme/api%233",
        f"tag:shiplog.example,2026:commit:acme/api:{2:040x}",
        "tag:shiplog.example,2026:incident:acme/api%231",
    ]
    assert parsed.entries[0].title == "acme/api: Event <3> & more"
    assert parsed.entries[0].link == "https://shiplog.example/events/3"


def test_json_feed_is_version_1_1_with_every_entry() -> None:
    document = json.loads(syndication.json_feed(EVENTS, meta(next_url="https://x.example/n")))
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["next_url"] == "https://x.example/n"
    item = document["items"][0]
    assert item["id"] == "tag:shiplog.example,2026:incident:acme/api%233"
    assert item["date_published"] == "2026-11-01T09:03:00Z"
    assert item["date_modified"] == "2026-11-01T09:03:30Z"
    assert item["authors"] == [{"name": "mara"}]


@pytest.mark.parametrize("render", [syndication.atom, syndication.rss, syndication.json_feed])
def test_the_same_events_give_the_same_bytes(render) -> None:
    assert render(EVENTS, meta()) == render([event(3), event(2), event(1)], meta())


@pytest.mark.parametrize("render", [syndication.atom, syndication.rss, syndication.json_feed])
def test_hostile_text_is_inert_in_every_feed(render) -> None:
    # Read the raw document (XML entities undone), not what a sanitizing parser shows.
    text = html.unescape(render(EVENTS, meta()).decode()).lower()
    assert "alert" not in text
    assert "<script" not in text
    assert "javascript:" not in text
    assert "onerror" not in text


def test_feed_updated_is_the_newest_entry_not_the_clock() -> None:
    parsed = feedparser.parse(syndication.atom(EVENTS, meta()))
    assert parsed.feed.updated == "2026-11-01T09:03:30+00:00"
    rss = feedparser.parse(syndication.rss(EVENTS, meta()))
    assert "09:03:30" in rss.feed.updated


def test_an_empty_feed_is_valid_and_stable() -> None:
    first = syndication.atom([], meta())
    assert feedparser.parse(first).bozo == 0
    assert first == syndication.atom([], meta())


def test_an_empty_feed_says_it_was_updated_when_shiplog_began_not_in_1970() -> None:
    for body in (syndication.atom([], meta()), syndication.status_atom([], {}, meta())):
        assert feedparser.parse(body).feed.updated == "2026-11-26T00:00:00+00:00"
    rss = feedparser.parse(syndication.rss([], meta()))
    assert rss.feed.updated == "Thu, 26 Nov 2026 00:00:00 +0000"
    assert syndication.last_modified_of([]) is None


@needs_validators
def test_empty_feeds_pass_the_w3c_validator() -> None:
    documents = [
        (syndication.atom([], meta()), "application/atom+xml"),
        (syndication.rss([], meta()), "application/rss+xml"),
        (syndication.status_atom([], {}, meta(feed_key="status")), "application/atom+xml"),
    ]
    for body, content_type in documents:
        assert feed_problems(body, content_type, "https://shiplog.example/feed.atom") == []
    assert json_feed_problems(syndication.json_feed([], meta())) == []


def test_atom_links_the_next_page() -> None:
    parsed = feedparser.parse(syndication.atom(EVENTS, meta(next_url="https://x.example/n")))
    assert {"rel": "next", "href": "https://x.example/n"}.items() <= {
        k: v for link in parsed.feed.links if link.rel == "next" for k, v in link.items()
    }.items()


def test_entry_html_links_github_only_over_http() -> None:
    assert "View on GitHub" in syndication.entry_html(event(2))
    assert "View on GitHub" not in syndication.entry_html(event(2, url="javascript:alert(1)"))


def test_every_atom_entry_has_an_author_in_itself_or_its_feed() -> None:
    for body in (
        syndication.atom([*NOBODY, *EVENTS], meta()),
        syndication.status_atom(INCIDENTS, {}, meta(feed_key="status")),
    ):
        root = ET.fromstring(body)
        assert root.findtext(f"{ATOM}author/{ATOM}name") == "shiplog"
        names = [e.findtext(f"{ATOM}author/{ATOM}name") for e in root.iter(f"{ATOM}entry")]
        assert "shiplog" not in names  # an entry names its own author only when known
    named = ET.fromstring(syndication.atom(EVENTS, meta()))
    assert [e.findtext(f"{ATOM}author/{ATOM}name") for e in named.iter(f"{ATOM}entry")] == [
        "mara"
    ] * 3


def test_json_feed_sends_authors_and_the_1_0_author_beside_them() -> None:
    document = json.loads(syndication.json_feed([*NOBODY, *EVENTS], meta()))
    assert document["authors"] == [{"name": "shiplog"}]
    assert document["author"] == {"name": "shiplog"}
    named = document["items"][2]
    assert (named["authors"], named["author"]) == ([{"name": "mara"}], {"name": "mara"})
    assert "author" not in document["items"][0] and "authors" not in document["items"][0]


@needs_validators
def test_the_feeds_pass_the_w3c_validator_and_the_json_feed_schema() -> None:
    documents = [
        (syndication.atom([*NOBODY, *EVENTS], meta()), "application/atom+xml"),
        (syndication.rss([*NOBODY, *EVENTS], meta()), "application/rss+xml"),
        (syndication.status_atom(INCIDENTS, {}, meta(feed_key="status")), "application/atom+xml"),
    ]
    for body, content_type in documents:
        assert feed_problems(body, content_type, "https://shiplog.example/feed.atom") == []
    assert json_feed_problems(syndication.json_feed([*NOBODY, *EVENTS], meta())) == []
