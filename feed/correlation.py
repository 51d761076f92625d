""" "What changed before it broke": the changes around an incident, likeliest causes first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from feed.filters import glob_to_like
from feed.models import Event, EventFile, Incident

CHANGE_KINDS = ("commit", "revert", "force_push", "deployment", "release", "build_broken")
RECOVERY_KINDS = ("revert", "deployment")
DEFAULT_WINDOW = timedelta(hours=24)
WINDOWS = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": DEFAULT_WINDOW,
    "3d": timedelta(days=3),
    "7d": timedelta(days=7),
}
LIMIT = 200


@dataclass(frozen=True)
class Change:
    """A change near an incident, and why it is listed where it is."""

    event: Event
    touches_components: bool
    after_opening: bool


def changes_around(
    session: Session,
    incident: Incident,
    *,
    window: timedelta,
    components: Mapping[str, Sequence[str]],
    now: datetime,
) -> list[Change]:
    """Changes in `window` before the incident opened (builds that broke in it first, then
    those touching its components' paths, then newest first), then the reverts and
    deployments made after it opened until it was resolved: the recovery."""
    before = _newest(
        session,
        Event.kind.in_(CHANGE_KINDS),
        Event.occurred_at >= incident.opened_at - window,
        Event.occurred_at < incident.opened_at,
    )
    after = _newest(
        session,
        Event.kind.in_(RECOVERY_KINDS),
        Event.occurred_at >= incident.opened_at,
        Event.occurred_at <= (incident.resolved_at or now),
    )
    globs = [glob for name in incident.components for glob in component_globs(name, components)]
    touching = _touching(session, [event.id for event in before + after], globs)
    # Stable: newest first within each rank.
    ranked = sorted(before, key=lambda e: (e.kind != "build_broken", e.id not in touching))
    return [Change(event, event.id in touching, True) for event in after] + [
        Change(event, event.id in touching, False) for event in ranked
    ]


def component_globs(name: str, components: Mapping[str, Sequence[str]]) -> Sequence[str]:
    """The path globs of a component: as configured, else any directory of that name."""
    return components.get(name) or (f"{name}/*", f"*/{name}/*")


def _newest(session: Session, *conditions: ColumnElement[bool]) -> list[Event]:
    """The events meeting `conditions`, newest first, LIMIT at most."""
    query = select(Event).where(*conditions).order_by(Event.occurred_at.desc(), Event.id.desc())
    return list(session.scalars(query.limit(LIMIT)))


def _touching(session: Session, event_ids: list[int], globs: list[str]) -> set[int]:
    if not event_ids or not globs:
        return set()
    return set(
        session.scalars(
            select(EventFile.event_id)
            .where(
                EventFile.event_id.in_(event_ids),
                or_(*(EventFile.path.like(glob_to_like(g), escape="\\") for g in globs)),
            )
            .distinct()
        )
    )
