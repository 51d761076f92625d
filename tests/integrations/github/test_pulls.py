"""Merged pull requests as context: "via #123 <title>" on entries, suspects and chat alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event as sql_event
from sqlalchemy import func, insert, select, text

from app import create_app
from feed import pulls
from feed.db import Database
from feed.models import Event, PullRequest
from feed.state import shiplog_state
from integrations.chat import slack
from tests.conftest import SHARED_PAYLOADS, deliver
from tests.fake_chat import FakeChat
from tests.integrations.chat.test_delivery import work
from tests.integrations.github.test_builds import run
from tests.integrations.github.test_webhooks import commit, push

pytestmark = pytest.mark.skipif(
    not SHARED_PAYLOADS.is_dir(), reason="../shared/github-payloads is not here"
)
A, B, C, D = (ch * 40 for ch in "abcd")
HOSTILE = '<img src=x onerror="alert(1)"> <!channel> @everyone'


def merged(number: int, title: str, merge_sha: str | None, **changes: Any) -> dict[str, Any]:
    """GitHub's example `pull_request` closed delivery, edited into a merge into acme/api."""
    payload = json.loads((SHARED_PAYLOADS / "pull_request" / "closed.payload.json").read_text())
    payload["number"] = number
    payload["repository"].update(full_name="acme/api", html_url="https://github.com/acme/api")
    payload["pull_request"].update(
        {
            "number": number,
            "title": title,
            "merged": True,
            "merged_at": "2026-11-20T09:00:00Z",
            "merge_commit_sha": merge_sha,
            "html_url": f"https://github.com/acme/api/pull/{number}",
            **changes,
        }
    )
    return payload


def pushed(client: FlaskClient, *commits: tuple[str, str], **changes: Any) -> None:
    response = deliver(client, "push", push(*(commit(sha, m, **changes) for sha, m in commits)))
    assert response.status_code == 200, response.json


def entry(client: FlaskClient, sha: str) -> str:
    """The activity page's entry of the commit `sha`."""
    page = client.get("/").get_data(as_text=True)
    [item] = [li for li in page.split("<li class=")[1:] if sha[:7] in li]
    return item


@pytest.mark.parametrize("pr_first", [True, False])
def test_a_merged_pr_links_its_commits_whether_it_comes_before_or_after_them(
    client: FlaskClient, pr_first: bool
) -> None:
    deliveries = [
        ("pull_request", merged(7, "Search by author", A)),  # squash commit, by SHA
        ("pull_request", merged(8, "Faster feeds", None)),  # by the (#8) suffix only
        ("pull_request", merged(9, "Dark mode", C)),  # a merge commit
    ]
    commits = [
        (A, "Search by author (#7)"),
        (B, "Cache the feed (#8)\n\nbody"),
        (C, "Merge pull request #9 from mara/dark"),
        (D, "Unrelated (#99)"),  # no PR 99 was merged
    ]
    if not pr_first:
        pushed(client, *commits)
    for event, payload in deliveries:
        assert deliver(client, event, payload).status_code == 200
    if pr_first:
        pushed(client, *commits)

    assert '/pull/7" rel="noopener noreferrer">#7</a> Search by author' in entry(client, A)
    assert ">#8</a> Faster feeds" in entry(client, B)
    assert ">#9</a> Dark mode" in entry(client, C)
    assert "via" not in entry(client, D)
    event_id = entry(client, A).split('href="/events/')[1].split('"')[0]
    page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert "<dt>Pull request</dt>" in page and ">#7</a> Search by author" in page
    pulled = {e["sha"]: e["pull"] for e in client.get("/api/events").json["events"]}
    assert pulled[A] == {
        "number": 7,
        "title": "Search by author",
        "html_url": "https://github.com/acme/api/pull/7",
    }
    assert pulled[D] is None
    assert client.get(f"/api/events/{event_id}").json["pull"]["number"] == 7


def test_prs_closed_unmerged_or_not_closed_answer_202_and_store_nothing(
    client: FlaskClient, db: Database
) -> None:
    unmerged = merged(3, "Nope", A, merged=False, merged_at=None)
    opened = {**merged(4, "Open", None), "action": "opened"}
    for payload in (unmerged, opened):
        assert deliver(client, "pull_request", payload).status_code == 202
    redelivered = merged(5, "Twice", A)
    assert deliver(client, "pull_request", redelivered).status_code == 200
    assert deliver(client, "pull_request", {**redelivered, "number": 5}).status_code == 200
    with db.read() as session:
        assert session.scalars(select(PullRequest.number)).all() == [5]
        assert session.scalar(select(func.count()).select_from(Event)) == 0  # context only


def test_a_merged_pr_without_a_number_or_merge_time_is_refused(client: FlaskClient) -> None:
    for changes in ({"number": "7"}, {"merged_at": None}, {"number": 0}):
        payload = merged(7, "Bad", A)
        payload["pull_request"].update(changes)
        assert deliver(client, "pull_request", payload).status_code == 400, changes


def test_a_revert_of_a_squashed_pr_links_to_it(client: FlaskClient, db: Database) -> None:
    pushed(
        client,
        (A, "Search by author (#7)"),
        (B, 'Revert "Search by author (#7)" (#10)'),  # the revert button's PR, squashed
        (C, "Faster feeds (#8)"),
        (D, 'Revert "Faster feeds" (#11)'),  # named by the PR's title, without the suffix
    )
    with db.read() as session:
        links = dict(session.execute(select(Event.sha, Event.reverts_id)).all())
        ids = dict(session.execute(select(Event.sha, Event.id)).all())
    assert links[B] == ids[A] and links[D] == ids[C]
    assert "reverted by" in entry(client, A)


def test_a_break_s_suspects_and_the_alerts_say_which_pr_brought_them(
    app_config: dict[str, Any], isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack, "PACE", timedelta(0))  # three messages at once
    now = datetime.now(UTC).replace(microsecond=0)
    with FakeChat().running() as chat:
        channel = {"name": "slack", "platform": "slack", "url": chat.url("/slack")}
        subscription = {"name": "builds", "channel": "slack", "mode": "realtime"}
        app = create_app(
            {
                **app_config,
                "CHANNELS": [channel],
                "SUBSCRIPTIONS": [
                    subscription | {"filter": {"kind": ["build"]}},
                    subscription | {"name": "commits", "filter": {"kind": ["commit"]}},
                ],
            }
        )
        try:
            client = app.test_client()
            deliver(client, "pull_request", merged(5, HOSTILE, B))
            pushed(client, (A, "Good"), (B, "Break it (#5)"), timestamp=now.isoformat())
            for sha, conclusion, minutes in ((A, "success", 20), (B, "failure", 10)):
                at = (now - timedelta(minutes=minutes)).isoformat()
                deliver(client, "workflow_run", run(sha, conclusion, at=at))
            [broken] = client.get("/api/events?kind=build_broken").json["events"]
            page = client.get(f"/events/{broken['id']}").get_data(as_text=True)
            health = client.get("/health").get_data(as_text=True)
            [failing] = client.get("/api/health").json["failing"]
            work(app)
        finally:
            shiplog_state(app).db.dispose()
        sent = [json.dumps(r.json) for r in chat.to("/slack")]
    suspects = page.split('class="suspects"')[1].split("</ol>")[0]
    assert ">#5</a> &lt;img src=x" in suspects and "<img src=x" not in page
    assert ">#5</a> &lt;img src=x" in health and "<img src=x" not in health
    assert [s["pull"] for s in failing["suspects"]] == [
        {"number": 5, "title": HOSTILE, "html_url": "https://github.com/acme/api/pull/5"}
    ]
    [good, bad, broken] = sorted(sent, key=lambda text: ("Build" in text, "Break it" in text))
    assert "via #" not in good and "<!channel>" not in "".join(sent)
    assert "via #5" in bad and "via #5" in broken


def test_a_page_s_prs_are_found_by_index_however_many_are_stored(db: Database) -> None:
    """Each event's PR is found by its merge sha, its head sha or the `(#n)` its title ends
    with, through the PR table's indexes: a page never reads every PR stored."""
    merged = datetime(2026, 11, 1, tzinfo=UTC)
    with db.write() as session:
        session.execute(
            insert(PullRequest),
            [
                {
                    "repo": f"acme/r{n % 3}",
                    "number": n,
                    "title": f"Change {n}",
                    "merge_sha": f"{n:040x}",
                    "head_sha": f"{n + 10_000:040x}",
                    "merged_at": merged,
                }
                for n in range(1, 301)
            ],
        )
    events = [
        Event(id=1, kind="commit", repo="acme/r1", sha=f"{4:040x}", title="Merged as 4"),
        Event(id=2, kind="commit", repo="acme/r2", sha=f"{10_005:040x}", title="Head of 5"),
        Event(id=3, kind="commit", repo="acme/r0", sha="f" * 40, title="Squashed (#6)"),
        Event(id=4, kind="commit", repo="acme/r0", sha=f"{7:040x}", title="Another repo's"),
        Event(id=5, kind="release", repo="acme/r1", sha=f"{4:040x}", title="v1 (#4)"),
    ]
    seen: list[tuple[str, Any]] = []
    listen = lambda *args: "pull_requests" in args[2] and seen.append(args[2:4])  # noqa: E731
    sql_event.listen(db.engine, "before_cursor_execute", listen)
    try:
        with db.read() as session:
            found = {key: pull.number for key, pull in pulls.via(session, events).items()}
    finally:
        sql_event.remove(db.engine, "before_cursor_execute", listen)
    assert found == {1: 4, 2: 5, 3: 6}  # 7 is acme/r1's; a release is no commit
    [(statement, parameters)] = seen
    with db.read() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        if not sqlite:  # the table is tiny here: rule out reading it whole
            session.execute(text("SET LOCAL enable_seqscan = off"))
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        rows = session.connection().exec_driver_sql(explain + statement, parameters)
        plan = "\n".join(str(row[-1]) for row in rows)
    assert "SCAN pull_requests" not in plan and "Seq Scan on pull_requests" not in plan, plan
