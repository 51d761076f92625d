"""Backfill from a local clone with the git CLI: the same events, uids and patches as the API.

One `git log --patch` process streams the whole history, oldest first, at zero API cost.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feed.db import Database
from feed.ingest import Batch, Intake
from feed.store import EventRecord, upsert_repo
from integrations.github.commits import capped_files, commit_record, login_from_email

BATCH = 500
START, FIELD = "\x1e", "\x1f"
LOG_FORMAT = f"{START}%H{FIELD}%an{FIELD}%ae{FIELD}%cI{FIELD}%B{FIELD}"
QUOTED = re.compile(r'^"(.*)"$')


class GitError(RuntimeError):
    """The clone cannot be read; the message says why."""


@dataclass(frozen=True)
class ImportReport:
    commits: int
    created: int


def import_history(
    db: Database,
    path: Path,
    repo: str,
    *,
    branch: str | None = None,
    web_url: str = "https://github.com",
    patch_cap: int,
    intake: Intake,
) -> ImportReport:
    """Store every commit of `branch` (default: the checked-out one) of the clone at `path`,
    through `intake`: a commit of the last day alerts as if it had been pushed."""
    branch = branch or _git(path, "rev-parse", "--abbrev-ref", "HEAD").strip()
    _git(path, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}")
    with db.write() as session:
        upsert_repo(session, repo, html_url=f"{web_url}/{repo}")
    commits = created = 0
    records: list[EventRecord] = []
    for raw in _log(path, branch):
        records.append(_record(raw, repo, branch, web_url, patch_cap))
        if len(records) >= BATCH:
            created += _store(db, intake, records)
            commits += len(records)
            records = []
    created += _store(db, intake, records)
    return ImportReport(commits + len(records), created)


def _store(db: Database, intake: Intake, records: list[EventRecord]) -> int:
    if not records:
        return 0
    with db.write() as session:
        return intake.ingest(session, Batch(records=records)).created


@dataclass
class _RawCommit:
    sha: str
    author: str
    login: str | None  # from a GitHub noreply address; the address itself is not kept
    date: str
    message: str
    files: list[dict[str, Any]]


def _record(raw: _RawCommit, repo: str, branch: str, web_url: str, cap: int) -> EventRecord:
    files = capped_files(raw.files, cap)
    return commit_record(
        repo=repo,
        branch=branch,
        sha=raw.sha,
        message=raw.message,
        actor=raw.login or raw.author[:200] or None,
        when=datetime.fromisoformat(raw.date).astimezone(UTC),
        url=f"{web_url}/{repo}/commit/{raw.sha}",
        files=files,
        data={"author_name": raw.author},
        fetched=True,
    )


def _log(path: Path, branch: str) -> Iterator[_RawCommit]:
    command = [
        "git",
        "-C",
        str(path),
        "-c",
        "core.quotepath=false",
        "log",
        "--reverse",
        "--patch",
        "--no-color",
        "--no-ext-diff",
        "--find-renames",
        f"--format={LOG_FORMAT}",
        branch,
        "--",
    ]
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors) as process,
    ):
        assert process.stdout is not None
        chunk = b""
        for block in iter(lambda: process.stdout.read(1 << 20), b""):
            chunk += block
            parts = chunk.split(START.encode())
            chunk = parts.pop()
            for part in parts:
                if part:
                    yield _parse(part.decode("utf-8", errors="replace"))
        if chunk:
            yield _parse(chunk.decode("utf-8", errors="replace"))
        if process.wait() != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            raise GitError(f"import-git: git log failed: {message}")


def _parse(text: str) -> _RawCommit:
    sha, author, email, date, message, diff = text.split(FIELD, 5)
    return _RawCommit(sha, author, login_from_email(email), date, message, list(_files(diff)))


def _files(diff: str) -> Iterator[dict[str, Any]]:
    section: list[str] = []
    for line in diff.split("\n"):
        if line.startswith("diff --git ") and section:
            yield _file(section)
            section = []
        if line.startswith("diff --git ") or section:
            section.append(line)
    if section:
        yield _file(section)


def _file(lines: list[str]) -> dict[str, Any]:
    status, old, new, previous = "modified", None, None, None
    hunk_start = None
    for index, line in enumerate(lines):
        if line.startswith("@@"):
            hunk_start = index
            break
        if line.startswith("new file mode"):
            status = "added"
        elif line.startswith("deleted file mode"):
            status = "removed"
        elif line.startswith("rename from "):
            status, previous = "renamed", _unquote(line[len("rename from ") :])
        elif line.startswith("rename to "):
            new = _unquote(line[len("rename to ") :])
        elif line.startswith("--- ") and line != "--- /dev/null":
            old = _unquote(line[4:]).removeprefix("a/")
        elif line.startswith("+++ ") and line != "+++ /dev/null":
            new = _unquote(line[4:]).removeprefix("b/")
        elif line.startswith("Binary files "):
            old = old or _binary_path(line)
    if new is None and old is None:
        old = _header_path(lines[0])
    hunks = lines[hunk_start:] if hunk_start is not None else []
    while hunks and hunks[-1] == "":
        hunks.pop()
    return {
        "filename": new or old,
        "status": status,
        "previous_filename": previous,
        "additions": sum(1 for h in hunks if h.startswith("+")),
        "deletions": sum(1 for h in hunks if h.startswith("-")),
        "patch": "\n".join(hunks) if hunks else None,
    }


def _header_path(header: str) -> str:
    # "diff --git a/x b/x": with the same path twice, the second half is the path.
    rest = header.removeprefix("diff --git ")
    half = (len(rest) - 1) // 2
    return _unquote(rest[half + 1 :]).removeprefix("b/")


def _binary_path(line: str) -> str | None:
    match = re.match(r"Binary files (?:a/(.+?)|/dev/null) and (?:b/(.+?)|/dev/null) differ", line)
    return (match.group(2) or match.group(1)) if match else None


def _unquote(path: str) -> str:
    quoted = QUOTED.match(path)
    if not quoted:
        return path
    raw = quoted.group(1).encode("latin-1", errors="backslashreplace")
    return raw.decode("unicode_escape").encode("latin-1").decode("utf-8", errors="replace")


def _git(path: Path, *args: str) -> str:
    if not (path / ".git").exists() and not (path / "HEAD").exists():
        raise GitError(f"import-git: {path} is not a git repository")
    result = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise GitError(
            f"import-git: git {' '.join(args[:2])} failed: "
            f"{result.stderr.strip() or 'unknown revision'}"
        )
    return result.stdout
