"""Benchmarks of chat: rendering digests per platform, and delivery throughput."""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from feed import notify
from feed.digest import DigestOptions, Message, digest_message
from feed.filters import Filter
from feed.migrate import upgrade
from feed.models import Event, EventFile
from feed.state import shiplog_state
from integrations.chat import PLATFORMS

EVENTS = 10_000
START = datetime(2026, 11, 25, tzinfo=UTC)


def render_digest(events: int = EVENTS, rounds: int = 5) -> dict[str, float]:
    """Milliseconds to turn a 10,000-event digest into each platform's payload (best of 5)."""
    timings: dict[str, float] = {}
    commits = sample(events)
    began = time.perf_counter()
    message = digest(commits, DigestOptions())
    timings["digest (grouping)"] = (time.perf_counter() - began) * 1000
    for name, module in PLATFORMS.items():
        best = float("inf")
        for _ in range(rounds):
            began = time.perf_counter()
            module.render(message)
            best = min(best, time.perf_counter() - began)
        timings[name] = best * 1000
    return timings


def render_every_event(events: int = 2000, rounds: int = 9) -> dict[str, float]:
    """Median milliseconds of `rounds` renders of a 2,000-event digest that accounts for
    every event (three lines of each message and three of each diff), per platform."""
    message = digest(sample(events), DigestOptions(max_items=50, message_lines=3, diff_lines=3))
    timings: dict[str, float] = {}
    for name, module in PLATFORMS.items():
        runs = []
        for _ in range(rounds):
            began = time.perf_counter()
            module.render(message)
            runs.append((time.perf_counter() - began) * 1000)
        timings[name] = statistics.median(runs)
    return timings


def sample(events: int) -> list[Event]:
    """Commits to 40 repositories, a few a second, with a message and a patch each."""
    return [
        Event(
            id=n + 1,
            uid=f"commit:acme/r{n % 40}:{n:040x}",
            kind="commit" if n % 17 else "revert",
            repo=f"acme/service-{n % 40}",
            branch="main",
            actor=f"dev{n % 25}",
            sha=f"{n:040x}",
            title=f"Change {n}: <b>tune</b> the @here cache & *retry*",
            body="Second line\nThird line of the message, a little longer than the rest",
            url=f"https://github.com/acme/r/commit/{n:040x}",
            occurred_at=START + timedelta(seconds=n // 3),
            updated_at=START,
            data={"stats": {"files": 3, "additions": 10, "deletions": 2}},
            files=[EventFile(path="app.py", status="modified", patch="@@ -1 +1 @@\n-old\n+new")],
        )
        for n in range(events)
    ]


def digest(events: list[Event], options: DigestOptions) -> Message:
    return digest_message(
        events,
        since=START,
        until=START + timedelta(days=1),
        options=options,
        event_url=lambda e: f"https://shiplog.example/events/{e.id}",
        listing=notify.listing_after(
            lambda rule: f"https://shiplog.example/?{urlencode(rule.to_args())}"
        ),
        rule=Filter(repos=("acme/*",)),
    )


def delivery_throughput(messages: int = 500) -> dict[str, float]:
    """Messages per second one worker delivers to the fake chat server (webhook platform)."""
    from app import create_app
    from feed import notify
    from feed.commands import load_chat_config
    from feed.store import EventRecord, upsert_event
    from feed.worker import run_due
    from tests.fake_chat import FakeChat
    from worker_setup import worker_parts

    with FakeChat().running() as chat, tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                "CHANNELS": [{"name": "hook", "platform": "webhook", "url": chat.url("/in")}],
                "SECURITY": {"allow_webhook_hosts": ["127.0.0.1"]},
                "SUBSCRIPTIONS": [
                    {
                        "name": "all",
                        "channel": "hook",
                        "mode": "realtime",
                        "filter": {"kind": ["commit"]},
                    }
                ],
            }
        )
        shiplog = shiplog_state(app)
        upgrade(shiplog.db.engine)
        with app.app_context():
            load_chat_config(shiplog)
        now = datetime.now(UTC)
        records = [
            EventRecord(
                uid=f"commit:acme/api:{n:040x}",
                kind="commit",
                repo="acme/api",
                title=f"Change {n}",
                occurred_at=now,
            )
            for n in range(messages)
        ]
        with shiplog.db.write() as session:
            for record in records:
                upsert_event(session, record)
            notify.enqueue_alerts(session, records, now)
        handlers, _ = worker_parts(shiplog)
        began = time.perf_counter()
        sent = run_due(shiplog.db, handlers)
        seconds = time.perf_counter() - began
        assert sent == messages == len(chat.received)
        shiplog.db.dispose()
    return {"messages": messages, "seconds": seconds, "per_second": messages / seconds}
