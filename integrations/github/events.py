"""GitHub deliveries to timeline records: one handler per (event, action), and nothing else."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from feed.builds import ResultRecord
from feed.incidents import IncidentRules, parse_note
from feed.ingest import IssueSeen
from feed.store import EventRecord, FileRecord
from integrations.github.commits import TITLE_LIMIT, commit_record, login_from_email
from integrations.github.payload import PayloadError, optional, required, timestamp

PUSH_COMMIT_CAP = 2048  # GitHub lists at most this many commits in a push payload
SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
MAX_BRANCH = 255
MAX_NAME = 200
# Names as GitHub allows them: an owner (user or organization) is 1 to 39 letters, digits
# and single hyphens, neither first nor last; a repository 1 to 100 letters, digits, `.`,
# `_` and `-`, but not `.` or `..`. The name goes into API paths, so nothing else passes.
OWNER = re.compile(r"(?=[A-Za-z0-9-]{1,39}$)[A-Za-z0-9](?:-?[A-Za-z0-9])*")
REPOSITORY = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}")


@dataclass(frozen=True)
class Context:
    """What the handlers need to know about this installation."""

    incident_label: str


@dataclass
class Routed:
    """What a delivery means for the timeline."""

    records: list[EventRecord] = field(default_factory=list)
    replace: bool = False
    deletions: list[str] = field(default_factory=list)
    ignored: str | None = None
    repo: dict[str, Any] | None = None
    # A branch whose history the payload may not hold in full, to be read from the API.
    reconcile: tuple[str, str] | None = None
    # The incident's issue as this delivery shows it (title, labels, still an incident?).
    snapshot: IssueSnapshot | None = None
    # Finished CI results (integrations/github/builds.py).
    results: list[ResultRecord] = field(default_factory=list)


@dataclass(frozen=True)
class IssueSnapshot(IssueSeen):
    """An incident issue as one delivery saw it, with how many comments it had then."""

    comments: int = 0

    def but(self, **changes: Any) -> IssueSnapshot:
        return replace(self, **changes)


Handler = Callable[[dict[str, Any], Context], Routed]
HANDLERS: dict[tuple[str, str | None], Handler] = {}


def handles(event: str, *actions: str) -> Callable[[Handler], Handler]:
    """Register a handler for `event` with each of `actions` (or with any action)."""

    def register(handler: Handler) -> Handler:
        for action in actions or (None,):
            HANDLERS[(event, action)] = handler
        return handler

    return register


def route(event: str, payload: dict[str, Any], context: Context) -> Routed:
    """What `payload`, delivered as `event`, adds to or changes in the timeline."""
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    handler = HANDLERS.get((event, action)) or HANDLERS.get((event, None))
    if handler is None:
        label = f"{event}.{action}" if action else event
        return Routed(ignored=f"{label} is not something shiplog records")
    routed = handler(payload, context)
    if routed.repo is None and not routed.ignored and isinstance(payload.get("repository"), dict):
        routed.repo = _repository(payload)
    return routed


@handles("ping")
def ping(payload: dict[str, Any], context: Context) -> Routed:
    return Routed()


@handles("push")
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
    repo = _repo_name(payload)
    branch = ref.removeprefix("refs/heads/")
    if not branch or len(branch) > MAX_BRANCH or "\x00" in branch:
        raise PayloadError(
            f"payload: ref must name a branch of 1 to {MAX_BRANCH} characters without NUL"
        )
    pusher = _name(optional(payload, "pusher.name", str) or optional(payload, "sender.login", str))
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


@handles(
    "issues",
    "opened",
    "labeled",
    "unlabeled",
    "closed",
    "reopened",
    "edited",
    "transferred",
    "deleted",
)
def issues(payload: dict[str, Any], context: Context) -> Routed:
    issue = required(payload, "issue", dict)
    action = required(payload, "action", str)
    if "pull_request" in issue:
        return Routed(ignored="pull requests are not incidents")
    label = (optional(payload, "label.name", str) or "").casefold()
    is_incident_label = label == context.incident_label.casefold()
    repo = _repo_name(payload)
    snapshot = _snapshot(repo, issue)

    if action == "unlabeled" and is_incident_label:
        return Routed(snapshot=snapshot.but(active=False, reason="the incident label was removed"))
    if action in {"transferred", "deleted"}:
        reason = "moved to another repository" if action == "transferred" else "deleted on GitHub"
        return Routed(snapshot=snapshot.but(active=False, reason=f"the issue was {reason}"))
    if not _is_incident(issue, context):
        return Routed(ignored="issue without the incident label")
    if action in {"edited", "unlabeled"} or (action == "labeled" and not is_incident_label):
        return Routed(snapshot=snapshot)  # a new title or other labels: the state changes

    base = _incident_uid(repo, issue)
    title = required(issue, "title", str)
    actor = _name(optional(payload, "sender.login", str) or optional(issue, "user.login", str))
    if action in {"opened", "labeled"}:
        when = timestamp(issue, "created_at" if action == "opened" else "updated_at")
        record = _incident_record(
            issue,
            repo,
            uid=base,
            kind="incident_opened",
            title=title,
            body=optional(issue, "body", str) or "",
            actor=actor,
            when=when,
        )
    elif action == "closed":
        when = timestamp(issue, "closed_at") or timestamp(issue, "updated_at")
        record = _incident_record(
            issue,
            repo,
            uid=f"{base}/resolved/{_stamp(when)}",
            kind="incident_resolved",
            title=f"Resolved: {title}",
            body="",
            actor=actor,
            when=when,
        )
    else:
        when = timestamp(issue, "updated_at")
        record = _incident_record(
            issue,
            repo,
            uid=f"{base}/reopened/{_stamp(when)}",
            kind="incident_update",
            title=f"Reopened: {title}",
            body="",
            actor=actor,
            when=when,
            extra={"reopened": True},
        )
    return Routed(records=[record], snapshot=snapshot)


@handles("issue_comment", "created", "edited", "deleted")
def issue_comment(payload: dict[str, Any], context: Context) -> Routed:
    issue = required(payload, "issue", dict)
    if "pull_request" in issue:
        return Routed(ignored="pull request comments are not incident updates")
    if not _is_incident(issue, context):
        return Routed(ignored="comment on an issue without the incident label")
    repo = _repo_name(payload)
    comment_id = required(payload, "comment.id", int)
    uid = f"{_incident_uid(repo, issue)}/comment/{comment_id}"
    snapshot = _snapshot(repo, issue)
    if payload.get("action") == "deleted":
        return Routed(deletions=[uid], snapshot=snapshot)
    note = optional(payload, "comment.body", str) or ""
    title = required(issue, "title", str)
    headline = _headline(note)
    record = _incident_record(
        issue,
        repo,
        uid=uid,
        kind="incident_update",
        title=f"{title} — {headline}" if headline else title,
        body=note,
        actor=_name(optional(payload, "comment.user.login", str)),
        when=timestamp(payload, "comment.created_at"),
        updated=timestamp(payload, "comment.updated_at"),
        url=optional(payload, "comment.html_url", str),
        extra={"comment_id": comment_id},
    )
    return Routed(records=[record], replace=True, snapshot=snapshot)


@handles("release", "published")
def release(payload: dict[str, Any], context: Context) -> Routed:
    repo = _repo_name(payload)
    tag = required(payload, "release.tag_name", str)
    if not tag or len(tag) > MAX_BRANCH or "\x00" in tag:
        raise PayloadError(f"payload: release.tag_name must be 1 to {MAX_BRANCH} characters")
    name = optional(payload, "release.name", str) or tag
    when = timestamp(payload, "release.published_at") or timestamp(payload, "release.created_at")
    record = EventRecord(
        uid=f"release:{repo}:{tag}",
        kind="release",
        repo=repo,
        actor=_name(optional(payload, "release.author.login", str)),
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


@handles("deployment_status")
def deployment_status(payload: dict[str, Any], context: Context) -> Routed:
    repo = _repo_name(payload)
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
        branch=_branch_or_none(ref) if ref and not SHA.fullmatch(ref) else None,
        sha=sha if sha and SHA.fullmatch(sha) else None,
        actor=_name(
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
        actor=_name(
            optional(commit, "author.username", str)
            or login_from_email(optional(commit, "author.email", str))
            or optional(commit, "author.name", str)
        ),
        when=timestamp(commit, "timestamp") or pushed_at or datetime.now(UTC),
        url=optional(commit, "url", str),
        files=files,
        data={"author_name": optional(commit, "author.name", str), "pusher": pusher},
    )


def _incident_record(
    issue: dict[str, Any],
    repo: str,
    *,
    uid: str,
    kind: str,
    title: str,
    body: str,
    actor: str | None,
    when: datetime | None,
    updated: datetime | None = None,
    url: str | None = None,
    extra: dict[str, Any] | None = None,
) -> EventRecord:
    labels = [label.get("name") for label in issue.get("labels") or [] if isinstance(label, dict)]
    return EventRecord(
        uid=uid,
        kind=kind,
        repo=repo,
        actor=actor,
        title=title[:TITLE_LIMIT],
        body=body,
        url=url or optional(issue, "html_url", str),
        occurred_at=when or datetime.now(UTC),
        updated_at=updated,
        data={
            "number": required(issue, "number", int),
            "issue_title": required(issue, "title", str),
            "state": optional(issue, "state", str),
            "labels": [name for name in labels if isinstance(name, str)],
            **(extra or {}),
        },
    )


def _name(value: str | None) -> str | None:
    """A login or display name, cut to what the timeline keeps, without NUL."""
    return (value.replace("\x00", "")[:MAX_NAME] or None) if value else None


def _snapshot(repo: str, issue: dict[str, Any]) -> IssueSnapshot:
    labels = [label.get("name") for label in issue.get("labels") or [] if isinstance(label, dict)]
    return IssueSnapshot(
        uid=_incident_uid(repo, issue),
        title=required(issue, "title", str)[:TITLE_LIMIT],
        url=optional(issue, "html_url", str),
        labels=tuple(name for name in labels if isinstance(name, str)),
        seen_at=timestamp(issue, "updated_at") or datetime.now(UTC),
        comments=optional(issue, "comments", int) or 0,
    )


def _headline(note: str) -> str:
    """The first line of an update's note; its commands when it is nothing else."""
    parsed = parse_note(note, IncidentRules())
    first = next((line.strip() for line in parsed.text.splitlines() if line.strip()), "")
    if first:
        return first[:200]
    return ", ".join(f"{c.name} {c.value}" for c in parsed.commands)[:200]


def _is_incident(issue: dict[str, Any], context: Context) -> bool:
    wanted = context.incident_label.casefold()
    return any(
        isinstance(label, dict) and str(label.get("name", "")).casefold() == wanted
        for label in issue.get("labels") or []
    )


def _incident_uid(repo: str, issue: dict[str, Any]) -> str:
    return f"incident:{repo}#{required(issue, 'number', int)}"


def _repo_name(payload: dict[str, Any]) -> str:
    name = required(payload, "repository.full_name", str)
    owner, _, repo = name.partition("/")
    if not (OWNER.fullmatch(owner) and REPOSITORY.fullmatch(repo)):
        raise PayloadError(
            "payload: repository.full_name is not owner/name as GitHub allows them "
            "(owner: letters, digits and single hyphens, up to 39; name: letters, digits, "
            "`.`, `_` and `-`, up to 100)"
        )
    return name


def _repository(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "full_name": _repo_name(payload),
        "html_url": optional(payload, "repository.html_url", str),
        "default_branch": _branch_or_none(optional(payload, "repository.default_branch", str)),
    }


def _branch_or_none(name: str | None) -> str | None:
    return name if name and len(name) <= MAX_BRANCH and "\x00" not in name else None


def _stamp(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
