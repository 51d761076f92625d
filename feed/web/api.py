"""The JSON API over the timeline."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, url_for

from feed import pulls
from feed.models import Event, PullRequest
from feed.state import shiplog_state
from feed.store import get_event, list_events
from feed.timefmt import iso_utc
from feed.web.listing import absolute, parse_listing

blueprint = Blueprint("api", __name__, url_prefix="/api")


@blueprint.get("/events")
def events() -> Response:
    """`{"events": [...], "next_cursor": ...}` for the filter in the query."""
    listing = parse_listing(allow_limit=True)
    with shiplog_state().db.read() as session:
        page = list_events(session, listing.filter, cursor=listing.cursor, limit=listing.limit)
        via = pulls.via(session, page.events)
    response = jsonify(
        events=[event_json(event, via.get(event.id)) for event in page.events],
        next_cursor=page.next_cursor,
    )
    # Open pages poll this; an unchanged answer is a 304.
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    return response.make_conditional(request)


@blueprint.get("/events/<int:event_id>")
def event(event_id: int) -> Response:
    """One event with its files and patches."""
    with shiplog_state().db.read() as session:
        found = get_event(session, event_id)
        if found is None:
            abort(404, description=f"There is no event {event_id}.")
        document = event_json(found, pulls.via(session, [found]).get(found.id))
        document["files"] = [
            {
                "path": file.path,
                "status": file.status,
                "previous_path": file.previous_path,
                "additions": file.additions,
                "deletions": file.deletions,
                "patch": file.patch,
                "patch_status": file.patch_status,
            }
            for file in found.files
        ]
    return jsonify(document)


def event_json(event: Event, pull: PullRequest | None = None) -> dict[str, Any]:
    """The fields of an event as the API shows them, with the merged PR that brought it."""
    return {
        "id": event.id,
        "uid": event.uid,
        "kind": event.kind,
        "repo": event.repo,
        "branch": event.branch,
        "actor": event.actor,
        "sha": event.sha,
        "title": event.title,
        "body": event.body,
        "url": event.url,
        "occurred_at": iso_utc(event.occurred_at),
        "updated_at": iso_utc(event.updated_at),
        "data": event.data,
        "html_url": absolute(url_for("pages.event", event_id=event.id)),
        "pull": pulls.as_json(pull),
    }
