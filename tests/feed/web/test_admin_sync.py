"""The admin's view of the GitHub sync: each repository's state, budget and pending jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from app import create_app
from feed.jobs import enqueue
from feed.models import Job, Repo
from feed.state import shiplog_state

ADMIN = {"Authorization": "Bearer admin-token-123"}
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def admin_app(app_config, isolated_env):
    app = create_app({**app_config, "ADMIN_TOKEN": "admin-token-123"})
    with shiplog_state(app).db.write() as session:
        session.add(
            Repo(
                full_name="acme/api",
                sync_status="ok",
                last_synced_at=NOW - timedelta(minutes=3),
                api_requests=412,
                rate_limit_remaining=4_100,
                rate_limit_reset_at=NOW + timedelta(minutes=20),
            )
        )
        session.add(Repo(full_name="acme/gone", sync_status="gone", sync_reason="404 Not Found"))
        session.add(Repo(full_name="demo/app", is_demo=True))
        enqueue(session, "sync", "sync:acme/api", {"repo": "acme/api"}, due_at=NOW)
        for n in range(3):
            enqueue(session, "patches", f"patches:acme/api:{n}", {"repo": "acme/api"})
        session.add(
            Job(
                key="patches:acme/api:dead",
                kind="patches",
                payload={"repo": "acme/api"},
                state="dead",
                due_at=NOW,
                last_error="500",
            )
        )
    yield app
    shiplog_state(app).db.dispose()


def test_each_tracked_repository_shows_its_sync_state(admin_app: Flask) -> None:
    answer = admin_app.test_client().get("/api/sync", headers=ADMIN)
    assert answer.status_code == 200
    api, gone = answer.json["repos"]
    assert (api["repo"], api["status"], api["api_requests"]) == ("acme/api", "ok", 412)
    assert api["rate_limit_remaining"] == 4_100 and api["next_sync_at"] is not None
    assert (api["jobs_due"], api["jobs_dead"]) == (4, 1)
    assert (gone["status"], gone["reason"], gone["jobs_due"]) == ("gone", "404 Not Found", 0)
    page = admin_app.test_client().get("/admin/sync", headers=ADMIN).text
    assert "acme/gone" in page and "404 Not Found" in page and "demo/app" not in page


def test_the_sync_view_is_the_admins_alone(admin_app: Flask, app_config, isolated_env) -> None:
    client = admin_app.test_client()
    assert client.get("/api/sync").status_code == 401
    assert client.get("/admin/sync", headers={"Authorization": "Bearer nope"}).status_code == 401
    off = create_app(app_config)
    assert off.test_client().get("/api/sync").status_code == 403
    shiplog_state(off).db.dispose()
