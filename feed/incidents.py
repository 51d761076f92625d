"""Incidents: comment commands, the state machine folded from events, and its upkeep.

An incident is an issue carrying the incident label. Its events (opened, updates, resolved)
are the timeline; its state (status, severity, components, next update, postmortem) is
folded from them in order. A severity or component label added after a command overrides
what the command set (a label that was there before does not, however often the issue is
seen again); taking a label off leaves the last value in place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from feed.models import Event, Incident
from feed.render import safe_url
from feed.store import scrub

STATUSES = ("investigating", "identified", "monitoring", "resolved")
DEFAULT_SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
DEFAULT_COMPONENT_PREFIX = "component:"
COMMANDS = ("status", "severity", "components", "next-update", "postmortem")
COMPONENT = re.compile(r"[A-Za-z0-9_.-]{1,50}")
DURATION_PART = re.compile(r"(\d+)\s*(d|h|m)", re.IGNORECASE)
DURATION = re.compile(r"(?:\d+\s*[dhm]\s*)+", re.IGNORECASE)
MAX_NEXT_UPDATE = timedelta(days=7)
WINDOW_BEFORE = timedelta(hours=24)
WINDOW_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class IncidentRules:
    """How labels map onto severity and components."""

    severities: tuple[str, ...] = DEFAULT_SEVERITIES  # most severe first
    component_prefix: str = DEFAULT_COMPONENT_PREFIX


@dataclass(frozen=True)
class Command:
    """One `/name value` line of an update, and whether it changed the incident."""

    name: str
    value: str
    applied: bool
    reason: str | None = None


@dataclass(frozen=True)
class Note:
    """An update split into its commands and the rest, the note people read."""

    commands: list[Command]
    text: str


@dataclass
class State:
    """What the fold of an incident's events comes to."""

    status: str = "investigating"
    severity: str | None = None
    components: list[str] = field(default_factory=list)
    postmortem_url: str | None = None
    opened_at: datetime | None = None
    resolved_at: datetime | None = None
    updated_at: datetime | None = None
    next_update_at: datetime | None = None
    severity_set_at: datetime | None = None
    components_set_at: datetime | None = None


def parse_note(text: str, rules: IncidentRules) -> Note:
    """Read the commands at the start of an update; unknown `/words` are part of the note."""
    lines = text.splitlines()
    commands: list[Command] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        match = re.fullmatch(r"/([a-z-]+)(?:\s+(.*))?", line, re.IGNORECASE)
        if not line and commands:
            index += 1
            continue
        if not match or match.group(1).lower() not in COMMANDS:
            break
        commands.append(_command(match.group(1).lower(), (match.group(2) or "").strip(), rules))
        index += 1
    return Note(commands, "\n".join(lines[index:]).strip())


def fold(
    events: Sequence[Event],
    labels: Sequence[str],
    label_times: Mapping[str, datetime],
    rules: IncidentRules,
) -> State:
    """The state an incident's events (oldest first) and its latest labels come to;
    `label_times` says when each label was added (first seen)."""
    state = State()
    # Opening first: comments made before a late label are still updates of the incident.
    for event in sorted(events, key=lambda e: e.kind != "incident_opened"):
        state.updated_at = max(filter(None, (state.updated_at, event.updated_at)))
        if event.kind == "incident_opened":
            state.opened_at = event.occurred_at
            state.severity = _severity(event.data.get("labels", []), rules)
            state.components = _components(event.data.get("labels", []), rules)
        elif event.kind == "incident_resolved":
            state.status, state.resolved_at, state.next_update_at = (
                "resolved",
                event.occurred_at,
                None,
            )
        elif event.data.get("reopened"):
            state.status, state.resolved_at = "investigating", None
        else:
            _apply(state, event, rules)
    added = _added_since(labels, label_times, state.severity_set_at)
    state.severity = _severity(added, rules) or state.severity
    if _components(_added_since(labels, label_times, state.components_set_at), rules):
        state.components = _components(labels, rules)
    return state


def incident_uid(event_uid: str) -> str:
    """`incident:owner/repo#12` for any of that incident's event uids."""
    return event_uid.split("/comment/")[0].split("/resolved/")[0].split("/reopened/")[0]


def note_issue(
    session: Session,
    uid: str,
    *,
    title: str,
    url: str | None,
    labels: Sequence[str],
    seen_at: datetime,
    active: bool = True,
    reason: str | None = None,
) -> None:
    """Remember the issue as a delivery showed it, if that is newer than what is known, and
    when each of its labels was added."""
    row = session.scalars(select(Incident).where(Incident.uid == uid)).one_or_none()
    if row is None or (row.labels_at is not None and seen_at < row.labels_at):
        return
    labels = scrub(list(labels))
    row.label_times = _label_times(row, labels, seen_at)
    row.title, row.labels, row.labels_at = scrub(title), labels, seen_at
    row.url = scrub(url) or row.url
    row.active, row.inactive_reason = active, reason


def of_incident(uid: str) -> ColumnElement[bool]:
    """Selects the events of incident `uid`: its opening, updates and resolutions."""
    return or_(Event.uid == uid, Event.uid.startswith(f"{uid}/", autoescape=True))


def refresh(session: Session, uid: str, rules: IncidentRules) -> Incident | None:
    """Fold the incident `uid` again from its events; creates its row on first opening."""
    events = list(
        session.scalars(select(Event).where(of_incident(uid)).order_by(Event.occurred_at, Event.id))
    )
    opened = next((event for event in events if event.kind == "incident_opened"), None)
    row = session.scalars(select(Incident).where(Incident.uid == uid)).one_or_none()
    if opened is None:
        return row
    if row is None:
        repo, number = uid.removeprefix("incident:").rsplit("#", 1)
        row = Incident(
            uid=uid,
            repo=repo,
            number=int(number),
            labels=[],
            title=opened.data.get("issue_title") or opened.title,
            url=opened.url,
        )
        session.add(row)
    times = {label: datetime.fromisoformat(at) for label, at in (row.label_times or {}).items()}
    state = fold(events, row.labels or [], times, rules)
    row.status, row.severity, row.components = state.status, state.severity, state.components
    row.postmortem_url, row.next_update_at = state.postmortem_url, state.next_update_at
    row.opened_at = state.opened_at or opened.occurred_at
    row.resolved_at = state.resolved_at
    row.updated_at = state.updated_at or opened.updated_at
    row.window_start = row.opened_at - WINDOW_BEFORE
    row.window_end = row.resolved_at + WINDOW_AFTER if row.resolved_at else None
    session.flush()
    return row


def is_overdue(incident: Incident, now: datetime) -> bool:
    """True when a promised update is late."""
    return (
        incident.status != "resolved"
        and incident.next_update_at is not None
        and now > incident.next_update_at
    )


def severity_rank(severity: str | None, rules: IncidentRules) -> int:
    """0 for the most severe label; unknown severities sort last."""
    return (
        rules.severities.index(severity) if severity in rules.severities else len(rules.severities)
    )


def _apply(state: State, event: Event, rules: IncidentRules) -> None:
    note = parse_note(event.body, rules)
    state.next_update_at = None  # any new update answers the last promise
    for command in note.commands:
        if not command.applied:
            continue
        if command.name == "status":
            state.status = command.value
            state.resolved_at = event.occurred_at if command.value == "resolved" else None
        elif command.name == "severity":
            state.severity, state.severity_set_at = command.value, event.occurred_at
        elif command.name == "components":
            state.components = command.value.split(",")
            state.components_set_at = event.occurred_at
        elif command.name == "postmortem":
            state.postmortem_url = command.value
        elif command.name == "next-update":
            state.next_update_at = event.occurred_at + _duration(command.value)


def _command(name: str, value: str, rules: IncidentRules) -> Command:
    if name == "status":
        if value.lower() in STATUSES:
            return Command(name, value.lower(), True)
        return Command(name, value, False, f"use one of {', '.join(STATUSES)}")
    if name == "severity":
        if value.lower() in rules.severities:
            return Command(name, value.lower(), True)
        return Command(name, value, False, f"use one of {', '.join(rules.severities)}")
    if name == "components":
        names = [part.strip().lower() for part in re.split(r"[,\s]+", value) if part.strip()]
        if names and len(names) <= 20 and all(COMPONENT.fullmatch(n) for n in names):
            return Command(name, ",".join(dict.fromkeys(names)), True)
        return Command(name, value, False, "list component names, separated by commas")
    if name == "next-update":
        if (
            DURATION.fullmatch(value)
            and timedelta(minutes=1) <= _duration(value) <= MAX_NEXT_UPDATE
        ):
            return Command(name, value.lower().replace(" ", ""), True)
        return Command(name, value, False, "give a time from now such as 30m, 2h or 1h30m")
    if safe_url(value) and len(value) <= 2000:  # postmortem
        return Command(name, value, True)
    return Command(name, value, False, "give an http(s) link")


def _duration(value: str) -> timedelta:
    units = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
    return sum(
        (int(amount) * units[unit.lower()] for amount, unit in DURATION_PART.findall(value)),
        timedelta(0),
    )


def _label_times(row: Incident, labels: Sequence[str], seen_at: datetime) -> dict[str, str]:
    """When each of `labels` was added: a label seen before keeps its time; the labels of the
    incident's first sighting count from its opening (a command cannot be older than the
    incident); a label new since the last sighting, from this one."""
    last = row.labels_at
    if last is None:
        return {label: min(row.opened_at, seen_at).isoformat() for label in labels}
    known, before = row.label_times or {}, set(row.labels or [])
    # A label kept from before label times were, counts from when it was last seen.
    return {
        label: known.get(label, last.isoformat()) if label in before else seen_at.isoformat()
        for label in labels
    }


def _added_since(
    labels: Sequence[str], label_times: Mapping[str, datetime], moment: datetime | None
) -> list[str]:
    """The labels added at or after `moment`; all of them when there is no moment."""
    if moment is None:
        return list(labels)
    return [label for label in labels if (at := label_times.get(label)) and at >= moment]


def _severity(labels: Sequence[Any], rules: IncidentRules) -> str | None:
    names = {str(label).lower() for label in labels}
    return next((severity for severity in rules.severities if severity in names), None)


def _components(labels: Sequence[Any], rules: IncidentRules) -> list[str]:
    prefix = rules.component_prefix.lower()
    return sorted(
        str(label)[len(prefix) :].strip().lower()
        for label in labels
        if str(label).lower().startswith(prefix) and str(label)[len(prefix) :].strip()
    )
