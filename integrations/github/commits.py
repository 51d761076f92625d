"""One commit as a timeline record, whichever way it arrived (webhook, API, local clone)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feed.config import SETTINGS
from feed.store import EventRecord, FileRecord

TITLE_LIMIT = 300
# `git revert` writes "This reverts commit <sha>." (with --reference: "<abbrev> (subject, date)").
REVERTS_SHA = re.compile(r"This reverts commit ([0-9a-fA-F]{7,64})\b")
# GitHub's revert button, squash-merged, adds its own PR: `Revert "Add x (#12)" (#13)`.
REVERT_SUBJECT = re.compile(r'^(Revert|Reapply) "(.+)"(?:\s*\(#[0-9]+\))?\s*$')
DEFAULT_PATCH_CAP = SETTINGS["sync_patch_cap"].default
# GitHub's private commit addresses, `12345+login@users.noreply.github.com` and the older
# `login@users.noreply.github.com`: they give the author's login (a bot's with `[bot]`).
NOREPLY = re.compile(
    r"(?:\d+\+)?(?=[A-Za-z0-9-]{1,39}(?:\[bot\])?@)"
    r"([A-Za-z0-9](?:-?[A-Za-z0-9])*(?:\[bot\])?)@users\.noreply\.github\.com",
    re.IGNORECASE,
)


def commit_record(
    *,
    repo: str,
    branch: str | None,
    sha: str,
    message: str,
    actor: str | None,
    when: datetime,
    url: str | None,
    files: Sequence[FileRecord] = (),
    data: dict[str, Any] | None = None,
    fetched: bool = False,
) -> EventRecord:
    """The record of a commit: a `revert` when its message says what it reverts."""
    title, _, body = message.strip().partition("\n")
    title = title.strip() or f"Commit {sha[:7]}"
    data = dict(data or {})
    reverts = REVERTS_SHA.search(message)
    subject = REVERT_SUBJECT.match(title)
    if subject:
        data["reverts_subject"] = subject.group(2)
        if subject.group(1) == "Reapply":
            data["reapply"] = True
    if reverts:
        data["reverts"] = reverts.group(1).lower()
    if fetched:
        data["stats"] = diff_stats(files)
    return EventRecord(
        uid=f"commit:{repo}:{sha}",
        kind="revert" if reverts or subject else "commit",
        repo=repo,
        branch=branch,
        actor=actor,
        sha=sha,
        title=title[:TITLE_LIMIT],
        body=body.strip(),
        url=url,
        occurred_at=when,
        data=data,
        files=files,
        diff_state="fetched" if fetched else "pending",
        reverts_ref=reverts.group(1).lower() if reverts else None,
    )


def diff_stats(files: Sequence[FileRecord]) -> dict[str, int]:
    """Files changed and lines added and removed."""
    return {
        "files": len(files),
        "additions": sum(f.additions or 0 for f in files),
        "deletions": sum(f.deletions or 0 for f in files),
    }


def capped_files(raw_files: Sequence[dict[str, Any]], cap: int) -> list[FileRecord]:
    """Files with their patches, the patches together kept under `cap` characters.

    A file GitHub sends without a patch (binary, or too large for it) is `unavailable`; a
    patch cut by the cap ends at a line boundary and is `truncated`.
    """
    budget = cap
    files: list[FileRecord] = []
    for raw in raw_files:
        patch = raw.get("patch")
        status = "ok"
        if not isinstance(patch, str):
            patch, status = None, "unavailable"
        elif len(patch) > budget:
            cut = patch.rfind("\n", 0, budget)
            patch, status = (patch[:cut] if cut > 0 else None), "truncated"
        budget -= len(patch or "")
        files.append(
            FileRecord(
                path=str(raw.get("filename", "")),
                status=str(raw.get("status", "modified")),
                previous_path=raw.get("previous_filename"),
                additions=_int(raw.get("additions")),
                deletions=_int(raw.get("deletions")),
                patch=patch,
                patch_status=status,
            )
        )
    return files


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def login_from_email(email: str | None) -> str | None:
    """The GitHub login a commit's author address names, if it is one of GitHub's private
    (noreply) addresses. Only the login is kept, never the address."""
    found = NOREPLY.fullmatch(email.strip()) if email else None
    return found.group(1) if found else None
