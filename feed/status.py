"""The status page's view: open incidents, each component's state, the last 30 days."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from feed.incidents import IncidentRules, incident_uid, is_overdue, parse_note, severity_rank
from feed.models import Event, Incident

HISTORY = timedelta(days=30)


@dataclass(frozen=True)
class OpenIncident:
    incident: Incident
    latest_note: str | None
    overdue: bool


@dataclass(frozen=True)
class ComponentState:
    name: str
    incident: Incident | None  # the worst open incident affecting it, if any


@dataclass(frozen=True)
class Summary:
    open: list[OpenIncident]
    components: list[ComponentState]
    recent: list[Incident]


def summarize(
    session: Session, rules: IncidentRules, component_names: Iterable[str], now: datetime
) -> Summary:
    """What stakeholders need to see right now."""
    recent = list(
        session.scalars(
            select(Incident)
            .where(Incident.active, Incident.opened_at >= now - HISTORY)
            .order_by(Incident.opened_at.desc())
        )
    )
    still_open = list(
        session.scalars(select(Incident).where(Incident.active, Incident.status != "resolved"))
    )
    still_open.sort(key=lambda i: (severity_rank(i.severity, rules), -i.opened_at.timestamp()))
    notes = latest_notes(session, still_open, rules)
    open_items = [OpenIncident(i, notes.get(i.uid), is_overdue(i, now)) for i in still_open]

    names = sorted({*component_names, *(c for i in [*still_open, *recent] for c in i.components)})
    components = []
    for name in names:
        affecting = [i for i in still_open if name in i.components]
        components.append(ComponentState(name, affecting[0] if affecting else None))
    return Summary(open_items, components, recent)


def latest_notes(
    session: Session, incidents: list[Incident], rules: IncidentRules
) -> dict[str, str]:
    """The note of each incident's newest update (commands left out)."""
    if not incidents:
        return {}
    wanted = {incident.uid for incident in incidents}
    updates = session.scalars(
        select(Event)
        .where(
            Event.kind == "incident_update",
            or_(*(Event.uid.startswith(f"{uid}/", autoescape=True) for uid in wanted)),
        )
        .order_by(Event.occurred_at)
    )
    notes: dict[str, str] = {}
    for update in updates:
        uid = incident_uid(update.uid)
        if uid in wanted:
            text = parse_note(update.body, rules).text
            if text:
                notes[uid] = text
    return notes


def duration(incident: Incident, now: datetime) -> timedelta:
    return (incident.resolved_at or now) - incident.opened_at
