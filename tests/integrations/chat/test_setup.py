"""The config file's channels and subscriptions in the database: written before a process's
first alert, retired when the config no longer lists them, never what the admin API made."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click
import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from feed import notify
from feed.commands import load_chat_config
from feed.models import Channel, Job, Subscription
from feed.state import shiplog_state
from tests.conftest import database_rows, deliver
from tests.fake_chat import FakeChat
from tests.integrations.chat.test_delivery import revert_push, work

ADMIN = {"Authorization": "Bearer admin-token-123"}


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    with FakeChat().running() as fake:
        yield fake


@pytest.fixture
def apps(app_config: dict[str, Any], isolated_env: None) -> Iterator[Any]:
    """Make apps (each a process of its own) over the test's database with a chat config."""
    made: list[Flask] = []

    def make(channels: list[dict[str, Any]], subscriptions: list[dict[str, Any]]) -> Flask:
        config = {**app_config, "ADMIN_TOKEN": "admin-token-123"}
        made.append(create_app({**config, "CHANNELS": channels, "SUBSCRIPTIONS": subscriptions}))
        return made[-1]

    yield make
    for app in made:
        shiplog_state(app).db.dispose()


def hook(chat: FakeChat, name: str) -> dict[str, str]:
    return {"name": name, "platform": "webhook", "url": chat.url(f"/{name}")}


def names(app: Flask) -> tuple[dict[str, str], dict[str, str]]:
    """Each channel's and each subscription's source, by name."""
    with shiplog_state(app).db.read() as session:
        channels = {c.name: c.source for c in session.scalars(select(Channel))}
        subscriptions = {s.name: s.source for s in session.scalars(select(Subscription))}
    return channels, subscriptions


def test_what_the_config_no_longer_lists_is_retired_and_sends_nothing(apps, chat) -> None:
    before = apps(
        [hook(chat, "eng"), hook(chat, "ops")],
        [
            {"name": "alerts", "channel": "eng"},
            {"name": "ops-alerts", "channel": "ops"},
            {"name": "daily", "channel": "eng", "mode": "digest", "schedule": "0 9 * * *"},
        ],
    )
    client = before.test_client()
    assert client.post("/api/channels", json=hook(chat, "mine"), headers=ADMIN).status_code == 201
    mine = {"name": "my-alerts", "channel": "mine"}
    assert client.post("/api/subscriptions", json=mine, headers=ADMIN).status_code == 201
    deliver(client, "push", revert_push("a1" * 20))  # the first ingest writes the config
    with shiplog_state(before).db.write() as session:
        notify.schedule_digests(session, datetime.now(UTC))
    with shiplog_state(before).db.read() as session:
        queued = session.scalars(select(Job.kind).where(Job.kind.in_(("deliver", "digest"))))
        assert sorted(queued) == ["deliver"] * 3 + ["digest"]

    after = apps([hook(chat, "eng")], [{"name": "alerts", "channel": "eng"}])  # a restart
    deliver(after.test_client(), "push", revert_push("b2" * 20))
    assert names(after) == (
        {"eng": "config", "mine": "api"},
        {"alerts": "config", "my-alerts": "api"},
    )
    work(after)
    assert len(chat.to("/eng")) == 2 and len(chat.to("/mine")) == 2
    assert chat.to("/ops") == []
    with shiplog_state(after).db.read() as session:
        kept = {s.id for s in session.scalars(select(Subscription))}
        left = session.scalars(select(Job.payload).where(Job.kind.in_(("deliver", "digest"))))
        assert {payload["subscription"] for payload in left} <= kept


def test_a_config_channel_an_admin_subscription_sends_to_stays(apps, chat, caplog) -> None:
    before = apps([hook(chat, "eng")], [{"name": "alerts", "channel": "eng"}])
    client = before.test_client()
    mine = {"name": "mine", "channel": "eng"}
    assert client.post("/api/subscriptions", json=mine, headers=ADMIN).status_code == 201
    after = apps([], [])
    with after.app_context(), caplog.at_level(logging.WARNING):
        load_chat_config(shiplog_state(after))
    assert names(after) == ({"eng": "config"}, {"mine": "api"})
    assert "channel eng is no longer in the config" in caplog.text
    deliver(after.test_client(), "push", revert_push())
    work(after)
    assert len(chat.to("/eng")) == 1


def test_a_bad_channel_url_is_one_line_and_changes_nothing(apps, chat) -> None:
    good = apps([hook(chat, "eng")], [{"name": "alerts", "channel": "eng"}])
    with good.app_context():
        load_chat_config(shiplog_state(good))
    db = shiplog_state(good).db
    before = database_rows(db)
    bad = apps([{"name": "eng", "platform": "slack", "url": "ftp://hooks.slack.com/x"}], [])
    with bad.app_context(), pytest.raises(click.ClickException) as refused:
        load_chat_config(shiplog_state(bad))
    message = refused.value.format_message()
    assert message.startswith("config: channel eng:") and "\n" not in message
    assert "hooks.slack.com/x" not in message
    answer = deliver(bad.test_client(), "push", revert_push())  # a web process: a 503
    assert answer.status_code == 503 and "config: channel eng:" in answer.json["error"]
    assert database_rows(db) == before


def test_processes_writing_the_config_at_once_all_succeed(apps, chat) -> None:
    config = ([hook(chat, "eng"), hook(chat, "ops")], [{"name": "alerts", "channel": "eng"}])
    started = [apps(*config) for _ in range(4)]
    barrier = threading.Barrier(len(started))
    failures: list[BaseException] = []

    def start(app: Flask) -> None:
        barrier.wait()
        try:
            with app.app_context():
                load_chat_config(shiplog_state(app))
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(app,)) for app in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert names(started[0]) == ({"eng": "config", "ops": "config"}, {"alerts": "config"})
