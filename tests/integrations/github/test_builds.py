"""CI results by webhook, end to end: stored once, placed by commit, folded into breaks, fixes."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from feed.db import Database
from feed.models import BuildResult, Event
from feed.state import shiplog_state
from tests.conftest import deliver
from tests.integrations.github.test_webhooks import commit, push, repository

A, B, C, D, E = (ch * 40 for ch in "abcde")
F = "f" * 40


def run(
    sha: str,
    conclusion: str | None,
    *,
    run_id: int = 0,
    attempt: int = 1,
    name: str = "tests",
    branch: str | None = "main",
    at: str = "2026-11-20T10:00:00Z",
    **overrides: Any,
) -> dict[str, Any]:
    """A workflow_run delivery shaped like GitHub's (see ../shared/github-payloads)."""
    value = {
        "action": "completed",
        "workflow": {"name": name, "path": ".github/workflows/ci.yml"},
        "workflow_run": {
            "id": run_id or int(sha[:6], 16),
            "name": name,
            "head_branch": branch,
            "head_sha": sha,
            "run_attempt": attempt,
            "status": "completed",
            "conclusion": conclusion,
            "updated_at": at,
            "html_url": f"https://github.com/acme/api/actions/runs/{run_id or 1}",
            "head_repository": {"full_name": "acme/api"},
        },
        "repository": repository(),
        "sender": {"login": "mara"},
    }
    value["workflow_run"].update(overrides)
    return value


def pushed(client: FlaskClient, *shas: str, branch: str = "main") -> None:
    commits = [commit(sha, f"Change {sha[0]}") for sha in shas]
    response = deliver(client, "push", push(*commits, ref=f"refs/heads/{branch}"))
    assert response.status_code == 200, response.json


def build_events(db: Database) -> list[tuple[str, str | None, dict[str, Any]]]:
    with db.read() as session:
        events = session.scalars(
            select(Event).where(Event.kind.in_(("build_broken", "build_fixed"))).order_by(Event.id)
        )
        return [(e.kind, e.sha, e.data) for e in events]


def results(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(BuildResult)) or 0


def test_green_red_red_flaky_green_breaks_once_and_fixes_once(
    client: FlaskClient, db: Database
) -> None:
    pushed(client, A, B, C, D, E)
    story = [(A, "success"), (B, "failure"), (C, "failure"), (D, "failure"), (E, "success")]
    for sha, conclusion in story:
        assert deliver(client, "workflow_run", run(sha, conclusion)).status_code == 200
    # D fails, then passes on a re-run: flaky, it neither breaks nor fixes anything.
    assert deliver(client, "workflow_run", run(D, "success", attempt=2)).status_code == 200

    events = build_events(db)
    assert [(kind, sha) for kind, sha, _ in events] == [("build_broken", B), ("build_fixed", E)]
    broken, fixed = events[0][2], events[1][2]
    assert (broken["check"], broken["good"], broken["bad"]) == ("tests", A, B)
    assert (fixed["good"], fixed["bad"], fixed["fix"]) == (A, B, E)

    api = client.get("/api/events?kind=build").json["events"]
    assert sorted(e["kind"] for e in api) == ["build_broken", "build_fixed"]
    assert client.get("/api/events?kind=commit").json["events"][0]["kind"] == "commit"
    assert "tests broke on main" in client.get("/feed.atom?kind=build").get_data(as_text=True)


def test_results_are_placed_by_commit_order_never_by_arrival(
    client: FlaskClient, db: Database
) -> None:
    pushed(client, A, B, C)
    deliver(client, "workflow_run", run(C, "failure", at="2026-11-20T10:05:00Z"))
    assert build_events(db) == []  # no passing commit before it: nothing broke, as far as known
    deliver(client, "workflow_run", run(A, "success", at="2026-11-20T10:09:00Z"))
    assert [(k, s) for k, s, _ in build_events(db)] == [("build_broken", C)]
    # B finishes last, red: the break moves to B; still one break, with the same uid.
    deliver(client, "workflow_run", run(B, "failure", at="2026-11-20T10:01:00Z"))
    assert [(k, s) for k, s, _ in build_events(db)] == [("build_broken", B)]
    # A late pass of B undoes the break at B (C broke it after all).
    deliver(client, "workflow_run", run(B, "success", attempt=2, at="2026-11-20T10:20:00Z"))
    assert [(k, s) for k, s, _ in build_events(db)] == [("build_broken", C)]


def test_a_result_waits_for_its_commit(client: FlaskClient, db: Database) -> None:
    pushed(client, A)
    deliver(client, "workflow_run", run(A, "success"))
    deliver(client, "workflow_run", run(B, "failure"))
    assert results(db) == 2 and build_events(db) == []
    pushed(client, B)
    assert [(k, s) for k, s, _ in build_events(db)] == [("build_broken", B)]


def test_a_redelivered_result_stores_nothing_twice(client: FlaskClient, db: Database) -> None:
    pushed(client, A, B)
    deliver(client, "workflow_run", run(A, "success"))
    for _ in range(2):  # the same run sent twice under two delivery ids
        assert deliver(client, "workflow_run", run(B, "failure")).status_code == 200
    assert results(db) == 2
    assert len(build_events(db)) == 1


def test_uncounted_branches_keep_results_but_never_alert(client: FlaskClient, db: Database):
    pushed(client, A, B, branch="feature/x")
    deliver(client, "workflow_run", run(A, "success", branch="feature/x"))
    deliver(client, "workflow_run", run(B, "failure", branch="feature/x"))
    assert results(db) == 2 and build_events(db) == []


def test_release_branches_count_by_default(client: FlaskClient, db: Database) -> None:
    pushed(client, A, B, branch="release/2.0")
    deliver(client, "workflow_run", run(A, "success", branch="release/2.0"))
    deliver(client, "workflow_run", run(B, "timed_out", branch="release/2.0"))
    assert [(k, s) for k, s, _ in build_events(db)] == [("build_broken", B)]


def test_counted_branches_are_a_setting(app_config: dict[str, Any], isolated_env: None) -> None:
    app = create_app({**app_config, "BUILD_BRANCHES": "staging, hotfix/*"})
    try:
        client = app.test_client()
        db = shiplog_state(app).db
        pushed(client, A, B)
        pushed(client, C, D, branch="staging")
        for sha, conclusion, branch in [
            (A, "success", "main"),
            (B, "failure", "main"),
            (C, "success", "staging"),
            (D, "failure", "staging"),
        ]:
            deliver(client, "workflow_run", run(sha, conclusion, branch=branch))
        with db.read() as session:
            branches = session.scalars(select(Event.branch).where(Event.kind == "build_broken"))
            assert list(branches) == ["staging"]
    finally:
        shiplog_state(app).db.dispose()


def test_statuses_check_suites_and_check_runs_are_checks_of_their_own(
    client: FlaskClient, db: Database
) -> None:
    pushed(client, A, B)
    app = {"name": "Octo CI", "slug": "octo-ci"}
    for sha, conclusion, state in [(A, "success", "success"), (B, "failure", "error")]:
        suite = {"id": int(sha[:6], 16), "head_branch": "main", "head_sha": sha, "app": app}
        suite |= {"conclusion": conclusion, "updated_at": "2026-11-20T10:00:00Z"}
        check_run = {"id": int(sha[:6], 16), "name": "lint", "head_sha": sha, "app": app}
        check_run |= {"conclusion": conclusion, "completed_at": "2026-11-20T10:00:00Z"}
        check_run |= {"check_suite": {"head_branch": "main"}}
        status = {"id": int(sha[:6], 16), "sha": sha, "state": state, "context": "ci/legacy"}
        status |= {"branches": [{"name": "main"}], "updated_at": "2026-11-20T10:00:00Z"}
        for event, payload in [
            ("check_suite", {"action": "completed", "check_suite": suite}),
            ("check_run", {"action": "completed", "check_run": check_run}),
            ("status", status),
        ]:
            response = deliver(client, event, {**payload, "repository": repository()})
            assert response.status_code == 200, (event, response.json)
    checks = sorted(data["check"] for _, _, data in build_events(db))
    assert checks == ["Octo CI", "Octo CI / lint", "ci/legacy"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (run(A, None, status="in_progress"), "neither passed nor failed"),
        (run(A, "cancelled"), "neither passed nor failed"),
        (run(A, "a_conclusion_github_adds_later"), "neither passed nor failed"),
        (run(A, "failure", branch=None), "without a head branch"),
        (run(A, "failure", head_repository={"full_name": "mallory/api"}), "fork"),
        ({**run(A, "failure"), "action": "requested"}, "not something shiplog records"),
    ],
)
def test_results_without_a_verdict_are_ignored_with_202(
    client: FlaskClient, db: Database, payload: dict[str, Any], reason: str
) -> None:
    response = deliver(client, "workflow_run", payload)
    assert response.status_code == 202 and reason in response.json["detail"]
    assert results(db) == 0


@pytest.mark.parametrize(
    "payload",
    [
        run("not-a-sha", "failure", run_id=1),
        run(A, "failure", name="x" * 256),
        run(A, "failure", name="ci\x00"),
        run(A, "failure", branch="b" * 256),
        run(A, ["failure"]),
        run(A, "failure", run_attempt="2"),
        run(A, "failure", updated_at="yesterday"),
        {**run(A, "failure"), "workflow_run": "tests"},
    ],
)
def test_malformed_results_are_400_and_store_nothing(
    client: FlaskClient, db: Database, payload: dict[str, Any]
) -> None:
    response = deliver(client, "workflow_run", payload)
    assert response.status_code == 400, response.json
    assert response.json["detail"].startswith("github webhooks: payload:")
    assert results(db) == 0


def test_hostile_check_names_are_inert_on_the_page_and_feeds(client: FlaskClient, app: Flask):
    name = '<img src=x onerror="alert(1)"> @everyone <!channel> ]]>'
    pushed(client, A, B)
    deliver(client, "workflow_run", run(A, "success", name=name))
    deliver(client, "workflow_run", run(B, "failure", name=name))
    for path in ("/?kind=build", "/feed.atom?kind=build", "/feed.rss?kind=build"):
        text = client.get(path).get_data(as_text=True)
        assert "<img src=x" not in text and "]]>" not in text.replace("]]></", ""), path
    event_id = client.get("/api/events?kind=build").json["events"][0]["id"]
    page = client.get(f"/events/{event_id}").get_data(as_text=True)
    assert "&lt;img src=x" in page and "<img src=x" not in page
