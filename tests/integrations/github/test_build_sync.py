"""Build results from the API sync: a missed delivery caught up, one result whichever way it
came, the same breaks and fixes as the webhook path, and an idle re-poll that costs nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from feed import builds
from feed.db import Database
from feed.models import BuildResult, Event, Repo, SyncState
from feed.state import shiplog_state
from integrations.github.build_sync import BUILD_COMMITS
from integrations.github.client import RateLimited
from integrations.github.options import sync_options
from integrations.github.sync import sync_repo
from tests.conftest import deliver
from tests.github_emulator import (
    Emulator,
    FakeCommit,
    FakeRepo,
    Fault,
    make_check_run,
    make_check_suite,
    make_status,
    make_workflow_run,
)
from tests.integrations.github.test_webhooks import commit, push, repository

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
A, B, C, D, E = (ch * 40 for ch in "abcde")
STORY = [(A, "success"), (B, "failure"), (C, "failure"), (D, "failure"), (E, "success")]


def db_of(app: Flask) -> Database:
    return shiplog_state(app).db


def sync(app: Flask, client_for: Any, branches: tuple[str, ...] = ()) -> None:
    options = replace(sync_options(shiplog_state(app).settings), branches=branches)
    sync_repo(db_of(app), client_for(), "acme/api", options)


def at(index: int) -> datetime:
    return START + timedelta(minutes=10 * index)


def push_commits(repo: FakeRepo, *shas: str) -> None:
    known = sum(len(history) for history in repo.branches.values())
    repo.push(
        "main",
        *(FakeCommit(sha, f"Change {sha[0]}", at(known + n)) for n, sha in enumerate(shas)),
    )


def story_runs(repo: str = "acme/api") -> list[dict[str, Any]]:
    """Green, red, red, flaky (D fails, then passes on a re-run), green: every attempt."""
    runs = [
        make_workflow_run(sha, verdict, run_id=100 + n, when=at(n), repo=repo)
        for n, (sha, verdict) in enumerate(STORY)
    ]
    runs.append(make_workflow_run(D, "success", run_id=103, attempt=2, when=at(3), repo=repo))
    return runs


def build_events(db: Database, repo: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    with db.read() as session:
        events = session.scalars(
            select(Event)
            .where(Event.repo == repo, Event.kind.in_(("build_broken", "build_fixed")))
            .order_by(Event.id)
        )
        return [(e.kind, e.sha, e.data) for e in events]


def result_count(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(BuildResult)) or 0


def cursor_written(app: Flask) -> datetime:
    """When the sync last stored where the main branch's build results stand."""
    with db_of(app).read() as session:
        query = select(SyncState.updated_at).where(SyncState.resource == "builds:main")
        return session.scalars(query).one()


def delivered_run(run: dict[str, Any], repo: str = "acme/api") -> dict[str, Any]:
    return {
        "action": "completed",
        "workflow": {"name": run["name"], "path": run["path"]},
        "workflow_run": run,
        "repository": repository(repo),
        "sender": {"login": "mara"},
    }


def test_the_sync_finds_the_same_breaks_and_fixes_as_webhooks(gh_app, emulator, client_for):
    # acme/api tells the story to the API only; acme/web by webhook only, the same objects.
    repo = emulator.repo("acme/api")
    push_commits(repo, A, B, C, D, E)
    repo.runs = story_runs()
    sync(gh_app, client_for)

    client = gh_app.test_client()
    commits = [commit(sha, f"Change {sha[0]}") for sha, _ in STORY]
    assert deliver(client, "push", push(*commits, repository=repository("acme/web"))).status_code
    for run in story_runs("acme/web"):
        assert deliver(client, "workflow_run", delivered_run(run, "acme/web")).status_code == 200

    by_api, by_webhook = (
        build_events(db_of(gh_app), "acme/api"),
        build_events(db_of(gh_app), "acme/web"),
    )
    assert [(kind, sha) for kind, sha, _ in by_api] == [("build_broken", B), ("build_fixed", E)]
    assert by_api == by_webhook
    assert by_api[1][2]["red_seconds"] == (at(4) - at(1)).total_seconds()
    # D's first attempt, which the listing no longer shows, was fetched once.
    attempts = [p for _, p, _ in emulator.requests if "/attempts/" in p]
    assert attempts == ["/repos/acme/api/actions/runs/103/attempts/1"]


def test_a_missed_delivery_is_caught_up_and_a_delivered_one_is_not_stored_twice(
    gh_app, emulator, client_for
) -> None:
    repo = emulator.repo("acme/api")
    push_commits(repo, A, B)
    repo.runs = story_runs()[:2]
    client = gh_app.test_client()
    for run in repo.runs:  # delivered before the sync brought the commits: they wait for them
        assert deliver(client, "workflow_run", delivered_run(run)).status_code == 200
    sync(gh_app, client_for)
    assert result_count(db_of(gh_app)) == 2
    assert [(k, s) for k, s, _ in build_events(db_of(gh_app), "acme/api")] == [("build_broken", B)]

    # C red and D green: C's delivery never comes, D's does; the next sync catches C up.
    push_commits(repo, C, D)
    repo.runs += [
        make_workflow_run(C, "failure", run_id=102, when=at(2)),
        make_workflow_run(D, "success", run_id=103, when=at(3)),
    ]
    assert deliver(client, "workflow_run", delivered_run(repo.runs[-1])).status_code == 200
    sync(gh_app, client_for)
    assert result_count(db_of(gh_app)) == 4
    events = build_events(db_of(gh_app), "acme/api")
    assert [(k, s) for k, s, _ in events] == [("build_broken", B), ("build_fixed", D)]
    assert events[1][2]["red_seconds"] == (at(3) - at(1)).total_seconds()


def ci_story(emulator: Emulator, *, runs: bool = True) -> FakeRepo:
    """Commits A (green) and B (red) by every kind of CI: a third-party app's suite and check
    run, an old CI's statuses, GitHub Actions' runs (and its suite, which the runs listing
    reports instead)."""
    repo = emulator.repo("acme/api")
    push_commits(repo, A, B)
    if runs:
        repo.runs = story_runs()[:2]
    for n, (sha, verdict, state) in enumerate([(A, "success", "success"), (B, "failure", "error")]):
        suite = make_check_suite(sha, verdict, suite_id=500 + n, when=at(n))
        actions = make_check_suite(
            sha,
            "failure",
            suite_id=600 + n,
            when=at(n),
            app="GitHub Actions",
            slug="github-actions",
        )
        repo.suites[sha] = [suite, actions]
        repo.check_runs[sha] = [
            make_check_run(suite, "lint", verdict, run_id=700 + n),
            make_check_run(actions, "build", "failure", run_id=800 + n),
        ]
        repo.statuses[sha] = [
            make_status(sha, "pending", status_id=900 + 2 * n, when=at(n)),
            make_status(sha, state, status_id=901 + 2 * n, when=at(n) + timedelta(minutes=5)),
        ]
    return repo


def test_suites_check_runs_and_statuses_are_the_checks_webhooks_make(
    gh_app, emulator, client_for
) -> None:
    repo = ci_story(emulator, runs=False)
    client = gh_app.test_client()
    suite = {"action": "completed", "check_suite": repo.suites[B][0], "repository": repository()}
    assert deliver(client, "check_suite", suite).status_code == 200
    sync(gh_app, client_for)

    events = build_events(db_of(gh_app), "acme/api")
    assert sorted((data["check"], sha) for _, sha, data in events) == [
        ("CircleCI", B),
        ("CircleCI / lint", B),
        ("ci/jenkins", B),
    ]
    # One result per suite, check run and final status: the delivered suite is not twice.
    with db_of(gh_app).read() as session:
        sources = Counter(session.scalars(select(BuildResult.source)))
    assert sources == {"check_suite": 2, "check_run": 2, "status": 2}


def test_an_idle_re_poll_costs_no_counted_request(gh_app, emulator, client_for) -> None:
    repo = ci_story(emulator)
    sync(gh_app, client_for)
    before, counted, written = len(emulator.requests), emulator.counted, cursor_written(gh_app)
    sync(gh_app, client_for)
    assert emulator.counted == counted
    assert cursor_written(gh_app) == written  # nothing changed, nothing written
    again = emulator.requests[before:]
    ci = [
        (p, s)
        for _, p, s in again
        if "/actions/" in p or p.endswith(("suites", "runs", "statuses"))
    ]
    # The runs listing, then the suites and the statuses of each of the two commits (check
    # runs are read again only when a suite has changed).
    assert len(ci) == 5 and {s for _, s in ci} == {304}

    # B's old CI passes on a re-run: only that answer is paid for, and B is flaky on it.
    repo.statuses[B].append(make_status(B, "success", status_id=999, when=at(3)))
    sync(gh_app, client_for)
    assert emulator.counted == counted + 1
    checks = sorted(data["check"] for _, _, data in build_events(db_of(gh_app), "acme/api"))
    assert checks == ["CircleCI", "CircleCI / lint", "tests"]


def test_a_status_that_failed_and_passed_between_two_polls_is_flaky(
    gh_app, emulator, client_for
) -> None:
    """Both deliveries missed, the failure and the re-run's success both before the sync:
    every status is read, not the combined status (which shows the success alone), so the
    commit is flaky on that context, as the webhook path makes it; and the same statuses
    delivered afterwards are not stored again."""
    repo = ci_story(emulator, runs=False)
    repo.statuses[B] += [
        make_status(B, "failure", status_id=990, when=at(2), context="ci/deploy-check"),
        make_status(B, "success", status_id=991, when=at(3), context="ci/deploy-check"),
    ]
    sync(gh_app, client_for)

    def results() -> list[tuple[str, bool]]:
        with db_of(gh_app).read() as session:
            query = (
                select(BuildResult.conclusion, BuildResult.passed)
                .where(BuildResult.sha == B, BuildResult.check == "ci/deploy-check")
                .order_by(BuildResult.completed_at)
            )
            return [tuple(row) for row in session.execute(query)]

    assert results() == [("failure", False), ("success", True)]
    assert builds.verdict({passed for _, passed in results()}) == "flaky"
    client = gh_app.test_client()
    for status in repo.statuses[B][-2:]:
        delivered = {**status, "sha": B, "branches": [{"name": "main"}], "repository": repository()}
        assert deliver(client, "status", delivered).status_code == 200
    assert len(results()) == 2


def test_only_the_newest_commits_of_counted_branches_are_asked(gh_app, emulator, client_for):
    repo = emulator.repo("acme/api")
    shas = [f"{n:040x}" for n in range(1, BUILD_COMMITS + 4)]
    push_commits(repo, *shas)
    repo.push("release/1.0", FakeCommit("e" * 40, "Release fix", at(1)))
    repo.push("feature/x", FakeCommit("f" * 40, "Elsewhere", at(1)))
    sync(gh_app, client_for, branches=("release/1.0", "feature/x"))  # both synced
    asked = {p.split("/")[5] for _, p, _ in emulator.requests if p.endswith("/check-suites")}
    assert asked == {*shas[-BUILD_COMMITS:], "e" * 40}  # release/* counts by default


def test_a_run_still_going_is_read_again_until_it_finishes_and_old_pages_are_not(
    gh_app, emulator, client_for
) -> None:
    repo = emulator.repo("acme/api")
    shas = [f"{n:040x}" for n in range(1, 106)]
    push_commits(repo, *shas)
    repo.runs = [
        make_workflow_run(sha, "success", run_id=n + 1, when=at(n))
        for n, sha in enumerate(shas[:-1])
    ]
    going = make_workflow_run(shas[-1], None, run_id=999, when=at(149), status="in_progress")
    repo.runs.append(going)
    sync(gh_app, client_for)  # 105 runs: two pages
    assert result_count(db_of(gh_app)) == 104

    before = len(emulator.requests)
    repo.runs.append({**going, "status": "completed", "conclusion": "failure"})
    repo.runs.remove(going)
    sync(gh_app, client_for)
    pages = [s for _, p, s in emulator.requests[before:] if p.endswith("/actions/runs")]
    assert pages == [200]  # the first page held every run not settled before
    events = build_events(db_of(gh_app), "acme/api")
    assert [(kind, sha) for kind, sha, _ in events] == [("build_broken", shas[-1])]


def test_5xx_is_retried_and_a_rate_limit_pauses_the_repo_as_other_endpoints_do(
    gh_app, emulator, client_for
) -> None:
    ci_story(emulator)
    emulator.faults += [
        Fault(status=502, times=2, path_contains="/actions/runs"),
        Fault(
            status=403,
            path_contains=f"/commits/{B}/status",
            headers={"Retry-After": "30"},
            body={"message": "You have exceeded a secondary rate limit."},
        ),
    ]
    with pytest.raises(RateLimited):
        sync(gh_app, client_for)
    runs = [s for _, p, s in emulator.requests if p.endswith("/actions/runs")]
    assert runs == [502, 502, 200]
    with db_of(gh_app).read() as session:
        assert session.scalars(select(Repo.sync_status)).one() == "paused"
    # What was read before the pause is kept; the next sync reads the rest, once.
    assert {s for _, s, data in build_events(db_of(gh_app), "acme/api")} == {B}
    sync(gh_app, client_for)
    checks = sorted(data["check"] for _, _, data in build_events(db_of(gh_app), "acme/api"))
    assert checks == ["CircleCI", "CircleCI / lint", "ci/jenkins", "tests"]


def test_a_token_without_actions_access_keeps_the_rest_of_the_sync(gh_app, emulator, client_for):
    repo = emulator.repo("acme/api")
    push_commits(repo, A)
    forbidden = {"message": "Resource not accessible by integration"}
    emulator.faults.append(Fault(status=403, path_contains="/actions/runs", body=forbidden))
    sync(gh_app, client_for)
    with db_of(gh_app).read() as session:
        assert session.scalars(select(Repo.sync_status)).one() == "ok"
        assert session.scalar(select(func.count()).where(Event.kind == "commit")) == 1


def test_hostile_and_malformed_objects_from_the_api_are_skipped_or_inert(
    gh_app, emulator: Emulator, client_for
) -> None:
    repo = emulator.repo("acme/api")
    push_commits(repo, A, B)
    hostile = "<img src=x onerror=alert(1)> @channel <!here>"
    repo.runs = [
        make_workflow_run(A, "success", run_id=1, when=at(0), name=hostile),
        make_workflow_run(B, "failure", run_id=2, when=at(1), name=hostile),
        {**make_workflow_run(B, "failure", run_id=3, when=at(1)), "head_sha": "not-a-sha"},
        # A fork's run, re-run: not recorded, so its first attempt is not asked for either.
        make_workflow_run(B, "failure", run_id=4, attempt=2, when=at(1), repo="mallory/api"),
    ]
    sync(gh_app, client_for)
    assert [s for _, s, _ in build_events(db_of(gh_app), "acme/api")] == [B]
    assert result_count(db_of(gh_app)) == 2
    assert not [p for _, p, _ in emulator.requests if "/attempts/" in p]
    page = gh_app.test_client().get("/?kind=build").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x" in page
