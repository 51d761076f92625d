"""The status page's 90-day bars, from incidents delivered as GitHub issues."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import html5lib
import pytest
from sqlalchemy import event, text

from feed import uptime
from feed.state import shiplog_state
from tests.conftest import deliver
from tests.feed.web.test_incident_pages import comment, open_incident, stamp

MIDNIGHT = datetime.combine(datetime.now(UTC).date(), time(), UTC)  # today's, in UTC


@pytest.fixture(autouse=True)
def today() -> None:
    """Today's midnight as each test starts, so a suite running past midnight keeps its days."""
    global MIDNIGHT
    MIDNIGHT = datetime.combine(datetime.now(UTC).date(), time(), UTC)


def day(offset: int) -> str:
    return (MIDNIGHT + timedelta(days=offset)).date().isoformat()


def incident(client, number, title, labels, opened, resolved=None) -> None:
    issue = open_incident(
        client, number=number, title=title, labels=("incident", *labels), opened=opened
    )
    if resolved:
        comment(client, issue, number, "/status resolved", resolved)


def story(client) -> None:
    """api: a sev3 hour and a sev2 that runs over two midnights; web: one sev1 half hour;
    and an ongoing incident with no severity and no component."""
    at = MIDNIGHT - timedelta(days=5)
    labels = ("sev3", "component:api")
    incident(client, 1, "Slow search", labels, at + timedelta(hours=10), at + timedelta(hours=11))
    labels = ("sev2", "component:api")
    incident(client, 2, "Errors", labels, at + timedelta(hours=20), at + timedelta(days=2, hours=2))
    at = MIDNIGHT - timedelta(days=1)
    labels = ("sev1", "component:web")
    incident(client, 3, "Down", labels, at + timedelta(hours=23), at + timedelta(hours=23.5))
    incident(client, 4, "Odd", (), MIDNIGHT - timedelta(days=2, hours=1))


def bars_of(page: str) -> dict[str, list[tuple[str, str, str]]]:
    """Each bar's days as (level, accessible name, tip text), by component."""
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    found = {}
    for section in tree.iter("section"):
        if "uptime" not in section.get("class", "").split():
            continue
        name = section.find("h3/span[@class='name']").text
        found[name] = [
            (
                li.get("class").split()[1].removeprefix("lvl-"),
                li.find("span[@class='mark']").get("aria-label"),
                tip_text(li),
            )
            for li in section.iter("li")
            if "day" in li.get("class", "").split()
        ]
    return found


def tip_text(day: Any) -> str | None:
    """A day's tip as its words; None for a quiet day, which has no tip and takes no Tab stop
    (its name says "no incidents")."""
    tip = day.find("div[@class='tip']")
    mark = day.find("span[@class='mark']")
    if tip is None:
        assert mark.get("tabindex") is None and mark.get("title") == mark.get("aria-label")
        return None
    assert mark.get("tabindex") == "0"
    return " ".join("".join(tip.itertext()).split())


def test_each_day_shows_its_worst_incident_and_spanning_ones_every_day(client, db) -> None:
    story(client)
    bars = bars_of(client.get("/status").get_data(as_text=True))
    assert list(bars) == [uptime.ALL, "api", "web"]
    api = bars["api"]
    assert len(api) == 90 and api[-1][1].startswith(f"{day(0)}: ")  # today on the right
    assert api[-6:-2] == [
        ("major", f"{day(-5)}: 1 major, 1 minor incidents, 5 h", api[-6][2]),
        ("major", f"{day(-4)}: 1 major incident, 1 d", api[-5][2]),
        ("major", f"{day(-3)}: 1 major incident, 2 h", api[-4][2]),
        ("none", f"{day(-2)}: no incidents", None),
    ]
    assert [level for level, _, _ in api[:-6]] == ["none"] * 84
    assert api[-6][2] == (
        f"{day(-5)} Slow search · sev3 (minor) · 1 h that day Errors · sev2 (major) · 4 h that day"
    )
    assert [level for level, _, _ in bars["web"][-3:]] == ["none", "critical", "none"]
    assert bars["web"][-2][1] == f"{day(-1)}: 1 critical incident, 30 min"
    overall = [level for level, _, _ in bars[uptime.ALL][-6:]]
    assert overall == ["major", "major", "major", "minor", "critical", "minor"]
    assert bars[uptime.ALL][-1][1].startswith(f"{day(0)}: 1 minor incident, ")  # still open


def test_the_summary_is_the_share_of_time_without_a_major_incident(client, db, app) -> None:
    story(client)
    now = MIDNIGHT + timedelta(hours=6)
    with db.read() as session:
        found = uptime.incidents_in_window(session, now)
    rules = shiplog_state(app).settings.incident_rules
    shares = {bar.component: bar.clear_percent for bar in uptime.bars(found, [], rules, now)}
    window = timedelta(days=89, hours=6).total_seconds()
    api = 1 - timedelta(hours=30).total_seconds() / window  # sev2 from 20:00 to 02:00 +2 d
    web = 1 - 1800 / window
    assert shares == {
        uptime.ALL: f"{int((1 - (30 * 3600 + 1800) / window) * 10000) / 100:.2f}",
        "api": f"{int(api * 10000) / 100:.2f}",
        "web": f"{int(web * 10000) / 100:.2f}",
    }
    assert shares["api"] == "98.59" and shares["web"] == "99.97"
    page = client.get("/status").get_data(as_text=True)
    assert "% without a major incident" in page


def test_incidents_resolved_before_the_window_or_withdrawn_are_left_out(client, db) -> None:
    old = MIDNIGHT - timedelta(days=120)
    incident(client, 1, "Ancient", ("sev1",), old, old + timedelta(hours=1))
    incident(client, 2, "Long", ("sev2",), old, MIDNIGHT - timedelta(days=88, hours=-12))
    opened = MIDNIGHT - timedelta(days=3)
    withdrawn = open_incident(client, number=3, title="Not ours", opened=opened)
    unlabeled = {**withdrawn, "labels": [], "updated_at": stamp(opened + timedelta(minutes=5))}
    payload = {"action": "unlabeled", "issue": unlabeled, "label": {"name": "incident"}}
    deliver(client, "issues", {**payload, "repository": {"full_name": "acme/api"}})
    now = MIDNIGHT + timedelta(hours=1)
    with db.read() as session:
        found = uptime.incidents_in_window(session, now)
    assert [i.title for i in found] == ["Long"]
    (bar,) = uptime.bars(found, [], uptime.IncidentRules(), now)
    assert [d.level for d in bar.days[:3]] == ["major", "major", "none"]  # oldest left
    assert [d.label for d in bar.days[:2]] == [
        f"{day(-89)}: 1 major incident, 1 d",
        f"{day(-88)}: 1 major incident, 12 h",
    ]
    assert bar.days[-3].level == "none"


def test_one_query_reads_the_bars_however_many_incidents_and_components(client, db) -> None:
    def statements_for_status() -> int:
        seen: list[str] = []
        listen = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            assert client.get("/status").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
        return len(seen)

    incident(client, 1, "One", ("sev2", "component:a"), MIDNIGHT - timedelta(days=3))
    few = statements_for_status()
    for number in range(2, 8):
        labels = ("sev3", f"component:c{number}")
        opened = MIDNIGHT - timedelta(days=number * 9)
        incident(client, number, f"Many {number}", labels, opened, opened + timedelta(days=3))
    assert statements_for_status() == few


def test_hostile_titles_are_inert_in_the_tips_and_names(client, db) -> None:
    hostile = "<script>alert(1)</script><svg onload=alert(2)><title>t</title></svg>\"x='y"
    opened = MIDNIGHT - timedelta(days=2)
    incident(client, 1, hostile, ("sev1", "component:api"), opened, opened + timedelta(hours=1))
    page = client.get("/status").get_data(as_text=True)
    assert "<script>alert" not in page and "<svg onload" not in page
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    assert not [e for e in tree.iter() if e.get("onload") is not None or e.tag in ("svg",)]
    bars = bars_of(page)
    assert bars["api"][-3][2].startswith(f"{day(-2)} {hostile} · sev1 (critical)")
    assert bars["api"][-3][1] == f"{day(-2)}: 1 critical incident, 1 h"  # names carry no titles


def test_the_window_is_read_through_the_resolved_index(db) -> None:
    query = uptime.window_query(MIDNIGHT).compile(db.engine, compile_kwargs={"literal_binds": True})
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "postgresql":
            connection.execute(text("SET enable_seqscan = off"))  # an empty table scans anyway
            plan = connection.execute(text(f"EXPLAIN {query}")).scalars().all()
        else:
            plan = [row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {query}"))]
    assert any("ix_incidents_resolved" in line for line in plan), plan
    assert not any(line.startswith(("SCAN incidents", "Seq Scan")) for line in plan), plan
