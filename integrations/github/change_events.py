"""What shipped, from GitHub deliveries: pushes (commits, force pushes), releases, deployments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from feed.store import EventRecord, FileRecord
from integrations.github.commits import TITLE_LIMIT, commit_record, login_from_email
from integrations.github.payload import (
    MAX_BRANCH,
    SHA,
    PayloadError,
    branch_or_none,
    optional,
    person,
    repo_name,
    required,
    timestamp,
)
from integrations.github.routing import Context, Routed, Router

PUSH_COMMIT_CAP = 2048  # GitHub lists at most this many commits in a push payload

router = Router()


@router.register("push")
def push(payload: dict[str, Any], context: Context) -> Routed:
    ref = required(payload, "ref", str)
    if not ref.startswith("refs/heads/"):
        return Routed(
            ignored="tag pushes are not recorded"
            if ref.startswith("refs/tags/")
            else f"push to {ref} is not a branch"
        )
    if optional(payload, "deleted", bool):
        return Routed(ignored="branch deletions are not recorded")
    repo = repo_name(payload)
    branch = ref.removeprefix("refs/heads/")
    if not branch or len(branch) > MAX_BRANCH or "\x00" in branch:
        raise PayloadError(
            f"payload: ref must name a branch of 1 to {MAX_BRANCH} characters without NUL"
        )
    pusher = person(optional(payload, "pusher.name", str) or optional(payload, "sender.login", str))
    pushed_at = timestamp(payload, "repository.pushed_at") or timestamp(
        payload, "head_commit.timestamp"
    )

    records: list[EventRecord] = []
    commits = optional(payload, "commits", list) or []
    for index, commit in enumerate(commits):
        if not isinstance(commit, dict):
            raise PayloadError(f"payload: commits[{index}] must be an object")
        if commit.get("distinct") is False:
            continue
        records.append(_commit_record(commit, repo, branch, pusher, pushed_at))

    if optional(payload, "forced", bool):
        before = optional(payload, "before", str) or ""
        after = required(payload, "after", str)
        if not SHA.fullmatch(after) or (before and not SHA.fullmatch(before)):
            raise PayloadError("payload: before and after must be hexadecimal SHAs")
        records.insert(
            0,
            EventRecord(
                uid=f"force_push:{repo}:{branch}:{before}..{after}",
                kind="force_push",
                repo=repo,
                branch=branch,
                actor=pusher,
                sha=after,
                title=f"Force-pushed {branch}"[:TITLE_LIMIT],
                body=f"`{before[:7]}` → `{after[:7]}`",
                url=optional(payload, "compare", str),
                occurred_at=pushed_at or datetime.now(UTC),
                data={"before": before, "after": after, "commits": len(commits)},
            ),
        )
    partial = optional(payload, "forced", bool) or optional(payload, "created", bool)
    partial = partial or len(commits) >= PUSH_COMMIT_CAP
    head = optional(payload, "after", str) or ""
    return Routed(records=records, reconcile=(branch, head) if partial else None)


@router.register("release", "published")
def release(payload: dict[str, Any], context: Context) -> Routed:
    repo = repo_name(payload)
    tag = required(payload, "release.tag_name", str)
    if not tag or len(tag) > MAX_BRANCH or "\x00" in tag:
        raise PayloadError(f"payload: release.tag_name must be 1 to {MAX_BRANCH} characters")
    name = optional(payload, "release.name", str) or tag
    when = timestamp(payload, "release.published_at") or timestamp(payload, "release.created_at")
    record = EventRecord(
        uid=f"release:{repo}:{tag}",
        kind="release",
        repo=repo,
        actor=person(optional(payload, "release.author.login", str)),
        title=f"Released {name}"[:TITLE_LIMIT],
        body=optional(payload, "release.body", str) or "",
        url=optional(payload, "release.html_url", str),
        occurred_at=when or datetime.now(UTC),
        data={
            "tag": tag,
            "name": name,
            "prerelease": bool(optional(payload, "release.prerelease", bool)),
            "target": optional(payload, "release.target_commitish", str),
        },
    )
    return Routed(records=[record])


@router.register("deployment_status")
def deployment_status(payload: dict[str, Any], context: Context) -> Routed:
    repo = repo_name(payload)
    deployment_id = required(payload, "deployment.id", int)
    state = required(payload, "deployment_status.state", str)
    environment = (
        optional(payload, "deployment_status.environment", str)
        or optional(payload, "deployment.environment", str)
        or "unknown"
    )
    ref = optional(payload, "deployment.ref", str)
    sha = optional(payload, "deployment.sha", str)
    created = timestamp(payload, "deployment.created_at")
    updated = timestamp(payload, "deployment_status.updated_at") or timestamp(
        payload, "deployment_status.created_at"
    )
    record = EventRecord(
        uid=f"deployment:{repo}:{deployment_id}",
        kind="deployment",
        repo=repo,
        branch=branch_or_none(ref) if ref and not SHA.fullmatch(ref) else None,
        sha=sha if sha and SHA.fullmatch(sha) else None,
        actor=person(
            optional(payload, "deployment.creator.login", str)
            or optional(payload, "sender.login", str)
        ),
        title=f"Deployment to {environment}: {state}"[:TITLE_LIMIT],
        body=optional(payload, "deployment_status.description", str) or "",
        url=optional(payload, "deployment_status.target_url", str)
        or optional(payload, "deployment_status.log_url", str)
        or optional(payload, "repository.html_url", str),
        occurred_at=created or updated or datetime.now(UTC),
        updated_at=updated,
        data={
            "deployment_id": deployment_id,
            "environment": environment,
            "state": state,
            "status_id": optional(payload, "deployment_status.id", int),
        },
    )
    return Routed(records=[record], replace=True)


def _commit_record(
    commit: dict[str, Any],
    repo: str,
    branch: str,
    pusher: str | None,
    pushed_at: datetime | None,
) -> EventRecord:
    sha = required(commit, "id", str)
    if not SHA.fullmatch(sha):
        raise PayloadError("payload: a commit id is not a hexadecimal SHA")
    files = [
        FileRecord(path=path, status=status)
        for key, status in (("added", "added"), ("removed", "removed"), ("modified", "modified"))
        for path in (optional(commit, key, list) or [])
        if isinstance(path, str)
    ]
    return commit_record(
        repo=repo,
        branch=branch,
        sha=sha,
        message=optional(commit, "message", str) or "",
        actor=person(
            optional(commit, "author.username", str)
            or login_from_email(optional(commit, "author.email", str))
            or optional(commit, "author.name", str)
        ),
        when=timestamp(commit, "timestamp") or pushed_at or datetime.now(UTC),
        url=optional(commit, "url", str),
        files=files,
        data={"author_name": optional(commit, "author.name", str), "pusher": pusher},
    )
