"""Merged pull requests as context: which PR brought a commit, read when a surface shows it.

A PR is not an event of its own. It is stored once per (repository, number) and looked up
when entries, suspects or messages are shown, so it links the commits it brought whether it
arrived before or after them: the merge or squash commit (GitHub's `merge_commit_sha`), the
PR's head commit, or a commit whose title ends with GitHub's `(#123)` suffix or is a
"Merge pull request #123 from ..." commit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import FromClause, Integer, Select, or_, select
from sqlalchemy.orm import Session

from feed.lookup import Lookup, Values, read
from feed.models import BUILD_KINDS, Event, PullRequest
from feed.records import COLUMN_LIMITS
from feed.render import safe_url

COMMIT_KINDS = ("commit", "revert")
SUFFIX = re.compile(r"\(#([0-9]{1,9})\)\s*$")
MERGE_TITLE = re.compile(r"^Merge pull request #([0-9]{1,9}) from \S")


@dataclass(frozen=True)
class PullRecord:
    """A merged pull request as a source reports it."""

    repo: str
    number: int
    title: str
    url: str | None
    merge_sha: str | None
    head_sha: str | None
    merged_at: datetime

    def __post_init__(self) -> None:
        if len(self.repo) > COLUMN_LIMITS["repo"] or self.number < 1:
            raise ValueError("pulls: a pull request needs a repository and a number")
        if self.merged_at.tzinfo is None:
            raise ValueError("pulls: merged_at must carry a time zone")


def store(session: Session, pulls: Sequence[PullRecord]) -> None:
    """Keep each PR once by (repository, number); a later delivery updates it."""
    for pull in pulls:
        row = session.scalars(
            select(PullRequest).where(
                PullRequest.repo == pull.repo, PullRequest.number == pull.number
            )
        ).one_or_none()
        if row is None:
            row = PullRequest(repo=pull.repo, number=pull.number)
            session.add(row)
        # NUL, which databases refuse, becomes U+FFFD as in events; a URL holding it is no URL.
        row.title = pull.title.replace("\x00", "\ufffd")
        row.url = pull.url if pull.url and "\x00" not in pull.url else None
        row.merged_at = pull.merged_at
        row.merge_sha, row.head_sha = pull.merge_sha, pull.head_sha
    session.flush()


def number_in(title: str) -> int | None:
    """The PR number a commit title names: GitHub's squash suffix or its merge subject."""
    found = SUFFIX.search(title) or MERGE_TITLE.match(title)
    return int(found.group(1)) if found else None


def via(session: Session, events: Sequence[Event]) -> dict[int, PullRequest]:
    """The PR that brought each of `events` (commits, and build events by their first
    failing commit), by event id; events no stored PR brought are left out."""
    wanted: dict[int, tuple[str, str | None, int | None]] = {}
    for event in events:
        data = event.data or {}
        if event.kind in COMMIT_KINDS:
            wanted[event.id] = (event.repo, event.sha, number_in(event.title))
        elif event.kind in BUILD_KINDS and isinstance(data.get("bad"), str):
            wanted[event.id] = (event.repo, data["bad"], None)
    items = [
        {"repo": repo, "sha": sha or "", "number": number or 0}
        for repo, sha, number in set(wanted.values())
        if sha or number
    ]
    by_sha: dict[tuple[str, str], PullRequest] = {}
    by_number: dict[tuple[str, int], PullRequest] = {}
    for result in read(session, PULLS, items):
        for pull in result.scalars():
            by_number[(pull.repo, pull.number)] = pull
            for sha in (pull.head_sha, pull.merge_sha):  # the merge commit wins a tie
                if sha:
                    by_sha[(pull.repo, sha)] = pull
    found: dict[int, PullRequest] = {}
    for event_id, (repo, sha, number) in wanted.items():
        pull = by_sha.get((repo, sha or "")) or by_number.get((repo, number or 0))
        if pull is not None:
            found[event_id] = pull
    return found


def _pull_part(values: Values) -> Select:
    """The PRs of the item's repository that merged or headed its commit or bear its
    number: each by its own index (the two shas' and the number's)."""
    return select(PullRequest.id).where(
        PullRequest.repo == values["repo"],
        or_(
            PullRequest.merge_sha == values["sha"],
            PullRequest.head_sha == values["sha"],
            PullRequest.number == values["number"],
        ),
    )


def _pulls(found: FromClause) -> Select:
    return select(PullRequest).where(PullRequest.id.in_(select(found.c.id)))


# Read for a page's events at once; a lookup per event, where one OR of the events' pairs
# had SQLite read every PR (9.6 ms of a 16 ms page at 20,000 PRs).
PULLS = Lookup(
    (
        ("repo", PullRequest.repo.type),
        ("sha", PullRequest.merge_sha.type),
        ("number", Integer()),
    ),
    _pull_part,
    _pulls,
)


def as_json(pull: PullRequest | None) -> dict[str, Any] | None:
    """A PR as the JSON API shows it beside an event or a suspect (None: no PR known)."""
    if pull is None:
        return None
    return {"number": pull.number, "title": pull.title, "html_url": safe_url(pull.url)}
