"""The admin API: off without a token, closed without the right one, secrets never shown."""

from __future__ import annotations

import pytest

from app import create_app
from feed.state import shiplog_state

TOKEN = "admin-token-123"
HOOK = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"


@pytest.fixture
def admin(app_config, isolated_env):
    app = create_app({**app_config, "ADMIN_TOKEN": TOKEN})
    yield app.test_client()
    shiplog_state(app).db.dispose()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_a_token_configured_the_admin_api_is_off(client) -> None:
    response = client.get("/api/channels", headers=auth())
    assert response.status_code == 403
    assert "SHIPLOG_ADMIN_TOKEN" in response.json["error"]


@pytest.mark.parametrize("headers", [{}, auth("wrong"), {"Authorization": TOKEN}])
def test_a_missing_or_wrong_token_is_401(admin, headers) -> None:
    response = admin.post("/api/channels", json={"name": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_channels_and_subscriptions_round_trip_without_showing_the_url(admin) -> None:
    created = admin.post(
        "/api/channels", headers=auth(), json={"name": "eng", "platform": "slack", "url": HOOK}
    )
    assert created.status_code == 201
    assert "SECRET" not in created.get_data(as_text=True)
    assert created.json["url"] == "https://hooks.slack.com/…"
    sub = admin.post(
        "/api/subscriptions",
        headers=auth(),
        json={
            "name": "morning",
            "channel": "eng",
            "mode": "digest",
            "schedule": "0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "filter": {"repo": ["acme/*"], "kind": ["commit"]},
            "options": {"max_items": 5},
        },
    )
    assert sub.status_code == 201, sub.json
    assert sub.json["filter"] == {"repo": ["acme/*"], "kind": ["commit"]}
    listed = admin.get("/api/subscriptions", headers=auth()).json["subscriptions"]
    assert [s["name"] for s in listed] == ["morning"]
    assert "SECRET" not in admin.get("/api/channels", headers=auth()).get_data(as_text=True)
    assert admin.delete("/api/channels/eng", headers=auth()).status_code == 204
    assert admin.get("/api/subscriptions", headers=auth()).json["subscriptions"] == []
    assert admin.delete("/api/channels/eng", headers=auth()).status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/channels", {"name": "x", "platform": "irc", "url": HOOK}, "unknown platform"),
        ("/api/channels", {"name": "bad name", "platform": "slack", "url": HOOK}, "name must"),
        ("/api/subscriptions", {"name": "s", "channel": "none"}, "no channel named"),
        ("/api/channels", ["not", "an", "object"], "send a JSON object"),
    ],
)
def test_bad_input_is_a_400_that_says_why(admin, path, body, message) -> None:
    response = admin.post(path, json=body, headers=auth())
    assert response.status_code == 400
    assert message in response.json["error"]


def test_the_delivery_log_lists_messages(admin) -> None:
    assert admin.get("/api/deliveries", headers=auth()).json == {"deliveries": []}


def test_the_preview_page_and_the_delivery_log(admin) -> None:
    admin.post(
        "/api/channels", headers=auth(), json={"name": "eng", "platform": "slack", "url": HOOK}
    )
    admin.post(
        "/api/subscriptions",
        headers=auth(),
        json={"name": "daily", "channel": "eng", "mode": "digest", "schedule": "0 9 * * *"},
    )
    page = admin.get("/admin/subscriptions/daily/preview", headers=auth())
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Nothing shipped." in text and "The exact slack payload" in text
    assert "SECRET" not in text
    assert admin.get("/admin/subscriptions/daily/preview").status_code == 401
    assert admin.get("/admin/subscriptions/nope/preview", headers=auth()).status_code == 404
    log = admin.get("/admin/deliveries", headers=auth())
    assert log.status_code == 200 and "eng" in log.get_data(as_text=True)


@pytest.mark.parametrize("remove", ["/api/subscriptions/alerts", "/api/channels/eng"])
def test_removing_a_subscription_or_its_channel_drops_its_queued_messages(
    app_config, isolated_env, remove
) -> None:
    """Nothing is sent for what was removed, and a subscription made later with the same id
    (SQLite gives the highest one again) inherits none of its messages."""
    from sqlalchemy import select

    from feed.models import Job
    from tests.conftest import deliver
    from tests.integrations.chat.test_delivery import revert_push

    app = create_app({**app_config, "ADMIN_TOKEN": TOKEN})
    client = app.test_client()
    client.post(
        "/api/channels", headers=auth(), json={"name": "eng", "platform": "slack", "url": HOOK}
    )
    client.post(
        "/api/subscriptions",
        headers=auth(),
        json={"name": "alerts", "channel": "eng", "mode": "realtime"},
    )
    assert deliver(client, "push", revert_push()).status_code == 200
    db = shiplog_state(app).db

    def messages() -> list[str]:
        with db.read() as session:
            return list(session.scalars(select(Job.key).where(Job.kind == "deliver")))

    assert len(messages()) == 1
    assert client.delete(remove, headers=auth()).status_code == 204
    assert messages() == []
    db.dispose()
