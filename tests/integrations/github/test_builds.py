"""CI results by webhook, end to end: stored once, placed by commit, folded into breaks, fixes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from feed.db import Database
from feed.models import BuildResult, Event
from feed.state import shiplog_state
from tests.chat_validators import slack_problems
from tests.conftest import deliver
from tests.fake_chat import FakeChat
from tests.github_emulator import Emulator
from tests.integrations.github.conftest import TOKEN
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


def test_results_waiting_for_several_commits_are_placed_by_one_push(
    client: FlaskClient, db: Database
) -> None:
    """Results of two checks wait for B and C; one push brings A, B and C: each result is
    placed on its own commit, and the one whose commit never came keeps waiting."""
    for sha, conclusion, name in [
        (A, "success", "tests"),
        (B, "failure", "tests"),
        (C, "success", "tests"),
        (B, "failure", "lint"),
        (D, "failure", "tests"),
    ]:
        assert deliver(client, "workflow_run", run(sha, conclusion, name=name)).status_code == 200
    pushed(client, A, B, C)
    assert [(k, s, d["check"]) for k, s, d in build_events(db)] == [
        ("build_broken", B, "tests"),
        ("build_fixed", C, "tests"),
    ]
    with db.read() as session:
        placed = dict(session.execute(select(BuildResult.sha, BuildResult.position)).all())
        ids = dict(session.execute(select(Event.sha, Event.id).where(Event.kind == "commit")).all())
    assert {sha: placed[sha] for sha in (A, B, C)} == {sha: ids[sha] for sha in (A, B, C)}
    assert placed[D] is None


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


def _checks(**suite: Any) -> list[tuple[str, dict[str, Any]]]:
    """A failing check suite and check run of A whose suite has `suite`'s fields."""
    app = suite.pop("app", {"name": "Octo CI", "slug": "octo-ci"})
    head = {"head_branch": "main", "head_sha": A, **suite}
    body = {"id": 7, "conclusion": "failure", "app": app, "updated_at": "2026-11-20T10:00:00Z"}
    check_run = {**body, "name": "lint", "head_sha": A, "check_suite": head}
    return [("check_suite", {**body, **head}), ("check_run", check_run)]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"head_repository": {"full_name": "mallory/api"}}, "of a fork's branch are not recorded"),
        ({"head_branch": None}, "without a head branch is not recorded"),
        ({"app": {"name": "GitHub Actions", "slug": "github-actions"}}, "from workflow_run"),
    ],
)
def test_check_suites_and_runs_of_forks_no_branch_or_actions_are_ignored_with_202(
    client: FlaskClient, db: Database, fields: dict[str, Any], reason: str
) -> None:
    for event, body in _checks(**fields):
        payload = {"action": "completed", event: body, "repository": repository()}
        response = deliver(client, event, payload)
        assert response.status_code == 202 and reason in response.json["detail"], event
        if "fork" in reason or "head branch" in reason:
            assert event.replace("_", " ") in response.json["detail"]
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


def test_a_break_s_page_names_its_suspects_and_how_to_bisect_or_revert(
    client: FlaskClient, db: Database
) -> None:
    pushed(client, A)
    pushed(client, F, branch="feature/y")  # another branch's commit, stored in between
    pushed(client, B, C, D)
    deliver(client, "workflow_run", run(A, "success"))
    deliver(client, "workflow_run", run(C, "failure"))
    deliver(client, "workflow_run", run(C, "success", attempt=2))  # C is flaky
    deliver(client, "workflow_run", run(D, "failure"))
    [broken] = client.get("/api/events?kind=build_broken").json["events"]
    page = client.get(f"/events/{broken['id']}").get_data(as_text=True)
    suspects = page.split('class="suspects"')[1].split("</ol>")[0]
    assert [sha[:7] for sha in (B, C, D)] == [
        line.split("<code>")[1][:7] for line in suspects.split("<li>")[1:]
    ]
    assert "flaky: failed, then passed on a re-run" in suspects and F[:7] not in suspects
    assert f"git bisect start {D} {A}" in page
    assert f"git revert --no-edit {A}..{D}" in page
    assert f'href="https://github.com/acme/api/compare/{A}...{D}"' in page


def test_a_fix_s_page_says_how_long_the_branch_was_red(client: FlaskClient) -> None:
    pushed(client, A, B, C)
    deliver(client, "workflow_run", run(A, "success", at="2026-11-20T10:00:00Z"))
    deliver(client, "workflow_run", run(B, "failure", at="2026-11-20T10:10:00Z"))
    deliver(client, "workflow_run", run(C, "success", at="2026-11-20T12:20:00Z"))
    [fixed] = client.get("/api/events?kind=build_fixed").json["events"]
    page = client.get(f"/events/{fixed['id']}").get_data(as_text=True)
    assert "Red for</dt><dd>2 h 10 min" in page and f"<code>{C}</code>" in page


def test_a_break_alerts_chat_with_the_check_s_name_inert(
    app_config: dict[str, Any], isolated_env: None, emulator: Emulator
) -> None:
    name = "<!channel> @everyone <@U123> <https://evil.example|click> *ci*"
    now = datetime.now(UTC).replace(microsecond=0)
    with FakeChat().running() as chat:
        channels = [
            {"name": platform, "platform": platform, "url": chat.url(f"/{platform}")}
            for platform in ("slack", "discord", "mattermost")
        ]
        subscriptions = [
            {"name": f"{c['name']}-builds", "channel": c["name"], "mode": "realtime"}
            | {"filter": {"kind": ["build"]}}
            for c in channels
        ]
        github = {"GITHUB_API_URL": emulator.url, "GITHUB_TOKEN": TOKEN}  # patch fetches
        app = create_app(
            {**app_config, **github, "CHANNELS": channels, "SUBSCRIPTIONS": subscriptions}
        )
        try:
            client = app.test_client()
            pushed(client, A, B)
            for sha, conclusion, minutes in ((A, "success", 20), (B, "failure", 10)):
                at = (now - timedelta(minutes=minutes)).isoformat()
                deliver(client, "workflow_run", run(sha, conclusion, name=name, at=at))
            result = app.test_cli_runner().invoke(args=["worker", "--once"])
            assert result.exit_code == 0, result.output
        finally:
            shiplog_state(app).db.dispose()
        [slack] = [r.json for r in chat.to("/slack")]
        [discord] = [r.json for r in chat.to("/discord")]
        [mattermost] = [r.json for r in chat.to("/mattermost")]
    assert slack_problems(slack) == []  # and every mrkdwn text is verbatim
    mrkdwn = json.dumps([slack["text"], *(block["text"]["text"] for block in slack["blocks"][1:])])
    assert "<!channel>" not in mrkdwn and "<@U123>" not in mrkdwn
    assert "<https://evil.example|" not in mrkdwn and "Build broken: " in mrkdwn
    assert discord["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in json.dumps(mattermost).replace("@\u200beveryone", "")


def status(sha: str, state: str, **overrides: Any) -> dict[str, Any]:
    """A status delivery shaped like GitHub's, with a null author and committer."""
    value = {
        "id": int(sha[:6], 16),
        "sha": sha,
        "state": state,
        "context": "ci/legacy",
        "target_url": "javascript:alert(1)",
        "branches": [{"name": "main", "commit": {"sha": sha}}],
        "commit": {"sha": sha, "author": None, "committer": None},
        "updated_at": "2026-11-20T10:00:00+00:00",
        "repository": repository(),
    }
    return value | overrides


@pytest.mark.parametrize(
    ("event", "payload", "status_code"),
    [
        ("status", status(A, "pending"), 202),
        ("status", status(A, "failure", branches=[]), 202),
        ("status", status(A, "failure", branches=["main"]), 400),
        ("status", status(A, "failure", context=""), 400),
        ("status", status(A, 7), 400),
        (
            "check_suite",
            {
                "action": "completed",
                "check_suite": {"id": 1, "head_branch": None, "head_sha": A, "app": {}},
                "repository": repository(),
            },
            202,
        ),
        (
            "check_suite",
            {
                "action": "completed",
                "check_suite": {
                    "id": 1,
                    "head_branch": "main",
                    "head_sha": A,
                    "conclusion": "failure",
                    "app": {"name": "GitHub Actions", "slug": "github-actions"},
                },
                "repository": repository(),
            },
            202,
        ),
    ],
)
def test_odd_statuses_and_suites_are_ignored_or_refused_and_store_nothing(
    client: FlaskClient, db: Database, event: str, payload: dict[str, Any], status_code: int
) -> None:
    response = deliver(client, event, payload)
    assert response.status_code == status_code, response.json
    assert results(db) == 0


def test_a_status_by_form_keeps_no_link_but_https(client: FlaskClient, db: Database) -> None:
    assert deliver(client, "status", status(A, "success"), form=True).status_code == 200
    https = status(B, "error", target_url="https://ci.example/b")
    assert deliver(client, "status", https, form=True).status_code == 200
    with db.read() as session:
        urls = dict(session.execute(select(BuildResult.sha, BuildResult.url)).all())
    assert urls == {A: None, B: "https://ci.example/b"}


def test_commits_pushed_while_red_join_a_break_s_page_until_it_is_fixed(
    client: FlaskClient,
) -> None:
    pushed(client, A, B, C, D, E)
    for sha, conclusion in ((A, "success"), (B, "failure"), (C, "failure")):
        deliver(client, "workflow_run", run(sha, conclusion))
    [broken] = client.get("/api/events?kind=build_broken").json["events"]

    def while_red() -> list[str]:
        page = client.get(f"/events/{broken['id']}").get_data(as_text=True)
        if "while-red" not in page:
            return []
        listed = page.split('class="suspects while-red"')[1].split("</ol>")[0]
        return [line.split("<code>")[1][:7] for line in listed.split("<li>")[1:]]

    assert while_red() == [C[:7], D[:7], E[:7]]
    deliver(client, "workflow_run", run(D, "success"))  # D fixes it: E came after
    assert while_red() == [C[:7]]
