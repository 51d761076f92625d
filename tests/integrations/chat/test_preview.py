"""`shiplog digest preview` only reads: a subscription from the config file that is not in the
database yet, or one made through the admin API, and the database is the same afterwards."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import make_url

from app import create_app
from feed.models import Subscription
from feed.state import shiplog_state
from tests.conftest import database_rows, deliver
from tests.fake_chat import FakeChat
from tests.integrations.chat.test_delivery import revert_push

ADMIN = {"Authorization": "Bearer admin-token-123"}
NOW = datetime.now(UTC).replace(microsecond=0)
WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "BEGIN IMMEDIATE")


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    with FakeChat().running() as fake:
        yield fake


def file_bytes(database_url: str) -> bytes | None:
    """The SQLite file's bytes (and its write-ahead log's, if there is one); None elsewhere."""
    path = make_url(database_url).database
    if make_url(database_url).get_backend_name() != "sqlite" or not path:
        return None
    wal = Path(f"{path}-wal")
    return hashlib.sha256(
        Path(path).read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    ).digest()


def test_preview_writes_nothing(app_config: dict[str, Any], chat, isolated_env) -> None:
    admin = create_app({**app_config, "ADMIN_TOKEN": "admin-token-123"})
    client = admin.test_client()
    channel = {"name": "mine", "platform": "webhook", "url": chat.url("/mine")}
    assert client.post("/api/channels", json=channel, headers=ADMIN).status_code == 201
    daily = {"name": "mine-daily", "channel": "mine", "mode": "digest", "schedule": "0 9 * * *"}
    assert client.post("/api/subscriptions", json=daily, headers=ADMIN).status_code == 201
    deliver(client, "push", revert_push())
    shiplog_state(admin).db.dispose()

    app = create_app(  # a process with a config the database has not seen yet
        {
            **app_config,
            "CHANNELS": [{"name": "eng", "platform": "discord", "url": chat.url("/eng")}],
            "SUBSCRIPTIONS": [
                {"name": "daily", "channel": "eng", "mode": "digest", "schedule": "0 9 * * *"}
            ],
        }
    )
    db = shiplog_state(app).db
    rows = database_rows(db)
    db.dispose()
    stored = file_bytes(app_config["DATABASE_URL"])
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    window = ["--since", (NOW - timedelta(hours=1)).isoformat()]
    window += ["--until", (NOW + timedelta(hours=1)).isoformat()]
    runner = app.test_cli_runner()
    for name, platform_field in (("daily", "allowed_mentions"), ("mine-daily", "schema")):
        shown = runner.invoke(args=["digest", "preview", "--subscription", name, *window])
        assert shown.exit_code == 0, shown.output
        assert platform_field in json.loads(shown.output) and "1 revert" in shown.output
    missing = runner.invoke(args=["digest", "preview", "--subscription", "nope"])
    assert missing.exit_code == 2 and "no subscription 'nope'" in missing.output
    db.dispose()

    assert statements and not [s for s in statements if s.lstrip().upper().startswith(WRITES)]
    assert database_rows(db) == rows
    with db.read() as session:
        assert session.scalars(select(Subscription.name)).all() == ["mine-daily"]
    db.dispose()
    assert file_bytes(app_config["DATABASE_URL"]) == stored
    assert chat.received == []
