"""The worker's GitHub jobs end to end: pushes get their patches, forced pushes reconcile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from feed.db import Database
from feed.models import Event, EventFile, Job, Repo
from feed.state import shiplog_state
from feed.worker import run_due
from integrations.github.jobs import schedule_syncs
from tests.conftest import deliver
from tests.feed.web.test_metrics import samples
from tests.github_emulator import make_commits
from worker_setup import worker_parts

NOW = datetime.now(UTC).replace(microsecond=0)


def push_payload(commits, *, forced: bool = False, branch: str = "main") -> dict:
    return {
        "ref": f"refs/heads/{branch}",
        "before": "0" * 40,
        "after": commits[-1].sha,
        "forced": forced,
        "created": False,
        "deleted": False,
        "commits": [
            {
                "id": c.sha,
                "message": c.message,
                "timestamp": c.date.isoformat(),
                "author": {"name": "Octo", "username": "octocat"},
                "added": [],
                "removed": [],
                "modified": [f["filename"] for f in c.files],
            }
            for c in commits
        ],
        "head_commit": None,
        "repository": {"full_name": "acme/api", "default_branch": "main"},
        "pusher": {"name": "octocat"},
    }


def run_worker(app) -> int:
    shiplog = shiplog_state(app)
    handlers, _ = worker_parts(shiplog)
    return run_due(shiplog.db, handlers)


def test_pushed_commits_get_their_patches_from_one_request_each(gh_app, emulator) -> None:
    commits = make_commits(3, start=NOW - timedelta(hours=1))
    emulator.repo("acme/api").push("main", *commits)
    response = deliver(gh_app.test_client(), "push", push_payload(commits))
    assert response.status_code == 200
    db = shiplog_state(gh_app).db
    with db.read() as session:
        assert {e.diff_state for e in session.scalars(select(Event))} == {"pending"}
        assert len(session.scalars(select(Job).where(Job.kind == "patches")).all()) == 3

    assert emulator.requests == []  # the webhook request itself waited on nothing
    assert run_worker(gh_app) == 3
    assert emulator.counted == 3
    with db.read() as session:
        assert {e.diff_state for e in session.scalars(select(Event))} == {"fetched"}
        patched = session.scalars(select(EventFile)).all()
        assert len(patched) == 6 and all(f.patch_status == "ok" and f.patch for f in patched)

    # A later sync of the same repository fetches none of them again.
    before = emulator.counted
    from integrations.github.options import github_client, sync_options
    from integrations.github.sync import sync_repo

    client = github_client(shiplog_state(gh_app).settings)
    sync_repo(db, client, "acme/api", sync_options(shiplog_state(gh_app).settings))
    client.close()
    # repo, commits, issues, comments, releases; workflow runs, and the check suites and
    # status of each of the three commits
    assert emulator.counted - before == 5 + 1 + 3 * 2
    # A redelivery of the push adds no jobs.
    deliver(gh_app.test_client(), "push", push_payload(commits))
    assert run_worker(gh_app) == 0


def test_a_forced_push_reconciles_the_branch(gh_app, emulator) -> None:
    repo = emulator.repo("acme/api")
    old = make_commits(4, start=NOW - timedelta(hours=3))
    repo.push("feature", *old)
    new = make_commits(2, start=NOW - timedelta(minutes=30), prefix="Rewritten")
    repo.force_push("feature", *new, drop=2)
    payload = push_payload(new[-1:], forced=True, branch="feature")  # payload lists only one
    assert deliver(gh_app.test_client(), "push", payload).status_code == 200
    run_worker(gh_app)
    db = shiplog_state(gh_app).db
    with db.read() as session:
        titles = set(session.scalars(select(Event.title).where(Event.branch == "feature")))
    assert {"Rewritten 0", "Rewritten 1", "Change 0", "Change 1"} <= titles
    assert "Force-pushed feature" in titles


def test_the_worker_keeps_going_when_one_repo_is_gone(app_config, emulator, isolated_env):
    from app import create_app

    app = create_app(
        {
            **app_config,
            "GITHUB_API_URL": emulator.url,
            "GITHUB_TOKEN": "test-token",
            "REPOS": "acme/gone,acme/api",
        }
    )
    emulator.repo("acme/api").push("main", *make_commits(2, start=NOW - timedelta(hours=1)))
    shiplog = shiplog_state(app)
    handlers, schedule = worker_parts(shiplog)
    with shiplog.db.write() as session:
        schedule(session)
    assert run_due(shiplog.db, handlers) == 2
    with shiplog.db.read() as session:
        repos = {r.full_name: r for r in session.scalars(select(Repo))}
        jobs = {j.key: j for j in session.scalars(select(Job))}
        commits = session.scalars(select(Event).where(Event.kind == "commit")).all()
    assert repos["acme/gone"].sync_status == "gone"
    assert "404" in repos["acme/gone"].sync_reason
    assert repos["acme/api"].sync_status == "ok"
    assert len(commits) == 2
    # Both are due again later: the live one after the interval, the gone one in an hour.
    assert jobs["sync:acme/api"].due_at > datetime.now(UTC) + timedelta(minutes=4)
    assert jobs["sync:acme/gone"].due_at > datetime.now(UTC) + timedelta(minutes=55)
    shiplog.db.dispose()


def test_the_sync_command_reports_and_refuses_bad_input(gh_app, emulator) -> None:
    emulator.repo("acme/api").push("main", *make_commits(4, start=NOW - timedelta(hours=1)))
    runner = gh_app.test_cli_runner()
    result = runner.invoke(args=["sync", "--repo", "acme/api"])
    assert result.exit_code == 0, result.output
    assert "acme/api: 4 commits" in result.output
    assert "API requests" in result.output
    bad = runner.invoke(args=["sync", "--since", "last tuesday"])
    assert bad.exit_code == 2
    assert "last tuesday" in bad.output
    emulator.repo("acme/api").status = 404
    gone = runner.invoke(args=["sync"])
    assert gone.exit_code == 1
    assert "404" in gone.output


def test_worker_once_drains_what_is_due(gh_app, emulator) -> None:
    emulator.repo("acme/api").push("main", *make_commits(2, start=NOW - timedelta(hours=1)))
    result = gh_app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "worker ran 1 jobs" in result.output
    again = gh_app.test_cli_runner().invoke(args=["worker", "--once"])
    assert "worker ran 0 jobs" in again.output


def test_which_pushes_ask_for_a_reconcile() -> None:
    from integrations.github.change_events import PUSH_COMMIT_CAP
    from integrations.github.events import route
    from integrations.github.routing import Context

    commits = make_commits(2, start=NOW)
    context = Context(incident_label="incident")
    plain = push_payload(commits)
    assert route("push", plain, context).reconcile is None
    assert route("push", {**plain, "forced": True}, context).reconcile == ("main", commits[-1].sha)
    assert route("push", {**plain, "created": True}, context).reconcile == ("main", commits[-1].sha)
    many = make_commits(PUSH_COMMIT_CAP, start=NOW, files_per_commit=0)
    full = push_payload(many)
    assert route("push", full, context).reconcile == ("main", many[-1].sha)


def test_every_job_counts_its_requests_for_its_repository_once(gh_app, emulator) -> None:
    commits = make_commits(3, start=NOW - timedelta(hours=1))
    emulator.repo("acme/api").push("main", *commits)
    deliver(gh_app.test_client(), "push", push_payload(commits))
    run_worker(gh_app)  # three patches jobs
    with shiplog_state(gh_app).db.write() as session:
        schedule_syncs(session, ["acme/api"])
    # the sync job: five listings and the build results (runs, each commit's suites and
    # status), no commit fetched twice
    run_worker(gh_app)
    assert len(emulator.requests) == 3 + 5 + 1 + 3 * 2

    found = samples(gh_app.test_client())
    assert found[("shiplog_github_requests_total", (("repo", "acme/api"),))] == 3 + 5 + 7
    remaining = found[("shiplog_github_rate_limit_remaining", (("repo", "acme/api"),))]
    assert remaining == emulator.remaining


def test_a_repository_taken_off_the_list_is_synced_no_more(
    app_config, emulator, isolated_env
) -> None:
    from sqlalchemy import update

    from app import create_app

    for name in ("acme/api", "acme/web"):
        emulator.repo(name).push("main", *make_commits(1, start=NOW, prefix=name))

    def worker_once(repos: str) -> None:
        app = create_app(
            {
                **app_config,
                "GITHUB_API_URL": emulator.url,
                "GITHUB_TOKEN": "test-token",
                "REPOS": repos,
            }
        )
        with shiplog_state(app).db.write() as session:  # every sync due now
            session.execute(update(Job).values(due_at=NOW - timedelta(minutes=1)))
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        shiplog_state(app).db.dispose()

    worker_once("acme/api,acme/web")
    emulator.requests.clear()
    worker_once("acme/api")  # a restart with acme/web taken off the list
    synced = {path.split("/")[3] for _, path, _ in emulator.requests}
    assert synced == {"api"}
    worker_once("acme/api")
    db = Database(app_config["DATABASE_URL"])
    with db.read() as session:
        assert session.scalars(select(Job.payload).where(Job.kind == "sync")).all() == [
            {"repo": "acme/api"}
        ]
        assert {e.repo for e in session.scalars(select(Event))} == {"acme/api", "acme/web"}
    db.dispose()
