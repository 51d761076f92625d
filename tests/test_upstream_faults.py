"""Upstream faults: GitHub API and chat platforms failing (the emulators' fault switches)
during a run: the backlog drains afterwards with nothing lost.

One run, in rounds. Each round switches faults on in the GitHub API emulator (5xx that the
client's retries absorb and 5xx that outlast them, timeouts, secondary and primary rate
limits, on commit listings and patch fetches) and in the fake chat server (500, 429 with
Retry-After, lost connections, timeouts), pushes commits, reverts and incident notes by
webhook, and runs `shiplog sync` and `shiplog worker --once`, moving due times on instead
of waiting. Then the faults are spent and the worker drains the backlog. Afterwards every
commit of the emulator is in the timeline once, with its patches; every alert and digest
went to each subscription once; no job is dead or left due; and GitHub was asked no more
than the data and the injected faults explain.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from feed import notify
from feed.config import Settings
from feed.models import INCIDENT_KINDS, Event, Job, Repo, Subscription
from feed.state import shiplog_state
from integrations.chat import http as chat_http
from integrations.github import options as github_options
from integrations.github.build_sync import BUILD_COMMITS
from integrations.github.client import GitHubClient, RateBudget
from tests.conftest import deliver
from tests.fake_chat import Answer, FakeChat
from tests.github_emulator import (
    Emulator,
    FakeCommit,
    Fault,
    make_comment,
    make_commits,
    make_issue,
)
from tests.integrations.chat.test_delivery import make_app, make_due
from tests.integrations.github.conftest import TOKEN
from tests.integrations.github.test_jobs import push_payload

REPOS = ("acme/api", "acme/web")
GITHUB_TIMEOUT = 1  # seconds the client waits for an answer (15 in production)
CHAT_TIMEOUT = 0.3  # seconds a chat post waits (10 in production)
ALERTING = ("revert", *INCIDENT_KINDS)  # what a realtime subscription without kinds hears
# repository, commits, issues, comments, releases: one page each here; then workflow runs,
# and at most the check suites and status of each of the newest commits of the branch
LISTINGS_PER_SYNC = 5 + 1 + 2 * BUILD_COMMITS
DRAIN_PASSES = 40
EVENT_LINK = re.compile(r"https://shiplog\.example/events/(\d+)")
COMMIT_DETAIL = re.compile(r"/repos/([^/]+/[^/]+)/commits/([0-9a-f]{40})")
SECONDARY = {"message": "You have exceeded a secondary rate limit."}


@dataclass(frozen=True)
class Sub:
    """A subscription of the run, and which events it must hear about."""

    platform: str
    mode: str
    filter: dict[str, list[str]]
    hears: Callable[[Event], bool]

    @property
    def name(self) -> str:
        return f"{self.platform}-{self.mode}"


SUBS = [
    Sub("slack", "realtime", {}, lambda e: e.kind in ALERTING),
    Sub(
        "discord",
        "realtime",
        {"repo": ["acme/api"]},
        lambda e: e.kind in ALERTING and e.repo == "acme/api",
    ),
    Sub("teams", "realtime", {"kind": ["incident"]}, lambda e: e.kind in INCIDENT_KINDS),
    Sub("googlechat", "realtime", {}, lambda e: e.kind in ALERTING),
    Sub("mattermost", "digest", {}, lambda e: True),
    Sub("webhook", "digest", {"repo": ["acme/web"]}, lambda e: e.repo == "acme/web"),
]


def moment() -> datetime:
    """Now, to the second, as GitHub gives times."""
    return datetime.now(UTC).replace(microsecond=0)


def impatient_client(settings: Settings, budget: RateBudget | None = None) -> GitHubClient:
    """The app's GitHub client, waiting GITHUB_TIMEOUT seconds for an answer instead of 15
    and retrying a 5xx at once (the test counts the retries, not the pauses between)."""
    impatient = replace(
        github_options.client_settings(settings), timeout=GITHUB_TIMEOUT, retry_backoff=0.0
    )
    return GitHubClient(impatient, budget)


class Run:
    """The app under test, the two emulated upstreams, and the tallies the checks need."""

    def __init__(self, app: Flask, github: Emulator, chat: FakeChat) -> None:
        self.app, self.github, self.chat = app, github, chat
        self.db = shiplog_state(app).db
        self.web = app.test_client()
        self.injected = 0  # GitHub answers the faults stand for
        self.passes = 0  # worker passes
        self.syncs = 0  # `shiplog sync` runs
        self.exhausted = 0  # answers "rate limit exceeded" while it was spent

    def github_fails(self, *faults: Fault) -> None:
        self.github.faults.extend(faults)
        self.injected += sum(fault.times for fault in faults)

    def chat_fails(self, platform: str, *answers: Answer) -> None:
        self.chat.answer(f"/{platform}", *answers)

    def push(self, repo: str, *commits: FakeCommit) -> None:
        """Commits land on GitHub's main, and GitHub tells shiplog by webhook."""
        self.github.repo(repo).push("main", *commits)
        payload = {**push_payload(list(commits)), "repository": {"full_name": repo}}
        assert deliver(self.web, "push", payload).status_code == 200

    def incident(
        self, repo: str, action: str, issue: dict[str, Any], comment: dict[str, Any] | None = None
    ) -> None:
        payload = {"action": action, "issue": issue, "repository": {"full_name": repo}}
        event = "issues"
        if comment is not None:
            event, payload["comment"] = "issue_comment", comment
        assert deliver(self.web, event, payload).status_code == 200

    def sync(self) -> None:
        """`shiplog sync`: a repository it cannot finish now is reported, the others go on."""
        result = self.app.test_cli_runner().invoke(args=["sync"])
        assert result.exit_code in (0, 1), result.output
        self.syncs += 1

    def work(self) -> int:
        """`shiplog worker --once`: schedule the periodic jobs, run everything due."""
        result = self.app.test_cli_runner().invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        self.passes += 1
        return int(result.output.split("worker ran ")[1].split()[0])

    def jobs(self) -> list[Job]:
        with self.db.read() as session:
            return list(session.scalars(select(Job)))

    def backlog(self) -> list[Job]:
        """One-off jobs not yet done (syncs and digest schedules are periodic)."""
        return [j for j in self.jobs() if j.kind not in ("sync", "digest") and j.state != "done"]

    def digested(self) -> bool:
        """Every digest's last window ends after the newest event arrived."""
        with self.db.read() as session:
            newest = session.scalar(select(func.max(Event.ingested_at)))
            ends = session.scalars(
                select(Subscription.window_end).where(Subscription.mode == "digest")
            ).all()
        return all(end is not None and end > newest for end in ends)

    def events(self) -> list[Event]:
        with self.db.read() as session:
            return list(session.scalars(select(Event).options(selectinload(Event.files))))


def test_the_backlog_drains_after_upstream_faults_with_nothing_lost(
    app_config: dict[str, Any], isolated_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github_options, "github_client", impatient_client)
    monkeypatch.setattr(chat_http, "TIMEOUT", CHAT_TIMEOUT)
    old = make_commits(40, start=moment() - timedelta(days=3), prefix="api")
    old_web = make_commits(20, start=moment() - timedelta(days=3), prefix="web")

    with Emulator(token=TOKEN).running() as github, FakeChat().running() as chat:
        github.repo("acme/api").push("main", *old)
        github.repo("acme/web").push("main", *old_web)
        channels = [
            {"name": s.platform, "platform": s.platform, "url": chat.url(f"/{s.platform}")}
            for s in SUBS
        ]
        subscriptions = [
            {
                "name": s.name,
                "channel": s.platform,
                "mode": s.mode,
                "filter": s.filter,
                **(
                    {"schedule": "0 0 * * *", "timezone": "UTC", "options": {"max_items": 100}}
                    if s.mode == "digest"
                    else {}
                ),
            }
            for s in SUBS
        ]
        config = {
            **app_config,
            "GITHUB_API_URL": github.url,
            "GITHUB_TOKEN": TOKEN,
            "REPOS": ",".join(REPOS),
            "SECURITY": {"allow_webhook_hosts": ["127.0.0.1"]},
        }
        app = make_app(config, chat, channels, subscriptions)
        run = Run(app, github, chat)
        try:
            _storm_then_drain(run, old, old_web)
            _check(run)
        finally:
            shiplog_state(app).db.dispose()


def _storm_then_drain(run: Run, old: list[FakeCommit], old_web: list[FakeCommit]) -> None:
    github = run.github
    hung = Answer(503, "upstream hung", delay=CHAT_TIMEOUT * 2)  # the post times out
    pushed = iter(range(1000))

    def fresh(prefix: str, message: str | None = None) -> FakeCommit:
        commit = make_commits(1, start=moment(), prefix=prefix)[0]
        commit.sha = f"{next(pushed):04x}{commit.sha[4:]}"
        if message:
            commit.message = message
        return commit

    def revert(prefix: str, target: FakeCommit) -> FakeCommit:
        title = target.message.splitlines()[0]
        return fresh(prefix, f'Revert "{title}"\n\nThis reverts commit {target.sha}.')

    # Round 1: the first backfill meets 5xx on both listings and a secondary rate limit
    # halfway through acme/api's patches; the chat platforms fail each in their own way.
    run.github_fails(
        Fault(502, times=2, path_contains="/repos/acme/api/commits"),  # absorbed by retries
        Fault(500, times=4, path_contains="/repos/acme/web/commits"),  # outlasts them
        Fault(
            403,
            path_contains=f"/commits/{old[25].sha}",
            headers={"Retry-After": "1"},
            body=SECONDARY,
        ),
    )
    run.sync()
    with run.db.read() as session:
        stored = Counter(session.scalars(select(Event.repo)))
    assert stored == {"acme/api": 25}  # kept up to the limit; acme/web failed outright
    first_api = fresh("api-new")
    run.push("acme/api", first_api, revert("api-revert", old[3]))
    outage = make_issue(7, "Checkout is down", created=moment(), repo="acme/api")
    github.repo("acme/api").issues.append(outage)
    run.incident("acme/api", "opened", outage)
    run.chat_fails("slack", Answer(500, "internal_error"))
    run.chat_fails("discord", Answer(429, '{"message": "rate limited"}', {"Retry-After": "1"}))
    run.chat_fails("googlechat", Answer(drop=True))
    run.chat_fails("teams", hung)
    run.work()
    make_due(run.app)

    # Round 2: a listing or patch fetch times out (retried by the client), a patch fetch
    # fails past the client's retries (retried by the worker), an incident update arrives.
    web_new = fresh("web-new")
    run.github_fails(
        Fault(504, delay=GITHUB_TIMEOUT + 0.2, path_contains="/repos/acme/web/commits"),
        Fault(500, times=4, path_contains=f"/commits/{web_new.sha}"),
    )
    run.push("acme/web", web_new, revert("web-revert", old_web[2]))
    note = make_comment(701, outage, "Rolled back the cache change", moment())
    github.repo("acme/api").comments.append(note)
    run.incident("acme/api", "created", outage, note)
    run.chat_fails("slack", Answer(429, "rate_limited", {"Retry-After": "1"}))
    run.chat_fails("mattermost", Answer(500, "oops"))
    run.chat_fails("webhook", Answer(drop=True))
    run.chat_fails("googlechat", Answer(502, "bad gateway"), Answer(429, "slow down"))
    run.work()
    make_due(run.app)

    # Round 3: the primary rate limit is spent. One GitHub job asks and is told; the worker's
    # clients share one budget, so the others wait for the reset without asking at all.
    # The reset comes after the alert lane's sends (it goes first, hung posts and all).
    github.exhaust(reset_in=2.0)
    asked = len(github.requests)
    closed = moment().strftime("%Y-%m-%dT%H:%M:%SZ")
    outage.update(state="closed", closed_at=closed, updated_at=closed)
    run.push("acme/api", fresh("api-new"), revert("api-revert", first_api))
    run.incident("acme/api", "closed", outage)
    run.chat_fails("discord", hung)
    run.chat_fails("teams", Answer(drop=True))
    run.chat_fails("mattermost", Answer(429, "slow down", {"Retry-After": "1"}))
    run.work()
    limited = [r for r in github.requests[asked:] if r[2] == 403]
    waiting = [
        j
        for j in run.jobs()
        if j.kind in ("sync", "patches") and "rate limit" in (j.last_error or "")
    ]
    assert len(limited) == 1 and len(waiting) > 1, (
        limited,
        [(j.key, j.last_error) for j in waiting],
    )
    reset = datetime.fromtimestamp(int(github.reset_at), UTC)
    assert all(j.state == "due" and j.due_at >= reset for j in waiting), waiting
    run.exhausted = len(limited)
    time.sleep(max(github.reset_at - time.time(), 0) + 0.05)  # the emulator keeps real time
    make_due(run.app)

    # Round 4: a secondary limit (429) on a listing and a 502 on a patch fetch during
    # `shiplog sync`; an incident opens on the other repository.
    run.github_fails(
        Fault(
            429,
            path_contains="/repos/acme/api/commits",
            headers={"Retry-After": "1"},
            body=SECONDARY,
        ),
        Fault(502, path_contains="/repos/acme/web/commits/"),
    )
    run.push("acme/web", fresh("web-new"))
    queue = make_issue(8, "Queue is stuck", created=moment(), repo="acme/web")
    github.repo("acme/web").issues.append(queue)
    run.incident("acme/web", "opened", queue)
    run.chat_fails("webhook", Answer(500, "oops"))
    run.chat_fails("slack", Answer(drop=True))
    run.chat_fails("teams", Answer(500, "oops"))
    run.sync()
    run.work()

    # Every fault was met, and none is left: the upstreams are well again. Drain.
    assert github.faults == [], github.faults
    for _ in range(DRAIN_PASSES):
        make_due(run.app)
        run.work()
        if not run.backlog() and run.digested():
            break
        time.sleep(0.1)  # a digest window ends at a whole second: the last one may need it
    assert run.backlog() == [], [(j.key, j.state, j.last_error) for j in run.backlog()]
    assert {path: answers for path, answers in run.chat.script.items() if answers} == {}


def _check(run: Run) -> None:
    github, chat = run.github, run.chat
    events = run.events()

    # Every commit of the emulator is in the timeline once, with every patch.
    emulated = {
        (name, commit.sha): commit
        for name, repo in github.repos.items()
        for commit in repo.branches["main"]
    }
    commits = [e for e in events if e.kind in ("commit", "revert")]
    assert Counter((e.repo, e.sha) for e in commits) == Counter(list(emulated))
    assert {e.diff_state for e in commits} == {"fetched"}
    assert {(e.repo, e.sha, f.path, f.patch, f.patch_status) for e in commits for f in e.files} == {
        (name, sha, f["filename"], f["patch"], "ok")
        for (name, sha), commit in emulated.items()
        for f in commit.files
    }
    with run.db.read() as session:
        assert dict(session.execute(select(Repo.full_name, Repo.sync_status)).all()) == {
            repo: "ok" for repo in REPOS
        }

    # GitHub was asked for each commit once, for each listing at most once a sync, and
    # otherwise only as often as the faults explain.
    details = Counter(
        COMMIT_DETAIL.fullmatch(path).groups()
        for _, path, status in github.requests
        if status == 200 and COMMIT_DETAIL.fullmatch(path)
    )
    assert details == Counter(list(emulated))
    listings = [
        r for r in github.requests if r[2] in (200, 304) and not COMMIT_DETAIL.fullmatch(r[1])
    ]
    sync_runs = len(REPOS) * (run.passes + run.syncs)
    assert len(listings) <= LISTINGS_PER_SYNC * sync_runs, (len(listings), sync_runs)
    failed = [r for r in github.requests if r[2] >= 400]
    assert len(failed) <= run.injected + run.exhausted, failed
    total = len(github.requests)
    assert total <= len(emulated) + LISTINGS_PER_SYNC * sync_runs + run.injected + run.exhausted

    # Every alert went to each realtime subscription once; each digest window once, and
    # every event that arrived since the first window began is in exactly one digest.
    jobs = run.jobs()
    assert [j.key for j in jobs if j.state == "dead"] == []
    digests = [j for j in jobs if j.kind == "deliver" and "since" in j.payload]
    with run.db.read() as session:
        ids = dict(session.execute(select(Subscription.name, Subscription.id)).all())
    first_since = min(datetime.fromisoformat(j.payload["since"]) for j in digests)
    for sub in SUBS:
        received = chat.to(f"/{sub.platform}")
        linked = [[int(n) for n in set(EVENT_LINK.findall(r.body.decode()))] for r in received]
        if sub.mode == "realtime":
            expected = Counter(e.id for e in events if sub.hears(e))
            assert all(len(ids) == 1 for ids in linked), sub.platform
        else:
            expected = Counter(
                e.id
                for e in events
                if sub.hears(e)
                and e.ingested_at >= first_since
                and e.occurred_at >= first_since - notify.DIGEST_LATE
            )
            windows = [j for j in digests if j.payload["subscription"] == ids[sub.name]]
            assert len(received) == len(windows) > 0, sub.platform
        assert expected and Counter(n for ids in linked for n in ids) == expected, sub.platform
    by_kind = Counter(e.kind for e in events if e.kind in ALERTING)
    assert by_kind == {
        "revert": 3,
        "incident_opened": 2,
        "incident_update": 1,
        "incident_resolved": 1,
    }

    # Nothing is left due but the periodic work, and an idle pass costs GitHub nothing.
    for job in jobs:
        if job.kind in ("sync", "digest"):
            assert job.state == "due" and job.last_error is None, (job.key, job.last_error)
        else:
            assert job.state == "done", (job.key, job.state)
    counted, sent = github.counted, len(chat.received)
    make_due(run.app)
    run.work()
    assert (github.counted, len(chat.received)) == (counted, sent)
