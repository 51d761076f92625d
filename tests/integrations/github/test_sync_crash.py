"""`shiplog sync`, or `shiplog worker` running the sync job, killed with SIGKILL in the middle
of a backfill, then run again: what was stored stays, the rest comes in, and nothing is
doubled. (Commits fetched but not yet committed at the kill are fetched again: the cursor
moves only with the data it covers. The worker's sync job is held until its lease ends.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from feed.db import Database
from feed.models import Event, Job
from integrations.github.sync import WRITE_BATCH
from tests.conftest import assert_no_secrets, subprocess_secrets_env
from tests.github_emulator import Emulator, Fault, make_commits

COMMITS = 40
HANG_AT = WRITE_BATCH + 5  # the detail of this commit hangs until the kill


def stored_commits(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Event).where(Event.kind == "commit"))


def details_answered(emulator: Emulator) -> Counter[str]:
    """Commits' details answered (not their check suites or status)."""
    return Counter(
        path
        for _, path, status in emulator.requests
        if path.split("/")[-2:-1] == ["commits"] and status == 200
    )


RUNS = {
    "sync": ["sync", "--repo", "acme/api"],
    "worker": ["worker", "--once"],  # the sync job of SHIPLOG_REPOS, under a lease
}


@pytest.mark.parametrize("run", RUNS)
def test_a_killed_sync_resumes_without_gaps_or_duplicates(
    database_url: str, emulator: Emulator, isolated_env: None, tmp_path: Path, run: str
) -> None:
    commits = make_commits(COMMITS, start=datetime.now(UTC) - timedelta(days=3))
    emulator.repo("acme/api").push("main", *commits)
    emulator.faults.append(Fault(status=500, delay=60, path_contains=commits[HANG_AT].sha))
    env = {
        **os.environ,
        **subprocess_secrets_env(tmp_path),
        "SHIPLOG_DATABASE_URL": database_url,
        "SHIPLOG_GITHUB_API_URL": emulator.url,
        "SHIPLOG_GITHUB_TOKEN": "test-token",
        "SHIPLOG_REPOS": "acme/api",
    }
    command = [str(Path(sys.executable).with_name("shiplog")), *RUNS[run]]
    db = Database(database_url)

    with (tmp_path / "first.log").open("w") as log:  # the child keeps its own copy
        first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    # Until the next detail hangs, and the first batch is in.
    while len(details_answered(emulator)) < HANG_AT or stored_commits(db) < WRITE_BATCH:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert stored_commits(db) == WRITE_BATCH  # the first batch, committed with its cursor
    with db.write() as session:  # time moves on: the dead worker's hold on its sync job ends
        session.execute(update(Job).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert_no_secrets(
        "sync output", (tmp_path / "first.log").read_text(), second.stdout, second.stderr
    )
    assert stored_commits(db) == COMMITS
    with db.read() as session:
        shas = Counter(session.scalars(select(Event.sha).where(Event.kind == "commit")))
    assert set(shas) == {commit.sha for commit in commits} and set(shas.values()) == {1}
    answered = details_answered(emulator)
    assert len(answered) == COMMITS
    asked_twice = " ".join(path for path, count in answered.items() if count > 1)
    assert not any(commit.sha in asked_twice for commit in commits[:WRITE_BATCH])
    db.dispose()
