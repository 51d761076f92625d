"""The activity page and the event page, through the test client and a real database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from feed.db import Database
from feed.models import Event
from feed.store import upsert_repo
from tests.conftest import make_event

NOW = datetime.now(UTC).replace(microsecond=0)
HOSTILE = (
    '<script>alert("pwn")</script> <img src=x onerror=alert(1)> '
    "[click me](javascript:alert(1)) <a href='javascript:alert(2)'>x</a>"
)


class Links(HTMLParser):
    """Collects tags with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str, name: str) -> list[dict[str, str | None]]:
    parser = Links()
    parser.feed(html)
    return [attrs for tag, attrs in parser.tags if tag == name]


def seed(db: Database, count: int = 3) -> None:
    with db.write() as session:
        for index in range(count):
            make_event(
                session,
                title=f"Change {index}",
                actor="mara",
                occurred_at=NOW - timedelta(days=index % 2, minutes=index),
            )


def test_the_page_lists_events_newest_first_grouped_by_day(client, db) -> None:
    seed(db, 4)
    html = client.get("/").get_data(as_text=True)
    assert html.index("Change 0") < html.index("Change 2") < html.index("Change 1")
    assert len(re.findall(r'<section class="day">', html)) == 2
    assert "mara" in html
    assert re.search(r'<code class="sha">[0-9a-f]{7}</code>', html)
    assert "just now" in html or "minute" in html
    assert re.search(r'<time datetime="[^"]+Z" title="[^"]+ UTC">', html)


def test_each_entry_links_to_github_and_its_own_page(client, db) -> None:
    seed(db, 1)
    html = client.get("/").get_data(as_text=True)
    with db.read() as session:
        event = session.scalars(select(Event)).one()
    hrefs = [a["href"] for a in tags(html, "a")]
    assert f"/events/{event.id}" in hrefs
    assert event.url in hrefs


def test_feeds_are_declared_for_exactly_the_filter_shown(client, db) -> None:
    seed(db)
    html = client.get("/?repo=acme/*&kind=revert").get_data(as_text=True)
    alternates = {
        link["type"]: link["href"] for link in tags(html, "link") if link.get("rel") == "alternate"
    }
    assert alternates == {
        "application/atom+xml": "/feed.atom?repo=acme%2F%2A&kind=revert",
        "application/rss+xml": "/feed.rss?repo=acme%2F%2A&kind=revert",
        "application/feed+json": "/feed.json?repo=acme%2F%2A&kind=revert",
    }


def test_the_filter_bar_narrows_and_shows_the_filter(client, db) -> None:
    with db.write() as session:
        make_event(session, title="api thing", repo="acme/api", actor="mara")
        make_event(session, title="web thing", repo="acme/web", actor="li")
    html = client.get("/?repo=acme/web").get_data(as_text=True)
    assert "web thing" in html and "api thing" not in html
    [repo_input] = [i for i in tags(html, "input") if i.get("name") == "repo"]
    assert repo_input["value"] == "acme/web"
    html = client.get("/?author=mara&q=THING").get_data(as_text=True)
    assert "api thing" in html and "web thing" not in html


def test_older_pages_with_a_cursor_until_the_end(client, db) -> None:
    seed(db, 120)
    seen: list[str] = []
    url = "/"
    for _ in range(5):
        html = client.get(url).get_data(as_text=True)
        seen += re.findall(r">(Change \d+)</a>", html)
        older = [a["href"] for a in tags(html, "a") if a.get("rel") == "next"]
        if not older:
            break
        url = older[0]
    assert len(seen) == 120 and len(set(seen)) == 120


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/?kind=tweet", "kind: &#39;tweet&#39; is not one of"),
        ("/?repo=%3Cscript%3E", "repo: &#39;&lt;script&gt;&#39; is not owner/name"),
        ("/?cursor=garbage", "cursor: not a cursor this server made"),
        ("/?since=tomorrow", "since: &#39;tomorrow&#39; is not a date"),
        ("/?limit=5", "unknown query argument &#39;limit&#39;"),
    ],
)
def test_bad_filters_get_400_with_the_reason(client, url: str, message: str) -> None:
    response = client.get(url)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert "<script>" not in response.get_data(as_text=True)


def test_an_empty_timeline_says_how_to_fill_it(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "Nothing here yet" in html
    assert "shiplog demo" in html


def test_demo_data_is_announced_with_how_to_connect(client, db) -> None:
    with db.write() as session:
        upsert_repo(session, "acme/api", is_demo=True)
    html = client.get("/").get_data(as_text=True)
    assert "demo data" in html
    assert "/webhooks/github" in html
    assert "SHIPLOG_GITHUB_WEBHOOK_SECRET" in html


def test_the_event_page_renders_the_message_safely(client, db) -> None:
    with db.write() as session:
        make_event(
            session,
            title="<b>Title</b> & co",
            body=f"**bold** line\n\n{HOSTILE}",
            files=["src/<img src=x onerror=alert(1)>.py"],
            url="javascript:alert(3)",
        )
        event_id = session.scalar(select(Event.id))
    html = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert "<strong>bold</strong>" in html
    assert "&lt;b&gt;Title&lt;/b&gt; &amp; co" in html
    assert "src/&lt;img src=x onerror=alert(1)&gt;.py" in html
    assert "<script" not in html
    assert "javascript:" not in html
    assert not any(attrs.get("onerror") for _, attrs in _all_tags(html))
    assert "Diff not available yet" in html


def test_the_activity_page_keeps_titles_inert(client, db) -> None:
    with db.write() as session:
        make_event(
            session,
            title=HOSTILE,
            actor="<script>x</script>",
            branch="<b>br</b>",
            url="javascript:alert(3)",
        )
    html = client.get("/").get_data(as_text=True)
    assert "<script" not in html  # shown as text, escaped
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    for _, attrs in _all_tags(html):
        assert not attrs.get("onerror")
        assert not (attrs.get("href") or "").lower().startswith("javascript:")


def test_an_unknown_event_is_404(client) -> None:
    response = client.get("/events/999999")
    assert response.status_code == 404
    assert "There is no event 999999" in response.get_data(as_text=True)
    assert client.get("/events/abc").status_code == 404


def test_the_stylesheet_is_served_locally(client: FlaskClient) -> None:
    with client.get("/static/style.css") as response:
        assert response.status_code == 200
        assert "prefers-color-scheme: dark" in response.get_data(as_text=True)


def _all_tags(html: str):
    parser = Links()
    parser.feed(html)
    return parser.tags
