"""The activity page and the page of one event."""

from __future__ import annotations

from datetime import date
from itertools import groupby

from flask import Blueprint, abort, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from feed import builds, pulls, reverts
from feed.filters import KIND_CHOICES
from feed.incidents import incident_uid
from feed.models import INCIDENT_KINDS, Event, Incident
from feed.state import shiplog_state
from feed.store import demo_repos, get_event, list_events
from feed.web.listing import listing_url, parse_listing

blueprint = Blueprint("pages", __name__)
LARGE_PATCH_LINES = 400  # longer diffs start folded


@blueprint.get("/")
def activity() -> str:
    """The timeline, newest first and grouped by day, with the filter bar and feed links."""
    listing = parse_listing(allow_limit=False)
    shiplog = shiplog_state()
    with shiplog.db.read() as session:
        page = list_events(session, listing.filter, cursor=listing.cursor, limit=listing.limit)
        demo = demo_repos(session)
        reverted = reverts.reverted_by(session, [event.id for event in page.events])
        incident_of = _incidents_of(session, page.events)
        via = pulls.via(session, page.events)
    days = [(day, list(events)) for day, events in groupby(page.events, _day)]
    return render_template(
        "activity.html",
        days=days,
        filter=listing.filter,
        kinds=KIND_CHOICES,
        paged=listing.cursor is not None,
        older_url=listing_url("pages.activity", listing.filter, cursor=page.next_cursor)
        if page.next_cursor
        else None,
        demo_repos=demo,
        reverted=reverted,
        incident_of=incident_of,
        via=via,
    )


@blueprint.get("/events/<int:event_id>")
def event(event_id: int) -> str:
    """One event: its whole message as sanitized Markdown, its files and their diffs."""
    with shiplog_state().db.read() as session:
        found = get_event(session, event_id)
        if found is None:
            abort(404, description=f"There is no event {event_id}.")
        target = session.get(Event, found.reverts_id) if found.reverts_id else None
        reverted = reverts.reverted_by(session, [found.id]).get(found.id)
        incident = _incidents_of(session, [found]).get(found.id)
        build = builds.story(session, found)
        via = pulls.via(session, [found])
    return render_template(
        "event.html",
        event=found,
        reverts_event=target,
        reverted_by=reverted,
        incident=incident,
        build=build,
        via=via,
        large_patch_lines=LARGE_PATCH_LINES,
    )


def _incidents_of(session: Session, events: list[Event]) -> dict[int, Incident]:
    """The incident each incident event belongs to, by event id."""
    uids = {event.id: incident_uid(event.uid) for event in events if event.kind in INCIDENT_KINDS}
    rows = session.scalars(select(Incident).where(Incident.uid.in_(set(uids.values()))))
    by_uid = {row.uid: row for row in rows}
    return {event_id: by_uid[uid] for event_id, uid in uids.items() if uid in by_uid}


def _day(event: Event) -> date:
    return event.occurred_at.date()
