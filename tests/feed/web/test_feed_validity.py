"""Every feed shiplog serves, read by outside checkers: the W3C Feed Validator (no error, and
no warning but those hostile text earns itself), feedparser (`bozo == 0`) and the JSON Feed
1.1 schema; each for every filter shape, an empty timeline, the status feed, and the hostile
corpus (`tests/hostile.py`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from feed.state import shiplog_state
from tests.conftest import deliver, make_event
from tests.integrations.github.test_webhooks import issue, repository
from tests.test_hostile_corpus import deliver_corpus
from tests.validators import feed_problems, json_feed_problems, needs_validators

pytestmark = needs_validators

BASE = "https://shiplog.example.com"
NOW = datetime.now(UTC).replace(microsecond=0)
TYPES = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}
# Every filter shape the suite asks feeds for, and some more: each as asked, and as the feed
# names itself (its self link, the canonical filter).
QUERIES = [
    ("", ""),
    ("repo=acme/web", "repo=acme/web"),
    ("repo=acme/*&kind=incident", "repo=acme/*&kind=incident"),
    ("kind=commit,revert", "kind=commit&kind=revert"),
    ("kind=revert&kind=commit&kind=revert", "kind=commit&kind=revert"),
    ("kind=release,deployment", "kind=deployment&kind=release"),
    ("branch=main&author=mara", "branch=main&author=mara"),
    ("path=src/*", "path=src/*"),
    (
        "q=Change+1&until=2099-01-01&since=2026-01-01",
        "q=Change%201&since=2026-01-01T00:00:00Z&until=2099-01-01T00:00:00Z",
    ),
    ("around=incidents", "around=incidents"),
    ("bots=exclude", "bots=exclude"),
    ("limit=2", "limit=2"),
    ("repo=nobody/nothing", "repo=nobody/nothing"),  # an empty feed of a full timeline
]
# What the validator warns of in hostile text itself, written as it should be: text that
# looks like markup, escaped as text (ContainsHTML and its kinds); C1 controls and U+FFFD,
# which it takes for mis-decoded windows-1252 (BadCharacters); control characters inside
# HTML content (NotHtml "Invalid codepoint"); entries updated in the same second.
DATA_WARNINGS = ("ContainsHTML", "ContainsUndeclaredHTML", "CharacterData", "BadCharacters")
DATA_WARNINGS += ("NotHtml (content in entry", "NotHtml (description in item", "DuplicateUpdated")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def site(app_config: dict[str, Any], isolated_env: None) -> Iterator[Flask]:
    app = create_app({**app_config, "BASE_URL": BASE})
    yield app
    shiplog_state(app).db.dispose()


def seed(client: FlaskClient, app: Flask) -> None:
    """A timeline of every kind, with events nobody is named for (a deployment with no
    creator, a release without author) and an incident opened, updated and resolved."""
    with shiplog_state(app).db.write() as session:
        for index in range(4):
            make_event(
                session,
                title=f"Change {index}",
                repo="acme/web" if index % 2 else "acme/api",
                occurred_at=NOW - timedelta(hours=5, minutes=index),
                files=[f"src/module{index}.py"],
            )
        # Each at a time of its own: entries updated in the same second draw a warning.
        at = [NOW - timedelta(hours=4, minutes=minutes) for minutes in range(5)]
        make_event(session, kind="revert", title='Revert "Change 1"', occurred_at=at[0])
        make_event(session, kind="force_push", title="Force push", sha=None, occurred_at=at[1])
        make_event(session, actor="dependabot[bot]", title="Bump requests", occurred_at=at[2])
        make_event(
            session,
            uid="release:acme/api:v1.2.0",
            kind="release",
            title="v1.2.0",
            actor=None,
            sha=None,
            branch=None,
            body="## Notes\n\n* faster",
            occurred_at=at[3],
        )
        make_event(
            session,
            uid="deployment:acme/api:77",
            kind="deployment",
            title="production: success",
            actor=None,
            occurred_at=at[4],
        )
    opened = issue(
        number=42,
        title="Checkout errors",
        labels=("incident", "sev2", "component:api"),
        created_at=stamp(NOW - timedelta(hours=3)),
        updated_at=stamp(NOW - timedelta(hours=3)),
    )
    deliver(client, "issues", {"action": "opened", "issue": opened, "repository": repository()})
    note = {
        "id": 901,
        "body": "/status identified\nRolling back.",
        "user": {"login": "mara"},
        "created_at": stamp(NOW - timedelta(hours=2)),
        "updated_at": stamp(NOW - timedelta(hours=2)),
    }
    deliver(
        client,
        "issue_comment",
        {"action": "created", "issue": opened, "comment": note, "repository": repository()},
    )
    closed = {**opened, "state": "closed", "closed_at": stamp(NOW - timedelta(hours=1))}
    deliver(client, "issues", {"action": "closed", "issue": closed, "repository": repository()})
    # A second incident, still open.
    second = issue(
        number=43,
        title="Slow search",
        created_at=stamp(NOW - timedelta(minutes=30)),
        updated_at=stamp(NOW - timedelta(minutes=30)),
    )
    deliver(client, "issues", {"action": "opened", "issue": second, "repository": repository()})


def feeds(queries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each feed of each query: the path asked, and the path it names itself by."""
    return [
        (
            f"/feed.{kind}" + (f"?{asked}" if asked else ""),
            f"/feed.{kind}" + (f"?{own}" if own else ""),
        )
        for asked, own in queries
        for kind in TYPES
    ] + [("/status.atom", "/status.atom")]


def problems_of(
    client: FlaskClient, asked: str, own: str, allowed: tuple[str, ...] = ()
) -> list[str]:
    """What the outside checkers find wrong with the feed at `asked`, which is served as `own`
    (its self link); `allowed` warnings left out."""
    response = client.get(asked)
    assert response.status_code == 200, (asked, response.get_data(as_text=True)[:200])
    kind = own.split("?")[0].rsplit(".", 1)[1]
    if kind == "json":
        document = json.loads(response.data)
        assert document["feed_url"] == BASE + own
        return [f"{asked}: {problem}" for problem in json_feed_problems(response.data)]
    parsed = feedparser.parse(response.data)
    assert next(link.href for link in parsed.feed.links if link.rel == "self") == BASE + own
    found = [f"feedparser: {parsed.get('bozo_exception')}"] if parsed.bozo else []
    found += feed_problems(response.data, TYPES[kind], BASE + own)
    return [f"{asked}: {problem}" for problem in found if not problem.startswith(allowed)]


def report(problems: list[str]) -> str:
    """The problems found, each kind once with how often: a readable failure."""
    counts: dict[str, int] = {}
    for problem in problems:
        kind = problem.split(", line")[0]
        counts[kind] = counts.get(kind, 0) + 1
    return "\n".join(f"{count} x {kind}" for kind, count in list(counts.items())[:80])


def test_every_feed_and_filter_of_a_full_timeline_passes(site: Flask) -> None:
    client = site.test_client()
    seed(client, site)
    problems = [p for asked, own in feeds(QUERIES) for p in problems_of(client, asked, own)]
    assert not problems, report(problems)


def test_every_feed_of_an_empty_timeline_passes(site: Flask) -> None:
    client = site.test_client()
    empty = [("", ""), ("kind=commit", "kind=commit")]
    problems = [p for asked, own in feeds(empty) for p in problems_of(client, asked, own)]
    assert not problems, report(problems)


def test_feeds_full_of_hostile_text_pass(site: Flask) -> None:
    client = site.test_client()
    deliver_corpus(client)
    everything = [("limit=200", "limit=200")]  # the whole corpus on one page
    problems = [
        p
        for asked, own in feeds(everything)
        for p in problems_of(client, asked, own, allowed=DATA_WARNINGS)
    ]
    assert not problems, report(problems)
