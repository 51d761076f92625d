"""The incident page, the status page, /api/status and the status feed."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from sqlalchemy import select

from app import create_app
from feed.models import Incident
from feed.state import shiplog_state
from feed.store import FileRecord
from tests.conftest import deliver, make_event

NOW = datetime.now(UTC).replace(microsecond=0)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def open_incident(
    client,
    number=7,
    opened=NOW - timedelta(hours=1),
    labels=("incident", "sev2", "component:api"),
    title="Checkout errors",
) -> None:
    issue = {
        "number": number,
        "title": title,
        "body": "Customers see **500s**",
        "state": "open",
        "html_url": f"https://github.com/acme/api/issues/{number}",
        "user": {"login": "sam"},
        "labels": [{"name": n} for n in labels],
        "created_at": stamp(opened),
        "updated_at": stamp(opened),
    }
    deliver(
        client,
        "issues",
        {"action": "opened", "issue": issue, "repository": {"full_name": "acme/api"}},
    )
    return issue


def comment(client, issue, ident, body, when) -> None:
    deliver(
        client,
        "issue_comment",
        {
            "action": "created",
            "issue": issue,
            "repository": {"full_name": "acme/api"},
            "comment": {
                "id": ident,
                "body": body,
                "user": {"login": "mara"},
                "created_at": stamp(when),
                "updated_at": stamp(when),
            },
        },
    )


def incident_id(db) -> int:
    with db.read() as session:
        return session.scalar(select(Incident.id))


@pytest.fixture
def component_app(app_config, isolated_env):
    app = create_app({**app_config, "COMPONENTS": {"api": ["services/api/**", "libs/http/*"]}})
    yield app
    shiplog_state(app).db.dispose()


def test_the_incident_page_tells_the_story_and_ranks_the_changes(component_app) -> None:
    client = component_app.test_client()
    db = shiplog_state(component_app).db
    opened = NOW - timedelta(hours=1)
    with db.write() as session:
        make_event(
            session,
            title="Tune the pool",
            occurred_at=opened - timedelta(hours=1),
            files=["services/db/pool.py"],
            data={"stats": {"files": 1, "additions": 3, "deletions": 1}},
        )
        make_event(
            session,
            title="Cache sessions",
            occurred_at=opened - timedelta(hours=3),
            files=[FileRecord("services/api/session.py", "modified")],
        )
        make_event(session, title="Old news", occurred_at=opened - timedelta(days=2))
        make_event(
            session,
            kind="revert",
            title='Revert "Cache sessions"',
            occurred_at=opened + timedelta(minutes=20),
        )
        make_event(
            session,
            kind="deployment",
            uid="deployment:acme/api:1",
            sha=None,
            title="Deployment to production: success",
            occurred_at=opened + timedelta(minutes=25),
        )
    issue = open_incident(client, opened=opened)
    comment(
        client,
        issue,
        1,
        "/status identified\n/severity p0\n/postmortem https://pm.example/7\n"
        "Rolled back <script>alert(1)</script>",
        opened + timedelta(minutes=21),
    )
    page = client.get(f"/incidents/{incident_id(db)}").get_data(as_text=True)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    text = " ".join(text.split())
    assert "Checkout errors" in text and "identified" in text and "sev2" in text
    assert "Affects api" in text
    assert "https://pm.example/7" in page
    assert "/severity p0 — not applied: use one of sev1, sev2, sev3, sev4" in text
    assert "<script>alert(1)" not in page
    assert "Ongoing for 1 h" in text
    order = [
        html.unescape(m) for m in re.findall(r'class="title" href="/events/\d+">([^<]+)<', page)
    ]
    assert order == [
        "Deployment to production: success",
        'Revert "Cache sessions"',
        "Cache sessions",
        "Tune the pool",
    ]
    assert "rolled back at" in text and "deployed at" in text
    assert "touches api" in text
    assert "Old news" not in page
    wide = client.get(f"/incidents/{incident_id(db)}?window=3d").get_data(as_text=True)
    assert "Old news" in wide
    bad = client.get(f"/incidents/{incident_id(db)}?window=forever")
    assert bad.status_code == 400 and "window: use one of" in bad.get_data(as_text=True)
    assert client.get("/incidents/99999").status_code == 404


def test_an_overdue_update_shows_on_both_pages(client, db) -> None:
    issue = open_incident(client, opened=NOW - timedelta(hours=2))
    comment(client, issue, 1, "/next-update 30m\nLooking", NOW - timedelta(hours=1))
    assert "update overdue" in client.get(f"/incidents/{incident_id(db)}").get_data(as_text=True)
    assert "update overdue" in client.get("/status").get_data(as_text=True)
    assert client.get("/api/status").json["open"][0]["overdue"] is True
    assert client.get("/api/incidents").json["incidents"][0]["overdue"] is True
    assert client.get(f"/api/incidents/{incident_id(db)}").json["overdue"] is True


def test_active_means_ongoing_in_every_json_answer(client, db) -> None:
    open_incident(client, number=1, opened=NOW - timedelta(hours=3))
    resolved = open_incident(client, number=2, opened=NOW - timedelta(hours=3))
    withdrawn = open_incident(client, number=3, opened=NOW - timedelta(hours=3))
    later = stamp(NOW - timedelta(hours=1))
    closed = {**resolved, "state": "closed", "closed_at": later, "updated_at": later}
    unlabelled = {**withdrawn, "labels": [], "updated_at": later}
    for action, issue in (("closed", closed), ("unlabeled", unlabelled)):
        payload = {"action": action, "issue": issue, "repository": {"full_name": "acme/api"}}
        deliver(client, "issues", {**payload, "label": {"name": "incident"}})
    expected = {1: (True, False), 2: (False, False), 3: (False, True)}  # (active, withdrawn)
    listed = client.get("/api/incidents").json["incidents"]
    assert {i["number"]: (i["active"], i["withdrawn"]) for i in listed} == expected
    for item in listed:
        one = client.get(f"/api/incidents/{item['id']}").json
        assert (one["active"], one["withdrawn"]) == expected[item["number"]]
    status = client.get("/api/status").json
    assert [(i["number"], i["active"]) for i in status["open"]] == [(1, True)]
    assert {i["number"]: i["active"] for i in status["recent"]} == {1: True, 2: False}


def test_the_status_page_and_json(client, db) -> None:
    first = open_incident(
        client,
        number=1,
        labels=("incident", "sev3", "component:db"),
        title="Slow reports",
        opened=NOW - timedelta(hours=3),
    )
    comment(
        client, first, 1, "/status monitoring\nReports are catching up", NOW - timedelta(hours=2)
    )
    open_incident(
        client,
        number=2,
        title="Checkout down",
        opened=NOW - timedelta(hours=1),
        labels=("incident", "sev1", "component:api", "component:db"),
    )
    page = client.get("/status").get_data(as_text=True)
    assert page.index("Checkout down") < page.index("Slow reports")  # sev1 first
    assert "Reports are catching up" in page
    data = client.get("/api/status").json
    assert [i["title"] for i in data["open"]] == ["Checkout down", "Slow reports"]
    assert data["open"][1]["latest_update"] == "Reports are catching up"
    components = {c["name"]: (c["severity"], c["status"]) for c in data["components"]}
    assert components == {"api": ("sev1", "investigating"), "db": ("sev1", "investigating")}
    assert {i["title"] for i in data["recent"]} == {"Checkout down", "Slow reports"}
    assert data["recent"][0]["duration_seconds"] >= 3600


def test_the_status_feed_has_one_entry_per_incident_updated_in_place(client, db) -> None:
    first = open_incident(client, number=1, opened=NOW - timedelta(hours=3), title="First")
    open_incident(client, number=2, opened=NOW - timedelta(hours=2), title="Second")
    before = client.get("/status.atom")
    assert client.get("/status.atom").data == before.data  # byte-identical
    parsed = feedparser.parse(before.data)
    assert parsed.bozo == 0
    ids = {e.id: e.updated for e in parsed.entries}
    assert len(ids) == 2

    comment(client, first, 1, "Still on it", NOW - timedelta(minutes=10))
    after = feedparser.parse(client.get("/status.atom").data)
    changed = {e.id for e in after.entries if ids[e.id] != e.updated}
    assert len(after.entries) == 2 and changed == {
        "tag:localhost,2026:status:incident:acme/api%231"
    }
    per_update = feedparser.parse(client.get("/feed.atom?kind=incident").data)
    assert len(per_update.entries) == 3
    conditional = client.get("/status.atom", headers={"If-None-Match": before.headers["ETag"]})
    assert conditional.status_code == 200  # it changed
    again = client.get("/status.atom")
    assert (
        client.get("/status.atom", headers={"If-None-Match": again.headers["ETag"]}).status_code
        == 304
    )


def test_no_entry_id_of_the_status_feed_is_an_id_in_a_timeline_feed(client, db) -> None:
    first = open_incident(client, number=42, opened=NOW - timedelta(hours=3))
    comment(client, first, 1, "/status identified\nRolling back", NOW - timedelta(hours=2))
    open_incident(client, number=43, opened=NOW - timedelta(hours=1), title="Slow search")
    status_ids = {e.id for e in feedparser.parse(client.get("/status.atom").data).entries}
    assert status_ids == {
        "tag:localhost,2026:status:incident:acme/api%2342",
        "tag:localhost,2026:status:incident:acme/api%2343",
    }
    for path in ("/feed.atom", "/feed.rss"):
        timeline = {e.id for e in feedparser.parse(client.get(path).data).entries}
        assert "tag:localhost,2026:incident:acme/api%2342" in timeline  # unchanged
        assert len(timeline) == 3 and timeline.isdisjoint(status_ids)
    items = client.get("/feed.json").get_json()["items"]
    assert {item["id"] for item in items}.isdisjoint(status_ids)


def test_incidents_stand_out_on_the_activity_page_and_the_around_filter(client, db) -> None:
    open_incident(client, opened=NOW - timedelta(hours=1))
    with db.write() as session:
        make_event(session, title="Just before", occurred_at=NOW - timedelta(hours=2))
        make_event(session, title="Long before", occurred_at=NOW - timedelta(days=3))
    page = client.get("/").get_data(as_text=True)
    assert 'class="badge sev sev-sev2">sev2' in page
    assert f'href="/incidents/{incident_id(db)}">incident page' in page
    around = client.get("/?around=incidents").get_data(as_text=True)
    assert "Just before" in around and "Checkout errors" in around
    assert "Long before" not in around
    assert client.get("/?around=everything").status_code == 400


def test_an_unconfigured_component_matches_directories_of_its_name(client, db) -> None:
    opened = NOW - timedelta(hours=1)
    with db.write() as session:
        make_event(
            session,
            title="Elsewhere",
            occurred_at=opened - timedelta(minutes=10),
            files=["docs/readme.md"],
        )
        make_event(
            session,
            title="In the api",
            occurred_at=opened - timedelta(hours=5),
            files=["services/api/routes.py"],
        )
    open_incident(client, opened=opened)
    page = client.get(f"/incidents/{incident_id(db)}").get_data(as_text=True)
    assert page.index("In the api") < page.index("Elsewhere")


def test_long_hostile_and_command_only_notes_render_safely(client, db) -> None:
    issue = open_incident(client, opened=NOW - timedelta(hours=1))
    hostile = "<img src=x onerror=alert(1)> [x](javascript:alert(2)) " * 2000
    comment(client, issue, 1, "/status monitoring\n/next-update 2h", NOW - timedelta(minutes=30))
    comment(client, issue, 2, hostile, NOW - timedelta(minutes=20))
    page = client.get(f"/incidents/{incident_id(db)}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "onerror" not in body and "javascript:" not in body
    listing = client.get("/").get_data(as_text=True)
    assert "Checkout errors — status monitoring, next-update 2h" in listing
    status = client.get("/status").get_data(as_text=True)
    assert "onerror" not in status and "javascript:" not in status


def test_components_of_recent_incidents_show_as_operational_once_resolved(client, db) -> None:
    issue = open_incident(client, opened=NOW - timedelta(hours=3))
    closed = {
        **issue,
        "state": "closed",
        "closed_at": stamp(NOW - timedelta(hours=1)),
        "updated_at": stamp(NOW - timedelta(hours=1)),
    }
    deliver(
        client,
        "issues",
        {"action": "closed", "issue": closed, "repository": {"full_name": "acme/api"}},
    )
    data = client.get("/api/status").json
    assert data["open"] == []
    assert data["components"] == [
        {"name": "api", "status": "operational", "severity": None, "incident": None}
    ]
    assert data["recent"][0]["duration_seconds"] == 2 * 3600


def test_one_incident_as_json_answers_304_until_it_changes(client, db) -> None:
    issue = open_incident(client, opened=NOW - timedelta(hours=1))
    url = f"/api/incidents/{incident_id(db)}"
    first = client.get(url)
    assert first.json["events"] == 1 and first.json["status"] == "investigating"
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    comment(client, issue, 1, "/status identified", NOW - timedelta(minutes=5))
    changed = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.json["status"] == "identified"
    assert client.get("/api/incidents/999999").status_code == 404
