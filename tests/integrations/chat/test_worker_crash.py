"""A worker killed with SIGKILL in the middle of a delivery batch, then started again: every
message is delivered, and only the one in flight at the kill may arrive twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from app import create_app, load_chat_config
from feed import notify
from feed.models import Job
from feed.store import upsert_events
from tests.conftest import make_record
from tests.fake_chat import Answer, FakeChat

MESSAGES = 120
LEASE_SECONDS = 2


def test_a_killed_worker_loses_nothing_and_doubles_at_most_one(
    database_url, tmp_path: Path, monkeypatch
) -> None:
    with FakeChat().running() as chat:
        chat.answer("/in", *[Answer(delay=0.02) for _ in range(MESSAGES * 2)])
        config = tmp_path / "shiplog.toml"
        config.write_text(
            f'[[channels]]\nname = "hook"\nplatform = "webhook"\nurl = "{chat.url("/in")}"\n'
            '[[subscriptions]]\nname = "all-commits"\nchannel = "hook"\nmode = "realtime"\n'
            'filter = { kind = ["commit"] }\n'
        )
        for name in list(os.environ):
            if name.startswith("SHIPLOG_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("SHIPLOG_CONFIG", str(config))
        app = create_app({"DATABASE_URL": database_url})
        shiplog = app.extensions["shiplog"]
        with app.app_context():
            load_chat_config(shiplog)
        now = datetime.now(UTC)
        records = [make_record(occurred_at=now, title=f"Commit {n}") for n in range(MESSAGES)]
        with shiplog.db.write() as session:
            upsert_events(session, records)
            assert notify.enqueue_alerts(session, records, now) == MESSAGES

        env = {
            **os.environ,
            "SHIPLOG_DATABASE_URL": database_url,
            "SHIPLOG_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        worker = [str(Path(sys.executable).with_name("shiplog")), "worker", "--once"]
        first = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(chat.to("/in")) < MESSAGES // 4:  # well into its batches
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        delivered_before_restart = len(chat.to("/in"))
        assert delivered_before_restart < MESSAGES

        time.sleep(LEASE_SECONDS + 0.5)  # the dead worker's claims lapse
        second = subprocess.run(worker, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr

        titles = Counter(item.json["sections"][0]["lines"][0]["text"] for item in chat.to("/in"))
        assert set(titles) == {f"Commit {n}" for n in range(MESSAGES)}
        assert sum(count - 1 for count in titles.values()) <= 1
        with shiplog.db.read() as session:
            states = dict(
                session.execute(
                    select(Job.state, func.count()).where(Job.kind == "deliver").group_by(Job.state)
                ).all()
            )
        assert states == {"done": MESSAGES}
        shiplog.db.dispose()
