"""No template is handed the settings or a secret: every page's context is checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Config, Flask, template_rendered
from jinja2 import Template
from sqlalchemy import select

from app import create_app
from feed.config import Settings
from feed.models import Event
from feed.state import shiplog_state
from tests.conftest import ADMIN_TOKEN, WATCHED_SECRETS, make_event
from tests.feed.web.test_incident_pages import open_incident


@pytest.fixture
def admin_app(app_config: dict[str, Any], isolated_env: None) -> Iterator[Flask]:
    app = create_app({**app_config, "ADMIN_TOKEN": ADMIN_TOKEN, "GITHUB_TOKEN": "test-token"})
    yield app
    shiplog_state(app).db.dispose()


def page_urls(app: Flask, ids: dict[str, int]) -> list[str]:
    """Every GET route of the app, its id arguments filled with rows that exist."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        if set(rule.arguments) - set(ids):
            continue
        urls.append(rule.build({name: ids[name] for name in rule.arguments})[1])
    return urls


def test_no_template_context_carries_settings_or_secrets(admin_app: Flask) -> None:
    client = admin_app.test_client()
    with shiplog_state(admin_app).db.write() as session:
        event = make_event(session, title="Ship it")
    open_incident(client)
    with shiplog_state(admin_app).db.read() as session:
        event_id = session.scalars(select(Event.id).where(Event.uid == event.uid)).one()
    contexts: list[tuple[str, dict[str, Any]]] = []

    def record(sender: Flask, template: Template, context: dict[str, Any], **extra: Any) -> None:
        contexts.append((template.name or "?", dict(context)))

    urls = page_urls(admin_app, {"event_id": event_id, "incident_id": 1, "name": 1})
    with template_rendered.connected_to(record, admin_app):
        for url in [*urls, "/no-such-page"]:
            client.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).close()
    rendered = {name for name, _ in contexts}
    assert {
        "activity.html",
        "event.html",
        "incident.html",
        "status.html",
        "admin_sync.html",
        "admin_deliveries.html",
        "error.html",
    } <= rendered
    for name, context in contexts:
        assert "settings" not in context, name
        for key, value in context.items():
            assert not isinstance(value, Settings | Config), f"{name}: {key}"
            held = [secret for secret in WATCHED_SECRETS if secret in repr(value)]
            assert held == [], f"{name}: {key}"
