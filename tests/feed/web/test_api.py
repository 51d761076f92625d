"""GET /api/events and /api/events/<id>."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from feed.models import Event
from feed.store import FileRecord
from tests.conftest import make_event

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def test_events_have_the_design_fields_and_page_with_a_cursor(client, db) -> None:
    with db.write() as session:
        for index in range(5):
            make_event(session, title=f"Change {index}", occurred_at=T0 + timedelta(minutes=index))
    first = client.get("/api/events?limit=2").json
    assert [e["title"] for e in first["events"]] == ["Change 4", "Change 3"]
    event = first["events"][0]
    assert set(event) == {
        "id",
        "uid",
        "kind",
        "repo",
        "branch",
        "actor",
        "sha",
        "title",
        "body",
        "url",
        "occurred_at",
        "updated_at",
        "data",
        "html_url",
        "pull",  # the merged PR that brought it: tests/integrations/github/test_pulls.py
    }
    assert event["pull"] is None
    assert event["occurred_at"] == "2026-11-01T09:04:00Z"
    assert event["html_url"] == f"http://localhost/events/{event['id']}"
    second = client.get(f"/api/events?limit=2&cursor={first['next_cursor']}").json
    third = client.get(f"/api/events?limit=2&cursor={second['next_cursor']}").json
    assert [e["title"] for e in second["events"] + third["events"]] == [
        "Change 2",
        "Change 1",
        "Change 0",
    ]
    assert third["next_cursor"] is None


def test_the_filters_apply(client, db) -> None:
    with db.write() as session:
        make_event(session, title="web", repo="acme/web")
        make_event(session, title="api", repo="acme/api", kind="revert")
    assert [e["title"] for e in client.get("/api/events?kind=revert").json["events"]] == ["api"]
    assert [e["title"] for e in client.get("/api/events?repo=acme/w*").json["events"]] == ["web"]


def test_one_event_carries_its_files_and_patches(client, db) -> None:
    with db.write() as session:
        make_event(
            session,
            files=[
                FileRecord(
                    path="a.py",
                    status="modified",
                    additions=1,
                    deletions=1,
                    patch="@@ -1 +1 @@\n-a\n+b",
                ),
                FileRecord(path="logo.png", status="added"),
            ],
        )
        event_id = session.scalar(select(Event.id))
    document = client.get(f"/api/events/{event_id}").json
    assert document["files"] == [
        {
            "path": "a.py",
            "status": "modified",
            "previous_path": None,
            "additions": 1,
            "deletions": 1,
            "patch": "@@ -1 +1 @@\n-a\n+b",
            "patch_status": "pending",
        },
        {
            "path": "logo.png",
            "status": "added",
            "previous_path": None,
            "additions": None,
            "deletions": None,
            "patch": None,
            "patch_status": "pending",
        },
    ]


def test_an_unknown_event_is_a_json_404(client) -> None:
    response = client.get("/api/events/424242")
    assert response.status_code == 404
    assert response.json == {"error": "There is no event 424242."}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("kind=nope", "kind: 'nope' is not one of"),
        ("limit=500", "limit: expected a whole number from 1 to 200"),
        ("cursor=abc", "cursor: not a cursor this server made"),
        ("since=2026-11-02&until=2026-11-01", "since: must be earlier than until"),
        ("fields=all", "unknown query argument 'fields'"),
    ],
)
def test_bad_queries_are_json_400s(client, query: str, message: str) -> None:
    response = client.get(f"/api/events?{query}")
    assert response.status_code == 400
    assert message in response.json["error"]


def test_unknown_api_paths_and_methods_answer_in_json(client) -> None:
    assert client.get("/api/nothing").json == {"error": _not_found()}
    response = client.post("/api/events")
    assert response.status_code == 405
    assert "error" in response.json
    assert "GET" in response.headers["Allow"]


def _not_found() -> str:
    from werkzeug.exceptions import NotFound

    return NotFound.description


def test_the_event_list_answers_304_when_nothing_changed(client, db) -> None:
    with db.write() as session:
        make_event(session)
    first = client.get("/api/events?limit=5")
    etag = first.headers["ETag"]
    assert client.get("/api/events?limit=5", headers={"If-None-Match": etag}).status_code == 304
    with db.write() as session:
        make_event(session, occurred_at=T0 + timedelta(days=1))
    assert client.get("/api/events?limit=5", headers={"If-None-Match": etag}).status_code == 200
