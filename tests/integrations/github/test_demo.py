"""The demo: `shiplog demo` and `shiplog demo --clear`, seen through the pages and the API."""

from __future__ import annotations

from typing import Any

import feedparser
from flask import Flask
from sqlalchemy import func, select

from feed.models import Base, Event
from feed.state import shiplog_state


def shown(app: Flask) -> dict[str, Any]:
    """What a reader sees of the timeline and the incidents."""
    client = app.test_client()
    incidents = client.get("/api/incidents").json["incidents"]
    return {
        # Kinds and titles: a resolution's uid holds its time, and the demo is relative to now.
        "events": [
            (e["kind"], e["title"]) for e in client.get("/api/events?limit=200").json["events"]
        ],
        "incidents": [(i["uid"], i["status"], i["severity"]) for i in incidents],
        "incident pages": [client.get(f"/incidents/{i['id']}").status_code for i in incidents],
        "timelines": [client.get(f"/api/incidents/{i['id']}").json["events"] for i in incidents],
        "status": client.get("/api/status").json["recent"],
        "status feed": len(feedparser.parse(client.get("/status.atom").data).entries),
        "demo banner": "demo data" in client.get("/").get_data(as_text=True),
    }


def rows(app: Flask) -> dict[str, int]:
    with shiplog_state(app).db.read() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def test_clearing_the_demo_removes_all_of_it_and_loading_brings_it_all_back(app) -> None:
    runner = app.test_cli_runner()
    empty = rows(app)
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    loaded = shown(app)
    assert loaded["incidents"] == [("incident:acme/api#42", "resolved", "sev2")]
    assert loaded["incident pages"] == [200] and loaded["timelines"][0] == 4
    assert loaded["status feed"] == 1 and loaded["demo banner"]
    assert f"loaded {len(loaded['events'])} demo events" in first.output
    incident_id = app.test_client().get("/api/incidents").json["incidents"][0]["id"]

    cleared = runner.invoke(args=["demo", "--clear"])
    assert cleared.exit_code == 0, cleared.output
    assert f"removed {len(loaded['events'])} demo events" in cleared.output
    nothing = {"events": [], "incidents": [], "incident pages": [], "timelines": []}
    nothing |= {"status": [], "status feed": 0, "demo banner": False}
    assert shown(app) == nothing
    client = app.test_client()
    assert client.get(f"/incidents/{incident_id}").status_code == 404
    assert client.get(f"/api/incidents/{incident_id}").status_code == 404
    assert rows(app) == empty  # deliveries, aliases, repositories: nothing stays behind

    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0, again.output
    assert f"loaded {len(loaded['events'])} demo events" in again.output
    reloaded = shown(app)
    for key in ("events", "incidents", "timelines", "status feed", "demo banner"):
        assert reloaded[key] == loaded[key], key
    assert reloaded["incident pages"] == [200]


def test_loading_the_demo_twice_adds_nothing(app) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["demo"])
    before = rows(app)
    assert "loaded 0 demo events" in runner.invoke(args=["demo"]).output
    assert rows(app) == before
    with shiplog_state(app).db.read() as session:
        assert session.scalar(select(func.count()).select_from(Event)) > 0
