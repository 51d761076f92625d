"""Build breaks and fixes as chat messages: which check, on which branch, the range and its
suspects, the compare link; for a fix, the fixing commit and how long the branch was red.
In digests, each break and fix of the window as one line ("main was red 2 h 10 min")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from feed import builds, pulls
from feed.digest import DigestOptions, Line, Mention, Message, Section, event_line
from feed.models import Event
from feed.timefmt import span

People = Mapping[str, Mapping[str, str]]  # GitHub login (lower case) -> platform -> handle


def build_alert(
    session: Session,
    event: Event,
    *,
    options: DigestOptions,
    event_url: Callable[[Event], str],
    people: People | None = None,
) -> Message:
    """The alert for a `build_broken` or `build_fixed` event; with `people`, the suspects
    who have a handle there are named so that their platform notifies them."""
    story = builds.story(session, event)
    data = event.data or {}
    check, good, bad = data.get("check", ""), data.get("good") or "", data.get("bad") or ""
    where = f"{event.repo} · {event.branch}"
    suspects = [suspect.event for suspect in story.suspects] if story else []
    thread = "build:" + event.uid.partition(":")[2]  # a break and its fix share one thread
    if event.kind == "build_fixed":
        fixed_by = data.get("fix") or event.sha or ""
        fix = _commit(session, event.repo, fixed_by)
        red = span(timedelta(seconds=int(data.get("red_seconds") or 0)))
        via = pulls.via(session, [fix]) if fix else None
        lines = [event_line(fix, options, event_url(fix), via) if fix else Line(text=fixed_by[:7])]
        return Message(
            kind="alert",
            title=f"Build fixed: {check} on {event.branch}",
            summary=f"{where} · red {red} · broken by {bad[:7]}, fixed by {fixed_by[:7]}",
            sections=[Section(heading="Fixed by", lines=lines)],
            url=event_url(event),
            thread_key=thread,
        )
    range_line = Line(
        text=f"{good[:7]}...{bad[:7]} on GitHub" if good else f"{bad[:7]} on GitHub",
        url=story.compare_url if story else None,
        detail=story.bisect if story else "",
    )
    shown = suspects[: max(options.max_items, 1)]
    total = len(suspects) + (story.more if story else 0)
    return Message(
        kind="alert",
        title=f"Build broken: {check} on {event.branch}",
        summary=f"{where} · failing since {bad[:7]} · {_count(total)}",
        sections=[
            Section(
                heading="Suspects",
                lines=[event_line(e, options, event_url(e), story and story.via) for e in shown],
                more=total - len(shown),
            ),
            Section(heading="Range", lines=[range_line]),
        ],
        url=event_url(event),
        severity="failure",
        thread_key=thread,
        mentions=mentions(suspects, people or {}),
    )


def mentions(suspects: Sequence[Event], people: People) -> tuple[Mention, ...]:
    """The suspects' authors that `people` gives handles for, each once, in order."""
    seen: dict[str, Mention] = {}
    for suspect in suspects:
        login = (suspect.actor or "").lower()
        if login in people and login not in seen:
            seen[login] = Mention(login=suspect.actor or login, handles=dict(people[login]))
    return tuple(seen.values())


def red_periods(events: Sequence[Event], still_red: Sequence[Event], until: datetime) -> list[str]:
    """For a digest: each fix among `events` (the window's) as "acme/api main (tests) was
    red 2 h 10 min: broken by a1b2c3d, fixed by d4e5f6a", then each break of `still_red`
    (not fixed yet, whenever it broke) from before `until` as "… red since …"."""
    said = []
    for event in sorted(events, key=lambda e: (e.occurred_at, e.id)):
        data = event.data or {}
        if event.kind == "build_fixed":
            red = span(timedelta(seconds=int(data.get("red_seconds") or 0)))
            fix = (data.get("fix") or event.sha or "")[:7]
            said.append(f"{_name(event)} was red {red}: broken by {_bad(event)}, fixed by {fix}")
    for event in still_red:
        if event.kind == "build_broken" and event.occurred_at < until:
            since = f"{event.occurred_at:%Y-%m-%d %H:%M} UTC"
            red = span(until - event.occurred_at)
            said.append(f"{_name(event)} red since {since} ({red}): broken by {_bad(event)}")
    return said


def _name(event: Event) -> str:
    return f"{event.repo} {event.branch} ({(event.data or {}).get('check', '')})"


def _bad(event: Event) -> str:
    return ((event.data or {}).get("bad") or "")[:7]


def _commit(session: Session, repo: str, sha: str) -> Event | None:
    return session.scalars(
        select(Event)
        .where(Event.repo == repo, Event.sha == sha, Event.kind.in_(builds.COMMIT_KINDS))
        .order_by(Event.id)
        .limit(1)
    ).first()


def _count(suspects: int) -> str:
    return f"{suspects} suspect commit{'s' if suspects != 1 else ''}"
