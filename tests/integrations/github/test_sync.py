"""The API sync through PyGithub against the emulator: results, cost, and every fault."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from feed.db import Database
from feed.models import Event, EventFile, Repo
from feed.state import shiplog_state
from integrations.github.build_sync import BUILD_COMMITS
from integrations.github.client import RateLimited, Unavailable
from integrations.github.options import client_settings, sync_options
from integrations.github.sync import sync_repo
from tests.feed.web.test_metrics import samples
from tests.github_emulator import (
    Emulator,
    FakeCommit,
    Fault,
    make_comment,
    make_commits,
    make_issue,
    make_release,
)

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=3)


def db_of(app) -> Database:
    return shiplog_state(app).db


def sync(app, client_for, repo: str = "acme/api", **overrides):
    options = sync_options(shiplog_state(app).settings)
    if overrides:
        from dataclasses import replace

        options = replace(options, **overrides)
    return sync_repo(db_of(app), client_for(), repo, options)


def kinds(app) -> Counter:
    with db_of(app).read() as session:
        return Counter(session.scalars(select(Event.kind)))


def commit_requests(emulator: Emulator) -> Counter:
    """Commits' details answered (not their check suites or status)."""
    return Counter(
        path
        for _, path, status in emulator.requests
        if path.split("/")[-2:-1] == ["commits"] and status == 200
    )


def ci(commits: int, listing: int = 1) -> int:
    """What build results cost a sync: the runs listing when it changed, and the check
    suites and status of each commit new among the newest (see build_sync)."""
    return listing + 2 * min(commits, BUILD_COMMITS)


def test_backfill_brings_commits_with_patches_incidents_and_releases(
    gh_app, emulator, client_for
) -> None:
    repo = emulator.repo("acme/api")
    repo.push("main", *make_commits(250, start=START))
    issue = make_issue(
        7,
        "Checkout down",
        created=NOW - timedelta(hours=5),
        state="closed",
        closed=NOW - timedelta(hours=2),
    )
    repo.issues += [issue, make_issue(8, "Not an incident", labels=("bug",), created=NOW)]
    repo.comments.append(make_comment(501, issue, "Rolled back", NOW - timedelta(hours=3)))
    repo.releases += [make_release("v2.0", NOW), make_release("v2.1-draft", NOW, draft=True)]

    report = sync(gh_app, client_for)

    assert report.commits == 250
    assert kinds(gh_app) == {
        "commit": 250,
        "incident_opened": 1,
        "incident_update": 1,
        "incident_resolved": 1,
        "release": 1,
    }
    with db_of(gh_app).read() as session:
        files = session.scalars(select(EventFile)).all()
        assert len(files) == 500
        assert all(f.patch and f.patch_status == "ok" for f in files)
        newest = session.scalars(
            select(Event).where(Event.kind == "commit").order_by(Event.occurred_at.desc())
        ).first()
        assert newest.title == "Change 249"
        assert newest.data["stats"] == {"files": 2, "additions": 4, "deletions": 2}
        assert session.scalar(select(Repo.sync_status)) == "ok"
    # One detail request per commit, 3 pages of commits, repo, issues, comments, releases,
    # and the newest commits' build results.
    assert emulator.counted == 250 + 3 + 4 + ci(250)
    assert max(commit_requests(emulator).values()) == 1


def test_an_idle_poll_costs_nothing_and_new_commits_cost_one_each(
    gh_app, emulator, client_for
) -> None:
    repo = emulator.repo("acme/api")
    repo.push("main", *make_commits(30, start=START))
    repo.issues.append(make_issue(3, "Slow", created=NOW - timedelta(hours=1)))
    sync(gh_app, client_for)

    before = emulator.counted
    sync(gh_app, client_for)
    assert emulator.counted == before  # all 304s

    repo.push("main", *make_commits(3, start=NOW - timedelta(minutes=10), prefix="Later"))
    sync(gh_app, client_for)
    # the changed listing, three commits and their build results
    assert emulator.counted == before + 1 + 3 + ci(3, listing=0)
    assert kinds(gh_app)["commit"] == 33

    before = emulator.counted
    sync(gh_app, client_for)
    sync(gh_app, client_for)
    assert emulator.counted == before


def test_an_idle_poll_after_commits_newer_than_the_first_sync_costs_nothing(
    gh_app, emulator, client_for
) -> None:
    repo = emulator.repo("acme/api")
    repo.push("main", *make_commits(3, start=START))
    sync(gh_app, client_for)  # lists since 90 days before now
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    repo.push("main", *make_commits(1, start=later, prefix="Later"))
    sync(gh_app, client_for)  # newer than that listing's start by more than the backfill
    sync(gh_app, client_for)  # so this one moves its `since` on, which costs one listing
    before = emulator.counted
    sync(gh_app, client_for)
    sync(gh_app, client_for)
    assert emulator.counted == before  # and the ETag kept with it answers 304 from then on


@pytest.mark.parametrize("history", ["none", "older than the backfill"])
def test_an_idle_poll_of_a_branch_with_nothing_in_the_backfill_costs_nothing(
    gh_app, emulator, client_for, history
) -> None:
    repo = emulator.repo("acme/api")
    if history != "none":
        repo.push("main", *make_commits(3, start=NOW - timedelta(days=200)))
    sync(gh_app, client_for)  # lists since 90 days before now: nothing
    assert kinds(gh_app)["commit"] == 0
    before = emulator.counted
    sync(gh_app, client_for)
    assert emulator.counted == before  # the same `since`, so its ETag answers 304
    sync(gh_app, client_for)
    assert emulator.counted == before

    repo.push("main", *make_commits(2, start=NOW - timedelta(minutes=5), prefix="First"))
    sync(gh_app, client_for)  # and what comes later is still seen
    assert kinds(gh_app)["commit"] == 2


@pytest.mark.parametrize(
    ("before", "found"),
    [
        (timedelta(days=400), 10),  # long before the newest commit
        (timedelta(days=40), 5),
        (timedelta(days=4), 5),  # a few days before it: the poll's own choice
        (timedelta(days=3, seconds=-150), 2),  # less than a day before it
        (timedelta(days=1), 0),  # after it
    ],
)
def test_the_first_poll_after_a_sync_since_a_date_costs_nothing(
    gh_app, emulator, client_for, before, found
) -> None:
    repo = emulator.repo("acme/api")
    repo.push("main", *make_commits(5, start=NOW - timedelta(days=300)))
    repo.push("main", *make_commits(5, start=NOW - timedelta(days=3), prefix="Recent"))
    sync(gh_app, client_for, since=NOW - before)  # `shiplog sync --since`
    assert kinds(gh_app)["commit"] == found
    before = emulator.counted
    sync(gh_app, client_for)
    assert emulator.counted == before
    sync(gh_app, client_for)
    assert emulator.counted == before


def test_a_crash_mid_sync_resumes_without_gaps_or_duplicates(gh_app, emulator, client_for):
    repo = emulator.repo("acme/api")
    commits = make_commits(40, start=START)
    repo.push("main", *commits)
    # The 21st commit's detail fails past every retry: the sync stops there.
    emulator.faults.append(Fault(status=500, times=4, path_contains=commits[20].sha))
    with pytest.raises(Exception, match="500"):
        sync(gh_app, client_for)
    assert kinds(gh_app)["commit"] == 20

    sync(gh_app, client_for)
    assert kinds(gh_app)["commit"] == 40
    fetched = commit_requests(emulator)
    assert len(fetched) == 40 and max(fetched.values()) == 1


def test_5xx_and_timeouts_are_retried_inside_one_sync(gh_app, emulator, client_for) -> None:
    repo = emulator.repo("acme/api")
    repo.push("main", *make_commits(5, start=START))
    emulator.faults += [
        Fault(status=502, times=2, path_contains="/commits"),
        Fault(status=0, delay=2.5, times=1, path_contains="/releases"),
    ]
    from dataclasses import replace

    from integrations.github.client import ClientSettings, GitHubClient
    from integrations.github.options import github_client

    settings = shiplog_state(gh_app).settings
    client = GitHubClient(
        ClientSettings(
            api_url=settings.github_api_url, token="test-token", timeout=1, retry_backoff=0.0
        )
    )
    try:
        sync_repo(db_of(gh_app), client, "acme/api", sync_options(settings))
    finally:
        client.close()
    assert kinds(gh_app)["commit"] == 5
    assert [s for _, p, s in emulator.requests if p.endswith("/commits")][:3] == [502, 502, 200]
    del replace, github_client


def test_an_exhausted_rate_limit_pauses_the_repo_until_the_reset(
    gh_app, emulator, client_for
) -> None:
    emulator.repo("acme/api").push("main", *make_commits(10, start=START))
    emulator.exhaust(reset_in=2)
    with pytest.raises(RateLimited) as caught:
        sync(gh_app, client_for)
    assert abs((caught.value.resume_at - datetime.now(UTC)).total_seconds() - 2) < 2
    with db_of(gh_app).read() as session:
        repo = session.scalars(select(Repo)).one()
    assert repo.sync_status == "paused"
    assert "resumes at" in repo.sync_reason
    emulator.move_on(2.1)
    sync(gh_app, client_for)
    assert kinds(gh_app)["commit"] == 10


def test_an_exhausted_limit_whose_reset_looks_past_still_waits_a_moment() -> None:
    from integrations.github.client import _classify

    # Our clock ahead of GitHub's (or the reset's whole seconds): the reset looks past.
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) - 2)}
    limited = _classify(403, headers, {"message": "API rate limit exceeded"})
    assert isinstance(limited, RateLimited)
    assert limited.resume_at >= datetime.now(UTC) + timedelta(seconds=0.5)  # not again at once


def test_the_reserve_is_kept(gh_app, emulator, client_for) -> None:
    emulator.repo("acme/api").push("main", *make_commits(50, start=START))
    emulator.remaining = 130  # reserve is 100: about 30 requests may be spent
    with pytest.raises(RateLimited, match="reserve 100"):
        sync(gh_app, client_for)
    assert emulator.remaining >= 100
    assert 20 <= kinds(gh_app)["commit"] < 50


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_limit_waits_as_retry_after_says(gh_app, emulator, client_for, status):
    emulator.repo("acme/api").push("main", *make_commits(3, start=START))
    body = {"message": "You have exceeded a secondary rate limit."}
    emulator.faults.append(Fault(status=status, headers={"Retry-After": "7"}, body=body))
    with pytest.raises(RateLimited, match="secondary") as caught:
        sync(gh_app, client_for)
    wait = (caught.value.resume_at - datetime.now(UTC)).total_seconds()
    assert 5 < wait <= 7


@pytest.mark.parametrize(
    ("status", "marked"), [(404, "gone"), (403, "forbidden"), (401, "forbidden")]
)
def test_a_gone_or_forbidden_repo_is_marked_with_the_reason(
    gh_app, emulator, client_for, status, marked
) -> None:
    emulator.repo("acme/api").status = status
    with pytest.raises(Unavailable):
        sync(gh_app, client_for)
    with db_of(gh_app).read() as session:
        repo = session.scalars(select(Repo)).one()
    assert repo.sync_status == marked
    assert str(status) in repo.sync_reason


def test_a_force_pushed_branch_is_read_again_without_refetching(gh_app, emulator, client_for):
    repo = emulator.repo("acme/api")
    repo.push("main", *make_commits(10, start=START))
    sync(gh_app, client_for)
    rewritten = make_commits(2, start=NOW - timedelta(minutes=5), prefix="Rewritten")
    repo.force_push("main", *rewritten, drop=3)
    before = emulator.counted
    sync(gh_app, client_for)
    # The three dropped commits stay in the timeline, and their suites answer 404 once.
    assert emulator.counted == before + 1 + 2 + ci(2, listing=0) + 3
    assert kinds(gh_app)["commit"] == 12
    before = emulator.counted
    sync(gh_app, client_for)
    assert emulator.counted == before  # the dropped ones stay in the history


def test_binary_files_and_the_patch_cap_are_marked(gh_app, emulator, client_for) -> None:
    files = [
        {"filename": "logo.png", "status": "added", "additions": 0, "deletions": 0},
        {
            "filename": "big.sql",
            "status": "modified",
            "additions": 900,
            "deletions": 0,
            "patch": "@@ -0,0 +1,900 @@\n" + "".join(f"+row {n}\n" for n in range(900)),
        },
        {
            "filename": "after.py",
            "status": "modified",
            "additions": 1,
            "deletions": 0,
            "patch": "@@ -1 +1 @@\n+x",
        },
    ]
    emulator.repo("acme/api").push("main", FakeCommit("ab" * 20, "Assets", START, files=files))
    sync(gh_app, client_for, patch_cap=2000)
    with db_of(gh_app).read() as session:
        stored = {f.path: f for f in session.scalars(select(EventFile))}
    assert stored["logo.png"].patch is None
    assert stored["logo.png"].patch_status == "unavailable"
    assert stored["big.sql"].patch_status == "truncated"
    big = stored["big.sql"].patch
    assert len(big) <= 2000
    assert big.splitlines()[-1] == f"+row {len(big.splitlines()) - 2}"  # cut between lines
    assert stored["after.py"].patch_status == "truncated"


def test_incidents_from_the_api_match_the_webhook_path(gh_app, emulator, client_for) -> None:
    from tests.conftest import deliver

    repo = emulator.repo("acme/api")
    issue = make_issue(
        9,
        "DB down",
        created=NOW - timedelta(hours=2),
        state="closed",
        closed=NOW - timedelta(hours=1),
    )
    comment = make_comment(77, issue, "Failing over", NOW - timedelta(minutes=90))
    repo.issues.append(issue)
    repo.comments.append(comment)
    sync(gh_app, client_for)
    with db_of(gh_app).read() as session:
        from_api = {e.uid: (e.kind, e.title, e.body) for e in session.scalars(select(Event))}

    web = gh_app.test_client()
    payload = {"repository": {"full_name": "acme/api"}}
    assert (
        deliver(web, "issues", {**payload, "action": "opened", "issue": issue}).json[
            "events_created"
        ]
        == 0
    )
    assert (
        deliver(web, "issues", {**payload, "action": "closed", "issue": issue}).json[
            "events_created"
        ]
        == 0
    )
    assert (
        deliver(
            web,
            "issue_comment",
            {**payload, "action": "created", "issue": issue, "comment": comment},
        ).json["events_created"]
        == 0
    )
    assert sorted(from_api) == [
        "incident:acme/api#9",
        "incident:acme/api#9/comment/77",
        f"incident:acme/api#9/resolved/{(NOW - timedelta(hours=1)):%Y%m%dT%H%M%SZ}",
    ]


def test_an_edited_comment_updates_its_event_on_the_next_poll(gh_app, emulator, client_for):
    repo = emulator.repo("acme/api")
    issue = make_issue(4, "Queue stuck", created=NOW - timedelta(hours=2))
    comment = make_comment(88, issue, "First note", NOW - timedelta(hours=1))
    repo.issues.append(issue)
    repo.comments.append(comment)
    sync(gh_app, client_for)
    comment.update(body="Edited note", updated_at=NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
    sync(gh_app, client_for)
    with db_of(gh_app).read() as session:
        update = session.scalars(select(Event).where(Event.kind == "incident_update")).one()
    assert update.body == "Edited note"


def test_github_enterprise_urls_work(app_config, emulator, isolated_env) -> None:
    from app import create_app
    from integrations.github.options import github_client

    app = create_app(
        {**app_config, "GITHUB_API_URL": f"{emulator.url}/api/v3", "GITHUB_TOKEN": "test-token"}
    )
    emulator.repo("acme/api").push("main", *make_commits(120, start=START))
    client = github_client(shiplog_state(app).settings)
    try:
        report = sync_repo(
            db_of(app), client, "acme/api", sync_options(shiplog_state(app).settings)
        )
    finally:
        client.close()
        db_of(app).dispose()
    assert report.commits == 120


def test_a_github_app_installation_authenticates(app_config, isolated_env, tmp_path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from app import create_app
    from integrations.github.options import github_client

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "app.pem").write_bytes(pem)
    with Emulator(token=None, app_key=public.decode()).running() as emulator:
        emulator.repo("acme/api").push("main", *make_commits(3, start=START))
        app = create_app(
            {
                **app_config,
                "GITHUB_API_URL": emulator.url,
                "GITHUB_APP_ID": "42",
                "GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "app.pem"),
                "GITHUB_APP_INSTALLATION_ID": "7",
            }
        )
        client = github_client(shiplog_state(app).settings)
        try:
            sync_repo(db_of(app), client, "acme/api", sync_options(shiplog_state(app).settings))
        finally:
            client.close()
        assert ("POST", "/app/installations/7/access_tokens", 201) in emulator.requests
        with db_of(app).read() as session:
            assert session.scalar(select(func.count()).select_from(Event)) == 3
        db_of(app).dispose()


def test_a_commit_that_vanishes_between_list_and_detail_is_skipped(gh_app, emulator, client_for):
    commits = make_commits(3, start=START)
    emulator.repo("acme/api").push("main", *commits)
    emulator.faults.append(
        Fault(
            status=404,
            path_contains=f"/commits/{commits[1].sha}",
            body={"message": "No commit found for SHA"},
        )
    )
    report = sync(gh_app, client_for)
    assert report.commits == 2
    with db_of(gh_app).read() as session:
        assert session.scalar(select(Repo.sync_status)) == "ok"


def test_metrics_show_each_repos_requests_and_the_rate_limit_its_sync_saw(
    gh_app, emulator, client_for
) -> None:
    emulator.repo("acme/api").push("main", *make_commits(3, start=START))
    sync(gh_app, client_for)
    sync(gh_app, client_for)  # idle: 304s are sent, and counted here, though GitHub does not
    sent = len(emulator.requests)
    emulator.repo("acme/gone").status = 404
    with pytest.raises(Unavailable):
        sync(gh_app, client_for, "acme/gone")

    found = samples(gh_app.test_client())
    api, gone = (("repo", "acme/api"),), (("repo", "acme/gone"),)
    # repo, commits, 3 commits, issues, comments, releases, build results; then all again
    assert found[("shiplog_github_requests_total", api)] == sent == 8 + ci(3) + 5 + ci(3)
    assert found[("shiplog_github_requests_total", gone)] == 1
    assert found[("shiplog_github_rate_limit_remaining", gone)] == emulator.remaining
    # as acme/api's last answer said: before acme/gone's 404 spent one more
    assert found[("shiplog_github_rate_limit_remaining", api)] == emulator.remaining + 1
    reset = found[("shiplog_github_rate_limit_reset_timestamp_seconds", api)]
    assert reset == int(emulator.reset_at)
    with db_of(gh_app).read() as session:
        row = session.scalars(select(Repo).where(Repo.full_name == "acme/api")).one()
    assert (row.api_requests, row.sync_status) == (sent, "ok")


def test_a_sync_that_fails_past_its_retries_still_counts_its_requests(
    gh_app, emulator, client_for
) -> None:
    emulator.repo("acme/api").push("main", *make_commits(2, start=START))
    emulator.faults.append(Fault(status=500, times=4, path_contains="/releases"))
    with pytest.raises(Exception, match="500"):
        sync(gh_app, client_for)
    found = samples(gh_app.test_client())
    # repo, commits, 2 commits, issues, comments, releases (its retries are urllib3's)
    assert found[("shiplog_github_requests_total", (("repo", "acme/api"),))] == 7


def test_a_revert_only_the_sync_sees_alerts_realtime_subscribers_once(
    gh_app, emulator, client_for
) -> None:
    """A repository polled and not hooked alerts as a hooked one does; a backfill does not."""
    from feed.models import Channel, Job, Subscription

    with db_of(gh_app).write() as session:
        channel = Channel(name="eng", platform="slack", url="https://hooks.slack.com/x")
        session.add(channel)
        session.flush()
        session.add(Subscription(name="alerts", channel_id=channel.id, mode="realtime"))
    repo = emulator.repo("acme/api")
    repo.push("main", *make_commits(3, start=NOW - timedelta(days=2)))  # backfill: no alert
    sync(gh_app, client_for)
    revert = FakeCommit(
        sha="f" * 40,
        message=f'Revert "Change 1"\n\nThis reverts commit {repo.branches["main"][1].sha}.',
        date=NOW - timedelta(minutes=5),
        files=[],
    )
    repo.push("main", revert)
    sync(gh_app, client_for)
    sync(gh_app, client_for)
    with db_of(gh_app).read() as session:
        keys = session.scalars(select(Job.key).where(Job.kind == "deliver")).all()
    assert keys == [f"deliver:1:event:commit:acme/api:{'f' * 40}"]


def test_clients_sharing_a_budget_keep_the_reserve_together(gh_app, emulator) -> None:
    """The worker's threads each make their own client; one budget per credential means a
    client that has not asked anything yet still knows the reserve is reached."""
    from integrations.github.client import GitHubClient, RateBudget

    emulator.repo("acme/api").push("main", *make_commits(1, start=START))
    sha = emulator.repo("acme/api").branches["main"][0].sha
    emulator.remaining = 101  # one request before the reserve of 100
    budget = RateBudget()
    settings = client_settings(shiplog_state(gh_app).settings)
    first, second, alone = (
        GitHubClient(settings, budget),
        GitHubClient(settings, budget),
        GitHubClient(settings),
    )
    try:
        first.commit("acme/api", sha)  # spends the last request above the reserve
        before = emulator.counted
        with pytest.raises(RateLimited, match="reserve 100"):
            second.commit("acme/api", sha)
        assert emulator.counted == before  # refused without asking GitHub
        alone.commit("acme/api", sha)  # a client with a budget of its own did not know
        assert emulator.counted == before + 1
    finally:
        for client in (first, second, alone):
            client.close()


def test_a_spent_limit_holds_past_a_reset_that_only_looks_past(gh_app, emulator) -> None:
    """GitHub gives the reset in whole seconds by its own clock; when that moment looks past to
    us but GitHub still refuses, the clients sharing a budget wait a margin instead of each
    asking once more and being told."""
    from integrations.github.client import GitHubClient, RateBudget

    emulator.repo("acme/api").push("main", *make_commits(1, start=START))
    sha = emulator.repo("acme/api").branches["main"][0].sha
    while time.time() % 1 > 0.5:  # early in a second, so that a second's margin is ahead
        time.sleep(0.05)
    now = time.time()
    emulator.exhaust(reset_in=int(now) + 0.9 - now)  # told as this whole second: past already
    budget = RateBudget()
    settings = client_settings(shiplog_state(gh_app).settings)
    first, second = GitHubClient(settings, budget), GitHubClient(settings, budget)
    try:
        with pytest.raises(RateLimited, match="exhausted") as told:
            first.commit("acme/api", sha)
        assert told.value.resume_at > datetime.now(UTC)
        assert emulator.requests[-1][2] == 403
        before = emulator.counted
        with pytest.raises(RateLimited, match="exhausted") as held:
            second.commit("acme/api", sha)
        assert emulator.counted == before  # held without asking GitHub
        assert held.value.resume_at > datetime.fromtimestamp(int(emulator.reset_at), UTC)
    finally:
        for client in (first, second):
            client.close()
