"""A channel in trouble is put aside and costs the others nothing; once back, it gets every
message it missed, once each and in order. Webhook in, fake chat server out."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from feed.models import Channel
from feed.state import shiplog_state
from integrations.chat import delivery
from tests.conftest import deliver
from tests.fake_chat import Answer
from tests.feed.test_worker import WAIT, running
from tests.feed.web.test_metrics import samples
from tests.integrations.chat.test_delivery import chat, jobs, make_app, make_due, revert_push, work
from worker_setup import make_worker

__all__ = ["chat"]  # the fixture, used by name

ADMIN = {"Authorization": "Bearer admin-token-123"}


@pytest.fixture
def two_channels(app_config, chat, isolated_env):
    channels = [
        {"name": name, "platform": "webhook", "url": chat.url(f"/{name}")}
        for name in ("up", "down")
    ]
    subscriptions = [
        {"name": f"{name}-alerts", "channel": name, "mode": "realtime"} for name in ("up", "down")
    ]
    app = make_app({**app_config, "ADMIN_TOKEN": "admin-token-123"}, chat, channels, subscriptions)
    yield app
    shiplog_state(app).db.dispose()


def reverts(app, count: int) -> list[str]:
    """`count` reverts pushed one by one; the links to their events, in order."""
    client = app.test_client()
    for n in range(count):
        assert deliver(client, "push", revert_push(f"{n:02d}" * 20)).status_code == 200
    return [f"https://shiplog.example/events/{n + 1}" for n in range(count)]


def shas_received(chat, path: str) -> list[str]:
    """The events the channel was told about, in the order it was told."""
    return [r.json["url"] for r in chat.to(path)]


def channel(app, name: str) -> Channel:
    with shiplog_state(app).db.read() as session:
        return session.scalars(select(Channel).where(Channel.name == name)).one()


def test_a_failing_channel_is_put_aside_then_gets_every_message_once_in_order(
    two_channels, chat
) -> None:
    app = two_channels
    chat.answer("/down", *[Answer(500, "oops")] * delivery.CIRCUIT_AFTER)
    shas = reverts(app, 4)
    for attempt in range(1, delivery.CIRCUIT_AFTER + 1):
        work(app)
        if attempt < delivery.CIRCUIT_AFTER:
            assert channel(app, "down").circuit_until is None  # quick retries first
            make_due(app)
    assert shas_received(chat, "/up") == shas  # the healthy channel: all, in order
    assert chat.to("/down") == []
    down = channel(app, "down")
    assert down.failures == delivery.CIRCUIT_AFTER
    assert down.circuit_until > datetime.now(UTC) + timedelta(seconds=10)

    waiting = sorted((j for j in jobs(app) if j.state == "due"), key=lambda j: j.id)
    assert len(waiting) == 4 and [j.attempts for j in waiting] == [3, 0, 0, 0]
    assert work(app) == 0  # put aside: nothing of it is even tried before its time
    client = app.test_client()
    page = client.get("/admin/deliveries", headers=ADMIN).get_data(as_text=True)
    assert "put aside until" in page and "3 failures in a row" in page
    metrics = samples(client)
    assert (
        metrics[("shiplog_chat_circuit_open", (("channel", "down"), ("platform", "webhook")))] == 1
    )

    make_due(app)  # the circuit's time is up; the channel answers again
    work(app)
    assert shas_received(chat, "/down") == shas
    assert {j.state for j in jobs(app)} == {"done"}
    assert (channel(app, "down").failures, channel(app, "down").circuit_until) == (0, None)
    assert ("shiplog_chat_circuit_open", (("channel", "down"), ("platform", "webhook"))) not in (
        samples(client)
    )


def test_a_hanging_channel_costs_the_others_nothing(two_channels, chat, monkeypatch) -> None:
    """The worker runs as `shiplog run` runs it: every send to one channel hangs past the
    read timeout, and the other channel still gets every alert at once."""
    from integrations.chat import http

    monkeypatch.setattr(http, "TIMEOUT", (1.0, 0.3))
    hang = threading.Event()
    chat.answer("/down", *[Answer(200, "ok", delay=1.0)] * 20)
    app = two_channels
    shiplog = shiplog_state(app)
    worker = make_worker(shiplog, ("alerts",))
    worker.idle_seconds = 60
    with running(worker):
        shas = reverts(app, 5)
        deadline = datetime.now(UTC) + timedelta(seconds=WAIT)
        while len(chat.to("/up")) < 5 and datetime.now(UTC) < deadline:
            hang.wait(0.05)
    assert shas_received(chat, "/up") == shas
    latencies = [j.latency_seconds for j in jobs(app) if j.key.startswith("deliver:1:")]
    assert max(latencies) < 2.0, latencies
    assert channel(app, "down").failures >= 1  # it timed out, and its next try waits


def test_the_admin_page_and_metrics_show_lanes_and_alert_latency(two_channels, chat) -> None:
    app = two_channels
    reverts(app, 2)
    client = app.test_client()
    metrics = samples(client)
    assert metrics[("shiplog_lane_jobs_due", (("lane", "alerts"),))] == 4
    assert metrics[("shiplog_lane_jobs_due", (("lane", "github"),))] == 2  # patch fetches
    work(app)
    metrics = samples(client)
    assert metrics[("shiplog_lane_jobs_due", (("lane", "alerts"),))] == 0
    count = metrics[("shiplog_alert_latency_seconds_count", (("platform", "webhook"),))]
    within = metrics[
        ("shiplog_alert_latency_seconds_bucket", (("le", "5.0"), ("platform", "webhook")))
    ]
    assert count == within == 4
    page = client.get("/admin/deliveries", headers=ADMIN).get_data(as_text=True)
    assert 'id="lanes"' in page and "No channel is put aside." in page
    assert "<td>webhook</td><td>4</td>" in page
