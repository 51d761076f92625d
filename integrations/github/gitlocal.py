"""Backfill from a local clone with the git CLI: the same events, uids and patches as the API.

One `git log -z --raw --patch` process streams the whole history, oldest first, at zero API
cost. Names, statuses and renames come from git's NUL-separated raw list, so no header of the
patch is parsed; the patch is only cut at its `diff --git` lines, one part per file.
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import subprocess
import tempfile
import threading
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
BLOCK = 1 << 20  # bytes read from git at a time
READ_AHEAD = 32  # blocks git may run ahead of the store (32 MiB at the most)
STATUSES = {"A": "added", "D": "removed", "R": "renamed"}  # git's raw letters; M and T too


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
    for record in read_history(path, repo, branch, web_url=web_url, patch_cap=patch_cap):
        records.append(record)
        if len(records) >= BATCH:
            created += _store(db, intake, records)
            commits += len(records)
            records = []
    created += _store(db, intake, records)
    return ImportReport(commits + len(records), created)


def read_history(
    path: Path, repo: str, branch: str, *, web_url: str, patch_cap: int
) -> Iterator[EventRecord]:
    """The record of every commit of `branch` in the clone at `path`, oldest first."""
    for text in _log(path, branch):
        yield _record(text, repo, branch, web_url, patch_cap)


def _store(db: Database, intake: Intake, records: list[EventRecord]) -> int:
    if not records:
        return 0
    with db.write() as session:
        return intake.ingest(session, Batch(records=records)).created


def _record(text: str, repo: str, branch: str, web_url: str, cap: int) -> EventRecord:
    sha, author, email, date, message, changes = text.split("\0", 5)
    return commit_record(
        repo=repo,
        branch=branch,
        sha=sha,
        message=message,
        actor=login_from_email(email) or author[:200] or None,
        when=datetime.fromisoformat(date).astimezone(UTC),
        url=f"{web_url}/{repo}/commit/{sha}",
        files=capped_files(_files(sha, changes), cap),
        data={"author_name": author},
        fetched=True,
    )


def _log(path: Path, branch: str) -> Iterator[str]:
    """Each commit's text, `%H NUL %an NUL %ae NUL %cI NUL %B NUL` then its `--raw -z` list of
    files and its patch, from one git process."""
    marker = f"\1shiplog-{secrets.token_hex(16)}\1".encode()
    command = [
        "git",
        "-C",
        str(path),
        "-c",
        "log.showSignature=false",
        "log",
        "--reverse",
        "-z",
        "--raw",
        "--patch",
        "--no-color",
        "--no-ext-diff",
        "--find-renames",
        f"--format=tformat:{marker.decode()}%H%x00%an%x00%ae%x00%cI%x00%B%x00",
        branch,
        "--",
    ]
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors) as process,
    ):
        assert process.stdout is not None
        rest = b""
        for block in _read_ahead(process):
            parts = (rest + block).split(marker)
            rest = parts.pop()
            for part in parts:
                if part:
                    yield part.decode("utf-8", errors="replace")
        if rest:
            yield rest.decode("utf-8", errors="replace")
        if process.wait() != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            raise GitError(f"import-git: git log failed: {message}")


def _read_ahead(process: subprocess.Popen[bytes]) -> Iterator[bytes]:
    """`process`'s output in blocks, read by a thread up to READ_AHEAD blocks ahead of the
    caller, so git computes the next commits while Python stores these (a pipe holds only
    64 KiB). A caller that stops early kills git rather than wait for the rest of history."""
    assert process.stdout is not None
    stream = process.stdout
    blocks: queue.Queue[bytes] = queue.Queue(READ_AHEAD)

    def read() -> None:
        try:
            for block in iter(lambda: stream.read(BLOCK), b""):
                blocks.put(block)
        finally:
            blocks.put(b"")

    reader = threading.Thread(target=read, name="import-git-reader", daemon=True)
    reader.start()
    try:
        yield from iter(blocks.get, b"")
    finally:
        if reader.is_alive():
            process.kill()
            while reader.is_alive():  # a reader waiting on a full queue gets room to finish
                with contextlib.suppress(queue.Empty):
                    blocks.get(timeout=0.05)
        reader.join()


def _files(sha: str, changes: str) -> list[dict[str, Any]]:
    """A commit's files: names and statuses from git's raw list, each with its part of the
    patch (the patch has one `diff --git` part per file, two for a change of type)."""
    listed: list[tuple[str, str, str | None]] = []  # (status letter, path, previous path)
    changes = changes.lstrip("\0\n")
    at = 0
    while changes.startswith(":", at):
        meta_end = changes.index("\0", at)
        letter = changes[at:meta_end].rsplit(" ", 1)[1][0]
        first_end = changes.index("\0", meta_end + 1)
        first = changes[meta_end + 1 : first_end]
        at = first_end + 1
        if letter in "RC":
            second_end = changes.index("\0", at)
            listed.append((letter, changes[at:second_end], first))
            at = second_end + 1
        else:
            listed.append((letter, first, None))
    patch = changes[at:].lstrip("\0").rstrip("\0").rstrip("\n")
    parts = patch.split("\ndiff --git ") if patch else []
    files: list[dict[str, Any]] = []
    for letter, name, previous in listed:
        if letter == "T":  # git shows a change of type as a deletion and an addition
            files.append(_file(name, "removed", None, parts, len(files)))
            files.append(_file(name, "added", None, parts, len(files)))
        else:
            files.append(_file(name, STATUSES.get(letter, "modified"), previous, parts, len(files)))
    if len(files) != len(parts):
        raise GitError(
            f"import-git: commit {sha} lists {len(files)} files but its patch has "
            f"{len(parts)} parts"
        )
    return files


def _file(
    name: str, status: str, previous: str | None, parts: list[str], index: int
) -> dict[str, Any]:
    part = parts[index] if index < len(parts) else ""
    hunks = part.find("\n@@")
    patch = part[hunks + 1 :] if hunks >= 0 else None
    return {
        "filename": name,
        "status": status,
        "previous_filename": previous,
        "additions": patch.count("\n+") if patch else 0,
        "deletions": patch.count("\n-") if patch else 0,
        "patch": patch,
    }


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
