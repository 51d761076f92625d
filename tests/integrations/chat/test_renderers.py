"""Every platform's renderer, fed long, hostile and multi-byte text: within every limit,
and nothing escapes as a mention, a link or markup."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feed.digest import Line, Message, Section
from integrations.chat import (
    PLATFORMS,
    UnknownPlatform,
    discord,
    googlechat,
    mattermost,
    platform,
    slack,
    teams,
    webhook,
)
from integrations.chat.http import Post, size
from tests.chat_validators import google_chat_problems, slack_problems
from tests.hostile import HOSTILE, strings

text = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(HOSTILE), max_size=40).map("".join),
    st.builds(lambda s, n: s * n, st.sampled_from(HOSTILE), st.integers(1, 800)),
)
urls = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "https://shiplog.example/events/1",
            "https://github.com/acme/api/commit/abc|<!channel>",
            "javascript:alert(1)",
            "https://shiplog.example/?repo=acme%2F*&since=2026-11-01T00:00:00Z",
        ]
    ),
)
lines = st.builds(Line, text=text, url=urls, detail=text, quote=text)
sections = st.builds(
    Section, heading=text, lines=st.lists(lines, max_size=30), more=st.integers(0, 10_000)
)
messages = st.builds(
    Message,
    kind=st.sampled_from(["digest", "alert"]),
    title=text,
    summary=text,
    sections=st.lists(sections, max_size=70),
    url=urls,
    severity=st.sampled_from([None, "sev1", "failure"]),
    thread_key=st.sampled_from([None, "incident:acme/api#7"]),
)
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def crowded(text: str, kind: str) -> Message:
    """A message past every limit, all of its text `text`: a cut falls inside it anywhere."""
    line = Line(text, "https://github.com/acme/api/commit/abc|<!channel>", text, text)
    return Message(
        kind=kind,
        title=text,
        summary=text,
        sections=[Section(heading=text, lines=[line] * 3, more=10_000)] * 70,
        url="javascript:alert(1)",
        severity="sev1",
        thread_key="incident:acme/api#7",
    )


# The known hard cases, tried on every run before the random ones: an escape (an entity,
# Markdown, a backslash), a ZWJ sequence or a mention wherever a cut falls, every hostile
# piece at once, and nothing.
EDGES = [
    Message(kind="alert", title="", summary=""),
    crowded("&" * 801, "digest"),
    crowded("*_~`|>[" * 115, "alert"),
    crowded("b" + "a\\" * 1601, "digest"),  # a backslash escaped, or the text's own (Slack)
    crowded("\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466" * 115, "digest"),
    crowded("@everyone <!here> " * 45, "alert"),
    crowded("".join(HOSTILE) * 2, "digest"),
]


def with_edges(test):
    """`test` tried on each of EDGES first."""
    for message in EDGES:
        test = example(message)(test)
    return test


MENTIONS = re.compile(r"@(everyone|here|channel|all)\b")


def no_broken_escapes(
    texts: list[str], *, entities: bool = False, backslashes: bool = True
) -> None:
    """No cut inside an escape (`&amp;` where the platform writes `entities`, a backslash
    escape where it writes `backslashes`) or a ZWJ sequence. Slack's mrkdwn and Google Chat's
    HTML have no backslash escapes: there a backslash before the cut is the text's own."""
    for value in texts:
        value.encode("utf-8")  # no lone surrogates
        if entities:
            assert not re.search(r"&[a-z]{0,3}…", value), value[-40:]
        if backslashes:
            assert not re.search(r"(?<!\\)\\…", value), value[-40:]


@PROPERTY
@given(messages)
@with_edges
def test_slack(message: Message) -> None:
    payload = slack.render(message)
    blocks = payload["blocks"]
    assert len(blocks) <= slack.MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) <= slack.HEADER_TEXT
    assert all(len(b["text"]["text"]) <= slack.SECTION_TEXT for b in blocks[1:])
    assert len(payload["text"]) <= slack.FALLBACK_TEXT
    for value in [payload["text"], *(b["text"]["text"] for b in blocks[1:])]:
        assert not MENTIONS.search(value)
        for match in re.finditer(r"<([^>]*)>", value):
            assert re.fullmatch(r"https?://[^|<> ]+\|[^<>]*", match.group(1)), match.group(0)
    texts = [payload["text"], *(b["text"]["text"] for b in blocks[1:])]
    no_broken_escapes(texts, entities=True, backslashes=False)
    assert slack_problems(payload) == []


@PROPERTY
@given(messages)
@with_edges
def test_discord(message: Message) -> None:
    payload = discord.render(message)
    assert payload["allowed_mentions"] == {"parse": []}
    assert len(payload["content"]) <= discord.CONTENT
    assert len(payload["embeds"]) <= discord.MAX_EMBEDS
    total = 0
    for embed in payload["embeds"]:
        assert len(embed["title"]) <= discord.TITLE
        assert len(embed["description"]) <= discord.DESCRIPTION
        total += len(embed["title"]) + len(embed["description"])
    assert total <= discord.ALL_EMBEDS
    for value in strings(payload):
        assert not MENTIONS.search(value)
        assert "](javascript" not in value.lower()
    no_broken_escapes(strings(payload))


@PROPERTY
@given(messages)
@with_edges
def test_teams(message: Message) -> None:
    payload = teams.render(message)
    assert size(payload) < teams.MAX_BYTES
    card = payload["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    for value in strings(card["body"]):
        for target in re.findall(r"\]\(([^)]*)\)", value):
            assert target.startswith(("http://", "https://")), target
    no_broken_escapes(strings(payload))


@PROPERTY
@given(messages)
@with_edges
def test_mattermost(message: Message) -> None:
    payload = mattermost.render(message)
    assert len(payload["text"]) + len(payload["attachments"][0]["text"]) <= mattermost.MAX_TEXT
    for value in strings(payload):
        assert not MENTIONS.search(value)
    no_broken_escapes(strings(payload))


@PROPERTY
@given(messages)
@with_edges
def test_google_chat(message: Message) -> None:
    payload = googlechat.render(message)
    assert size(payload) <= googlechat.MAX_BYTES
    assert len(payload["text"]) <= googlechat.MAX_TEXT
    assert "<" not in payload["text"]
    paragraphs = [
        w["textParagraph"]["text"]
        for section in payload["cardsV2"][0]["card"]["sections"]
        for w in section["widgets"]
    ]
    for value in paragraphs:  # the header's title and subtitle are plain text
        for tag in re.findall(r"<[^>]*>", value):
            assert re.fullmatch(r'<a href="https?://[^"<>]*">|</a>|<br>|<i>|</i>', tag), tag
    paragraphs = [
        w["textParagraph"]["text"]
        for section in payload["cardsV2"][0]["card"]["sections"]
        for w in section["widgets"]
    ]
    no_broken_escapes(paragraphs, entities=True, backslashes=False)
    assert google_chat_problems(payload) == []
    thread = {"threadKey": message.thread_key} if message.thread_key else None
    assert payload.get("thread") == thread


@PROPERTY
@given(messages)
@with_edges
def test_webhook_keeps_the_text_as_written(message: Message) -> None:
    payload = webhook.render(message)
    assert json.loads(json.dumps(payload)) == payload
    assert payload["title"] == message.title
    assert size(payload) <= webhook.MAX_BYTES
    written = iter(message.sections)  # the sections that fit, in order, as written
    for shown in payload["sections"]:
        # The next section of that heading whose first lines are those shown (a section
        # with no lines shows nothing, and two sections may share a heading).
        section = next(
            s
            for s in written
            if s.heading == shown["heading"]
            and shown["lines"] == [asdict(line) for line in s.lines[: len(shown["lines"])]]
        )
        assert section.heading == shown["heading"]


def test_a_cut_ends_in_an_ellipsis_and_links_the_rest() -> None:
    long = Message(
        kind="digest",
        title="t",
        summary="s",
        url="https://shiplog.example/?since=x",
        sections=[
            Section(
                heading=f"acme/r{n}",
                more=3,
                lines=[Line(text="x" * 150, url="https://e.example/1")] * 40,
            )
            for n in range(80)
        ],
    )
    payload = slack.render(long)
    assert slack_problems(payload) == []
    blocks = payload["blocks"]
    texts = [block["text"]["text"] for block in blocks]
    assert sum(map(len, texts)) <= slack.BLOCKS_TEXT < len(blocks) * slack.SECTION_TEXT
    shown = sum(text.count("\n• ") for text in texts)
    counted = sum(int(n) for n in re.findall(r"…and (\d+) more", "".join(texts)))
    assert shown + counted == 80 * (40 + 3)  # every item shown or counted
    assert re.match(r"…and \d+ more in \d+ repositories: <", texts[-1])
    assert "https://shiplog.example/?since=x|see them all in shiplog>" in texts[-1]


QUOTED_URL = Message(
    kind="alert",
    title="Revert: see https://evil.example/login",
    summary="https://evil.example/summary",
    sections=[
        Section(
            heading="acme/api https://evil.example/heading",
            lines=[
                Line(
                    text="Fix the login, as https://evil.example/a says",
                    url="https://github.com/acme/api/commit/abc",
                    detail="www.evil.example",
                    quote="Details at https://evil.example/b and <https://evil.example/c|docs>",
                )
            ],
            more=3,
        )
    ],
    url="https://shiplog.example/?repo=acme/api",
)


def test_slack_takes_every_mrkdwn_text_verbatim_so_a_quoted_url_is_no_link() -> None:
    payload = slack.render(QUOTED_URL)
    texts = [block["text"] for block in payload["blocks"]]
    mrkdwn = [text for text in texts if text["type"] == "mrkdwn"]
    assert len(mrkdwn) == len(texts) - 1 and all(text["verbatim"] is True for text in mrkdwn)
    assert slack_problems(payload) == []
    links = re.findall(r"<(https?://[^|>]*)\|", json.dumps(payload))
    assert links and all(not link.startswith("https://evil") for link in links)


def test_google_chat_names_an_incident_s_thread_in_the_message() -> None:
    payload = googlechat.render(Message(kind="alert", title="t", summary="s", thread_key="k#1"))
    assert payload["thread"] == {"threadKey": "k#1"}
    assert google_chat_problems(payload) == []
    assert "thread" not in googlechat.render(Message(kind="digest", title="t", summary="s"))


def test_the_registry_names_every_platform() -> None:
    assert set(PLATFORMS) == {"slack", "discord", "teams", "mattermost", "googlechat", "webhook"}
    assert platform("slack") is slack
    for module in PLATFORMS.values():  # what the Platform protocol says each provides
        assert isinstance(module.PACE, timedelta)
        assert isinstance(module.POST, Post)
        assert callable(module.render)
    with pytest.raises(UnknownPlatform, match="use one of slack, discord"):
        platform("irc")


@pytest.mark.parametrize("cluster", ["👩\u200d👩\u200d👧\u200d👦", "🇺🇦", "e\u0301", "👍🏽", "❤️"])
def test_a_cut_never_splits_a_character_people_see_as_one(cluster: str) -> None:
    from integrations.chat.text import clip

    for limit in range(1, 40):
        cut = clip(cluster * 10, limit)
        assert len(cut) <= limit
        body = cut.removesuffix("…")
        assert body == cluster * (len(body) // len(cluster))
