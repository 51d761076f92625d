"""Incidents from GitHub deliveries: issues with the incident label and their comments.

One handler per (event, action). Each names what the issue is as the delivery shows it
(an IssueSnapshot), so the intake can tell when an issue stops being an incident.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from feed.incidents import IncidentRules, parse_note
from feed.store import EventRecord
from integrations.github.commits import TITLE_LIMIT
from integrations.github.payload import optional, person, repo_name, required, stamp, timestamp
from integrations.github.routing import Context, DeliveryHandler, IssueSnapshot, Routed, Router

router = Router()

PULL_REQUEST = "pull requests are not incidents"
NOT_AN_INCIDENT = "issue without the incident label"


class Found(NamedTuple):
    """What a delivery is about: the issue, its repository, its snapshot, and the uid of the
    incident (or, for a comment, of the update)."""

    issue: dict[str, Any]
    repo: str
    snapshot: IssueSnapshot
    uid: str


Finder = Callable[[dict[str, Any], Context], Found | Routed]
Handler = Callable[[dict[str, Any], Context, Found], Routed]


def _seen(payload: dict[str, Any]) -> Found | None:
    """The issue, its repository, snapshot and incident uid; None for a pull request."""
    issue = required(payload, "issue", dict)
    if "pull_request" in issue:
        return None
    repo = repo_name(payload)
    return Found(issue, repo, _snapshot(repo, issue), _incident_uid(repo, issue))


def _incident(payload: dict[str, Any], context: Context) -> Found | Routed:
    """The incident issue the delivery is about, or why the delivery is ignored."""
    seen = _seen(payload)
    if seen is None:
        return Routed(ignored=PULL_REQUEST)
    if not _is_incident(seen.issue, context):
        return Routed(ignored=NOT_AN_INCIDENT)
    return seen


def _commented(payload: dict[str, Any], context: Context) -> Found | Routed:
    """The incident a comment belongs to, with the comment's uid, or why it is ignored."""
    issue = required(payload, "issue", dict)
    if "pull_request" in issue:
        return Routed(ignored="pull request comments are not incident updates")
    if not _is_incident(issue, context):
        return Routed(ignored="comment on an issue without the incident label")
    repo = repo_name(payload)
    comment_id = required(payload, "comment.id", int)
    uid = f"{_incident_uid(repo, issue)}/comment/{comment_id}"
    return Found(issue, repo, _snapshot(repo, issue), uid)


def _when_found(find: Finder) -> Callable[[Handler], DeliveryHandler]:
    """Run the decorated handler with what `find` finds in the delivery (the issue, its
    repository, its snapshot); when `find` answers why the delivery is ignored, answer that."""

    def wrap(handler: Handler) -> DeliveryHandler:
        @functools.wraps(handler)
        def handle(payload: dict[str, Any], context: Context) -> Routed:
            found = find(payload, context)
            if isinstance(found, Routed):
                return found
            return handler(payload, context, found)

        return handle

    return wrap


@router.register("issues", "opened")
@_when_found(_incident)
def issue_opened(payload: dict[str, Any], context: Context, found: Found) -> Routed:
    return Routed(records=[_opened(payload, found, "created_at")], snapshot=found.snapshot)


@router.register("issues", "labeled")
@_when_found(_incident)
def issue_labeled(payload: dict[str, Any], context: Context, found: Found) -> Routed:
    if not _names_incident_label(payload, context):
        return Routed(snapshot=found.snapshot)  # another label: the incident's state changes
    return Routed(records=[_opened(payload, found, "updated_at")], snapshot=found.snapshot)


@router.register("issues", "unlabeled")
def issue_unlabeled(payload: dict[str, Any], context: Context) -> Routed:
    seen = _seen(payload)
    if seen is None:
        return Routed(ignored=PULL_REQUEST)
    if _names_incident_label(payload, context):
        removed = "the incident label was removed"
        return Routed(snapshot=seen.snapshot.but(active=False, reason=removed))
    if not _is_incident(seen.issue, context):
        return Routed(ignored=NOT_AN_INCIDENT)
    return Routed(snapshot=seen.snapshot)  # another label: the incident's state changes


@router.register("issues", "edited")
@_when_found(_incident)
def issue_edited(payload: dict[str, Any], context: Context, found: Found) -> Routed:
    return Routed(snapshot=found.snapshot)  # a new title: the incident's state changes


@router.register("issues", "transferred")
def issue_transferred(payload: dict[str, Any], context: Context) -> Routed:
    return _ended(payload, "the issue was moved to another repository")


@router.register("issues", "deleted")
def issue_deleted(payload: dict[str, Any], context: Context) -> Routed:
    return _ended(payload, "the issue was deleted on GitHub")


@router.register("issues", "closed")
@_when_found(_incident)
def issue_closed(payload: dict[str, Any], context: Context, found: Found) -> Routed:
    when = timestamp(found.issue, "closed_at") or timestamp(found.issue, "updated_at")
    record = _state_record(payload, found, "resolved", kind="incident_resolved", when=when)
    return Routed(records=[record], snapshot=found.snapshot)


@router.register("issues", "reopened")
@_when_found(_incident)
def issue_reopened(payload: dict[str, Any], context: Context, found: Found) -> Routed:
    when = timestamp(found.issue, "updated_at")
    record = _state_record(payload, found, "reopened", kind="incident_update", when=when)
    return Routed(records=[record], snapshot=found.snapshot)


@router.register("issue_comment", "created")
@router.register("issue_comment", "edited")
@_when_found(_commented)
def comment_written(payload: dict[str, Any], context: Context, found: Found) -> Routed:
    note = optional(payload, "comment.body", str) or ""
    title = required(found.issue, "title", str)
    headline = _headline(note)
    record = _incident_record(
        found,
        uid=found.uid,
        kind="incident_update",
        title=f"{title} — {headline}" if headline else title,
        body=note,
        actor=person(optional(payload, "comment.user.login", str)),
        when=timestamp(payload, "comment.created_at"),
        updated=timestamp(payload, "comment.updated_at"),
        url=optional(payload, "comment.html_url", str),
        extra={"comment_id": required(payload, "comment.id", int)},
    )
    return Routed(records=[record], replace=True, snapshot=found.snapshot)


@router.register("issue_comment", "deleted")
@_when_found(_commented)
def comment_deleted(payload: dict[str, Any], context: Context, found: Found) -> Routed:
    return Routed(deletions=[found.uid], snapshot=found.snapshot)


def _ended(payload: dict[str, Any], reason: str) -> Routed:
    seen = _seen(payload)
    if seen is None:
        return Routed(ignored=PULL_REQUEST)
    return Routed(snapshot=seen.snapshot.but(active=False, reason=reason))


def _opened(payload: dict[str, Any], found: Found, when: str) -> EventRecord:
    return _incident_record(
        found,
        uid=found.uid,
        kind="incident_opened",
        title=required(found.issue, "title", str),
        body=optional(found.issue, "body", str) or "",
        actor=_actor(payload, found.issue),
        when=timestamp(found.issue, when),
    )


def _state_record(
    payload: dict[str, Any],
    found: Found,
    change: str,
    *,
    kind: str,
    when: datetime | None,
) -> EventRecord:
    """The record of an incident issue closed or reopened: "Resolved: <title>" or
    "Reopened: <title>" (marked `reopened` in its data), one per moment."""
    return _incident_record(
        found,
        uid=f"{found.uid}/{change}/{stamp(when)}",
        kind=kind,
        title=f"{change.capitalize()}: {required(found.issue, 'title', str)}",
        body="",
        actor=_actor(payload, found.issue),
        when=when,
        extra={"reopened": True} if change == "reopened" else None,
    )


def _actor(payload: dict[str, Any], issue: dict[str, Any]) -> str | None:
    return person(optional(payload, "sender.login", str) or optional(issue, "user.login", str))


def _incident_record(
    found: Found,
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
    """An incident's record: `found`'s issue fields in `data` beside `extra`."""
    issue = found.issue
    return EventRecord(
        uid=uid,
        kind=kind,
        repo=found.repo,
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
            "labels": list(_labels(issue)),
            **(extra or {}),
        },
    )


def _snapshot(repo: str, issue: dict[str, Any]) -> IssueSnapshot:
    return IssueSnapshot(
        uid=_incident_uid(repo, issue),
        title=required(issue, "title", str)[:TITLE_LIMIT],
        url=optional(issue, "html_url", str),
        labels=tuple(_labels(issue)),
        seen_at=timestamp(issue, "updated_at") or datetime.now(UTC),
        comments=optional(issue, "comments", int) or 0,
    )


def _labels(issue: dict[str, Any]) -> list[str]:
    labels = [label.get("name") for label in issue.get("labels") or [] if isinstance(label, dict)]
    return [name for name in labels if isinstance(name, str)]


def _headline(note: str) -> str:
    """The first line of an update's note; its commands when it is nothing else."""
    parsed = parse_note(note, IncidentRules())
    first = next((line.strip() for line in parsed.text.splitlines() if line.strip()), "")
    if first:
        return first[:200]
    return ", ".join(f"{c.name} {c.value}" for c in parsed.commands)[:200]


def _names_incident_label(payload: dict[str, Any], context: Context) -> bool:
    label = (optional(payload, "label.name", str) or "").casefold()
    return label == context.incident_label.casefold()


def _is_incident(issue: dict[str, Any], context: Context) -> bool:
    wanted = context.incident_label.casefold()
    return any(
        isinstance(label, dict) and str(label.get("name", "")).casefold() == wanted
        for label in issue.get("labels") or []
    )


def _incident_uid(repo: str, issue: dict[str, Any]) -> str:
    return f"incident:{repo}#{required(issue, 'number', int)}"
