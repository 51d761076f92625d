"""A person found by login or by git name, whichever way their work arrived: webhooks, the
API sync, import-git; and no author's address kept."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from feed.models import AuthorAlias, Event, Job, Subscription
from feed.state import shiplog_state
from integrations.github.commits import login_from_email
from tests.conftest import database_rows, deliver
from tests.github_emulator import FakeCommit

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.parametrize(
    ("email", "login"),
    [
        ("171165+davidism@users.noreply.github.com", "davidism"),
        ("davidism@users.noreply.github.com", "davidism"),
        ("49699333+dependabot[bot]@users.noreply.github.com", "dependabot[bot]"),
        ("davidism@gmail.com", None),
        ("x@users.noreply.github.com.example.com", None),
        ("-x@users.noreply.github.com", None),
        ("a" * 40 + "@users.noreply.github.com", None),
        ("", None),
        (None, None),
    ],
)
def test_a_login_comes_only_from_githubs_noreply_addresses(email, login) -> None:
    assert login_from_email(email) == login


def commit_as(path: Path, name: str, email: str, message: str, minute: int) -> None:
    stamp = f"2026-11-20T10:{minute:02d}:00+00:00"
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
        "HOME": "/nonexistent",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PATH": "/usr/bin:/bin",
    }
    (path / f"file{minute}.txt").write_text(message)
    for args in (["add", "."], ["commit", "-q", "-m", message]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env, capture_output=True)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    path = tmp_path / "flask"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    commit_as(path, "David Lord", "171165+davidism@users.noreply.github.com", "Fix the loader", 1)
    commit_as(path, "David Lord", "davidism@users.noreply.github.com", "Tidy the docs", 2)
    commit_as(path, "David Lord", "davidism@gmail.com", "Own address", 3)
    commit_as(
        path, "dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com", "Bump", 4
    )
    return path


def test_import_git_takes_the_login_from_a_noreply_address_and_keeps_no_address(
    app, clone: Path
) -> None:
    result = app.test_cli_runner().invoke(
        args=["import-git", str(clone), "--repo", "pallets/flask"]
    )
    assert result.exit_code == 0, result.output
    db = shiplog_state(app).db
    with db.read() as session:
        actors = {e.title: (e.actor, e.data["author_name"]) for e in session.scalars(select(Event))}
    assert actors == {
        "Fix the loader": ("davidism", "David Lord"),
        "Tidy the docs": ("davidism", "David Lord"),
        "Own address": ("David Lord", "David Lord"),  # no login to be had
        "Bump": ("dependabot[bot]", "dependabot[bot]"),
    }
    dump = repr(database_rows(db))
    for address in ("users.noreply", "noreply.github", "gmail.com", "171165", "49699333"):
        assert address not in dump
    client = app.test_client()
    for author in ("davidism", "David Lord"):
        found = client.get("/api/events", query_string={"author": author}).json["events"]
        assert sorted(e["title"] for e in found) == [
            "Fix the loader",
            "Own address",
            "Tidy the docs",
        ]
    assert len(client.get("/api/events?bots=exclude").json["events"]) == 3


def test_author_finds_a_person_by_login_or_name_from_every_source(
    gh_app, emulator, client_for, clone: Path
) -> None:
    from integrations.github.options import sync_options
    from integrations.github.sync import sync_repo

    repo = emulator.repo("acme/api")
    repo.push(
        "main",
        FakeCommit("a" * 40, "Synced", NOW - timedelta(hours=3), "davidism", "David Lord"),
        FakeCommit(
            "b" * 40,
            "Synced, no account",
            NOW - timedelta(hours=2),
            None,
            "David Lord",
            "171165+davidism@users.noreply.github.com",
        ),
    )
    settings = shiplog_state(gh_app).settings
    sync_repo(shiplog_state(gh_app).db, client_for(), "acme/api", sync_options(settings))
    runner = gh_app.test_cli_runner()
    # an address that names no login: only what the sync learned ties it to davidism
    subprocess.run(
        ["git", "-C", str(clone), "reset", "-q", "--hard", "HEAD~1"],
        check=True,
        capture_output=True,
    )
    runner.invoke(args=["import-git", str(clone), "--repo", "pallets/flask"])
    client = gh_app.test_client()
    pushed = {
        "ref": "refs/heads/main",
        "after": "c" * 40,
        "commits": [
            {
                "id": "c" * 40,
                "message": "Pushed",
                "timestamp": (NOW - timedelta(hours=1)).isoformat(),
                "author": {"name": "David Lord", "email": "d@example.com", "username": "davidism"},
            }
        ],
        "repository": {"full_name": "pallets/click"},
    }
    assert deliver(client, "push", pushed).status_code == 200
    release = {
        "action": "published",
        "release": {"tag_name": "v3", "author": {"login": "davidism"}, "published_at": None},
        "repository": {"full_name": "pallets/click"},
    }
    assert deliver(client, "release", release).status_code == 200

    everything = [
        "Synced",
        "Synced, no account",
        "Fix the loader",
        "Tidy the docs",
        "Own address",
        "Pushed",
        "Released v3",
    ]
    for author in ("davidism", "David Lord", "David*", "davidism,nobody"):
        found = client.get("/api/events", query_string={"author": author}).json["events"]
        assert sorted(e["title"] for e in found) == sorted(everything), author
    assert client.get("/api/events?author=octocat").json["events"] == []
    with shiplog_state(gh_app).db.read() as session:
        assert set(session.execute(select(AuthorAlias.login, AuthorAlias.name))) == {
            ("davidism", "David Lord")
        }


def test_a_realtime_subscription_by_name_hears_of_the_login_s_revert(client, db) -> None:
    from feed.models import Channel

    with db.write() as session:
        channel = Channel(name="eng", platform="slack", url="https://hooks.slack.com/x")
        session.add(channel)
        session.flush()
        session.add(
            Subscription(
                name="davids",
                channel_id=channel.id,
                mode="realtime",
                filter={"author": ["David Lord"]},
            )
        )
    revert = {
        "ref": "refs/heads/main",
        "after": "d" * 40,
        "commits": [
            {
                "id": "d" * 40,
                "message": f'Revert "x"\n\nThis reverts commit {"e" * 40}.',
                "timestamp": NOW.isoformat(),
                "author": {"name": "David Lord", "username": "davidism"},
            }
        ],
        "repository": {"full_name": "pallets/flask"},
    }
    assert deliver(client, "push", revert).status_code == 200
    with db.read() as session:
        keys = session.scalars(select(Job.key).where(Job.kind == "deliver")).all()
    assert keys == [f"deliver:1:event:commit:pallets/flask:{'d' * 40}"]
