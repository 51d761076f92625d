"""The status page's 90-day bars: each component's UTC days, coloured by their worst incident.

A day's level is the worst of the incidents open at any moment of it: the first configured
severity is `critical`, the second `major`, any other (or none) `minor`. The summary number is
the share of the window's time during which no major or critical incident was open.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from feed.incidents import IncidentRules, severity_rank
from feed.models import Incident
from feed.timefmt import span

DAYS = 90
LEVELS = ("none", "minor", "major", "critical")  # mildest first
SERIOUS = frozenset({"major", "critical"})
ALL = "All components"


@dataclass(frozen=True)
class DayIncident:
    """One incident as one day shows it: how long of that day it was open."""

    incident: Incident
    level: str
    open_for: timedelta


@dataclass(frozen=True)
class Day:
    day: date
    level: str
    incidents: list[DayIncident]
    open_for: timedelta  # the union of the incidents' time open within the day

    @property
    def label(self) -> str:
        """`2026-11-03: 1 major incident, 2 h 10 min`, the day's accessible name."""
        if not self.incidents:
            return f"{self.day.isoformat()}: no incidents"
        counts = [
            f"{n} {level}"
            for level in reversed(LEVELS)
            if (n := sum(1 for i in self.incidents if i.level == level))
        ]
        noun = "incident" if len(self.incidents) == 1 else "incidents"
        return f"{self.day.isoformat()}: {', '.join(counts)} {noun}, {span(self.open_for)}"


@dataclass(frozen=True)
class Bar:
    component: str
    days: list[Day]  # oldest first
    clear_share: float  # of the window's time, without a major or critical incident open

    @property
    def clear_percent(self) -> str:
        """The share as `99.27`, rounded down so any serious incident shows below 100."""
        return f"{math.floor(self.clear_share * 10000) / 100:.2f}"


def window_start(now: datetime) -> datetime:
    """Midnight UTC starting the oldest of the `DAYS` days that end with today."""
    today = now.astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=DAYS - 1), time(), UTC)


def window_query(now: datetime) -> Select[tuple[Incident]]:
    """The incidents not resolved before the window began, withdrawn ones left out: read
    through `ix_incidents_resolved` on both databases."""
    return select(Incident).where(
        Incident.active,
        or_(Incident.resolved_at.is_(None), Incident.resolved_at >= window_start(now)),
    )


def incidents_in_window(session: Session, now: datetime) -> list[Incident]:
    """Every incident open at some moment of the window, in one query, oldest first (sorted
    here: an ORDER BY would lead SQLite to walk every incident by its opening)."""
    found = [i for i in session.scalars(window_query(now)) if i.opened_at <= now]
    return sorted(found, key=lambda i: (i.opened_at, i.id))


def level(severity: str | None, rules: IncidentRules) -> str:
    """`critical` for the first configured severity, `major` for the second, else `minor`."""
    return LEVELS[max(3 - severity_rank(severity, rules), 1)]


def bars(
    incidents: Sequence[Incident],
    component_names: Iterable[str],
    rules: IncidentRules,
    now: datetime,
) -> list[Bar]:
    """One bar for all components, then one per component (configured or named by an
    incident in the window), by name."""
    names = sorted({*component_names, *(c for i in incidents for c in i.components)})
    return [_bar(ALL, incidents, rules, now)] + [
        _bar(name, [i for i in incidents if name in i.components], rules, now) for name in names
    ]


def _bar(name: str, incidents: Sequence[Incident], rules: IncidentRules, now: datetime) -> Bar:
    start = window_start(now)
    per_day: list[list[DayIncident]] = [[] for _ in range(DAYS)]
    spans: list[list[tuple[datetime, datetime]]] = [[] for _ in range(DAYS)]
    serious: list[tuple[datetime, datetime]] = []
    for incident in incidents:
        opened, closed = max(incident.opened_at, start), min(incident.resolved_at or now, now)
        closed = max(closed, opened)
        severity_level = level(incident.severity, rules)
        if severity_level in SERIOUS:
            serious.append((opened, closed))
        first = (opened - start).days
        last = min((closed - start).days, DAYS - 1)
        for index in range(first, last + 1):
            day_start = start + timedelta(days=index)
            piece = (max(opened, day_start), min(closed, day_start + timedelta(days=1)))
            if index > first and piece[1] <= piece[0]:
                continue  # resolved exactly at midnight: the next day was not touched
            per_day[index].append(DayIncident(incident, severity_level, piece[1] - piece[0]))
            spans[index].append(piece)
    days = [
        Day(
            (start + timedelta(days=index)).date(),
            max((i.level for i in found), key=LEVELS.index, default="none"),
            found,
            _covered(spans[index]),
        )
        for index, found in enumerate(per_day)
    ]
    window = now - start
    share = 1 - _covered(serious) / window if window > timedelta(0) else 1.0
    return Bar(name, days, max(share, 0.0))


def _covered(pieces: Iterable[tuple[datetime, datetime]]) -> timedelta:
    """The length of the union of the spans."""
    total, reach = timedelta(0), None
    for begin, end in sorted(pieces):
        begin = max(begin, reach or begin)
        if end > begin:
            total, reach = total + (end - begin), end
    return total
