"""Digests and alerts as platform-neutral messages: pure logic, no HTTP.

A Message is what every chat platform renders in its own format and within its own limits:
a title, a summary, sections of lines, and a link to the activity page for what did not fit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from feed.models import INCIDENT_KINDS, KIND_LABELS, Event

KIND_ORDER = (
    "incident_opened",
    "incident_update",
    "incident_resolved",
    "revert",
    "force_push",
    "deployment",
    "release",
    "commit",
)
PLURALS = {
    "commit": "commits",
    "revert": "reverts",
    "force_push": "force pushes",
    "release": "releases",
    "deployment": "deployments",
    "incident_opened": "incidents opened",
    "incident_update": "incident updates",
    "incident_resolved": "incidents resolved",
}


@dataclass(frozen=True)
class DigestOptions:
    """How much of each event a message shows."""

    max_items: int = 10  # per section, before "...and N more"
    message_lines: int = 1  # lines of each commit message
    diff_stats: bool = True
    diff_lines: int = 0  # top lines of each diff; 0 for none


@dataclass(frozen=True)
class Line:
    text: str
    url: str | None = None
    detail: str = ""  # who, which commit, how big
    quote: str = ""  # more of the message, or the top of the diff


@dataclass(frozen=True)
class Section:
    heading: str
    lines: list[Line]
    more: int = 0  # items left out


@dataclass(frozen=True)
class Message:
    """A digest or an alert, before any platform has formatted it."""

    kind: str  # "digest" or "alert"
    title: str
    summary: str
    sections: list[Section] = field(default_factory=list)
    url: str | None = None  # the activity page for exactly what this message covers
    severity: str | None = None  # for colours; "sev1" ... or "failure"
    thread_key: str | None = None  # messages about one incident share a thread


def digest_message(
    events: Sequence[Event],
    *,
    since: datetime,
    until: datetime,
    options: DigestOptions,
    event_url: Callable[[Event], str],
    window_url: str,
) -> Message:
    """One message for the events of [since, until), grouped by repository, then by kind."""
    counts = Counter(event.kind for event in events)
    by_repo: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_repo[event.repo].append(event)
    sections = []
    for repo in sorted(by_repo, key=lambda name: (-len(by_repo[name]), name)):
        ranked = sorted(
            by_repo[repo], key=lambda e: (KIND_ORDER.index(e.kind), -e.occurred_at.timestamp())
        )
        shown = ranked[: options.max_items]
        repo_counts = Counter(event.kind for event in by_repo[repo])
        sections.append(
            Section(
                heading=f"{repo}: {_count_phrase(repo_counts)}",
                lines=[_line(event, options, event_url(event)) for event in shown],
                more=len(ranked) - len(shown),
            )
        )
    span = f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    summary = _count_phrase(counts) if events else "Nothing shipped."
    return Message(
        kind="digest",
        title=f"shiplog digest, {span}",
        summary=summary,
        sections=sections,
        url=window_url,
    )


def alert_message(
    event: Event, *, options: DigestOptions, event_url: str, severity: str | None = None
) -> Message:
    """One message about one event that someone should hear about now."""
    label = KIND_LABELS[event.kind]
    thread = (
        event.uid.split("/")[0] + "/" + event.uid.split("/")[1]
        if event.kind in INCIDENT_KINDS and "/" in event.uid
        else None
    )
    return Message(
        kind="alert",
        title=f"{label}: {event.title}",
        summary=f"{event.repo}" + (f" · {event.branch}" if event.branch else ""),
        sections=[Section(heading=label, lines=[_line(event, options, event_url)])],
        url=event_url,
        severity=severity
        or ("failure" if event.data.get("state") in ("failure", "error") else None),
        thread_key=thread,
    )


def _line(event: Event, options: DigestOptions, url: str) -> Line:
    detail = [KIND_LABELS[event.kind]]
    if event.actor:
        detail.append(event.actor)
    if event.sha:
        detail.append(event.sha[:7])
    stats = event.data.get("stats") if options.diff_stats else None
    if stats:
        files = f"{stats['files']} file{'s' if stats['files'] != 1 else ''}"
        detail.append(f"+{stats['additions']} -{stats['deletions']} in {files}")
    quote_lines = event.body.splitlines()[: max(options.message_lines - 1, 0)]
    if options.diff_lines:
        patch_lines = [
            line for file in event.files if file.patch for line in file.patch.splitlines()
        ]
        quote_lines += patch_lines[: options.diff_lines]
    return Line(text=event.title, url=url, detail=" · ".join(detail), quote="\n".join(quote_lines))


def _count_phrase(counts: Counter[str]) -> str:
    parts = [
        f"{counts[kind]} {PLURALS[kind] if counts[kind] != 1 else KIND_LABELS[kind].lower()}"
        for kind in KIND_ORDER
        if counts[kind]
    ]
    return ", ".join(parts)
