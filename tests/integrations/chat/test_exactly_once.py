"""Messages go out once, whatever the workers do: two worker processes drain 300 messages
with none lost or doubled; a worker killed with SIGKILL in the middle of a batch and started
again loses nothing and doubles at most the one message in flight at the kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app import create_app
from feed import notify
from feed.commands import load_chat_config
from feed.models import Job
from feed.state import Shiplog, shiplog_state
from feed.store import upsert_events
from tests.conftest import assert_no_secrets, make_record, subprocess_secrets_env
from tests.fake_chat import Answer, FakeChat

MESSAGES = 300  # enough for two workers to interleave many times
CRASH_MESSAGES = 120
WORKER = [str(Path(sys.executable).with_name("shiplog")), "worker", "--once"]


def queue_commit_alerts(
    database_url: str, folder: Path, monkeypatch: pytest.MonkeyPatch, url: str, count: int
) -> Shiplog:
    """An app whose one realtime subscription sends every commit to `url`, with the alerts
    of `count` new commits queued."""
    config = folder / "shiplog.toml"
    config.write_text(
        f'[[channels]]\nname = "hook"\nplatform = "webhook"\nurl = "{url}"\n'
        '[[subscriptions]]\nname = "all-commits"\nchannel = "hook"\nmode = "realtime"\n'
        'filter = { kind = ["commit"] }\n'
        '[security]\nallow_webhook_hosts = ["127.0.0.1"]\n'
    )
    for name in list(os.environ):
        if name.startswith("SHIPLOG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SHIPLOG_CONFIG", str(config))
    app = create_app({"DATABASE_URL": database_url})
    shiplog = shiplog_state(app)
    with app.app_context():
        load_chat_config(shiplog)
    now = datetime.now(UTC)
    records = [make_record(occurred_at=now, title=f"Commit {n}") for n in range(count)]
    with shiplog.db.write() as session:
        upsert_events(session, records)
        assert notify.enqueue_alerts(session, records, now) == count
    return shiplog


def received_titles(chat: FakeChat) -> Counter[str]:
    return Counter(item.json["sections"][0]["lines"][0]["text"] for item in chat.to("/in"))


def delivery_states(shiplog: Shiplog) -> dict[str, int]:
    with shiplog.db.read() as session:
        rows = session.execute(
            select(Job.state, func.count()).where(Job.kind == "deliver").group_by(Job.state)
        )
        return dict(rows.all())


def test_two_workers_deliver_each_message_exactly_once(
    database_url, tmp_path: Path, monkeypatch
) -> None:
    with FakeChat().running() as chat:
        shiplog = queue_commit_alerts(
            database_url, tmp_path, monkeypatch, chat.url("/in"), MESSAGES
        )
        env = {**os.environ, **subprocess_secrets_env(None), "SHIPLOG_DATABASE_URL": database_url}
        workers = [
            subprocess.Popen(
                WORKER, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=300)[0] for worker in workers]
        assert all(worker.returncode == 0 for worker in workers), outputs
        assert_no_secrets("worker output", *outputs)
        ran = [int(output.split("worker ran ")[1].split()[0]) for output in outputs]

        titles = received_titles(chat)
        assert len(titles) == MESSAGES
        assert set(titles.values()) == {1}
        assert sum(ran) == MESSAGES
        assert delivery_states(shiplog) == {"done": MESSAGES}
        shiplog.db.dispose()


def test_a_killed_worker_loses_nothing_and_doubles_at_most_one(
    database_url, tmp_path: Path, monkeypatch
) -> None:
    killed = threading.Event()
    # Slow answers until the kill, so it lands in the middle of a batch; quick ones after.
    slow = Answer(delay=0.02)
    with FakeChat(lambda path: Answer() if killed.is_set() else slow).running() as chat:
        shiplog = queue_commit_alerts(
            database_url, tmp_path, monkeypatch, chat.url("/in"), CRASH_MESSAGES
        )
        env = {
            **os.environ,
            **subprocess_secrets_env(None),
            "SHIPLOG_DATABASE_URL": database_url,
        }
        with (tmp_path / "first.log").open("w") as log:  # the child keeps its own copy
            first = subprocess.Popen(WORKER, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while len(chat.to("/in")) < CRASH_MESSAGES // 4:  # well into its batches
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed.set()
        assert len(chat.to("/in")) < CRASH_MESSAGES

        with shiplog.db.write() as session:  # time moves on: the dead worker's claims lapse
            session.execute(
                update(Job).values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
            )
        second = subprocess.run(WORKER, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr
        assert_no_secrets(
            "worker output", (tmp_path / "first.log").read_text(), second.stdout, second.stderr
        )

        titles = received_titles(chat)
        assert set(titles) == {f"Commit {n}" for n in range(CRASH_MESSAGES)}
        assert sum(count - 1 for count in titles.values()) <= 1
        assert delivery_states(shiplog) == {"done": CRASH_MESSAGES}
        shiplog.db.dispose()
