"""Every way GitHub's events come in goes through the one intake: a web process that never ran
`shiplog run` or `worker` alerts the config's subscribers, and the API sync and import-git
ask for what a webhook would."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from feed.models import Channel, Job
from feed.state import shiplog_state
from tests.conftest import deliver
from tests.fake_chat import FakeChat
from tests.github_emulator import FakeCommit, make_commits
from tests.integrations.github.conftest import TOKEN
from tests.integrations.github.test_jobs import push_payload

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    with FakeChat().running() as fake:
        yield fake


@pytest.fixture
def alerted(app_config, emulator, chat, isolated_env) -> Iterator[Flask]:
    """A fresh app (a web process: nothing has written its config yet) pointed at the
    emulator, with one realtime subscription in its config file."""
    app = create_app(
        {
            **app_config,
            "GITHUB_API_URL": emulator.url,
            "GITHUB_TOKEN": TOKEN,
            "REPOS": "acme/api",
            "CHANNELS": [{"name": "eng", "platform": "webhook", "url": chat.url("/eng")}],
            "SUBSCRIPTIONS": [{"name": "alerts", "channel": "eng", "mode": "realtime"}],
        }
    )
    yield app
    shiplog_state(app).db.dispose()


def revert_of(commit: FakeCommit, when: datetime) -> FakeCommit:
    return FakeCommit(
        sha=f"{int(commit.sha, 16) ^ 1:040x}",
        message=f'Revert "{commit.message.splitlines()[0]}"\n\nThis reverts commit {commit.sha}.',
        date=when,
        files=commit.files,
    )


def deliveries(app: Flask) -> list[str]:
    with shiplog_state(app).db.read() as session:
        return list(session.scalars(select(Job.key).where(Job.kind == "deliver")))


def run(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_fresh_web_process_alerts_the_configs_subscribers(alerted, emulator, chat) -> None:
    [change] = make_commits(1, start=NOW - timedelta(hours=2))
    revert = revert_of(change, NOW - timedelta(minutes=5))
    emulator.repo("acme/api").push("main", change, revert)
    answer = deliver(alerted.test_client(), "push", push_payload([change, revert]))
    assert answer.status_code == 200, answer.json
    assert deliveries(alerted) == [f"deliver:1:event:commit:acme/api:{revert.sha}"]
    run(alerted, "worker", "--once")  # patches, the alert, and the first sync
    [message] = chat.to("/eng")
    assert message.json["title"].startswith("Revert: Revert")


def test_the_api_sync_alerts_as_the_webhook_would(alerted, emulator) -> None:
    [change] = make_commits(1, start=NOW - timedelta(hours=2))
    revert = revert_of(change, NOW - timedelta(minutes=5))
    emulator.repo("acme/api").push("main", change, revert)
    run(alerted, "sync")
    assert deliveries(alerted) == [f"deliver:1:event:commit:acme/api:{revert.sha}"]
    answer = deliver(alerted.test_client(), "push", push_payload([change, revert]))
    assert answer.json["events_created"] == 0
    assert deliveries(alerted) == [f"deliver:1:event:commit:acme/api:{revert.sha}"]


def git(path: Path, *args: str, when: datetime = NOW) -> str:
    stamp = when.isoformat()
    env = {
        "GIT_AUTHOR_NAME": "Mara",
        "GIT_AUTHOR_EMAIL": "mara@example.com",
        "GIT_COMMITTER_NAME": "Mara",
        "GIT_COMMITTER_EMAIL": "mara@example.com",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": "/nonexistent",
        "PATH": "/usr/bin:/bin",
    }
    run = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    return run.stdout


def clone_with_a_revert(path: Path, when: datetime) -> str:
    """A clone whose last commit, made at `when`, reverts the one before; its sha."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main", when=when)
    (path / "cache.py").write_text("CACHE = True\n")
    git(path, "add", ".", when=when)
    git(path, "commit", "-q", "-m", "Cache sessions", when=when - timedelta(minutes=30))
    git(path, "revert", "--no-edit", "HEAD", when=when)
    return git(path, "rev-parse", "HEAD").strip()


def test_import_git_alerts_on_what_is_recent_as_the_webhook_would(alerted, tmp_path) -> None:
    old = clone_with_a_revert(tmp_path / "old", NOW - timedelta(days=3))
    run(alerted, "import-git", str(tmp_path / "old"), "--repo", "acme/old")
    assert deliveries(alerted) == []  # a backfill alerts nobody
    recent = clone_with_a_revert(tmp_path / "recent", NOW - timedelta(minutes=5))
    run(alerted, "import-git", str(tmp_path / "recent"), "--repo", "acme/api")
    assert deliveries(alerted) == [f"deliver:1:event:commit:acme/api:{recent}"]
    commit = {
        "id": recent,
        "message": 'Revert "Cache sessions"',
        "timestamp": (NOW - timedelta(minutes=5)).isoformat(),
        "added": [],
        "removed": [],
        "modified": ["cache.py"],
    }
    push: dict[str, Any] = {
        "ref": "refs/heads/main",
        "after": recent,
        "commits": [commit],
        "repository": {"full_name": "acme/api"},
    }
    answer = deliver(alerted.test_client(), "push", push)
    assert answer.json["events_created"] == 0
    with shiplog_state(alerted).db.read() as session:
        assert session.scalars(select(Job.key)).all() == [
            f"deliver:1:event:commit:acme/api:{recent}"
        ]
    assert old != recent


def test_the_demo_asks_for_nothing_and_alerts_nobody(alerted) -> None:
    run(alerted, "demo")
    with shiplog_state(alerted).db.read() as session:
        assert session.scalars(select(Job)).all() == []
        assert session.scalars(select(Channel)).all() == []  # it needed no config either
