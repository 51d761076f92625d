"""Merged pull requests from `pull_request` deliveries: context for the commits they brought.

Only `closed` with `merged: true` is kept; a PR closed unmerged, and every other action,
answers 202 and stores nothing. The PR is not a timeline event (its commits are): it lets
entries, suspects and messages say "via #123 <title>" (feed/pulls.py).
"""

from __future__ import annotations

from typing import Any

from feed.pulls import PullRecord
from integrations.github.commits import TITLE_LIMIT
from integrations.github.payload import SHA, PayloadError, optional, repo_name, required, timestamp
from integrations.github.routing import Context, Routed, Router

router = Router()


@router.register("pull_request", "closed")
def pull_request_closed(payload: dict[str, Any], context: Context) -> Routed:
    if optional(payload, "pull_request.merged", bool) is not True:
        return Routed(ignored="pull requests closed without merging are not recorded")
    number = required(payload, "pull_request.number", int)
    merged_at = timestamp(payload, "pull_request.merged_at")
    if merged_at is None or isinstance(number, bool) or number < 1:
        raise PayloadError("payload: a merged pull request needs a number and merged_at")
    title = " ".join(required(payload, "pull_request.title", str).split())[:TITLE_LIMIT]
    return Routed(
        pulls=[
            PullRecord(
                repo=repo_name(payload),
                number=number,
                title=title or f"#{number}",
                url=optional(payload, "pull_request.html_url", str),
                merge_sha=_sha(optional(payload, "pull_request.merge_commit_sha", str)),
                head_sha=_sha(optional(payload, "pull_request.head.sha", str)),
                merged_at=merged_at,
            )
        ]
    )


def _sha(value: str | None) -> str | None:
    return value if value and SHA.fullmatch(value) else None
