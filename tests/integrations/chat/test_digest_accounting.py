"""Digests that account for every event: on every platform and with every option, each event
of the window is shown or counted in an "…and N more" whose link lists exactly the events it
counts, and every payload keeps to every limit."""

from __future__ import annotations

import html
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from feed import notify
from feed.digest import DigestOptions, Message, digest_message
from feed.filters import Filter
from feed.models import KINDS, Event, EventFile, Subscription
from feed.state import shiplog_state
from feed.store import decode_cursor
from integrations.chat import PLATFORMS, discord, googlechat, mattermost, slack, teams, webhook
from integrations.chat.http import size
from integrations.chat.options import chat_links
from tests.conftest import make_event
from tests.hostile import HOSTILE, strings
from tests.integrations.chat.test_delivery import make_app

T0 = datetime(2026, 11, 25, 9, tzinfo=UTC)
BASE = "https://shiplog.example"
SCRIPTS = [
    "修复缓存失效的问题",  # CJK
    "キャッシュを直す",
    "إصلاح ذاكرة التخزين المؤقت",  # RTL
    "תיקון המטמון",
    "👩\u200d👩\u200d👧\u200d👦 family",  # a ZWJ sequence
    "🇺🇦🇯🇵",
    "e\u0301\u0302 a\u0308",  # combining marks
    "👍🏽❤️",
    "<!channel> @here @everyone <@U1> [x](javascript:alert(1)) *b* _i_ ~s~ `c` <users/all>",
]
# "…" starts every "…and N more": text of its own would read as one.
PIECE = st.sampled_from(HOSTILE + SCRIPTS).map(lambda s: s.replace("…", "..."))
TEXT = st.one_of(
    st.text(max_size=80).map(lambda s: s.replace("…", "...")),
    st.lists(PIECE, min_size=1, max_size=12).map(" ".join),
    st.builds(lambda piece, times: piece * times, PIECE, st.integers(1, 400)),  # long lines
)
OPTIONS = st.builds(
    DigestOptions,
    max_items=st.integers(0, 60),
    message_lines=st.integers(1, 12),
    diff_stats=st.booleans(),
    diff_lines=st.integers(0, 30),
)
RULES = st.sampled_from(
    [Filter(), Filter(repos=("acme/*",)), Filter(kinds=KINDS), Filter(bots="exclude")]
)
PROPERTY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def windows(draw: st.DrawFn) -> list[Event]:
    """0 to 2,000 events made from a few drawn templates: many cheaply, with ties in time,
    a few or hundreds of repositories, any text."""
    count = draw(st.one_of(st.integers(0, 40), st.integers(40, 2000), st.just(2000)))
    templates = draw(st.lists(st.tuples(TEXT, TEXT, TEXT), min_size=1, max_size=4))
    names = st.sampled_from(["api", "web", "ops.tools", "data_lake"])
    repos = [f"acme/{name}-{n}" for n, name in enumerate(draw(st.lists(names, min_size=1)))]
    repos += [f"acme/r{n}" for n in range(draw(st.sampled_from([0, 30, 300])))]
    spread = draw(st.sampled_from([0, 30, 3600, 86400]))  # seconds: 0 makes every tie
    skewed = draw(st.booleans())  # a few busy repositories, or all alike
    return window(count, templates, repos, spread, skewed, draw(st.integers(0, 2**32)))


def window(
    count: int,
    templates: list[tuple[str, str, str]],
    repos: list[str],
    spread: int,
    skewed: bool,
    seed: int,
) -> list[Event]:
    """`count` events of `templates` (title, body, patch) in `repos`, within `spread`
    seconds; `skewed`: a few busy repositories."""
    rnd = random.Random(seed)
    events = []
    for n in range(count):
        title, body, patch = templates[rnd.randrange(len(templates))]
        moment = T0 + timedelta(seconds=rnd.randint(0, spread))
        events.append(
            Event(
                id=n + 1,
                uid=f"commit:{n}",
                kind=rnd.choice(KINDS),
                repo=repos[min(int(rnd.paretovariate(1.2)), len(repos)) - 1]
                if skewed
                else rnd.choice(repos),
                branch="main",
                actor=rnd.choice(["mara", "tomas", "dependabot[bot]", None]),
                sha=f"{n:040x}",
                title=title,
                body=body,
                url=None,
                occurred_at=moment.replace(microsecond=rnd.choice([0, rnd.randrange(10**6)])),
                updated_at=T0,
                data={"stats": {"files": 1, "additions": n, "deletions": 1}},
                files=[EventFile(path="a.py", status="modified", patch=patch)],
            )
        )
    return events


def listing(rule: Filter) -> str:
    """The activity page for `rule`, as the app's chat links write it."""
    return f"{BASE}/?{urlencode(rule.to_args())}"


def event_url(event: Event) -> str:
    return f"{BASE}/events/{event.id}"


def digest(events: list[Event], options: DigestOptions, rule: Filter) -> Message:
    return digest_message(
        [e for e in events if rule.matches(e)],
        since=T0,
        until=T0 + timedelta(days=1),
        options=options,
        event_url=event_url,
        listing=notify.listing_after(listing),
        rule=rule,
    )


# --- what a payload shows and counts -------------------------------------------------------

MORE = r"…and (\d+) more(?: in \d+ repositor(?:y|ies))?"
MARKDOWN_MORE = re.compile(MORE + r": \[[^\]]*\]\((https://[^)\s]+)\)")
SLACK_MORE = re.compile(MORE + r": <(https://[^|>]+)\|")
HTML_MORE = re.compile(MORE + r': <a href="(https://[^"]+)">')


def markdown_mores(payload: dict[str, Any]) -> list[tuple[int, str]]:
    return [(int(n), url) for text in strings(payload) for n, url in MARKDOWN_MORE.findall(text)]


def discord_mores(payload: dict[str, Any]) -> list[tuple[int, str]]:
    texts = [f"{embed['title']}: {embed['description']}" for embed in payload["embeds"]]
    return markdown_mores({"texts": texts})


def slack_mores(payload: dict[str, Any]) -> list[tuple[int, str]]:
    return [(int(n), url) for text in strings(payload) for n, url in SLACK_MORE.findall(text)]


def googlechat_mores(payload: dict[str, Any]) -> list[tuple[int, str]]:
    found = [HTML_MORE.findall(text) for text in strings(payload)]
    return [(int(n), html.unescape(url)) for matches in found for n, url in matches]


def webhook_mores(payload: dict[str, Any]) -> list[tuple[int, str]]:
    mores = [(s["more"], s["more_url"]) for s in payload["sections"] if s["more"]]
    rest = payload["rest"]
    return mores + ([(rest["count"], rest["url"])] if rest else [])


def shown_ids(payload: dict[str, Any]) -> list[int]:
    """The events a payload links to, once for each time it does."""
    found = re.findall(rf"{BASE}/events/(\d+)", "\n".join(strings(payload)))
    return [int(event_id) for event_id in found]


MORES: dict[str, Callable[[dict[str, Any]], list[tuple[int, str]]]] = {
    "slack": slack_mores,
    "discord": discord_mores,
    "teams": markdown_mores,
    "mattermost": markdown_mores,
    "googlechat": googlechat_mores,
    "webhook": webhook_mores,
}


def within_limits(name: str, payload: dict[str, Any]) -> None:
    """Every limit of the platform: per field and in all."""
    if name == "slack":
        texts = [block["text"]["text"] for block in payload["blocks"]]
        assert len(payload["blocks"]) <= slack.MAX_BLOCKS
        assert len(texts[0]) <= slack.HEADER_TEXT and len(payload["text"]) <= slack.FALLBACK_TEXT
        assert max(map(len, texts)) <= slack.SECTION_TEXT
        assert sum(map(len, texts)) <= slack.BLOCKS_TEXT
    elif name == "discord":
        embeds = payload["embeds"]
        assert len(payload["content"]) <= discord.CONTENT and len(embeds) <= discord.MAX_EMBEDS
        assert all(len(e["title"]) <= discord.TITLE for e in embeds)
        assert all(len(e["description"]) <= discord.DESCRIPTION for e in embeds)
        assert sum(len(e["title"]) + len(e["description"]) for e in embeds) <= discord.ALL_EMBEDS
    elif name == "teams":
        assert size(payload) < teams.MAX_BYTES
    elif name == "mattermost":
        text = payload["text"] + payload["attachments"][0]["text"]
        assert len(text) <= mattermost.MAX_TEXT
    elif name == "googlechat":
        sections = payload["cardsV2"][0]["card"]["sections"]
        assert size(payload) <= googlechat.MAX_BYTES
        assert len(payload["text"]) <= googlechat.MAX_TEXT
        assert sum(len(s["widgets"]) for s in sections) <= googlechat.MAX_WIDGETS
    else:
        assert size(payload) <= webhook.MAX_BYTES
        assert all(len(s["lines"]) <= webhook.MAX_LINES for s in payload["sections"])


def by_repo(events: list[Event]) -> dict[str, list[Event]]:
    repos: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        repos[event.repo].append(event)
    return repos


def listed(url: str, events: list[Event], repos: dict[str, list[Event]]) -> set[int]:
    """The events among `events` that the activity page at `url` lists: its filter read
    back as the page reads it, and its keyset cursor."""
    args = MultiDict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    rule = Filter.from_args(args, allowed_extra=("cursor",))
    position = decode_cursor(args["cursor"]) if "cursor" in args else None
    one_repo = len(rule.repos) == 1 and "*" not in rule.repos[0]
    candidates = repos[rule.repos[0]] if one_repo else events
    return {
        e.id
        for e in candidates
        if rule.matches(e) and (position is None or (e.occurred_at, e.id) < position)
    }


def accounts_for_every_event(name: str, message: Message, events: list[Event]) -> None:
    payload = PLATFORMS[name].render(message)
    within_limits(name, payload)
    shown = Counter(shown_ids(payload))
    assert all(times == 1 for times in shown.values()), name  # each shown at most once
    repos = by_repo(events)
    counted: set[int] = set()
    for count, url in MORES[name](payload):
        rest = listed(url, events, repos)
        assert len(rest) == count, (name, url)  # the link lists what it counts, no more
        assert not rest & counted and not rest & shown.keys(), (name, url)  # nor twice
        counted |= rest
    assert shown.keys() | counted == {e.id for e in events}, name  # and nothing is lost


# The known hard cases, tried on every run before the random ones: the most events, all in
# one second across hundreds of repositories with the longest hostile lines and every option
# at its largest; the same spread over a day in one repository, every option at its least;
# and no events at all.
HOSTILE_LINES = [(piece * 400, piece * 40, piece * 40) for piece in ("<!channel>", SCRIPTS[4])]
LARGEST = DigestOptions(max_items=60, message_lines=12, diff_stats=True, diff_lines=30)
REPOS_300 = ["acme/api-0", *(f"acme/r{n}" for n in range(300))]


@PROPERTY
@given(events=windows(), options=OPTIONS, rule=RULES)
@example(window(2000, HOSTILE_LINES, REPOS_300, 0, True, 1), LARGEST, Filter(repos=("acme/*",)))
@example(
    window(2000, [("Tune", "", "")], ["acme/api-0"], 86400, False, 2),
    DigestOptions(max_items=0, message_lines=1, diff_stats=False, diff_lines=0),
    Filter(bots="exclude"),
)
@example([], LARGEST, Filter(kinds=KINDS))
def test_every_event_is_shown_or_counted_with_a_link_to_exactly_the_rest(
    events: list[Event], options: DigestOptions, rule: Filter
) -> None:
    message = digest(events, options, rule)
    window = [e for e in events if rule.matches(e)]
    for name in PLATFORMS:
        accounts_for_every_event(name, message, window)
    assert listed(message.url or "", window, by_repo(window)) == {e.id for e in window}


@pytest.mark.parametrize("name", list(PLATFORMS))
def test_a_large_window_shows_what_fits_and_counts_the_rest(name: str) -> None:
    """The measured losses of issue 11: 300 commits with three lines each in five
    repositories, and 523 long commits in one; nothing silently dropped, something shown."""
    long_body = "\n".join(["A second line of the commit message, quite long. " * 4] * 3)
    for count, repos, title in [(300, 5, "Tune the cache"), (523, 1, "Long subject " * 20)]:
        events = [
            Event(
                id=n + 1,
                uid=f"commit:{n}",
                kind="commit",
                repo=f"acme/r{n % repos}",
                actor="mara",
                sha=f"{n:040x}",
                title=f"{title} {n}",
                body=long_body,
                occurred_at=T0 + timedelta(seconds=n // 2),
                updated_at=T0,
                data={},
            )
            for n in range(count)
        ]
        message = digest(events, DigestOptions(message_lines=3), Filter())
        accounts_for_every_event(name, message, events)
        assert shown_ids(PLATFORMS[name].render(message)), name


@pytest.mark.parametrize("listed_at_most", [notify.DIGEST_EVENTS, 40])
def test_the_rest_of_a_section_and_of_the_window_are_listed_on_the_page(
    app_config: dict[str, Any],
    isolated_env: None,
    monkeypatch: pytest.MonkeyPatch,
    listed_at_most: int,
) -> None:
    """Through a real database, `notify.build_message` and the activity page itself: each
    "…and N more" link lists exactly the events the digest counts there, also when the
    window holds more events than a digest lists."""
    monkeypatch.setattr(notify, "DIGEST_EVENTS", listed_at_most)
    channels = [{"name": "eng", "platform": "slack", "url": "https://hooks.slack.com/services/x"}]
    subscriptions = [
        {
            "name": "daily",
            "channel": "eng",
            "mode": "digest",
            "schedule": "0 9 * * *",
            "filter": {"repo": ["acme/*"]},
            "options": {"max_items": 1},
        }
    ]
    app = make_app(app_config, None, channels, subscriptions)
    shiplog = shiplog_state(app)
    now = datetime.now(UTC).replace(microsecond=0)
    with shiplog.db.write() as session:
        for n in range(360):  # three at a time share a second: cuts fall between ties
            make_event(
                session,
                repo=f"acme/r{n // 6 % 60}",  # more repositories than Slack has blocks
                title=f"Change {n}",
                occurred_at=now - timedelta(minutes=30, seconds=n // 3),
            )
        make_event(session, repo="other/repo", occurred_at=now - timedelta(minutes=5))
    links = chat_links(shiplog)
    with shiplog.db.read() as session:
        subscription = session.scalars(select(Subscription)).one()
        window = {
            "since": (now - timedelta(hours=1)).isoformat(),
            "until": (now + timedelta(hours=1)).isoformat(),
        }
        message = notify.build_message(
            session, subscription, {"subscription": subscription.id, **window}, **links
        )
        events = list(session.scalars(select(Event).where(Event.repo.like("acme/%"))))
    payload = slack.render(message)
    mores = slack_mores(payload)
    assert any("cursor=" in url for _, url in mores)  # the rest of a section,
    last = payload["blocks"][-1]["text"]["text"]  # and the rest of the window
    assert re.match(r"…and \d+ more in \d+ repositories", last)
    shown = set(shown_ids(payload))
    client = app.test_client()
    counted: set[int] = set()
    for count, url in mores:
        on_page = page_ids(client, url)
        assert len(on_page) == count and not on_page & (shown | counted)
        counted |= on_page
    assert shown | counted == {e.id for e in events}
    shiplog.db.dispose()


def page_ids(client: Any, url: str) -> set[int]:
    """Every event the activity page lists at `url`, following its "Older" links."""
    ids: set[int] = set()
    parts = urlsplit(url)
    path: str | None = f"{parts.path}?{parts.query}"
    while path:
        page = client.get(path).get_data(as_text=True)
        ids |= {int(n) for n in re.findall(r'class="title" href="/events/(\d+)"', page)}
        older = re.search(r'rel="next" href="([^"]+)"', page)
        path = html.unescape(older.group(1)) if older else None
    return ids
