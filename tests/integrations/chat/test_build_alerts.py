"""Builds broken and fixed in chat, end to end: real deliveries through the webhook endpoint,
a realtime subscription per platform on the fake chat servers, and what each one receives:
one alert for the break naming its suspects, one for the fix, nothing for a flaky result or
an uncounted branch; only the config's handles ever ping, never commit text."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from feed import notify
from feed.models import Subscription
from feed.state import shiplog_state
from feed.timefmt import span
from integrations.chat.options import chat_links
from tests.chat_validators import google_chat_problems, slack_problems
from tests.conftest import deliver
from tests.fake_chat import FakeChat
from tests.integrations.chat.test_delivery import PLATFORMS, make_app, make_due, work
from tests.integrations.github.test_builds import run
from tests.integrations.github.test_webhooks import commit, push
from tests.validators import adaptive_card_problems

NOW = datetime.now(UTC).replace(microsecond=0)
A, B, C, D, E, X = (ch * 40 for ch in "abcde9")
F, G = "1" * 40, "2" * 40
# A suspect's commit message: every way a platform could read a mass or stolen mention.
HOSTILE = "Tidy <@U123> @here <!channel> @everyone <users/all> <@80351110224678911> @all"
PEOPLE = {
    "Mara": {
        "slack": "U024BE7LH",
        "discord": "80351110224678912",
        "mattermost": "mara.lind",
        "teams": "mara@acme.example",
        "googlechat": "users/123456789",
    },
    "ola": {"slack": "W0123ABCD"},  # not a suspect here: never named
}


def ago(minutes: int) -> str:
    return (NOW - timedelta(minutes=minutes)).isoformat()


def story(client: Any) -> None:
    """main: A green; X (by sam, hostile, no result) and B red; C red; D flaky; E green.
    feature/x: F green, G red (an uncounted branch)."""
    sam = {"author": {"name": "Sam", "email": "sam@example.com", "username": "sam"}}
    commits = [commit(A, "Add cache"), commit(X, HOSTILE, **sam), commit(B, "Drop the old path")]
    commits += [commit(C, "Retry"), commit(D, "Log more"), commit(E, "Fix the cache key")]
    assert deliver(client, "push", push(*commits)).status_code == 200
    feature = push(commit(F, "Try"), commit(G, "Try more"), ref="refs/heads/feature/x")
    assert deliver(client, "push", feature).status_code == 200
    for sha, conclusion, minutes, attempt in [
        (A, "success", 140, 1),
        (B, "failure", 130, 1),
        (C, "failure", 100, 1),
        (D, "failure", 80, 1),
        (D, "success", 70, 2),  # flaky: passes on a re-run
        (E, "success", 0, 1),
    ]:
        payload = run(sha, conclusion, attempt=attempt, at=ago(minutes))
        assert deliver(client, "workflow_run", payload).status_code == 200
    for sha, conclusion in [(F, "success"), (G, "failure")]:
        payload = run(sha, conclusion, branch="feature/x", at=ago(60))
        assert deliver(client, "workflow_run", payload).status_code == 200


@pytest.fixture
def alerted(app_config: dict[str, Any], isolated_env: None) -> Any:
    """Each platform's realtime subscription (no kinds, mention_suspects on) and one Slack
    subscription without mentions, after the story; what each received."""
    with FakeChat().running() as chat:
        channels = [{"name": p, "platform": p, "url": chat.url(f"/{p}")} for p in PLATFORMS]
        channels.append({"name": "quiet", "platform": "slack", "url": chat.url("/quiet")})
        subscriptions = [
            {"name": f"{p}-alerts", "channel": p, "mode": "realtime", "mention_suspects": True}
            for p in PLATFORMS
        ]
        quiet = {"name": "quiet-alerts", "channel": "quiet", "mode": "realtime"}
        subscriptions.append({**quiet, "options": {"max_items": 1}})
        app = make_app({**app_config, "PEOPLE": PEOPLE}, chat, channels, subscriptions)
        try:
            story(app.test_client())
            work(app)  # the breaks go out; each channel's fix waits for its pace
            make_due(app)
            work(app)
        finally:
            shiplog_state(app).db.dispose()
        yield {path: [r.json for r in chat.to(f"/{path}")] for path in [*PLATFORMS, "quiet"]}


def test_every_platform_hears_one_break_and_one_fix_naming_configured_suspects(
    alerted: dict[str, list[Any]],
) -> None:
    for path, payloads in alerted.items():
        assert len(payloads) == 2, path  # not every run, not the flaky one, not feature/x
        # As read: the platforms' Markdown escapes (`\:`) taken out.
        broken, fixed = (
            json.dumps(payload, ensure_ascii=False).replace("\\\\", "") for payload in payloads
        )
        assert "Build broken: tests on main" in broken and "Build fixed" not in broken, path
        assert "Build fixed: tests on main" in fixed, path
        assert "feature/x" not in broken + fixed, path
        for text in (f"{A}...{B}", "Tidy", "9999999", "sam", "bbbbbbb"):
            assert text in broken, (path, text)  # the range, the compare link, the suspects
        assert ("Drop the old path" in broken) is (path != "quiet"), path  # quiet lists one
        assert "red 2 h 10 min" in fixed and "eeeeeee" in fixed, path
        assert "Fix the cache key" in fixed, path  # the fixing commit
    _only_the_configured_suspects_are_mentioned(alerted)


def _only_the_configured_suspects_are_mentioned(alerted: dict[str, list[Any]]) -> None:
    [slack, slack_fix] = alerted["slack"]
    assert slack_problems(slack) == [] and slack_problems(slack_fix) == []
    slack_text = json.dumps([slack["text"], *(b["text"]["text"] for b in slack["blocks"][1:])])
    assert re.findall(r"<[@!][^>]*>", slack_text) == ["<@U024BE7LH>"] * 2  # blocks, fallback
    assert "<@" not in json.dumps(slack_fix) and "<!" not in json.dumps(slack_fix)

    [discord, discord_fix] = alerted["discord"]
    assert discord["allowed_mentions"] == {"parse": [], "users": ["80351110224678912"]}
    assert re.findall(r"<@[^>]*>", discord["content"]) == ["<@80351110224678912>"]
    assert discord_fix["allowed_mentions"] == {"parse": []}

    [mattermost, _] = alerted["mattermost"]
    pings = re.findall(r"@(?!\u200b)[\w.-]+", json.dumps(mattermost, ensure_ascii=False))
    assert pings == ["@mara.lind"]

    [teams, _] = alerted["teams"]
    card = teams["attachments"][0]["content"]
    assert adaptive_card_problems(card) == []
    assert card["msteams"]["entities"] == [
        {
            "type": "mention",
            "text": "<at>mara</at>",
            "mentioned": {"id": "mara@acme.example", "name": "mara"},
        }
    ]

    [google, _] = alerted["googlechat"]
    assert google_chat_problems(google) == []
    assert re.findall(r"<users/[^>]*>", google["text"]) == ["<users/123456789>"]

    [quiet, _] = alerted["quiet"]  # a subscription that did not ask names nobody
    assert "<@" not in json.dumps(quiet) and "Suspects:" not in json.dumps(quiet)
    # max_items 1: the first suspect, the other counted; the summary counts both.
    quiet_text = json.dumps(quiet, ensure_ascii=False)
    assert "2 suspect commits" in quiet_text and "…and 1 more" in quiet_text
    assert "Tidy" in quiet_text and "Drop the old path" not in quiet_text


def test_a_digest_says_how_long_main_was_red_and_what_is_still_red(
    app_config: dict[str, Any], isolated_env: None
) -> None:
    with FakeChat().running() as chat:
        channels = [{"name": "eng", "platform": "slack", "url": chat.url("/eng")}]
        daily = {"channel": "eng", "mode": "digest", "schedule": "0 9 * * *"}
        subscriptions = [
            {"name": "daily", **daily},
            {"name": "commits", **daily, "filter": {"kind": ["commit"]}},
            {"name": "web", **daily, "filter": {"repo": ["acme/web"]}},
        ]
        app = make_app(app_config, chat, channels, subscriptions)
    try:
        client = app.test_client()
        story(client)
        # A second check breaks at C and stays red.
        deliver(client, "workflow_run", run(B, "success", name="lint", run_id=77, at=ago(120)))
        deliver(client, "workflow_run", run(C, "failure", name="lint", run_id=78, at=ago(95)))
        # The window ends a minute from the wall clock: NOW is when the module was imported.
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
        summaries = [_digest(app, name, until).summary for name in subscriptions]
    finally:
        shiplog_state(app).db.dispose()
    daily_summary, commits, web = summaries
    broke = NOW - timedelta(minutes=95)
    assert daily_summary.splitlines()[1:] == [
        "acme/api main (tests) was red 2 h 10 min: broken by bbbbbbb, fixed by eeeeeee",
        f"acme/api main (lint) red since {broke:%Y-%m-%d %H:%M} UTC ({span(until - broke)}): "
        "broken by ccccccc",
    ]  # not feature/x, and not tests, which is green again
    assert "red" not in commits and "red" not in web  # their filters select no build


def _digest(app: Flask, name: dict[str, Any], until: datetime) -> Any:
    shiplog = shiplog_state(app)
    with shiplog.db.read() as session:
        subscription = session.scalars(
            select(Subscription).where(Subscription.name == name["name"])
        ).one()
        window = {
            "since": (NOW - timedelta(hours=3)).isoformat(),
            "until": until.isoformat(),
        }
        payload = {"subscription": subscription.id, **window}
        return notify.build_message(session, subscription, payload, **chat_links(shiplog))
