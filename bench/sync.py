"""Benchmarks of the GitHub sync and import-git: requests per commit, speed, idle cost."""

from __future__ import annotations

import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from github import Auth, Github

from feed.db import Database
from feed.ingest import Intake
from feed.migrate import upgrade
from integrations.github.client import ClientSettings, GitHubClient
from integrations.github.gitlocal import import_history
from integrations.github.sync import SyncOptions, sync_repo
from tests.github_emulator import Emulator, make_commits

TOKEN = "bench-token"


def backfill(commits: int = 2000) -> dict[str, float]:
    """shiplog's backfill of `commits` against a naive PyGithub loop, in one run."""
    start = datetime.now(UTC) - timedelta(days=30)
    with Emulator(token=TOKEN).running() as emulator, tempfile.TemporaryDirectory() as tmp:
        emulator.repo("acme/api").push("main", *make_commits(commits, start=start))
        db = _database(tmp)
        client = GitHubClient(ClientSettings(api_url=emulator.url, token=TOKEN, reserve=0))
        began = time.perf_counter()
        sync_repo(db, client, "acme/api", SyncOptions(backfill=timedelta(days=60)))
        ours_seconds = time.perf_counter() - began
        ours_requests = emulator.counted
        client.close()

        before = emulator.counted
        began = time.perf_counter()
        naive = Github(base_url=emulator.url, auth=Auth.Token(TOKEN), seconds_between_requests=None)
        for commit in naive.get_repo("acme/api").get_commits(sha="main"):
            list(commit.files)
        naive_seconds = time.perf_counter() - began
        naive_requests = emulator.counted - before
        naive.close()
        db.dispose()
    return {
        "commits": commits,
        "ours_requests": ours_requests,
        "ours_requests_per_commit": ours_requests / commits,
        "ours_commits_per_second": commits / ours_seconds,
        "naive_requests": naive_requests,
        "naive_requests_per_commit": naive_requests / commits,
        "naive_commits_per_second": commits / naive_seconds,
    }


def idle_repoll(repos: int = 20, commits_each: int = 20) -> dict[str, float]:
    """Requests that count against the rate limit when 20 synced repos are polled again."""
    start = datetime.now(UTC) - timedelta(days=2)
    names = [f"acme/service-{n}" for n in range(repos)]
    with Emulator(token=TOKEN).running() as emulator, tempfile.TemporaryDirectory() as tmp:
        for name in names:
            emulator.repo(name).push("main", *make_commits(commits_each, start=start, prefix=name))
        db = _database(tmp)
        client = GitHubClient(ClientSettings(api_url=emulator.url, token=TOKEN, reserve=0))
        for name in names:
            sync_repo(db, client, name, SyncOptions())
        before_counted, before_all = emulator.counted, len(emulator.requests)
        began = time.perf_counter()
        for name in names:
            sync_repo(db, client, name, SyncOptions())
        seconds = time.perf_counter() - began
        counted = emulator.counted - before_counted
        sent = len(emulator.requests) - before_all
        client.close()

        before = emulator.counted
        naive = Github(base_url=emulator.url, auth=Auth.Token(TOKEN), seconds_between_requests=None)
        for name in names:  # a naive poller lists everything again
            list(naive.get_repo(name).get_commits(sha="main"))
        naive_counted = emulator.counted - before
        naive.close()
        db.dispose()
    return {
        "repos": repos,
        "requests_sent": sent,
        "requests_counted": counted,
        "seconds": seconds,
        "naive_counted": naive_counted,
    }


def import_git(commits: int = 5000) -> dict[str, float]:
    """import-git of a `commits`-commit repository made with git fast-import."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        _make_repository(path, commits)
        db = _database(tmp)
        began = time.perf_counter()
        report = import_history(db, path, "acme/big", patch_cap=512 * 1024, intake=Intake())
        seconds = time.perf_counter() - began
        db.dispose()
    assert report.created == commits, report
    return {"commits": commits, "seconds": seconds, "commits_per_second": commits / seconds}


def _database(folder: str) -> Database:
    db = Database(f"sqlite:///{folder}/bench.db")
    upgrade(db.engine)
    return db


def _make_repository(path: Path, commits: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    stream = []
    base = 1_790_000_000
    for n in range(commits):
        stream.append("commit refs/heads/main\n")
        stream.append(f"committer Bench <bench@example.com> {base + n * 60} +0000\n")
        message = f"Change {n}\n\nTouches module {n % 40}.\n"
        stream.append(f"data {len(message.encode())}\n{message}")
        for f in range(3):
            content = "".join(f"line {n} {f} {k}\n" for k in range(20))
            stream.append(f"M 100644 inline src/module_{(n + f) % 40}/file_{f}.py\n")
            stream.append(f"data {len(content.encode())}\n{content}")
        stream.append("\n")
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"],
        input="".join(stream).encode(),
        check=True,
    )
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)
