"""Benchmark of the sync's build catch-up: 30 days of CI results for 20 repositories from
the API emulator, what it costs in requests, and what an idle re-poll costs."""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from feed.db import Database
from feed.ingest import Batch, Intake
from feed.migrate import upgrade
from feed.models import BuildResult, Event
from integrations.github.client import ClientSettings, GitHubClient
from integrations.github.commits import commit_record
from integrations.github.sync import SyncOptions, sync_repo
from tests.github_emulator import (
    Emulator,
    FakeCommit,
    FakeRepo,
    make_check_run,
    make_check_suite,
    make_status,
    make_workflow_run,
)

TOKEN = "bench-token"
DAYS = 30
PUSHES_PER_DAY = 10
WORKFLOWS = ("tests", "lint")
RERUN_EVERY = 25  # every 25th run failed and passed on its second attempt
RED = range(200, 203)  # pushes on which `tests` failed: one break and its fix per repository
CI_PATHS = ("/actions/", "/check-suites", "/check-runs", "/status")


def run(repos: int = 20) -> dict[str, Any]:
    """Sync `repos` repositories whose commits are in the timeline already (as `import-git`
    leaves them) but none of whose CI results came by webhook; then poll them all again."""
    names = [f"acme/service-{n}" for n in range(repos)]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=DAYS - 0.5)
    with Emulator(token=TOKEN).running() as emulator, tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        upgrade(db.engine)
        for name in names:
            _history(db, emulator.repo(name), start)
        client = GitHubClient(ClientSettings(api_url=emulator.url, token=TOKEN, reserve=0))
        options = SyncOptions(backfill=timedelta(days=DAYS))
        began = time.perf_counter()
        for name in names:
            sync_repo(db, client, name, options)
        catchup_seconds = time.perf_counter() - began
        catchup = _costs(emulator.requests)
        with db.read() as session:
            results = session.scalar(select(func.count()).select_from(BuildResult)) or 0
            events = Counter(session.scalars(select(Event.kind).where(Event.kind.like("build%"))))

        sent_before = len(emulator.requests)
        began = time.perf_counter()
        for name in names:
            sync_repo(db, client, name, options)
        idle_seconds = time.perf_counter() - began
        idle = _costs(emulator.requests[sent_before:])
        client.close()
        db.dispose()
    runs = sum(len(repo.runs) for repo in emulator.repos.values())
    return {
        "repos": repos,
        "commits": repos * DAYS * PUSHES_PER_DAY,
        "runs": runs,
        "results": results,
        "events": dict(events),
        "catchup": catchup,
        "catchup_seconds": catchup_seconds,
        "idle": idle,
        "idle_seconds": idle_seconds,
    }


def lines(r: dict[str, Any]) -> list[str]:
    c, i = r["catchup"], r["idle"]
    return [
        "## Build results caught up by the sync (issue 13)",
        "",
        f"`bench/build_catchup.py` against the API emulator: {r['repos']} repositories, "
        f"{DAYS} days of {PUSHES_PER_DAY} pushes a day on `main` ({r['commits']:,} commits, "
        "already in the timeline as `import-git` leaves them), each push run by "
        f"{len(WORKFLOWS)} GitHub Actions workflows (every {RERUN_EVERY}th run failed, then "
        f"passed on a re-run; `tests` red on {len(RED)} pushes in a row) and by a "
        "third-party CI app (a check suite with one check run) and an old CI's commit status;"
        f" no webhook delivery arrived. {r['runs']:,} run "
        f"attempts in all; the sync stored {r['results']:,} results and made "
        f"{sum(r['events'].values())} build events ({_kinds(r['events'])}).",
        "",
        "| sync of all repositories | requests counted | of which build results | "
        "requests sent | time |",
        "|---|---|---|---|---|",
        f"| catch-up of {DAYS} days | {c['counted']:,} | {c['ci_counted']:,} | "
        f"{c['sent']:,} | {r['catchup_seconds']:.1f} s |",
        f"| idle re-poll (target: 0 counted) | {i['counted']:,} | {i['ci_counted']:,} | "
        f"{i['sent']:,} (all 304) | {r['idle_seconds']:.1f} s |",
        "",
        "Build results per repository: the runs listing (100 a page), one request per earlier "
        "attempt of a re-run run, and the check suites, check runs and statuses of the "
        "newest 10 commits; the rest of the counted requests are the repository, its commit "
        "listing pages, issues, comments and releases. Results of commits older than the "
        "newest 10 from CI other than Actions are not caught up: they come by webhook.",
        "",
    ]


def _history(db: Database, repo: FakeRepo, start: datetime) -> None:
    """The repository's commits, in the emulator and in the timeline, and its CI on them."""
    step = timedelta(days=1) / PUSHES_PER_DAY
    commits = [
        FakeCommit(
            hashlib.sha1(f"{repo.full_name}-{n}".encode(), usedforsecurity=False).hexdigest(),
            f"Change {n}",
            start + n * step,
        )
        for n in range(DAYS * PUSHES_PER_DAY)
    ]
    repo.push("main", *commits)
    records = [
        commit_record(
            repo=repo.full_name,
            branch="main",
            sha=c.sha,
            message=c.message,
            actor="octocat",
            when=c.date,
            url=None,
            fetched=True,
        )
        for c in commits
    ]
    with db.write() as session:
        Intake().ingest(session, Batch(records=records, alerts=False))
    run_id = 0
    for n, commit in enumerate(commits):
        for name in WORKFLOWS:
            run_id += 1
            rerun = run_id % RERUN_EVERY == 0
            attempts = [("failure", 1), ("success", 2)] if rerun else [("success", 1)]
            if name == WORKFLOWS[0] and n in RED:
                attempts = [("failure", 1)]
            repo.runs += [
                make_workflow_run(
                    commit.sha,
                    verdict,
                    run_id=run_id,
                    attempt=attempt,
                    when=commit.date,
                    name=name,
                    repo=repo.full_name,
                )
                for verdict, attempt in attempts
            ]
        suite = make_check_suite(commit.sha, "success", suite_id=n + 1, when=commit.date)
        repo.suites[commit.sha] = [suite]
        repo.check_runs[commit.sha] = [make_check_run(suite, "build", "success", run_id=n + 1)]
        repo.statuses[commit.sha] = [
            make_status(commit.sha, "success", status_id=n + 1, when=commit.date)
        ]


def _costs(requests: list[tuple[str, str, int]]) -> dict[str, int]:
    ci = [status for _, path, status in requests if any(p in path for p in CI_PATHS)]
    return {
        "sent": len(requests),
        "counted": sum(1 for _, _, status in requests if status != 304),
        "ci_counted": sum(1 for status in ci if status != 304),
    }


def _kinds(events: dict[str, int]) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in sorted(events.items())) or "none"
