"""Two worker processes drain 1,000 messages: each delivered once, none lost."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from app import create_app, load_chat_config
from feed import notify
from feed.models import Job
from feed.store import upsert_event
from tests.conftest import make_record
from tests.fake_chat import FakeChat

MESSAGES = 1000


def test_two_workers_deliver_each_message_exactly_once(
    database_url, tmp_path: Path, monkeypatch
) -> None:
    with FakeChat().running() as chat:
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
            for record in records:
                upsert_event(session, record)
            assert notify.enqueue_alerts(session, records, now) == MESSAGES

        env = {**os.environ, "SHIPLOG_DATABASE_URL": database_url}
        shiplog_cli = Path(sys.executable).with_name("shiplog")
        workers = [
            subprocess.Popen(
                [str(shiplog_cli), "worker", "--once"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=300)[0] for worker in workers]
        assert all(worker.returncode == 0 for worker in workers), outputs
        ran = [int(output.split("worker ran ")[1].split()[0]) for output in outputs]

        titles = Counter(item.json["sections"][0]["lines"][0]["text"] for item in chat.to("/in"))
        assert len(titles) == MESSAGES
        assert set(titles.values()) == {1}
        assert sum(ran) == MESSAGES
        with shiplog.db.read() as session:
            states = dict(
                session.execute(
                    select(Job.state, func.count()).where(Job.kind == "deliver").group_by(Job.state)
                ).all()
            )
        assert states == {"done": MESSAGES}
        shiplog.db.dispose()
