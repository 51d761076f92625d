"""The activity page and the event page, through the test client and a real database."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from feed.db import Database
from feed.models import Event
from feed.store import FileRecord, upsert_repo
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
    # Two days apart, or three just after midnight UTC (Change 2 is then yesterday's).
    days = {(NOW - timedelta(days=index % 2, minutes=index)).date() for index in range(4)}
    assert len(re.findall(r'<section class="day">', html)) == len(days)
    assert "mara" in html
    assert re.search(r'<code class="sha">[0-9a-f]{7}</code>', html)
    assert "just now" in html or "minute" in html
    assert re.search(r'<time datetime="[^"]+Z" title="[^"]+ UTC" data-local="time">', html)


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
    assert only_our_script(response.get_data(as_text=True))


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
    assert only_our_script(html)
    assert "javascript:" not in html
    assert not any(attrs.get("onerror") for _, attrs in _all_tags(html))
    assert "Diff not fetched yet" in html


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
    assert only_our_script(html)  # the hostile ones are shown as text, escaped
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


def only_our_script(html: str) -> bool:
    """The page's one script is shiplog's own file; nothing inline, nothing injected."""
    return re.findall(r"<script[^>]*>", html) == ['<script src="/static/app.js" defer>']


def _all_tags(html: str):
    parser = Links()
    parser.feed(html)
    return parser.tags


def test_a_revert_and_its_target_link_each_other(client, db) -> None:
    target_sha = "a1" * 20
    with db.write() as session:
        make_event(
            session,
            uid=f"commit:acme/api:{target_sha}",
            sha=target_sha,
            title="Cache sessions",
            occurred_at=NOW - timedelta(hours=2),
        )
        make_event(
            session,
            kind="revert",
            title='Revert "Cache sessions"',
            reverts_ref=target_sha[:9],
            occurred_at=NOW - timedelta(hours=1),
        )
    with db.read() as session:
        target = session.scalars(select(Event).where(Event.sha == target_sha)).one()
        revert = session.scalars(select(Event).where(Event.kind == "revert")).one()
    assert revert.reverts_id == target.id
    page = client.get(f"/events/{target.id}").get_data(as_text=True)
    assert "Reverted by" in page and f'href="/events/{revert.id}"' in page
    page = client.get(f"/events/{revert.id}").get_data(as_text=True)
    assert "Reverts" in page and f'href="/events/{target.id}"' in page
    listing = client.get("/").get_data(as_text=True)
    assert f"reverted by {revert.sha[:7]}" in listing


def test_a_revert_stored_before_its_target_is_linked_when_the_target_arrives(db) -> None:
    target_sha = "b2" * 20
    with db.write() as session:
        make_event(session, kind="revert", title="Undo", reverts_ref=target_sha)
    with db.write() as session:
        make_event(session, uid=f"commit:acme/api:{target_sha}", sha=target_sha, title="Do")
    with db.read() as session:
        revert = session.scalars(select(Event).where(Event.kind == "revert")).one()
        assert session.get(Event, revert.reverts_id).title == "Do"


def test_a_revert_by_subject_finds_the_newest_earlier_commit_of_that_subject(db) -> None:
    with db.write() as session:
        make_event(session, title="Bump deps", occurred_at=NOW - timedelta(days=3))
        make_event(session, title="Bump deps", occurred_at=NOW - timedelta(days=1))
        make_event(session, title="Bump deps", repo="acme/web", occurred_at=NOW)
        make_event(
            session,
            kind="revert",
            title='Revert "Bump deps"',
            data={"reverts_subject": "Bump deps"},
            occurred_at=NOW,
        )
    with db.read() as session:
        revert = session.scalars(select(Event).where(Event.kind == "revert")).one()
        target = session.get(Event, revert.reverts_id)
    assert (target.repo, target.occurred_at) == ("acme/api", NOW - timedelta(days=1))


def test_diffs_are_highlighted_folded_and_marked(client, db) -> None:
    big = "@@ -0,0 +1,500 @@\n" + "\n".join(f"+line {n}" for n in range(500))
    with db.write() as session:
        make_event(
            session,
            data={"stats": {"files": 4, "additions": 503, "deletions": 1}},
            diff_state="fetched",
            files=[
                FileRecord(
                    "app.py",
                    "modified",
                    additions=2,
                    deletions=1,
                    patch_status="ok",
                    patch="@@ -1 +1,2 @@\n-<old>\n+<script>new()</script>\n+more",
                ),
                FileRecord(
                    "logo.png", "added", additions=0, deletions=0, patch_status="unavailable"
                ),
                FileRecord(
                    "data.sql", "added", additions=500, deletions=0, patch=big, patch_status="ok"
                ),
                FileRecord(
                    "cut.txt", "modified", patch="@@ -1 +1 @@\n+x", patch_status="truncated"
                ),
            ],
        )
        event_id = session.scalar(select(Event.id))
    html = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert '<span class="gi">+&lt;script&gt;new()&lt;/script&gt;' in html
    assert "<script>new()" not in html
    assert re.search(r"<details open>\s*<summary><span class=\"status status-modified\">", html)
    assert "501 lines, folded" in html
    assert "Diff not available: a binary file" in html
    assert "Truncated: the rest of this commit" in html
    assert "#diff-" + hashlib.sha256(b"logo.png").hexdigest() in html
    listing = client.get("/").get_data(as_text=True)
    assert '+503</span> <span class="minus">\u22121</span> in 4 files' in listing
    # Each diff scrolls in a box of its own that the keyboard reaches and that says what it is.
    boxes = [d for d in tags(html, "div") if d.get("class") == "diff-scroll"]
    assert [(b["tabindex"], b["role"], b["aria-label"]) for b in boxes] == [
        ("0", "region", f"Diff of {name}") for name in ("app.py", "data.sql", "cut.txt")
    ]


def test_the_filter_bar_has_a_field_per_path_glob(client, db) -> None:
    with db.write() as session:
        make_event(session, title="css change", files=[FileRecord("web/a.css", "modified")])
        make_event(session, title="py change", files=[FileRecord("api/a.py", "modified")])
    html = client.get("/").get_data(as_text=True)
    assert [i.get("value") for i in tags(html, "input") if i.get("name") == "path"] == [""]
    html = client.get("/?path=web/*").get_data(as_text=True)
    assert "css change" in html and "py change" not in html
    assert [i["value"] for i in tags(html, "input") if i.get("name") == "path"] == ["web/*"]
    # A glob may hold a comma, so each is a field of its own and comes back as it went.
    html = client.get("/?path=web/*&path=a,b/*.py").get_data(as_text=True)
    assert [i["value"] for i in tags(html, "input") if i.get("name") == "path"] == [
        "web/*",
        "a,b/*.py",
    ]


def test_every_page_starts_with_a_skip_link(client, db) -> None:
    seed(db, 1)
    [first, *_] = tags(client.get("/").get_data(as_text=True), "a")
    assert first == {"class": "skip-link", "href": "#timeline"}
    html = client.get("/status").get_data(as_text=True)
    assert tags(html, "a")[0] == {"class": "skip-link", "href": "#main"}
    assert '<main id="main" tabindex="-1">' in html
