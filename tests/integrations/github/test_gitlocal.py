"""import-git on a real repository made with the git CLI: same uids and patches as the API."""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from feed.models import Event, EventFile
from feed.state import shiplog_state
from integrations.github import gitlocal
from tests.github_emulator import FakeCommit

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Mara Lind",
    "GIT_AUTHOR_EMAIL": "mara@example.com",
    "GIT_COMMITTER_NAME": "Mara Lind",
    "GIT_COMMITTER_EMAIL": "mara@example.com",
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(path: Path, *args: str, when: int = 0) -> str:
    stamp = f"2026-11-20T10:{when:02d}:00+00:00"
    env = {
        **GIT_ENV,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        ["git", "-C", str(path), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "app.py").write_text("print('hello')\n")
    (path / "notes é.md").write_text("# Notes\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "Add the app\n\nWith a body.", when=1)
    (path / "app.py").write_text("print('hello, world')\nprint('again')\n")
    (path / "logo.png").write_bytes(bytes(range(256)) * 4)
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "Greet the world", when=2)
    git(path, "revert", "--no-edit", "HEAD", when=3)
    git(path, "mv", "notes é.md", "docs.md")
    git(path, "commit", "-q", "-m", "Rename the notes", when=4)
    git(path, "rm", "-q", "app.py")
    git(path, "commit", "-q", "-m", "Drop the app", when=5)
    return path


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=["import-git", *args])


def test_import_writes_commits_files_patches_and_reverts(app, clone: Path) -> None:
    result = invoke(app, str(clone), "--repo", "acme/api")
    assert result.exit_code == 0, result.output
    assert "read 5 commits, 5 new" in result.output
    db = shiplog_state(app).db
    with db.read() as session:
        events = {e.title: e for e in session.scalars(select(Event))}
        files = {(f.event_id, f.path): f for f in session.scalars(select(EventFile))}
    head = git(clone, "rev-parse", "HEAD").strip()
    assert events["Drop the app"].uid == f"commit:acme/api:{head}"
    assert events["Drop the app"].url == f"https://github.com/acme/api/commit/{head}"
    assert events["Add the app"].body == "With a body."
    assert events["Add the app"].occurred_at == datetime(2026, 11, 20, 10, 1, tzinfo=UTC)
    assert events["Add the app"].actor == "Mara Lind"
    revert = events['Revert "Greet the world"']
    assert revert.kind == "revert"
    assert revert.reverts_id == events["Greet the world"].id

    greet = events["Greet the world"].id
    assert files[(greet, "app.py")].patch.startswith("@@ -1 +1,2 @@")
    assert (files[(greet, "app.py")].additions, files[(greet, "app.py")].deletions) == (2, 1)
    assert files[(greet, "logo.png")].patch_status == "unavailable"
    renamed = files[(events["Rename the notes"].id, "docs.md")]
    assert (renamed.status, renamed.previous_path) == ("renamed", "notes é.md")
    assert files[(events["Drop the app"].id, "app.py")].status == "removed"
    assert events["Greet the world"].data["stats"] == {"files": 2, "additions": 2, "deletions": 1}


def test_importing_twice_adds_nothing(app, clone: Path) -> None:
    invoke(app, str(clone), "--repo", "acme/api")
    result = invoke(app, str(clone), "--repo", "acme/api")
    assert "read 5 commits, 0 new" in result.output


def test_an_api_sync_after_an_import_fetches_no_commit(gh_app, emulator, clone: Path) -> None:
    invoke(gh_app, str(clone), "--repo", "acme/api")
    log = git(clone, "log", "--reverse", "--format=%H%x1f%s%x1f%cI").strip().splitlines()
    repo = emulator.repo("acme/api")
    for line in log:
        sha, subject, date = line.split("\x1f")
        repo.push("main", FakeCommit(sha, subject, datetime.fromisoformat(date)))
    from integrations.github.options import github_client, sync_options
    from integrations.github.sync import SyncOptions, sync_repo

    settings = shiplog_state(gh_app).settings
    client = github_client(settings)
    options = sync_options(settings, datetime(2026, 11, 19, tzinfo=UTC))
    assert isinstance(options, SyncOptions)
    report = sync_repo(shiplog_state(gh_app).db, client, "acme/api", options)
    client.close()
    assert report.commits == 0
    details = [p for _, p, _ in emulator.requests if p.split("/")[-2:-1] == ["commits"]]
    assert not details
    with shiplog_state(gh_app).db.read() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repo", "not-a-repo"], "is not owner/name"),
        (["--repo", "acme/api", "--branch", "nope"], "failed"),
    ],
)
def test_bad_arguments_are_refused(app, clone: Path, args, message) -> None:
    result = invoke(app, str(clone), *args)
    assert result.exit_code != 0
    assert message in result.output


def test_a_folder_that_is_not_a_repository_is_refused(app, tmp_path: Path) -> None:
    result = invoke(app, str(tmp_path), "--repo", "acme/api")
    assert result.exit_code == 1
    assert "is not a git repository" in result.output


def test_a_reader_that_stops_early_stops_git_and_its_thread() -> None:
    """The read-ahead thread must not outlive an import that failed half-way: with `yes`
    (endless output) standing in for git, closing the reader kills the process and ends the
    thread, where a thread blocked on a full queue would hang the import for ever."""
    process = subprocess.Popen(["yes", "shiplog"], stdout=subprocess.PIPE)
    with process:
        blocks = gitlocal._read_ahead(process)
        assert next(blocks).startswith(b"shiplog\n")
        closer = threading.Thread(target=blocks.close)
        closer.start()
        closer.join(timeout=10)
        assert not closer.is_alive(), "closing the reader hung"
        assert process.wait(timeout=10) != 0  # killed, not run to its end
    assert not [t for t in threading.enumerate() if t.name == "import-git-reader"]
