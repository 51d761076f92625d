"""Benchmarks of chat: rendering a 10,000-event digest per platform, and delivery throughput."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta

from feed.digest import DigestOptions, digest_message
from feed.migrate import upgrade
from feed.models import Event
from integrations.chat import PLATFORMS

EVENTS = 10_000


def render_digest(events: int = EVENTS, rounds: int = 5) -> dict[str, float]:
    """Milliseconds to turn a 10,000-event digest into each platform's payload (best of 5)."""
    start = datetime(2026, 11, 25, tzinfo=UTC)
    sample = [
        Event(
            id=n,
            uid=f"commit:acme/r{n % 40}:{n:040x}",
            kind="commit" if n % 17 else "revert",
            repo=f"acme/service-{n % 40}",
            branch="main",
            actor=f"dev{n % 25}",
            sha=f"{n:040x}",
            title=f"Change {n}: <b>tune</b> the @here cache & *retry*",
            body="Second line\nThird line",
            url=f"https://github.com/acme/r/commit/{n:040x}",
            occurred_at=start + timedelta(seconds=n),
            updated_at=start,
            data={"stats": {"files": 3, "additions": 10, "deletions": 2}},
        )
        for n in range(events)
    ]
    timings: dict[str, float] = {}
    began = time.perf_counter()
    message = digest_message(
        sample,
        since=start,
        until=start + timedelta(days=1),
        options=DigestOptions(),
        event_url=lambda e: f"https://shiplog.example/events/{e.id}",
        window_url="https://shiplog.example/?since=2026-11-25T00:00:00Z",
    )
    timings["digest (grouping)"] = (time.perf_counter() - began) * 1000
    for name, module in PLATFORMS.items():
        best = float("inf")
        for _ in range(rounds):
            began = time.perf_counter()
            module.render(message)
            best = min(best, time.perf_counter() - began)
        timings[name] = best * 1000
    return timings


def delivery_throughput(messages: int = 500) -> dict[str, float]:
    """Messages per second one worker delivers to the fake chat server (webhook platform)."""
    from app import create_app, load_chat_config, worker_parts
    from feed import notify
    from feed.store import EventRecord, upsert_event
    from feed.worker import run_due
    from tests.fake_chat import FakeChat

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
        shiplog = app.extensions["shiplog"]
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
